"""The watcher's bursts: writes inside the quiet period come as one batch, a change is
reported about one quiet period after it happened, and closing the batches ends the
watcher without touching the caller's stop event."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from xdscp.sources.watch_batches import POLL_MS, batches, quiet_after_arrival

WAIT_S = 10.0


async def test_writes_inside_the_quiet_period_come_as_one_batch(tmp_path: Path) -> None:
    stop = asyncio.Event()
    watched = batches([tmp_path], quiet_ms=300, max_wait_ms=5000, stop=stop)
    try:
        first = asyncio.ensure_future(anext(watched))
        await asyncio.sleep(0.3)  # the watcher thread starts
        for i in range(5):  # 50 ms apart, well inside the 300 ms quiet period
            (tmp_path / f"f{i}.yaml").write_text("x")
            await asyncio.sleep(0.05)
        burst = await asyncio.wait_for(first, WAIT_S)
        assert {Path(p).name for _, p in burst} == {f"f{i}.yaml" for i in range(5)}
    finally:
        await watched.aclose()
    assert not stop.is_set()


async def test_a_change_is_reported_after_the_quiet_period_not_before(tmp_path: Path) -> None:
    watched = batches([tmp_path], quiet_ms=200, max_wait_ms=5000)
    try:
        first = asyncio.ensure_future(anext(watched))
        await asyncio.sleep(0.3)
        written = time.monotonic()
        (tmp_path / "a.yaml").write_text("x")
        await asyncio.wait_for(first, WAIT_S)
        # at least the quiet period minus half a poll (the batch comes 1-2 polls late)
        assert time.monotonic() - written >= 0.2 - POLL_MS / 2000 - 0.001
    finally:
        await watched.aclose()


async def test_closing_ends_the_watcher_and_leaves_the_callers_stop_alone(
    tmp_path: Path,
) -> None:
    stop = asyncio.Event()
    watched = batches([tmp_path], quiet_ms=30, max_wait_ms=1000, stop=stop)
    pending = asyncio.ensure_future(anext(watched))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    pending.cancel()  # what stopping the plane's watcher task does
    with contextlib.suppress(asyncio.CancelledError):
        await pending
    await watched.aclose()
    assert time.monotonic() - started < 2.0
    assert not stop.is_set()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "config-watcher"]


async def test_the_callers_stop_ends_the_batches(tmp_path: Path) -> None:
    stop = asyncio.Event()
    watched = batches([tmp_path], quiet_ms=30, max_wait_ms=1000, stop=stop)
    pending = asyncio.ensure_future(anext(watched))
    await asyncio.sleep(0.2)
    stop.set()
    try:
        await asyncio.wait_for(pending, WAIT_S)
        raise AssertionError("a batch without any change")
    except StopAsyncIteration:
        pass


async def test_the_first_change_of_a_burst_is_told_before_its_quiet_period(
    tmp_path: Path,
) -> None:
    """`on_first` comes once per burst, as its first change arrives: well before the
    batch (a quiet period later), not again for the burst's later writes."""
    told: list[float] = []
    watched = batches(
        [tmp_path], quiet_ms=400, max_wait_ms=5000, on_first=lambda: told.append(time.monotonic())
    )
    try:
        first = asyncio.ensure_future(anext(watched))
        await asyncio.sleep(0.3)
        for i in range(3):  # one burst
            (tmp_path / f"f{i}.yaml").write_text("x")
            await asyncio.sleep(0.05)
        await asyncio.wait_for(first, WAIT_S)
        arrived = time.monotonic()
        assert len(told) == 1
        assert arrived - told[0] >= 0.35  # told at the start of the quiet period
        second = asyncio.ensure_future(anext(watched))
        (tmp_path / "g.yaml").write_text("x")
        await asyncio.wait_for(second, WAIT_S)
        assert len(told) == 2  # the next burst is told again
    finally:
        await watched.aclose()


def test_the_quiet_period_is_timed_from_the_change_not_its_arrival() -> None:
    """A batch arrives one to two polls after its change: the rest of the quiet period
    is what remains after one and a half polls, so the change is reported `quiet_ms`
    after it happened, half a poll either way (not 0 to a whole poll late)."""
    assert quiet_after_arrival(30, 5) == 0.0225
    earliest, latest = 5 + quiet_after_arrival(30, 5) * 1000, 10 + quiet_after_arrival(30, 5) * 1000
    assert (earliest + latest) / 2 == 30  # centred on the quiet period
    assert quiet_after_arrival(5, 5) == 0.0  # never negative
