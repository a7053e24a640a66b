"""The Kubernetes source's health, read from its reflectors.

A type whose list/watch keeps failing (API server unreachable, 5xx, 403 because RBAC
lacks the kind) leaves the mesh frozen on that type's last state. After
`WatchSettings.degraded_after` seconds the source reports itself degraded:
`xdscp_config_source_up` 0, the reason in `/debug/config` (and so in the dashboard)
and in `xdscp proxy-status`.

It stays *ready* (`/ready` 200) meanwhile, unlike a dead file source: in a cluster an
unready control plane is taken out of its Service, so proxies — including restarted
ones — could not even fetch the last good config, which every replica still holds and
serves. Readiness is withheld only until the first full sync (the plane does not serve
before it) or when the watcher itself died.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping

import structlog

from xdscp.kube.reflector import Reflector
from xdscp.sources.health import SourceHealth

log = structlog.get_logger()


def _utc(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


class ReflectorHealth(SourceHealth):
    def __init__(
        self, reflectors: Callable[[], Mapping[str, Reflector]], degraded_after_s: float
    ) -> None:
        super().__init__()
        self.reflectors = reflectors
        self.degraded_after_s = degraded_after_s

    def degraded(self) -> str:
        now = time.time()
        failing = sorted(
            (r.stats.failing_since, kind, r.stats.last_error)
            for kind, r in self.reflectors().items()
            if r.stats.failing_since and now - r.stats.failing_since > self.degraded_after_s
        )
        if not failing:
            return ""
        since, kind, error = failing[0]
        reason = f"degraded: {kind} watch failing since {_utc(since)}: {error}"
        if len(failing) > 1:
            reason += f" (and {len(failing) - 1} more: {', '.join(k for _, k, _ in failing[1:])})"
        return reason


async def log_health_changes(health: SourceHealth, stop: asyncio.Event, every_s: float) -> None:
    """One log line per change of the source's health (not per failed retry): a status
    condition has no natural home for a cluster-wide fact, the log and metric do."""
    reason = ""
    while not stop.is_set():
        now = health.view().reason
        # the time inside the reason changes only with the failing type: compare without it
        if now.split(" since ")[0] != reason.split(" since ")[0]:
            if now:
                log.warning("kube.source_degraded", reason=now)
            else:
                log.info("kube.source_recovered", was=reason)
            reason = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
