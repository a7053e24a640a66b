"""Admission of connecting proxies: the boundary between the xDS server and the runtime.

The server does not know workloads, identities or translators; it only asks the
resolver "who is this Node, and may it connect?" and gets back the key under
which the runtime keeps that proxy's snapshot in the cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

from xdscp.cache import Snapshot
from xdscp.errors import XdscpError
from xdscp.server.snapshots import SnapshotStore

# `envoy.config.core.v3.Node`; xds-protos ships no type stubs.
Node = Any


class AdmissionError(XdscpError):
    """Base of the errors a resolver raises to refuse a stream (mapped to gRPC codes)."""


class ProxyRejected(AdmissionError):
    """The proxy may not connect (e.g. its Node claims an identity its certificate lacks).

    Mapped to gRPC PERMISSION_DENIED. The message reaches the proxy and the log,
    so it should say why without leaking other proxies' data.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownProxy(ProxyRejected):
    """No workload matches the Node (yet); mapped to gRPC NOT_FOUND so Envoy retries."""


class ProxyResolver(Protocol):
    """Implemented by the runtime. Both methods run on the server's event loop."""

    def connect(self, node: Node, peer_identity: str | None) -> str | Awaitable[str]:
        """Admit a proxy and return its proxy key.

        `peer_identity` is the SPIFFE ID (URI SAN) of the client certificate when
        the server runs with mTLS, else None. Must ensure the cache holds a
        snapshot for the returned key before returning (a stream without a
        snapshot answers nothing until one appears). May be a coroutine, for
        resolvers that must do I/O (e.g. a Kubernetes TokenReview). Raise
        `ProxyRejected` / `UnknownProxy` to refuse.
        """
        ...

    def disconnect(self, proxy_key: str) -> None:
        """Called once per stream that `connect` admitted, when that stream ends."""
        ...


class StaticResolver:
    """Maps `node.id` to a proxy key: for tests, benchmarks and single-proxy setups.

    With `snapshots`, it also seeds the cache on connect; with `allowed`, node
    ids outside it are refused as unknown.
    """

    def __init__(
        self,
        cache: SnapshotStore | None = None,
        snapshots: Mapping[str, Snapshot] | None = None,
        allowed: frozenset[str] | None = None,
        identities: Mapping[str, str] | None = None,
    ) -> None:
        self._cache = cache
        self._snapshots = dict(snapshots or {})
        self._allowed = allowed
        self._identities = dict(identities or {})
        self.connected: dict[str, int] = {}

    def connect(self, node: Node, peer_identity: str | None) -> str:
        key = str(node.id)
        if self._allowed is not None and key not in self._allowed:
            raise UnknownProxy(f"unknown node {key!r}")
        expected = self._identities.get(key)
        if expected is not None and peer_identity != expected:
            raise ProxyRejected(f"node {key!r} requires identity {expected}, got {peer_identity}")
        if self._cache is not None and key in self._snapshots and self._cache.get(key) is None:
            self._cache.set(key, self._snapshots[key])
        self.connected[key] = self.connected.get(key, 0) + 1
        return key

    def disconnect(self, proxy_key: str) -> None:
        left = self.connected.get(proxy_key, 0) - 1
        if left > 0:
            self.connected[proxy_key] = left
        else:
            self.connected.pop(proxy_key, None)
