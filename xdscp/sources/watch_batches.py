"""File changes in batches: one batch `quiet_ms` after the last change of a burst (at most
`max_wait_ms` after its first).

Why not watchfiles' own quiet period: it looks at its change set every `step` ms and
yields after one look without news, so a change is reported one to two steps after it
happened (a 30 ms quiet period meant 30-60 ms, 45 on average, before the file was even
read). Here watchfiles looks every `POLL_MS` (its batches arrive one to two polls after a
change) and the quiet period is timed from the latest change as its batch's arrival
places it, one and a half polls earlier (`quiet_after_arrival`), so a change is reported
`quiet_ms` after it happened, give or take half a poll (timed from the arrival less one
poll, it came 0 to 5 ms late: 2.5 ms of every edit on average). Cancelling the batches
stops the watcher thread within one poll, and never sets the caller's `stop`.

`on_first` is told when a burst's first change arrives, before its quiet period: the
plane pauses its analysis thread then, so the quiet period's timers and the load that
follows do not queue for the interpreter behind it (a quiet period of 30 ms took ~50
while the analysis ran). It changes nothing in when the batch comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import watchfiles

# How often the watcher thread looks for news. It takes the GIL for a moment each time
# (cheap: 200 times a second is well under 1% of a core).
POLL_MS = 5

Changes = set[tuple[watchfiles.Change, str]]


class _StopFlag:
    """What watchfiles polls to end its thread: the caller's `stop`, or our own flag when
    the batches are closed (watchfiles sets the event it is given when cancelled: it
    must not be the caller's, which would stop the whole plane)."""

    def __init__(self, outer: asyncio.Event | None) -> None:
        self._outer = outer
        self._set = False

    def is_set(self) -> bool:
        return self._set or (self._outer is not None and self._outer.is_set())

    def set(self) -> None:
        self._set = True


def quiet_after_arrival(quiet_ms: int, poll_ms: int) -> float:
    """Seconds of the quiet period still to wait when a batch arrives: it arrives one to
    two polls after its change (watchfiles yields after one poll without news), so the
    change happened one and a half polls before, give or take half a poll."""
    return max(0.0, quiet_ms - 1.5 * poll_ms) / 1000


async def batches(
    paths: list[Path],
    quiet_ms: int,
    max_wait_ms: int,
    stop: asyncio.Event | None = None,
    on_first: Callable[[], None] | None = None,
) -> AsyncGenerator[Changes, None]:
    """The changes under `paths`, one set per burst, until `stop` is set; `on_first` is
    called (on the event loop) when a burst's first change arrives."""
    poll_ms = max(1, min(POLL_MS, quiet_ms))
    rest = quiet_after_arrival(quiet_ms, poll_ms)
    most = max_wait_ms / 1000
    arrived: asyncio.Queue[Changes | BaseException | None] = asyncio.Queue()
    flag = _StopFlag(stop)

    async def watch() -> None:
        try:
            async for changes in watchfiles.awatch(
                *paths,
                debounce=max_wait_ms,
                step=poll_ms,
                # No periodic timeout: the flag ends the watch (checked every poll). On a
                # timeout watchfiles clears its change set, and a change landing at that
                # instant would be lost.
                rust_timeout=0,
                stop_event=flag,
                recursive=True,
            ):
                arrived.put_nowait(changes)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the reader, raised there
            arrived.put_nowait(exc)
            return
        arrived.put_nowait(None)  # stopped

    watcher = asyncio.create_task(watch(), name="config-watcher")
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await arrived.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            burst = set(item)
            first = last = loop.time()
            if on_first is not None:
                on_first()
            ended = False
            while True:
                delay = min(last + rest, first + most) - loop.time()
                if delay <= 0:
                    break
                try:
                    item = await asyncio.wait_for(arrived.get(), delay)
                except TimeoutError:
                    break
                if item is None:
                    ended = True
                    break
                if isinstance(item, BaseException):
                    raise item
                burst |= item
                last = loop.time()
            yield burst
            if ended:
                return
    finally:
        flag.set()
        watcher.cancel()
        # bounded: the watcher thread sees the flag within one poll
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(watcher), 5.0)
