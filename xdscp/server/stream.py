"""What SotW and Delta streams share: server-wide state, serialized writes, the cache watch.

A stream does two things at once: it answers requests as they arrive and it
pushes when the proxy's snapshot changes. Both paths run under one per-stream
lock, so the protocol state (nonces, versions) is only ever changed together
with the write that goes with it, and responses leave in the order decided.
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog

import xdstypes
from xdscp.cache import Snapshot
from xdscp.errors import XdscpError
from xdscp.metrics import type_label
from xdscp.server.diffs import DeltaDiffs
from xdscp.server.heap import HeapTrimmer
from xdscp.server.loglimit import LogLimiter, truncate
from xdscp.server.names import NameSets
from xdscp.server.settings import AdsSettings
from xdscp.server.snapshots import SnapshotReader
from xdscp.server.status import ProxyStatus, StatusBook, log_message
from xdscp.server.vhds import VhdsCuts
from xdscp.server.wire import DeltaFields, SotwResponses, control_plane_message

_log = structlog.get_logger(__name__)

# After a push of the key type, Envoy may re-create the warming objects that
# depend on it (a changed cluster re-subscribes to its EDS assignment and
# secrets; a changed listener to its routes and secrets). Their next request
# must be answered even if the content did not change, or they stay warming.
# Both come from the `parents` column of the `xdstypes` table.
DEPENDENTS = xdstypes.DEPENDENTS
PARENTS = xdstypes.PARENTS

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


class StreamAborted(XdscpError):
    """The server ends the stream with `code` and `message` (logged as `event`)."""

    event = "xds.stream_aborted"

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamRevoked(StreamAborted):
    """The stream may no longer receive its proxy's config.

    Raised where a stream reads its snapshot, before anything of it is written, so a
    proxy whose workload changed identity (or vanished) gets not one more byte.
    """

    event = "xds.stream_revoked"


class StreamOverLimit(StreamAborted):
    """The proxy asked for more than a stream may cost (see AdsSettings' limits)."""

    event = "xds.stream_over_limit"

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, message)


@dataclass(slots=True)
class Shared:
    """Server-wide state every stream points to (one pointer per stream, not copies)."""

    cache: SnapshotReader
    status: StatusBook
    settings: AdsSettings
    responses: SotwResponses = field(init=False)
    delta_fields: DeltaFields = field(init=False)
    delta_diffs: DeltaDiffs = field(init=False)
    name_sets: NameSets = field(init=False)
    heap: HeapTrimmer = field(init=False)
    vhds_cuts: VhdsCuts = field(init=False)
    control_plane: bytes = field(init=False)
    streams: set[Stream] = field(init=False)
    log_limiter: LogLimiter = field(init=False)
    _watchdog: asyncio.Task[None] | None = field(init=False)

    def __post_init__(self) -> None:
        self.streams = set()
        self.log_limiter = LogLimiter(self.settings.repeated_log_interval)
        self._watchdog = None
        self.responses = SotwResponses(
            self.settings.control_plane_id,
            max_entries=self.settings.body_cache_entries,
            max_bytes=self.settings.body_cache_bytes,
        )
        self.delta_fields = DeltaFields()
        self.delta_diffs = DeltaDiffs()
        self.name_sets = NameSets()
        self.heap = HeapTrimmer()
        self.vhds_cuts = VhdsCuts()
        cp = self.settings.control_plane_id
        self.control_plane = control_plane_message(cp) if cp else b""

    def register(self, stream: Stream) -> None:
        self.streams.add(stream)
        self.heap.opened()
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch_writes(), name="xds-write-watchdog")

    def unregister(self, stream: Stream) -> None:
        self.streams.discard(stream)
        if not self.streams and self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if not self.streams:
            self.heap.close()

    async def _watch_writes(self) -> None:
        """End streams whose write has been stuck longer than `write_timeout`.

        A proxy that stops reading fills HTTP/2 flow control and a write then
        never completes. One sweep per interval over all streams is far cheaper
        than arming a timer on each of the thousands of writes of a push. Exits
        when no stream is left (and is restarted by the next `register`).
        """
        timeout = self.settings.write_timeout
        interval = max(0.05, min(timeout / 4, 5.0))
        while self.streams:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for stream in list(self.streams):
                since = stream.writing_since
                if since and now - since > timeout and stream.task is not None:
                    _log.warning(
                        "xds.write_timeout", proxy=stream.key, seconds=round(now - since, 1)
                    )
                    stream.task.cancel()


