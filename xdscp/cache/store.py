"""The snapshot cache: proxy key -> current Snapshot, with change notification.

Streams wait on a per-proxy generation counter instead of queues, so a burst
of config changes collapses into one push of the latest state (Envoy only ever
needs the newest config, never the intermediate ones).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from xdscp.cache.snapshot import Snapshot


@dataclass(slots=True)
class _Slot:
    snapshot: Snapshot | None = None
    generation: int = 0
    waiters: set[asyncio.Future[None]] = field(default_factory=set)


class SnapshotCache:
    """Holds the latest snapshot per proxy; must be used from one event loop."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        # One counter for all proxies: a generation never repeats, even after a proxy is
        # removed and set again, so a waiter holding an old number cannot miss a change.
        self._generations = itertools.count(1)

    def set(self, proxy: str, snapshot: Snapshot) -> bool:
        """Store `snapshot`; wake the proxy's streams if any content changed."""
        slot = self._slots.setdefault(proxy, _Slot())
        if slot.snapshot is snapshot or (
            slot.snapshot is not None and _same_content(slot.snapshot, snapshot)
        ):
            return False
        slot.snapshot = snapshot
        slot.generation = next(self._generations)
        for waiter in slot.waiters:
            if not waiter.done():
                waiter.set_result(None)
        slot.waiters.clear()
        return True

    def get(self, proxy: str) -> Snapshot | None:
        slot = self._slots.get(proxy)
        return slot.snapshot if slot else None

    def generation(self, proxy: str) -> int:
        slot = self._slots.get(proxy)
        return slot.generation if slot else 0

    def proxies(self) -> list[str]:
        return [key for key, slot in self._slots.items() if slot.snapshot is not None]

    def remove(self, proxy: str) -> None:
        slot = self._slots.pop(proxy, None)
        if slot:
            for waiter in slot.waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def wait_newer(self, proxy: str, seen_generation: int) -> int:
        """Return once the proxy's generation exceeds `seen_generation` (or it is removed)."""
        slot = self._slots.setdefault(proxy, _Slot())
        while slot.generation <= seen_generation and self._slots.get(proxy) is slot:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            slot.waiters.add(waiter)
            try:
                await waiter
            finally:
                slot.waiters.discard(waiter)
        return slot.generation


def _same_content(a: Snapshot, b: Snapshot) -> bool:
    if a.identity != b.identity or a.withdrawn != b.withdrawn:
        return False
    types = b.types
    if len(a.types) != len(types):
        return False
    for type_url, ts in a.types.items():
        other = types.get(type_url)
        if other is None or (other is not ts and other.version != ts.version):
            return False
    return True
