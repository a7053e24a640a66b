"""The status book: what each connected proxy was sent, what it accepted, what it rejected.

Operators need one place that answers "is proxy X running the config we think
it is, and if not, which source object broke it?" — that is this book, served
at `/debug/proxies`. It is written on every push and ACK of every stream, so it
is deliberately small: `__slots__` records, no per-push history, no copies of
resources (a NACK keeps only the provenance strings of what was rejected).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import structlog

import xdstypes
from xdscp.metrics import XdsMetrics, type_label
from xdscp.server.propagation import DEFAULT_PROPAGATION_TIMEOUT, Propagation

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class NackRecord:
    """One rejected response: enough to find and fix the source object without Envoy logs."""

    proxy: str
    node_id: str
    type_url: str
    version: str  # the version the proxy rejected
    nonce: str
    error: str
    time: float  # wall clock, seconds since the epoch
    provenance: tuple[str, ...]  # source objects (`Kind/ns/name`) of the rejected resources
    # names of the rejected resources: those Envoy's message names, else (SotW) those new
    # or changed since the last accepted response; empty when neither is known
    resources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": type_label(self.type_url),
            "type_url": self.type_url,
            "version": self.version,
            "nonce": self.nonce,
            "error": self.error,
            "time": _iso(self.time),
            "provenance": list(self.provenance),
            "resources": list(self.resources),
        }


class TypeStatus:
    """Per proxy and resource type: the latest push and how the proxy answered it."""

    __slots__ = (
        "acked_at",
        "acks",
        "last_nack",
        "nacks",
        "nonce",
        "pushes",
        "sent_at",
        "version_acked",
        "version_sent",
    )

    def __init__(self) -> None:
        self.version_sent = ""
        self.version_acked = ""
        self.nonce = ""
        self.sent_at = 0.0
        self.acked_at = 0.0
        self.pushes = 0
        self.acks = 0
        self.nacks = 0
        self.last_nack: NackRecord | None = None

    @property
    def rejected(self) -> bool:
        """True while the proxy runs older config because it rejected the latest push."""
        nack = self.last_nack
        return nack is not None and nack.version == self.version_sent != self.version_acked

    @property
    def state(self) -> str:
        """Istio's proxy-status words: SYNCED (runs what was sent), NACK (rejected the
        latest push, runs older config), STALE (sent, no answer yet)."""
        if self.rejected:
            return "NACK"
        if self.version_sent and self.version_sent == self.version_acked:
            return "SYNCED"
        return "STALE"

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        last_change = max(self.sent_at, self.acked_at)
        return {
            "state": self.state,
            # seconds since this type was last sent or answered (the ISO times below
            # need the reader's clock to agree with ours; this does not)
            "age_seconds": round(now - last_change, 3) if last_change else None,
            "version_sent": self.version_sent,
            "version_acked": self.version_acked,
            "nonce": self.nonce,
            "sent_at": _iso(self.sent_at),
            "acked_at": _iso(self.acked_at),
            "pushes": self.pushes,
            "acks": self.acks,
            "nacks": self.nacks,
            "rejected": self.rejected,
            "last_nack": self.last_nack.to_json() if self.last_nack else None,
        }


class ProxyStatus:
    """One proxy (by proxy key), shared by all of its open streams.

    Streams call `sent` / `acked` / `nacked` directly on this object; it forwards
    to the book's metrics so the stream code has a single thing to report to.
    """

    __slots__ = (
        "_book",
        "api",
        "connected_since",
        "key",
        "node_id",
        "peer_identity",
        "pushed_generation",
        "streams",
        "types",
    )

    def __init__(
        self, book: StatusBook, key: str, node_id: str, peer_identity: str | None, api: str
    ) -> None:
        self._book = book
        self.key = key
        self.node_id = node_id
        self.peer_identity = peer_identity
        self.api = api
        self.connected_since = time.time()
        self.streams = 0
        self.types: dict[str, TypeStatus] = {}
        # The snapshot-cache generation the latest push reflected (see `pushed`).
        self.pushed_generation = 0

    def _type(self, type_url: str) -> TypeStatus:
        found = self.types.get(type_url)
        if found is None:
            found = self.types[type_url] = TypeStatus()
        return found

    def sent(self, type_url: str, version: str, nonce: str) -> None:
        ts = self._type(type_url)
        ts.version_sent = version
        ts.nonce = nonce
        ts.sent_at = time.time()
        ts.pushes += 1
        if self._book.metrics is not None:
            self._book.metrics.pushed(type_url)

    def acked(self, type_url: str, version: str, latency: float | None) -> None:
        """Record an ACK; `latency` is None when nothing was pushed on this stream
        (a reconnecting proxy that already holds the current version)."""
        ts = self._type(type_url)
        ts.version_acked = version
        ts.acked_at = time.time()
        ts.acks += 1
        if latency is not None and self._book.metrics is not None:
            self._book.metrics.acked(type_url, latency)
        self._book.propagation.answered(self)

    def pushed(self, cache_generation: int) -> None:
        """A stream sent whatever the cache held at `cache_generation` (possibly nothing,
        when no subscribed type changed): the proxy is in sync with that generation once
        every type it was sent is acknowledged."""
        if cache_generation > self.pushed_generation:
            self.pushed_generation = cache_generation
        self._book.propagation.answered(self)

    @property
    def in_sync(self) -> bool:
        """Every type the proxy was sent is acknowledged (nothing pending, nothing rejected)."""
        return all(ts.version_acked == ts.version_sent for ts in self.types.values())

    def resumed(self, type_url: str, version: str) -> None:
        """A reconnecting proxy already runs `version`: it counts as sent and acknowledged."""
        ts = self._type(type_url)
        ts.version_sent = ts.version_acked = version
        ts.acked_at = time.time()
        self._book.propagation.answered(self)

    def nacked(
        self,
        type_url: str,
        version: str,
        nonce: str,
        error: str,
        provenance: Iterable[str],
        resources: Iterable[str],
    ) -> NackRecord:
        ts = self._type(type_url)
        record = NackRecord(
            proxy=self.key,
            node_id=self.node_id,
            type_url=type_url,
            version=version,
            nonce=nonce,
            error=error,
            time=time.time(),
            provenance=tuple(provenance),
            resources=tuple(resources),
        )
        ts.last_nack = record
        ts.nacks += 1
        self._book._on_nack(record)
        return record

    @property
    def state(self) -> str:
        """The worst of its types: NACK over STALE over SYNCED."""
        states = {ts.state for ts in self.types.values()}
        for worst in ("NACK", "STALE"):
            if worst in states:
                return worst
        return "SYNCED" if states else "STALE"

    def to_json(self) -> dict[str, Any]:
        ordered = xdstypes.ordered(self.types)
        now = time.time()
        return {
            "workload": self.key,
            "node_id": self.node_id,
            # the SPIFFE ID the proxy authenticated with on the xDS stream (None: --insecure)
            "peer_identity": self.peer_identity,
            "api": self.api,
            "state": self.state,
            "connected_since": _iso(self.connected_since),
            "streams": self.streams,
            "types": {_type_key(t): self.types[t].to_json(now) for t in ordered},
        }


class StatusBook:
    """All connected proxies, keyed by proxy key; one per server, single event loop."""

    __slots__ = ("_listeners", "_proxies", "metrics", "propagation")

    def __init__(
        self,
        metrics: XdsMetrics | None = None,
        on_nack: Iterable[Callable[[NackRecord], None]] = (),
        propagation_timeout: float = DEFAULT_PROPAGATION_TIMEOUT,
    ) -> None:
        self.metrics = metrics
        self._proxies: dict[str, ProxyStatus] = {}
        self.propagation = Propagation(self, metrics, propagation_timeout)
        # Called for every NACK (e.g. the runtime feeds `/debug/config_errors` or
        # events); a failing listener is the listener's bug and must not break a stream.
        self._listeners: list[Callable[[NackRecord], None]] = list(on_nack)

    def add_nack_listener(self, listener: Callable[[NackRecord], None]) -> None:
        self._listeners.append(listener)

    def open(self, key: str, node_id: str, peer_identity: str | None, api: str) -> ProxyStatus:
        """Register a stream of proxy `key`; streams of the same key share one entry."""
        proxy = self._proxies.get(key)
        if proxy is None:
            proxy = self._proxies[key] = ProxyStatus(self, key, node_id, peer_identity, api)
            if self.metrics is not None:
                self.metrics.connected_proxies.inc()
        else:
            # A reconnect can overlap the old stream; the newest identity wins.
            proxy.node_id, proxy.peer_identity, proxy.api = node_id, peer_identity, api
        proxy.streams += 1
        if self.metrics is not None:
            self.metrics.streams.labels(api=api).inc()
        return proxy

    def close(self, proxy: ProxyStatus, api: str) -> None:
        """Unregister one stream; the entry goes away with the proxy's last stream."""
        proxy.streams -= 1
        if self.metrics is not None:
            self.metrics.streams.labels(api=api).dec()
        if proxy.streams <= 0 and self._proxies.get(proxy.key) is proxy:
            del self._proxies[proxy.key]
            self.propagation.gone(proxy.key)
            if self.metrics is not None:
                self.metrics.connected_proxies.dec()

    def get(self, key: str) -> ProxyStatus | None:
        return self._proxies.get(key)

    def __iter__(self) -> Iterator[ProxyStatus]:
        return iter(list(self._proxies.values()))

    def __len__(self) -> int:
        return len(self._proxies)

    def nacks(self) -> list[NackRecord]:
        """Current rejections: types whose latest push a proxy rejected."""
        return [
            ts.last_nack
            for proxy in self._proxies.values()
            for ts in proxy.types.values()
            if ts.last_nack is not None and ts.rejected
        ]

    def snapshot_json(self, proxy: str | None = None) -> dict[str, Any]:
        """JSON-ready view for `/debug/proxies` (optionally one proxy)."""
        keys = sorted(self._proxies) if proxy is None else [proxy]
        return {k: self._proxies[k].to_json() for k in keys if k in self._proxies}

    def _on_nack(self, record: NackRecord) -> None:
        if self.metrics is not None:
            self.metrics.nacked(record.type_url)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # see __init__: a listener bug must not break the stream
                _log.exception(
                    "xds.nack_listener_failed", proxy=record.proxy, type=type_label(record.type_url)
                )


# Envoy's rejection messages can list every resource of a large response; a log line
# carries the start of it (the whole text stays at /debug/proxies).
LOG_MESSAGE_LIMIT = 500


def log_message(error: str, limit: int = LOG_MESSAGE_LIMIT) -> str:
    """`error_detail.message` for a log line: one line, at most `limit` characters."""
    flat = " ".join(error.split())
    return flat if len(flat) <= limit else f"{flat[: limit - 1]}…"


def _type_key(type_url: str) -> str:
    return type_label(type_url) if type_url in xdstypes.BY_URL else type_url


def _iso(ts: float) -> str | None:
    if not ts:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
