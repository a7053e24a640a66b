"""Which sidecar ports have recently seen non-HTTP bytes on an HTTP codec.

Envoy's counters only grow, so "is it still happening?" needs memory: a counter
reported as a finding for `window` seconds after it last increased (a non-zero
counter seen for the first time counts as an increase: sidecars start at zero).
After the cause is fixed the message goes away by itself, without a sidecar restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from translators.analysis.runtime import ProtocolErrors
from xdscp.dashboard.scrape import SidecarStats


class ProtocolErrorTracker:
    def __init__(self, window: float = 600.0) -> None:
        self.window = window
        # (workload, "downstream"|"upstream", name) -> (last value, time it last grew)
        self._seen: dict[tuple[str, str, str], tuple[float, float]] = {}

    def observe(self, samples: Iterable[SidecarStats]) -> None:
        for sample in samples:
            if sample.error:
                continue
            for side, counters in (
                ("downstream", sample.downstream_protocol_errors),
                ("upstream", sample.upstream_protocol_errors),
            ):
                self._update(sample, side, counters)

    def _update(self, sample: SidecarStats, side: str, counters: Mapping[str, float]) -> None:
        for name, value in counters.items():
            key = (sample.workload, side, name)
            last = self._seen.get(key)
            if last is None:
                grew_at = sample.time if value > 0 else 0.0
            elif value > last[0]:
                grew_at = sample.time
            else:  # unchanged, or lower after a sidecar restart
                grew_at = last[1]
            self._seen[key] = (value, grew_at)

    def active(self, now: float) -> list[ProtocolErrors]:
        found: list[ProtocolErrors] = []
        for (workload, side, name), (value, grew_at) in sorted(self._seen.items()):
            if grew_at and now - grew_at <= self.window and value > 0:
                if side == "downstream":
                    found.append(ProtocolErrors(workload, int(value), stat_prefix=name))
                else:
                    found.append(ProtocolErrors(workload, int(value), cluster=name))
        return found
