"""Whether a config source is alive and keeping up: the basis of `/ready` and the
`xdscp_config_source_up` gauge.

A source that died, or whose reload has been running far longer than any reload
should, leaves the mesh frozen on old config while everything else looks fine;
this makes that visible instead of leaving it to one log line.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HealthView:
    up: bool
    # Whether to pass `/ready`: equal to `up` for the file source; a Kubernetes source
    # that is degraded (API server unreachable) but serves its last good mesh is ready
    # and not up (see `xdscp.kube.health`).
    ready: bool
    reason: str
    loads: int
    failures: int
    last_success_at: float
    busy_for_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "up": self.up,
            "ready": self.ready,
            "reason": self.reason,
            "loads": self.loads,
            "failures": self.failures,
            "last_success_at": self.last_success_at,
            "busy_for_s": round(self.busy_for_s, 3),
        }


class SourceHealth:
    """Updated by the source's loop (any thread), read by the debug endpoint."""

    def __init__(self, stuck_after_s: float = 120.0) -> None:
        self.stuck_after_s = stuck_after_s
        self._lock = threading.Lock()
        self._busy_since = 0.0
        self._loads = 0
        self._failures = 0
        self._last_success_at = 0.0
        self._last_failure = ""
        self._dead = ""

    def begin(self) -> None:
        with self._lock:
            self._busy_since = time.monotonic()

    def succeeded(self) -> None:
        with self._lock:
            self._busy_since = 0.0
            self._loads += 1
            self._last_success_at = time.time()
            self._last_failure = ""

    def failed(self, reason: str) -> None:
        """A reload failed as a whole (the previous mesh stays in force)."""
        with self._lock:
            self._busy_since = 0.0
            self._failures += 1
            self._last_failure = reason

    def loaded_initially(self) -> None:
        """The first mesh was loaded outside the loop (before serving)."""
        self.succeeded()

    def dead(self, reason: str) -> None:
        """The watcher itself stopped; cleared by `alive` when it is restarted."""
        with self._lock:
            self._dead = reason

    def alive(self) -> None:
        with self._lock:
            self._dead = ""

    def degraded(self) -> str:
        """Why a source that has loaded and is watching is still not keeping up ("" when
        it is); such a source stays ready. Overridden by sources that can tell."""
        return ""

    def view(self) -> HealthView:
        with self._lock:
            busy = time.monotonic() - self._busy_since if self._busy_since else 0.0
            reason = ""
            if self._dead:
                reason = f"config watcher stopped: {self._dead}"
            elif busy > self.stuck_after_s:
                reason = f"config reload running for {busy:.0f} s (stuck?)"
            elif not self._loads:
                reason = (
                    f"no config loaded yet: {self._last_failure}"
                    if self._last_failure
                    else "no config loaded yet"
                )
            broken = bool(reason)
            reason = reason or self.degraded()
            return HealthView(
                up=not reason,
                ready=not broken,
                reason=reason,
                loads=self._loads,
                failures=self._failures,
                last_success_at=self._last_success_at,
                busy_for_s=busy,
            )
