"""Ctrl-C on `xdscp up` / `xdscp serve` with real Envoy connected: a clean stop, no
traceback, every sidecar stopped; Ctrl-C during start-up exits 130, also cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, free_port, http_get, relocate_example, wait_until
from xdscp.local.envoy_process import envoy_binary

pytestmark = pytest.mark.e2e


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line mentions `text` (our run directory: the sidecars)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def start_up(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    config, _ = relocate_example("canary", tmp_path)
    log = tmp_path / "up.log"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        # a stop that hangs is diagnosed by SIGABRT: every thread's stack lands in the log
        "PYTHONFAULTHANDLER": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xdscp.cli", "up", str(config),
             "--listen", f"127.0.0.1:{free_port()}", "--debug", f"127.0.0.1:{free_port()}",
             "--state", str(tmp_path / "state.json"), "--run-dir", str(tmp_path / "run"),
             "--ca-dir", str(tmp_path / "ca")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO, env=env,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )  # fmt: skip
    return process, log


@contextmanager
def stopped_at_the_end(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Whatever fails, the process group (xdscp and its sidecars) does not outlive the test."""
    try:
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def ctrl_c(process: subprocess.Popen[bytes], log: Path) -> int:
    """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    A process still running 30 s later fails the test with its threads' stacks."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        try:
            return process.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGABRT)  # faulthandler dumps every thread
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            pytest.fail(f"still running 30 s after Ctrl-C:\n{log.read_text()[-20000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def test_ctrl_c_with_proxies_connected_stops_everything_cleanly(tmp_path: Path) -> None:
    process, log = start_up(tmp_path)
    run_dir = f"{tmp_path / 'run'}/"  # the sidecars' files, not xdscp's own --run-dir
    with stopped_at_the_end(process):
        assert wait_until(lambda: (tmp_path / "state.json").exists(), 60), log.read_text()
        assert wait_until(lambda: log.read_text().count("stream_open") >= 3, 30), log.read_text()
        assert len(processes_mentioning(run_dir)) >= 3  # one Envoy per workload
        assert ctrl_c(process, log) == 0
    text = log.read_text()
    assert "Traceback" not in text and "\nError:" not in text, text
    assert wait_until(lambda: not processes_mentioning(run_dir), 10), processes_mentioning(run_dir)


def test_ctrl_c_during_start_up_exits_130_and_stops_what_started(tmp_path: Path) -> None:
    process, log = start_up(tmp_path)
    run_dir = f"{tmp_path / 'run'}/"  # the sidecars' files, not xdscp's own --run-dir
    with stopped_at_the_end(process):
        # interrupt as soon as the first sidecar is starting, before the mesh is up
        assert wait_until(lambda: processes_mentioning(run_dir), 60), log.read_text()
        assert not (tmp_path / "state.json").exists()
        code = ctrl_c(process, log)
    text = log.read_text()
    assert code == 130, text
    assert "Traceback" not in text and text.rstrip().endswith("interrupted"), text
    assert wait_until(lambda: not processes_mentioning(run_dir), 10), processes_mentioning(run_dir)


def test_ctrl_c_on_serve_with_a_connected_envoy(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    xds, debug = free_port(), free_port()
    serve_log = tmp_path / "serve.log"
    with serve_log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "xdscp.cli", "serve", "--config", str(config),
             "--listen", f"127.0.0.1:{xds}", "--debug", f"127.0.0.1:{debug}",
             "--ca-dir", str(tmp_path / "ca")],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
        )  # fmt: skip
    envoy: subprocess.Popen[bytes] | None = None
    try:

        def serving() -> bool:
            try:
                return http_get(f"http://127.0.0.1:{debug}/healthz")[0] == 200
            except OSError:
                return False

        assert wait_until(serving, 60), serve_log.read_text()
        boot = subprocess.run(
            [sys.executable, "-m", "xdscp.cli", "bootstrap", "--config", str(config),
             "--workload", "default/client", "--xds", f"127.0.0.1:{xds}",
             "--admin-port", str(free_port()), "--ca-dir", str(tmp_path / "ca"),
             "-o", str(tmp_path / "client.yaml")],
            capture_output=True, text=True, timeout=60, cwd=REPO,
        )  # fmt: skip
        assert boot.returncode == 0, boot.stderr
        envoy = subprocess.Popen(
            [envoy_binary(), "-c", str(tmp_path / "client.yaml"), "--disable-hot-restart",
             "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def connected() -> bool:
            status, body = http_get(f"http://127.0.0.1:{debug}/debug/proxies")
            return status == 200 and "default/client" in body

        assert wait_until(connected, 30), serve_log.read_text()
        assert ctrl_c(serve, serve_log) == 0
        text = serve_log.read_text()
        assert "Traceback" not in text, text
        assert "xds_stream_closed" in text or "default/client" in text
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(5)
        if envoy is not None:
            envoy.terminate()
            try:
                envoy.wait(10)
            except subprocess.TimeoutExpired:
                envoy.kill()
                envoy.wait(5)
