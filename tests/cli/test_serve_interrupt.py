"""Ctrl-C while `xdscp serve` starts (still importing, or loading thousands of files):
"interrupted", exit 130, no traceback, promptly, and no decode worker left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.serve_process import REPO, free_port, write_mesh


def start(config: Path, work: Path, log: Path) -> subprocess.Popen[bytes]:
    """`xdscp serve` through the console script's entry point, in its own process group
    (a terminal's foreground job)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from xdscp.entry import main; main()", "serve",
             "--config", str(config), "--listen", f"127.0.0.1:{free_port()}", "--debug", "",
             "--ca-dir", str(work / "ca"), "--insecure"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            start_new_session=True,
        )  # fmt: skip


def ctrl_c(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """SIGINT to the whole process group, as a terminal does; (exit code, seconds)."""
    started = time.monotonic()
    try:
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(30)
        return code, time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def decode_workers(parent: int) -> list[int]:
    """The decode worker processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"\nPPid:\t{parent}\n" in status and b"xdscp.sources.decode_worker" in cmdline:
            found.append(int(entry.name))
    return found


def test_ctrl_c_while_the_initial_load_runs(tmp_path: Path) -> None:
    config = tmp_path / "mesh"
    write_mesh(config, 1500)  # 3,001 files: seconds of loading, with a decode worker
    log = tmp_path / "serve.log"
    process = start(config, tmp_path, log)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while not workers:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no decode worker started:\n{log.read_text()}"
        workers = decode_workers(process.pid)
        time.sleep(0.01)
    code, seconds = ctrl_c(process)
    text = log.read_text()
    assert "config.loaded" not in text, text  # the load was abandoned, not finished
    assert code == 130, text
    assert "Traceback" not in text and text.rstrip().endswith("interrupted"), text
    assert seconds < 20, seconds  # promptly (bounded for a busy machine)
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_ctrl_c_while_still_importing(tmp_path: Path) -> None:
    config = tmp_path / "mesh"
    write_mesh(config, 1)
    log = tmp_path / "serve.log"
    process = start(config, tmp_path, log)
    time.sleep(0.3)  # importing xdscp.cli takes a second or more
    code, _ = ctrl_c(process)
    text = log.read_text()
    assert code == 130, text
    assert "Traceback" not in text and text.rstrip().endswith("interrupted"), text
