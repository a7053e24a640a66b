"""The xDS (ADS) server: SotW and Delta streams over grpc.aio, fed by the snapshot cache.

Public API for the runtime: `start_server` (or `AggregatedDiscoveryService` to
mount on an existing grpc.aio server), the `ProxyResolver` protocol it must
implement, the `SnapshotReader` protocol it reads snapshots through (the cache
implements it), and the `StatusBook` it can read (and serve at `/debug/proxies`).
"""

from xdscp.server.ads import AggregatedDiscoveryService, serve, start_server
from xdscp.server.resolver import (
    AdmissionError,
    ProxyRejected,
    ProxyResolver,
    StaticResolver,
    UnknownProxy,
)
from xdscp.server.settings import AdsSettings
from xdscp.server.snapshots import SnapshotReader, SnapshotStore
from xdscp.server.status import NackRecord, ProxyStatus, StatusBook, TypeStatus

__all__ = [
    "AdmissionError",
    "AdsSettings",
    "AggregatedDiscoveryService",
    "NackRecord",
    "ProxyRejected",
    "ProxyResolver",
    "ProxyStatus",
    "SnapshotReader",
    "SnapshotStore",
    "StaticResolver",
    "StatusBook",
    "TypeStatus",
    "UnknownProxy",
    "serve",
    "start_server",
]
