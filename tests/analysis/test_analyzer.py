"""The service side of the analysis (`xdscp.analysis.MeshAnalyzer`): off the event loop,
newest generation only, one run per mesh."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from benchmarks.meshgen import synthetic_mesh
from tests.analysis.meshes import base, vs_reviews, write_mesh
from translators.analysis import analyze
from translators.mesh import MeshConfig, MeshOptions
from xdscp.analysis import RUN_SWITCH_INTERVAL_S, MeshAnalyzer
from xdscp.sources.files import DirectorySource
from xdscp.tuning import collection_paused_now, tune_gc


@pytest.fixture
def served_gc() -> Iterator[None]:
    """The GC settings `xdscp serve` runs with (xdscp.tuning): without them a full
    collection of a big mesh, in whichever thread allocates, stalls every thread."""
    thresholds = gc.get_threshold()
    tune_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_analysis_runs_off_the_event_loop(served_gc: None) -> None:
    """While a 2,000-service mesh is analyzed the loop keeps serving (pushes, ACKs):
    its longest stall is a fraction of the analysis time, not all of it."""
    mesh = synthetic_mesh(2_000)
    gc.freeze()  # as serve's tune_gc does for each loaded mesh's long-lived objects
    analyzer = MeshAnalyzer(CollectorRegistry())
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    stalls: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        analyzer.submit(mesh, 1)
        await analyzer.wait_current(120)
        assert analyzer.latest is not None and analyzer.latest.mesh is mesh
        duration = analyzer.latest.duration_ms / 1000
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(runner, ticking), 10)
    assert duration > 0.2, duration  # big enough for the measurement to mean something
    print(f"analysis {duration:.2f} s, longest event-loop stall {max(stalls) * 1000:.0f} ms")
    assert max(stalls) < duration / 2, (max(stalls), duration)


async def test_newest_generation_wins_and_a_reapplied_mesh_is_not_reanalyzed(
    tmp_path: Path,
) -> None:
    healthy = _load(tmp_path / "a", broken=False)
    broken = _load(tmp_path / "b", broken=True)
    registry = CollectorRegistry()
    analyzer = MeshAnalyzer(registry)
    published: list[int] = []
    analyzer.listeners.append(lambda result: published.append(result.generation))
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    try:
        analyzer.submit(healthy, 1)
        analyzer.submit(broken, 2)  # before the first ran: only the newest is analyzed
        await analyzer.wait_current(30)
        assert published == [2]
        first = analyzer.latest
        assert first is not None and [m.code for m in first.analysis.messages] == ["XDS0102"]
        sample = registry.get_sample_value(
            "xdscp_analysis_messages", {"code": "XDS0102", "severity": "Error"}
        )
        assert sample == 1.0
        analyzer.submit(broken, 3)  # the same mesh again (certificate rotation re-applies it)
        await analyzer.wait_current(30)
        assert analyzer.latest is not None and analyzer.latest.generation == 3
        assert analyzer.latest.analysis is first.analysis  # cached, not re-run
        assert published == [2]
        status = analyzer.as_json(broken)
        assert status["current"] is True and status["generation"] == 3
        assert analyzer.as_json(healthy)["current"] is False
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def test_wait_current_waits_for_the_analysis_in_flight(tmp_path: Path) -> None:
    """`?wait=` asked while the newest mesh is being analyzed (no longer pending, not yet
    published) answers with that mesh's result, not the previous one."""
    broken = _load(tmp_path, broken=True)
    analyzer = MeshAnalyzer(CollectorRegistry())
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    try:
        analyzer.submit(broken, 1)
        for _ in range(10_000):  # until the run loop took it into its worker thread
            if analyzer._pending is None:
                break
            await asyncio.sleep(0)
        assert analyzer._pending is None and analyzer.latest is None
        await analyzer.wait_current(30)
        assert analyzer.latest is not None and analyzer.latest.generation == 1
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


def _load(directory: Path, broken: bool) -> MeshConfig:
    docs = base()
    if broken:
        vs_reviews(docs)["spec"]["http"][1]["route"][1]["destination"]["subset"] = "v3"
    source = DirectorySource(write_mesh(directory, docs), MeshOptions(local_mode=True))
    return source.load()


