"""A real `xdscp serve` on a directory of YAML files, for the start and edit benchmarks.

The mesh is the canary of `benchmarks.meshgen`, N times, written as a user would keep
it: one file per service with its registry objects and DestinationRule
(`services/svc-N.yaml`) and one file per VirtualService (`routes/svc-N.yaml`), plus the
client workload. The server runs in its own process (`python -m xdscp.entry serve
--insecure --log-json`) and one simulated Envoy (`benchmarks.ads_clients`) connects as
`default/client`, which sees every service.

The server runs with its modules' bytecode compiled, as an installed xdscp has it
(`pip install` compiles it; the Docker image too): `server_environment` points Python
at a bytecode directory of the checkout that servers keep up to date, also when the
caller's environment says PYTHONDONTWRITEBYTECODE (then every start would compile some
230 modules from source first, ~0.35 s of CPU); the start benchmarks fill it before
the first start they time (`compile_bytecode`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.meshgen import CLIENT, service_docs, virtual_service

REPO = Path(__file__).resolve().parents[1]
CLIENT_NAME = "client"


def add_repo_option(parser: argparse.ArgumentParser) -> None:
    """`--repo`: which checkout's `xdscp serve` a benchmark starts."""
    parser.add_argument(
        "--repo",
        type=Path,
        default=REPO,
        help="run `xdscp serve` from this checkout (compare another version in one run)",
    )


def server_environment(repo: Path) -> dict[str, str]:
    """The environment a benchmark starts `repo`'s server (or its stages) in: `repo`
    first on the path, its bytecode kept in a directory of its own (`bytecode_dir`)."""
    environment = {**os.environ, "PYTHONPATH": str(repo)}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = str(bytecode_dir(repo))
    return environment


def bytecode_dir(repo: Path) -> Path:
    name = hashlib.blake2b(str(repo.resolve()).encode(), digest_size=8).hexdigest()
    return Path(tempfile.gettempdir()) / "xdscp-benchmark-bytecode" / name


@functools.cache
def compile_bytecode(repo: Path) -> None:
    """Compile `repo`'s packages into `bytecode_dir` now (once per process), so that no
    timed start compiles them."""
    packages = [str(repo / p) for p in ("xdscp", "translators", "ca", "xdstypes", "benchmarks")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *packages],
        env={**os.environ, "PYTHONPYCACHEPREFIX": str(bytecode_dir(repo))},
        check=True,
        capture_output=True,
        timeout=600,
    )


def dump_docs(docs: list[dict[str, Any]]) -> str:
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(docs, Dumper=dumper, sort_keys=False)


def route_file(config: Path, i: int) -> Path:
    return config / "routes" / f"svc-{i}.yaml"


def route_text(i: int, v1_weight: int) -> str:
    return dump_docs([virtual_service(i, v1_weight)])


def write_mesh(config: Path, services: int) -> int:
    """Write the mesh under `config`; returns the number of files written."""
    (config / "services").mkdir(parents=True)
    (config / "routes").mkdir()
    for i in range(services):
        docs = service_docs(i)
        registry = [d for d in docs if d["kind"] != "VirtualService"]
        (config / "services" / f"svc-{i}.yaml").write_text(dump_docs(registry))
        route_file(config, i).write_text(route_text(i, 90))
    (config / "client.yaml").write_text(dump_docs([CLIENT]))
    return 2 * services + 1


def replace_file(path: Path, text: str) -> None:
    """Write `text` to a temporary file and rename it over `path` (the way README
    recommends to change config: a reader never sees a half-written file)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServeProcess:
    """`xdscp serve` started at `started` (monotonic), listening on `port`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float
    listening: float = 0.0
    listening_cpu: float = 0.0  # the server's CPU seconds when it started listening
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_listening(self, timeout: float) -> float:
        """Poll the xDS port until it accepts a connection; the monotonic time it did."""
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    self.listening = time.monotonic()
                    self.listening_cpu = cpu_seconds(self.process.pid)
                    return self.listening
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"xdscp serve did not start listening:\n{tail}")
            time.sleep(0.005)

    def log_events(self, name: str) -> list[dict[str, Any]]:
        """The server's JSON log lines whose event is `name`."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if f'"{name}"' not in line:
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("event") == name:
                    found.append(record)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc): on a shared machine
    the figure that does not depend on what else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serve(
    config: Path,
    work: Path,
    extra: tuple[str, ...] = (),
    repo: Path = REPO,
    analysis: bool = True,
) -> Iterator[ServeProcess]:
    """`xdscp serve` from the checkout `repo` (another one compares versions); without
    `analysis`, through `benchmarks.serve_without_analysis`."""
    module = "xdscp.entry" if analysis else "benchmarks.serve_without_analysis"
    port, debug = free_port(), free_port()
    log = work / "server.log"
    environment = server_environment(repo)
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--log-json", "serve", "--config", str(config),
             "--listen", f"127.0.0.1:{port}", "--debug", f"127.0.0.1:{debug}",
             "--ca-dir", str(work / "ca"), "--insecure", *extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=repo,
            env=environment,
        )  # fmt: skip
    server = ServeProcess(process, port, log, started)
    try:
        yield server
    finally:
        server.stop()
