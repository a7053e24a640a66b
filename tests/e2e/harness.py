"""Helpers for end-to-end tests: relocated example meshes, the real `xdscp up` CLI as a
subprocess, and plain HTTP requests through sidecars. Every wait is bounded."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def relocate_example(name: str, dest: Path) -> tuple[Path, int]:
    """Copy examples/<name> to `dest`, moving its 127.0.x.y addresses to 127.<n>.x.y so
    tests never collide with a running `make run` (or each other)."""
    octet = random.randint(40, 250)
    target = dest / name
    shutil.copytree(REPO / "examples" / name, target)
    for path in target.rglob("*.yaml"):
        text = path.read_text()
        for sub in ("1", "2", "3", "4"):
            text = text.replace(f"127.0.{sub}.", f"127.{octet}.{sub}.")
        path.write_text(text)
    return target, octet


def http_get(url: str, host: str | None = None, timeout: float = 5.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def version_of(body: str) -> str:
    try:
        version: str = json.loads(body)["version"]
    except (ValueError, KeyError):
        return "?"
    return version


@dataclass
class RunningMesh:
    process: subprocess.Popen[bytes]
    state: dict[str, Any]
    log_path: Path

    def workload(self, key: str) -> dict[str, Any]:
        found: dict[str, Any] = next(w for w in self.state["workloads"] if w["workload"] == key)
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def xdscp_up(
    config_dir: Path, work: Path, *extra_args: str, timeout: float = 60.0
) -> Iterator[RunningMesh]:
    """Run the real `xdscp up` CLI, as a user would, until it has written its state."""
    state_path = work / "state.json"
    log_path = work / "xdscp.log"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xdscp.cli",
                "up",
                str(config_dir),
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--debug",
                f"127.0.0.1:{free_port()}",
                "--state",
                str(state_path),
                "--run-dir",
                str(work / "run"),
                "--ca-dir",
                str(work / "ca"),
                *extra_args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + timeout
        while not state_path.exists():
            if process.poll() is not None:
                raise RuntimeError(f"xdscp up exited early:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"xdscp up not ready in {timeout}s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield RunningMesh(process, json.loads(state_path.read_text()), log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# The scaffolding most e2e meshes share, written once: workloads on loopback addresses of
# their own (127.<octet>.<subnet>.<n>), MESH_INTERNAL services selecting them by label,
# the Sidecars that put the demo app behind a server's sidecar or open a client's
# egress port; each test adds the objects it is about (VirtualServices, rules, ...).
Port = tuple[int, str] | tuple[int, str, str]  # (number, protocol[, name])
NETWORKING = "networking.istio.io/v1"


def _port(port: Port) -> dict[str, Any]:
    number, protocol = port[0], port[1]
    name = port[2] if len(port) == 3 else protocol.lower()
    return {"number": number, "protocol": protocol, "name": name}


@dataclass
class MeshScenario:
    """A mesh directory for `xdscp up`, built object by object. `subnet` keeps one
    test's addresses apart from another's; the octet is drawn at random."""

    subnet: int
    octet: int = field(default_factory=lambda: random.randint(40, 250))
    docs: list[dict[str, Any]] = field(default_factory=list)

    def address(self, host: int) -> str:
        return f"127.{self.octet}.{self.subnet}.{host}"

    def _add(self, kind: str, name: str, spec: dict[str, Any], namespace: str = "") -> None:
        metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
        self.docs.append(
            {"apiVersion": NETWORKING, "kind": kind, "metadata": metadata, "spec": spec}
        )

    def workload(
        self,
        name: str,
        host: int,
        labels: dict[str, str] | None = None,
        service_account: str = "",
        namespace: str = "",
        **spec: Any,
    ) -> str:
        """A WorkloadEntry (`xdscp up` starts its sidecar and demo app) at `address(host)`,
        labelled `app: <name>` unless `labels` are given; its address."""
        body: dict[str, Any] = {"address": self.address(host)}
        if service_account:
            body["serviceAccount"] = service_account
        body["labels"] = labels if labels is not None else {"app": name}
        self._add("WorkloadEntry", name, {**body, **spec}, namespace)
        return self.address(host)

    def service(
        self, name: str, ports: list[Port], app: str = "", namespace: str = "", **spec: Any
    ) -> None:
        """A MESH_INTERNAL STATIC ServiceEntry for host `name` whose endpoints are the
        workloads labelled `app: <app or name>` (`spec` adds or replaces fields; None
        leaves one out)."""
        body: dict[str, Any] = {
            "hosts": [name],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [_port(p) for p in ports],
            "workloadSelector": {"labels": {"app": app or name}},
        }
        merged = {k: v for k, v in {**body, **spec}.items() if v is not None}
        self._add("ServiceEntry", name, merged, namespace)

    def server_sidecar(
        self,
        app: str,
        port: Port = (8080, "HTTP"),
        capture_none: bool = False,
        namespace: str = "",
        **ingress: Any,
    ) -> None:
        """A Sidecar putting the demo app (127.0.0.1:18080) behind `port` of the
        workloads labelled `app: <app>`."""
        entry: dict[str, Any] = {"port": _port(port)}
        if capture_none:
            entry["captureMode"] = "NONE"
        entry.update({"defaultEndpoint": "127.0.0.1:18080", **ingress})
        selector = {"labels": {"app": app}}
        self._add("Sidecar", app, {"workloadSelector": selector, "ingress": [entry]}, namespace)

    def client_sidecar(
        self,
        name: str,
        ports: list[Port],
        selector: dict[str, str] | None = None,
        hosts: tuple[str, ...] = ("./*",),
        capture_none: bool = False,
        namespace: str = "",
        **spec: Any,
    ) -> None:
        """A Sidecar opening an egress listener per port of `ports` (hosts `hosts`) on the
        workloads labelled `app: <name>` (or `selector`; `{}`: the namespace's default
        Sidecar, without workloadSelector); `spec` adds fields."""
        egress = []
        for port in ports:
            entry: dict[str, Any] = {"port": _port(port)}
            if capture_none:
                entry["captureMode"] = "NONE"
            entry["hosts"] = list(hosts)
            egress.append(entry)
        labels = selector if selector is not None else {"app": name}
        body: dict[str, Any] = {"workloadSelector": {"labels": labels}} if labels else {}
        body["egress"] = egress
        self._add("Sidecar", name, {**body, **spec}, namespace)

    def add(self, *documents: str) -> None:
        """The test's own objects, as YAML (one document or several)."""
        for text in documents:
            self.docs.extend(d for d in yaml.safe_load_all(text) if d)

    def yaml(self) -> str:
        return yaml.safe_dump_all(self.docs, sort_keys=False)

    def write(self, dest: Path) -> Path:
        """`dest/mesh/mesh.yaml`; the directory, for `xdscp_up`."""
        directory = dest / "mesh"
        directory.mkdir(exist_ok=True)
        (directory / "mesh.yaml").write_text(self.yaml())
        return directory
