"""Per-proxy snapshots of serialized Envoy resources; the server's only view of config."""

from translators.naming import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    FULL_STATE_TYPES,
    LISTENER_TYPE,
    PUSH_ORDER,
    ROUTE_TYPE,
    SECRET_TYPE,
    SHORT_TYPE_NAMES,
)
from xdscp.cache.snapshot import Resource, Snapshot, TypeSnapshot, make_resource
from xdscp.cache.store import SnapshotCache

__all__ = [
    "CLUSTER_TYPE",
    "ENDPOINT_TYPE",
    "FULL_STATE_TYPES",
    "LISTENER_TYPE",
    "PUSH_ORDER",
    "ROUTE_TYPE",
    "SECRET_TYPE",
    "SHORT_TYPE_NAMES",
    "Resource",
    "Snapshot",
    "SnapshotCache",
    "TypeSnapshot",
    "make_resource",
]
