"""What SotW and Delta streams share: server-wide state, serialized writes, the cache watch.

A stream does two things at once: it answers requests as they arrive and it
pushes when the proxy's snapshot changes. Both paths run under one per-stream
lock, so the protocol state (nonces, versions) is only ever changed together
with the write that goes with it, and responses leave in the order decided.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import grpc

from xdscp.cache import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
    SnapshotCache,
)
from xdscp.server.diffs import DeltaDiffs
from xdscp.server.settings import AdsSettings
from xdscp.server.status import ProxyStatus, StatusBook
from xdscp.server.wire import DeltaFields, SotwBodies, control_plane_message

# After a push of the key type, Envoy may re-create the warming objects that
# depend on it (a changed cluster re-subscribes to its EDS assignment and
# secrets; a changed listener to its routes and secrets). Their next request
# must be answered even if the content did not change, or they stay warming.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    CLUSTER_TYPE: (ENDPOINT_TYPE, SECRET_TYPE),
    LISTENER_TYPE: (ROUTE_TYPE, SECRET_TYPE),
}
PARENTS: dict[str, tuple[str, ...]] = {
    ENDPOINT_TYPE: (CLUSTER_TYPE,),
    ROUTE_TYPE: (LISTENER_TYPE,),
    SECRET_TYPE: (CLUSTER_TYPE, LISTENER_TYPE),
}

# Characters that delimit a resource name inside Envoy's rejection messages,
# e.g. "Error adding/updating cluster(s) outbound|80||a.ns.svc, b: <reason>".
_DELIMITERS = r"\s,;:'\"()\[\]{}"


def names_in_error(name: str, error: str) -> bool:
    """Whether Envoy's error message names this resource (as a whole token).

    Envoy names the offending resources in its NACK; blaming only those (and
    their source objects) is far more useful than blaming the whole response.
    A plain substring test would blame cluster "a" for every message with an "a".
    """
    if not name or name not in error:
        return False
    pattern = rf"(?<![^{_DELIMITERS}]){re.escape(name)}(?![^{_DELIMITERS}])"
    return re.search(pattern, error) is not None


# Process-wide, so a nonce is never valid on two streams (and logs are unambiguous).
_nonces = itertools.count(1)


def next_nonce() -> str:
    return format(next(_nonces), "x")


@dataclass(slots=True)
class Shared:
    """Server-wide state every stream points to (one pointer per stream, not copies)."""

    cache: SnapshotCache
    status: StatusBook
    settings: AdsSettings
    bodies: SotwBodies = field(init=False)
    delta_fields: DeltaFields = field(init=False)
    delta_diffs: DeltaDiffs = field(init=False)
    control_plane: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.bodies = SotwBodies(
            self.settings.control_plane_id,
            max_entries=self.settings.body_cache_entries,
            max_bytes=self.settings.body_cache_bytes,
        )
        self.delta_fields = DeltaFields()
        self.delta_diffs = DeltaDiffs()
        cp = self.settings.control_plane_id
        self.control_plane = control_plane_message(cp) if cp else b""


class Stream(ABC):
    """One open ADS stream of one admitted proxy."""

    __slots__ = ("_context", "key", "lock", "proxy", "shared")

    def __init__(
        self,
        shared: Shared,
        key: str,
        proxy: ProxyStatus,
        context: grpc.aio.ServicerContext[Any, bytes],
    ) -> None:
        self.shared = shared
        self.key = key
        self.proxy = proxy
        self.lock = asyncio.Lock()
        self._context = context

    @abstractmethod
    async def handle(self, request: Any) -> None:
        """Process one request (ACK/NACK/subscription) and answer it if needed."""

    @abstractmethod
    async def push_changes(self) -> None:
        """Send whatever the current snapshot changed; called under `lock`."""

    async def write(self, data: bytes) -> None:
        async with asyncio.timeout(self.shared.settings.write_timeout):
            await self._context.write(data)

    async def watch(self) -> None:
        """Push on every snapshot change until cancelled.

        Bursts collapse: the cache only reports "newer than what you saw", and
        the push sends the state of that moment.
        """
        cache = self.shared.cache
        seen = cache.generation(self.key)
        while True:
            await cache.wait_newer(self.key, seen)
            # Re-read rather than trust wait_newer's value: after `remove` the
            # generation restarts at 0 and we must wait on the new slot.
            seen = cache.generation(self.key)
            async with self.lock:
                await self.push_changes()