class Stream(ABC):
    """One open ADS stream of one admitted proxy."""

    __slots__ = (
        "_context",
        "key",
        "lock",
        "peer_identity",
        "proxy",
        "revoked",
        "shared",
        "task",
        "writing_since",
    )

    def __init__(
        self,
        shared: Shared,
        key: str,
        proxy: ProxyStatus,
        context: grpc.aio.ServicerContext[Any, bytes],
        peer_identity: str | None = None,
    ) -> None:
        self.shared = shared
        self.key = key
        self.proxy = proxy
        # What this stream's client certificate proved at connect; every snapshot is
        # checked against it before use (see `snapshot`).
        self.peer_identity = peer_identity
        self.revoked: StreamAborted | None = None
        self.lock = asyncio.Lock()
        self._context = context
        self.task: asyncio.Task[Any] | None = None  # the RPC's handler task
        self.writing_since = 0.0  # monotonic start of the write in flight, 0 = none

    async def handle(self, request: Any) -> None:
        """Process one request (ACK/NACK/subscription) under the stream's lock, so it
        never interleaves with a push."""
        self.shared.heap.active()
        async with self.lock:
            await self._handle(request)

    @abstractmethod
    async def _handle(self, request: Any) -> None:
        """Process one request and answer it if needed; called under `lock`."""

    @abstractmethod
    async def push_changes(self) -> None:
        """Send whatever the current snapshot changed; called under `lock`."""

    def snapshot(self) -> Snapshot | None:
        """The proxy's current snapshot, if this stream may still receive it.

        Raises StreamRevoked when the snapshot was built for another identity than the
        one this stream authenticated as (the workload's serviceAccount changed), or
        its workload is gone."""
        snapshot = self.shared.cache.get(self.key)
        if snapshot is None:
            return None
        reason = snapshot.refusal(self.peer_identity)
        if reason:
            if snapshot.withdrawn:
                code, message = grpc.StatusCode.NOT_FOUND, reason
            else:
                code = grpc.StatusCode.PERMISSION_DENIED
                message = (
                    f"workload {self.key}: {reason}, but this stream is authenticated as "
                    f"{self.peer_identity}; reconnect with the new identity's certificate"
                )
            self.revoked = StreamRevoked(code, message)
            raise self.revoked
        return snapshot

    def check_names(self, in_request: int) -> None:
        """Refuse a request naming more resources than one request may."""
        limit = self.shared.settings.max_names_per_request
        if in_request > limit:
            raise StreamOverLimit(
                f"{in_request:,} resource names in one request; at most {limit:,} are "
                "accepted (AdsSettings.max_names_per_request)"
            )

    def check_stream_names(self, total: int) -> None:
        limit = self.shared.settings.max_names_per_stream
        if total > limit:
            raise StreamOverLimit(
                f"{total:,} resource names subscribed on one stream; at most {limit:,} are "
                "accepted (AdsSettings.max_names_per_stream)"
            )

    def warn_limited(self, event: str, fingerprint: object = None, **fields: Any) -> None:
        """A warning about this proxy's requests, at most once per change of
        `fingerprint` and then once per interval (see LogLimiter)."""
        repeats = self.shared.log_limiter.admit((self.key, event), fingerprint)
        if repeats is not None:
            _log.warning(event, proxy=self.key, suppressed_repeats=repeats, **fields)

    def nack_error(self, message: str) -> str:
        """A NACK's error_detail as stored and logged: bounded."""
        return truncate(message, self.shared.settings.max_error_detail_chars)

    def log_nack(
        self, type_url: str, version: str, nonce: str, error: str, provenance: list[str]
    ) -> None:
        repeats = self.shared.log_limiter.admit((self.key, "xds.nack", type_url), (version, error))
        if repeats is not None:
            _log.warning(
                "xds.nack", proxy=self.key, node=self.proxy.node_id, type=type_label(type_url),
                version=version, nonce=nonce, error=log_message(error), provenance=provenance,
                suppressed_repeats=repeats,
            )  # fmt: skip

    async def write(self, data: bytes) -> None:
        """Write one response; bounded by the Shared watchdog (see `_watch_writes`)."""
        self.writing_since = time.monotonic()
        try:
            await self._context.write(data)
        finally:
            self.writing_since = 0.0

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
                self.proxy.pushed(seen)
