"""The IR of a cluster's locality load-balancing setting (see translators/traffic/locality.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalityLbIR:
    """The locality setting one cluster applies, per calling proxy. `labels[i]` are the
    values of the `failoverPriority` labels of the assignment's endpoint i."""

    distribute: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    failover: tuple[tuple[str, str], ...] = ()  # (from region, to region)
    failover_priority: tuple[str, ...] = ()
    enable_failover: bool = False
    labels: tuple[tuple[tuple[str, str], ...], ...] = ()

    def label_names(self) -> tuple[str, ...]:
        return tuple(entry.partition("=")[0] for entry in self.failover_priority)
