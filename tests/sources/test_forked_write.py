"""The forked child that writes the parse cache and the mesh snapshot: a real fork,
real files; its three ends (written, failed, abandoned) as the parent sees them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from xdscp.sources.forked_write import ForkedWrite, wait_until_idle


def _until_done(write: ForkedWrite, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while (wrote := write.poll()) is None:
        assert time.monotonic() < deadline, "the child did not end"
        time.sleep(0.01)
    return wrote


def test_a_child_that_writes_renames_its_file_into_place(tmp_path: Path) -> None:
    target, temporary = tmp_path / "cache", tmp_path / "cache.tmp"

    def write(into: Path) -> None:
        into.write_text(f"from {os.getpid()}")
        into.rename(target)

    child = ForkedWrite.start(temporary, write)
    assert _until_done(child) is True
    assert target.read_text() == f"from {child.pid}"  # written by the child, not us
    assert not temporary.exists()


def test_a_child_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    temporary = tmp_path / "cache.tmp"

    def write(into: Path) -> None:
        into.write_text("half")
        raise OSError("disk full")

    assert _until_done(ForkedWrite.start(temporary, write)) is False
    assert not temporary.exists()


def test_an_abandoned_child_is_killed_and_its_temporary_file_removed(tmp_path: Path) -> None:
    temporary = tmp_path / "cache.tmp"

    def write(into: Path) -> None:
        into.write_text("half")
        time.sleep(60)

    child = ForkedWrite.start(temporary, write)
    assert wait_until_idle(lambda: not temporary.exists(), 20.0)  # it has begun writing
    assert child.poll() is None
    started = time.monotonic()
    assert child.abandon() is False
    assert time.monotonic() - started < 5.0  # killed, not waited for
    assert not temporary.exists()
    try:
        os.kill(child.pid, 0)
    except ProcessLookupError:
        pass  # reaped: gone
    else:
        raise AssertionError(f"child {child.pid} still exists")
