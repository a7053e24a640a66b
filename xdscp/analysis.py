"""The analysis as a running service: every mesh generation is analyzed in a worker
thread after its pushes went out, the latest result is kept (one per mesh, reused when
the same mesh is re-applied), served at `/debug/analysis` and counted in `/metrics`.

Off the hot path by construction: `submit` only records the newest mesh; generations
that arrive while one is being analyzed collapse into one run for the newest. Each run
starts from the previous one (translators/analysis/incremental.py): after an edit only
what it can affect is checked again (one VirtualService at 10,000 services: ~10 ms,
not 2.5 s). From the moment an edit is seen until its pushes are acknowledged (`hold`)
the worker thread waits at its next checkpoint, so a long run (the first one) does not
share the interpreter with the edit's load and translation; and the cyclic GC waits
too: a collection holds the interpreter for 20-60 ms at 10,000 services, in whichever
thread allocates. The first run, which builds every table, runs with the GC paused and
freezes its tables out of it (`tuning.frozen_after`): collected as it went, it spent a
third of its time in collections, each one a stall for an edit arriving meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge

from translators.analysis import Analysis, Message
from translators.analysis.incremental import IncrementalAnalysis, analyze_incrementally
from translators.mesh import MeshConfig
from xdscp.tuning import frozen_after, pause_collection, resume_collection

log = structlog.get_logger()

# a paused analysis waits at most this long per checkpoint, then goes on: an edit that
# never resumes it (a bug) delays the analysis, never stops it
PAUSE_MAX_S = 5.0
# While a run computes, a thread that wants the interpreter (the event loop: a file
# change arriving, a request) asks the analysis thread to give it up after this long,
# not Python's default 5 ms: the change reaches the loop (from the watcher's thread)
# and the loop reaches `hold` through two such waits, 10 ms of an edit's latency
# before. The analysis itself is not slowed: the switch only happens on request.
RUN_SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    mesh: MeshConfig
    generation: int
    analysis: Analysis
    finished_at: float
    duration_ms: float


class MeshAnalyzer:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            "xdscp_analysis_messages",
            "Analysis messages of the current mesh, by code and severity.",
            ["code", "severity"],
            registry=registry,
        )
        self.latest: AnalysisResult | None = None
        self._pending: tuple[int, MeshConfig] | None = None
        self._wake = asyncio.Event()
        self._done = asyncio.Event()  # set when every submitted mesh is analyzed
        self._submitted = False
        # called with each new result (Kubernetes status writes it back)
        self.listeners: list[Callable[[AnalysisResult], None]] = []
        # findings from the running proxies (the dashboard's, from sidecar counters): they
        # change without a new mesh, so they are asked for on every request
        self.runtime_sources: list[Callable[[], Awaitable[Sequence[Message]]]] = []
        # awaited before each run (the plane: until the proxies being served are served,
        # see `ControlPlane._proxies_served`); the newest mesh is taken after it
        self.before_run: Callable[[], Awaitable[None]] | None = None
        # the last analysis with what the next one is worked out from
        self._state: IncrementalAnalysis | None = None
        # clear while an edit is applied: the worker waits at its next checkpoint
        self._running = threading.Event()
        self._running.set()
        self._hold: asyncio.TimerHandle | None = None
        self._holds = 0  # the latest hold's token
        self._collector_held = False  # the hold paused the cyclic GC (`tuning`)
        self._stopped = False  # `run` ended: no more holds
        self._active = False  # `run` is running
        # Set by a long-running service (with `tuning.tune_gc`): the next run, the first,
        # which builds every table, runs with the cyclic GC paused and freezes its tables
        # out of it (`tuning.frozen_after`), as the runtime does its first translation.
        self.freeze_next_run = False

    def hold(self, seconds: float) -> int:
        """An edit is coming (a file batch seen) or being applied: the analysis thread
        waits at its next checkpoint (between checks, every hundred objects or so),
        leaving the interpreter to the edit, until `release(token)` with the token
        returned (its pushes acknowledged) or at most `seconds`. A newer hold supersedes
        an older one. On the event loop."""
        self._holds += 1
        if self._hold is not None:
            self._hold.cancel()
        self._hold = asyncio.get_running_loop().call_later(seconds, self.release)
        if not self._stopped:
            self._running.clear()
            # only while `run` runs: its end (or the loop's timer) ends the pause
            if self._active and not self._collector_held:
                # no collection (tens of ms holding the GIL) lands in the edit either
                self._collector_held = True
                pause_collection()
        return self._holds

    def release(self, token: int | None = None) -> None:
        """End the hold `token` (None: whichever holds); a superseded token does nothing."""
        if token is not None and token != self._holds:
            return
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        if self._collector_held:
            self._collector_held = False
            resume_collection()
        self._running.set()

    def _checkpoint(self) -> None:
        self._running.wait(PAUSE_MAX_S)

    def submit(self, mesh: MeshConfig, generation: int) -> None:
        self._pending = (generation, mesh)
        self._submitted = True
        self._done.clear()
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._active = True
        try:
            await self._run(stop)
        finally:
            # stopping (or cancelled): a run still in its thread must not wait for a
            # hold whose timer will never fire; it finishes unpaused
            self._stopped = True
            self._active = False
            self.release()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            woken = asyncio.ensure_future(self._wake.wait())
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({woken, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
                stopped.cancel()
            if stop.is_set():
                return
            self._wake.clear()
            if self.before_run is not None:
                await self.before_run()
            pending, self._pending = self._pending, None
            if pending is None:
                continue
            try:
                self._publish(await self._analyze(*pending))
            except Exception:  # never let one bad generation end the loop
                log.exception("analysis.failed", generation=pending[0])
            if self._pending is None:
                self._done.set()

    async def _analyze(self, generation: int, mesh: MeshConfig) -> AnalysisResult:
        latest = self.latest
        if latest is not None and latest.mesh is mesh:  # re-applied as is (rotation)
            return AnalysisResult(
                mesh, generation, latest.analysis, latest.finished_at, latest.duration_ms
            )
        started = time.perf_counter()
        state = await asyncio.to_thread(self._analyze_from_last, mesh)
        duration = (time.perf_counter() - started) * 1000
        return AnalysisResult(mesh, generation, state.analysis, time.time(), duration)

    def _analyze_from_last(self, mesh: MeshConfig) -> IncrementalAnalysis:
        """In the worker thread: `mesh` analyzed from the previous run's state."""
        cpu = time.thread_time()
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, RUN_SWITCH_INTERVAL_S))
        try:
            state = self._analyze_now(mesh)
        finally:
            sys.setswitchinterval(interval)
        self._state = state
        log.debug(
            "analysis.ran",
            checks=len(state.reran),
            cpu_ms=round((time.thread_time() - cpu) * 1000, 1),
        )
        return state

    def _analyze_now(self, mesh: MeshConfig) -> IncrementalAnalysis:
        if not self.freeze_next_run:
            return self._analyze_from(mesh, self._state)
        self.freeze_next_run = False  # the first run: every table built (see module doc)
        with frozen_after():
            return self._analyze_from(mesh, None)

    def _analyze_from(
        self, mesh: MeshConfig, state: IncrementalAnalysis | None
    ) -> IncrementalAnalysis:
        return analyze_incrementally(mesh, state, include_schema=True, checkpoint=self._checkpoint)

    def _publish(self, result: AnalysisResult) -> None:
        changed = self.latest is None or self.latest.analysis is not result.analysis
        self.latest = result
        if not changed:
            return
        self.gauge.clear()
        for (code, severity), count in sorted(result.analysis.counts().items()):
            self.gauge.labels(code=code, severity=severity.label).set(count)
        log.info(
            "analysis.completed",
            generation=result.generation,
            messages=len(result.analysis.messages),
            worst=result.analysis.worst.label if result.analysis.worst else None,
            ms=round(result.duration_ms, 1),
        )
        for listener in self.listeners:
            listener(result)

    async def wait_current(self, timeout: float) -> None:
        """Until every submitted mesh is analyzed (tests, `?wait=`), at most `timeout` s."""
        # Not `_pending is None`: that is also true while the last one is being analyzed.
        if not self._submitted or self._done.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout)

    def as_json(self, current: MeshConfig | None, object_ref: str | None = None) -> dict[str, Any]:
        latest = self.latest
        if latest is None:
            return {"generation": None, "current": False, "messages": [], "counts": {}}
        messages = latest.analysis.messages
        if object_ref:
            messages = tuple(m for m in messages if m.ref == object_ref or object_ref in m.related)
        counts: dict[str, int] = {}
        for message in messages:
            counts[message.severity.label] = counts.get(message.severity.label, 0) + 1
        return {
            "generation": latest.generation,
            "current": current is latest.mesh,
            "analyzed_at": latest.finished_at,
            "duration_ms": round(latest.duration_ms, 1),
            "counts": counts,
            "messages": [m.as_dict() for m in messages],
        }

    def route(self, current: Callable[[], MeshConfig | None]) -> web.RouteDef:
        """`GET /debug/analysis[?object=Kind/ns/name][&wait=SECONDS]`."""

        async def handler(request: web.Request) -> web.Response:
            try:
                wait = min(float(request.query.get("wait", "0")), 30.0)
            except ValueError:
                raise web.HTTPBadRequest(text="wait: a number of seconds") from None
            if wait > 0:
                await self.wait_current(wait)
            body = self.as_json(current(), request.query.get("object"))
            for source in self.runtime_sources:
                add_messages(body, await source(), request.query.get("object"))
            return web.json_response(body)

        return web.get("/debug/analysis", handler)


def add_messages(body: dict[str, Any], messages: Sequence[Message], object_ref: str | None) -> None:
    """Add run-time `messages` to an `as_json` answer (filtered and counted the same way)."""
    for message in messages:
        if object_ref and message.ref != object_ref and object_ref not in message.related:
            continue
        body["messages"].append(message.as_dict())
        label = message.severity.label
        body["counts"][label] = body["counts"].get(label, 0) + 1