async def test_an_edit_is_analyzed_from_the_previous_run(tmp_path: Path) -> None:
    """The mesh after one VirtualService file is edited (the file source updates the
    mesh from the previous one) is analyzed from the previous run: the VirtualService's
    per-object findings are worked out again, every check that does not read other
    VirtualServices is carried over, and the result is what a fresh analysis says."""
    docs = base()
    reviews = vs_reviews(docs)
    others = [d for d in docs if d is not reviews]
    write_mesh(tmp_path, others)
    route = tmp_path / "reviews.yaml"
    route.write_text(yaml.safe_dump(reviews, sort_keys=False))
    source = DirectorySource(tmp_path, MeshOptions(local_mode=True))
    healthy = source.load()
    analyzer = MeshAnalyzer(CollectorRegistry())
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    try:
        analyzer.submit(healthy, 1)
        await analyzer.wait_current(30)
        first = analyzer.latest
        assert first is not None and not first.analysis.messages
        reviews["spec"]["http"][1]["route"][1]["destination"]["subset"] = "v3"
        route.write_text(yaml.safe_dump(reviews, sort_keys=False))
        broken = source.load_changed([route])
        analyzer.submit(broken, 2)
        await analyzer.wait_current(30)
        second = analyzer.latest
        assert second is not None and second.mesh is broken
        assert [m.code for m in second.analysis.messages] == ["XDS0102"]
        assert second.analysis == analyze(broken, include_schema=True)
        state = analyzer._state
        assert state is not None and state.mesh is broken
        assert "destinations" not in state.reran and "destinationrule-subsets" not in state.reran
        assert len(state.reran) <= 3, state.reran  # the checks that read every VirtualService
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def test_a_held_analysis_waits_until_released(served_gc: None) -> None:
    """While an edit is seen, applied and pushed (`hold`), a running analysis stops at
    its next checkpoint and gives the interpreter to the edit; it goes on when released
    (the edit's pushes acknowledged); a superseded hold's release does nothing."""
    mesh = synthetic_mesh(500)
    analyzer = MeshAnalyzer(CollectorRegistry())
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    try:
        first = analyzer.hold(30.0)
        analyzer.submit(mesh, 1)
        for _ in range(10_000):  # until the run loop took it into its worker thread
            if analyzer._pending is None:
                break
            await asyncio.sleep(0)
        assert analyzer._pending is None
        second = analyzer.hold(30.0)  # the next edit seen before the first was pushed
        analyzer.release(first)  # the first edit's acknowledgements: superseded
        await asyncio.sleep(0.5)  # a 500-service analysis takes ~0.15 s: it waits
        assert analyzer.latest is None
        analyzer.release(second)
        await analyzer.wait_current(30)
        assert analyzer.latest is not None and analyzer.latest.mesh is mesh
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def test_a_hold_ends_at_its_bound(served_gc: None) -> None:
    """A seen change that applies nothing (a non-YAML file, a failed load) holds the
    analysis at most for the hold's bound."""
    analyzer = MeshAnalyzer(CollectorRegistry())
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    try:
        mesh = synthetic_mesh(200)
        started = time.perf_counter()
        analyzer.hold(0.3)
        analyzer.submit(mesh, 1)
        await analyzer.wait_current(10)
        assert analyzer.latest is not None and analyzer.latest.generation == 1
        assert 0.25 < time.perf_counter() - started < 5.0
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


async def test_stopping_ends_a_hold(served_gc: None) -> None:
    """The plane stops while a change holds the analysis: the run in the worker thread
    finishes unpaused (the hold's timer would never fire on a stopped loop, and the
    thread would keep the process from exiting)."""
    analyzer = MeshAnalyzer(CollectorRegistry())
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    analyzer.hold(600.0)
    analyzer.submit(synthetic_mesh(200), 1)
    for _ in range(10_000):  # until the run loop took it into its worker thread
        if analyzer._pending is None:
            break
        await asyncio.sleep(0)
    runner.cancel()  # as ControlPlane.stop does
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    deadline = time.perf_counter() + 10
    while analyzer._state is None and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    assert analyzer._state is not None  # the thread's run completed


async def test_a_hold_pauses_the_collector_and_the_first_run_is_frozen(served_gc: None) -> None:
    """No cyclic collection (20-60 ms holding the GIL at 10,000 services) lands in an
    edit: the collector waits from the hold until its release, or its bound. A service's
    first analysis run builds every table with the collector paused and freezes them out
    of it; later runs collect normally."""
    analyzer = MeshAnalyzer(CollectorRegistry())
    analyzer.freeze_next_run = True
    analyzer.hold(30.0)  # not running yet: no pause that nothing would end
    assert gc.isenabled()
    analyzer.release()
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    await asyncio.sleep(0)  # running
    try:
        token = analyzer.hold(30.0)
        assert not gc.isenabled() and collection_paused_now()
        analyzer.hold(30.0)  # a newer hold: still one pause
        analyzer.release(token)  # superseded: the collector stays paused
        assert not gc.isenabled()
        analyzer.release()
        assert gc.isenabled() and not collection_paused_now()
        analyzer.hold(0.1)
        await asyncio.sleep(0.3)  # the bound ends the hold, and the pause
        assert gc.isenabled() and not collection_paused_now()

        frozen = gc.get_freeze_count()
        analyzer.submit(synthetic_mesh(50), 1)
        await analyzer.wait_current(30)
        assert gc.get_freeze_count() > frozen  # the first run's tables are frozen
        assert gc.isenabled() and analyzer.freeze_next_run is False
        gc.unfreeze()
        analyzer.submit(synthetic_mesh(60), 2)
        await analyzer.wait_current(30)
        assert analyzer.latest is not None and analyzer.latest.generation == 2
        assert gc.get_freeze_count() == 0  # once: later runs are collected normally
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)
    assert gc.isenabled()


async def test_a_run_gives_way_to_the_loop_sooner(served_gc: None) -> None:
    """While a run computes, a thread waiting for the interpreter gets it after
    RUN_SWITCH_INTERVAL_S, not Python's 5 ms (two such waits lay between a file
    change and `hold`); the interval is back to what it was afterwards."""
    analyzer = MeshAnalyzer(CollectorRegistry())
    seen: list[float] = []
    pause = analyzer._checkpoint

    def checkpoint() -> None:
        seen.append(sys.getswitchinterval())
        pause()

    analyzer._checkpoint = checkpoint  # type: ignore[method-assign]
    before = sys.getswitchinterval()
    stop = asyncio.Event()
    runner = asyncio.create_task(analyzer.run(stop))
    try:
        analyzer.submit(synthetic_mesh(20), 1)
        await analyzer.wait_current(30)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)
    assert seen and set(seen) == {RUN_SWITCH_INTERVAL_S}
    assert sys.getswitchinterval() == before
