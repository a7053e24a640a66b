"""Run a real Envoy on a static bootstrap until it listens, for tests that check what
Envoy itself does with generated config. Bounded in time; stopped by PID."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from google.protobuf.message import Message

from tests.envoy_validate import bootstrap_json, find_envoy

START_TIMEOUT_S = 20.0


@contextmanager
def static_envoy(
    bootstrap: Message, host: str, port: int, prefix: str = "envoy-"
) -> Iterator[None]:
    """Start Envoy on `bootstrap`; return once `host:port` accepts connections."""
    envoy = find_envoy()
    assert envoy is not None, "no envoy binary"
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        path = Path(tmp) / "bootstrap.json"
        path.write_text(bootstrap_json(bootstrap))
        log = Path(tmp) / "envoy.log"
        with log.open("w") as log_file:
            command = [envoy, "-c", str(path), "--disable-hot-restart", "--concurrency", "1"]
            proc = subprocess.Popen(
                [*command, "--log-level", "warn"], stdout=log_file, stderr=subprocess.STDOUT
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                while True:
                    assert proc.poll() is None, f"envoy exited: {log.read_text()}"
                    assert time.monotonic() < deadline, f"envoy not listening: {log.read_text()}"
                    try:
                        socket.create_connection((host, port), timeout=0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                yield
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
