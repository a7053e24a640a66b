"""One file written whole by a forked child, for the parse cache and the mesh snapshot.

Pickling a large state holds the interpreter for seconds; a forked child does it off
this process's CPU and interpreter, from the parent's state as of the fork. The child
writes a temporary file beside the target and renames it into place, so a crash or a
kill never leaves a half-written file; the parent reaps it without blocking (`poll`)
and kills it when it overruns or when the plane stops (`abandon`)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# a child writing longer than this is killed (whatever was on disk before stays)
CHILD_TIMEOUT_S = 300.0


@dataclass
class ForkedWrite:
    pid: int
    temporary: Path
    started: float  # time.monotonic() at the fork

    @classmethod
    def start(cls, temporary: Path, write: Callable[[Path], None]) -> ForkedWrite:
        """Fork a child that calls `write(temporary)` (which renames it into place)."""
        pid = os.fork()
        if pid == 0:  # the child: write, rename, leave without any of the parent's cleanup
            status = 1
            try:
                # Ctrl-C reaches the whole process group: the parent decides (`abandon`)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                write(temporary)
                status = 0
            finally:
                os._exit(status)
        return cls(pid, temporary, time.monotonic())

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def poll(self) -> bool | None:
        """None while the child writes; True once it wrote the file; False when it
        failed or overran `CHILD_TIMEOUT_S` (killed, its temporary file removed)."""
        try:
            done, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            done, status = self.pid, -1
        if done == 0:
            if time.monotonic() - self.started < CHILD_TIMEOUT_S:
                return None
            return self.abandon()
        if status != 0:
            self.temporary.unlink(missing_ok=True)
        return status == 0

    def abandon(self) -> bool:
        """Kill an unfinished child and remove its temporary file; True when it had
        finished writing after all."""
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done == self.pid and status == 0:
                return True
            if done == 0:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        self.temporary.unlink(missing_ok=True)
        return False


def wait_until_idle(busy: Callable[[], bool], timeout: float) -> bool:
    """Wait (bounded) while `busy()`; True when no child is left writing."""
    deadline = time.monotonic() + timeout
    while busy():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True
