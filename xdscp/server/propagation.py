"""Config change -> every affected proxy acknowledged it: the figure mesh operators ask for.

Per mesh generation the runtime reports which proxies' snapshots changed and the
cache generation each must reach. A proxy counts as done once a stream has pushed
that cache generation (or a later one) and every type it was sent is ACKed. When
the last affected proxy is done the elapsed time goes to the histogram; a proxy
that never ACKs (NACK, hang) cannot hold a generation open forever: after a
bounded timeout the generation is recorded as timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from xdscp.metrics import XdsMetrics
    from xdscp.server.status import ProxyStatus, StatusBook

_log = structlog.get_logger(__name__)

DEFAULT_PROPAGATION_TIMEOUT = 30.0
# Generations still waiting at once; beyond this the oldest is closed as timed out, so a
# mesh that changes faster than its proxies answer cannot grow this table without bound.
MAX_PENDING = 64


@dataclass(slots=True)
class _Pending:
    generation: int
    started: float  # time.monotonic() when the runtime began applying the MeshConfig
    waiting: dict[str, int]  # proxy key -> cache generation it has to run
    timer: asyncio.TimerHandle | None = None


class Propagation:
    """Open generations and the proxies each still waits for; one per StatusBook."""

    __slots__ = ("_book", "_metrics", "_pending", "timeout")

    def __init__(
        self,
        book: StatusBook,
        metrics: XdsMetrics | None,
        timeout: float = DEFAULT_PROPAGATION_TIMEOUT,
    ) -> None:
        self._book = book
        self._metrics = metrics
        self.timeout = timeout
        self._pending: dict[int, _Pending] = {}

    def started(self, generation: int, started_at: float, targets: Mapping[str, int]) -> None:
        """The runtime applied mesh `generation` (began at monotonic `started_at`); each
        proxy in `targets` got a new snapshot at the given cache generation."""
        if self._metrics is not None:
            self._metrics.generation.set(generation)
        self._expire_overdue()
        # Only proxies still connected count (one that left has nothing to acknowledge).
        connected = {k: g for k, g in targets.items() if self._book.get(k) is not None}
        waiting = {k: g for k, g in connected.items() if not self._done(k, g)}
        pending = _Pending(generation, started_at, waiting)
        if not waiting:
            if connected:  # every affected proxy answered while the rest was translated
                self._finish(pending, timed_out=False)
            return
        self._pending[generation] = pending
        while len(self._pending) > MAX_PENDING:
            self._finish(next(iter(self._pending.values())), timed_out=True)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # applied outside the server's loop: swept by the next call
            return
        remaining = max(0.0, started_at + self.timeout - time.monotonic())
        pending.timer = loop.call_later(remaining, self._time_out, generation)

    def answered(self, proxy: ProxyStatus) -> None:
        """A proxy acknowledged something or a stream of it pushed: maybe it is done."""
        if not self._pending:
            return
        for pending in list(self._pending.values()):
            target = pending.waiting.get(proxy.key)
            if target is not None and proxy.pushed_generation >= target and proxy.in_sync:
                del pending.waiting[proxy.key]
                if not pending.waiting:
                    self._finish(pending, timed_out=False)

    def gone(self, key: str) -> None:
        """A proxy disconnected: no generation waits for it any more."""
        for pending in list(self._pending.values()):
            if pending.waiting.pop(key, None) is not None and not pending.waiting:
                self._finish(pending, timed_out=False)

    def waiting(self) -> dict[int, list[str]]:
        """Open generations and the proxies they wait for (for `/debug/proxies` readers)."""
        return {g: sorted(p.waiting) for g, p in self._pending.items()}

    def _done(self, key: str, cache_generation: int) -> bool:
        proxy = self._book.get(key)
        if proxy is None:
            return True
        return proxy.pushed_generation >= cache_generation and proxy.in_sync

    def _time_out(self, generation: int) -> None:
        pending = self._pending.get(generation)
        if pending is not None:
            self._finish(pending, timed_out=True)

    def _expire_overdue(self) -> None:
        now = time.monotonic()
        for pending in list(self._pending.values()):
            if now - pending.started >= self.timeout:
                self._finish(pending, timed_out=True)

    def _finish(self, pending: _Pending, timed_out: bool) -> None:
        self._pending.pop(pending.generation, None)
        if pending.timer is not None:
            pending.timer.cancel()
        seconds = time.monotonic() - pending.started
        if self._metrics is not None:
            self._metrics.config_propagated(seconds, timed_out)
        if timed_out:
            _log.warning(
                "config.propagation_timeout",
                generation=pending.generation,
                seconds=round(seconds, 3),
                waiting=sorted(pending.waiting),
            )
        else:
            _log.debug(
                "config.propagated", generation=pending.generation, seconds=round(seconds, 4)
            )
