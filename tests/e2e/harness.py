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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
