"""Serialized routes and virtual hosts, assembled from pieces serialized once.

A sidecar of a 10,000-service mesh has 10,000 virtual hosts, nearly all of them one
route forwarding to the service (or its subsets) with the mesh's default timeout and
retry policy. Building each as protobuf messages field by field was a tenth of the
translation. Such a route differs from the next only in its cluster names, its name,
its provenance and its decorator: the rest of its RouteAction (timeout, retries,
rewrites, mirrors, hash policies) is serialized once per distinct setting and the
differing fields are framed around it.

Every function here returns exactly the bytes of the deterministic serialization of
what `translators.envoy.traffic.build_route` / `routes.build_virtual_host` build
(fields in field-number order); anything the fast path does not cover (redirects,
direct responses, header edits, faults, CORS) is built as a message.
`tests/translators/test_route_bytes.py` checks the equality on every golden case.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.route.v3 import route_components_pb2 as rc

from translators.envoy.common import length_delimited, provenance_bytes
from translators.envoy.traffic import build_route, forward_action, operation_path, route_match
from translators.ir import (
    MATCH_ALL,
    HashPolicyIR,
    MirrorIR,
    RetryIR,
    RewriteIR,
    RouteIR,
    RouteMatchIR,
    VirtualHostIR,
    WeightedDestinationIR,
)
from translators.naming import parse_outbound_cluster

# Field numbers (envoy.config.route.v3): Route, RouteAction, WeightedCluster(.ClusterWeight),
# Decorator, VirtualHost.
_ROUTE_MATCH, _ROUTE_ACTION, _ROUTE_METADATA, _ROUTE_DECORATOR = 1, 2, 4, 5
_ROUTE_NAME, _ROUTE_STAT_PREFIX = 14, 19
_ACTION_CLUSTER, _ACTION_WEIGHTED_CLUSTERS = 1, 3
_WEIGHTED_CLUSTERS, _WEIGHT_NAME, _WEIGHT_WEIGHT = 1, 1, 2
_DECORATOR_OPERATION = 1
_VH_NAME, _VH_DOMAINS, _VH_ROUTES, _VH_METADATA = 1, 2, 3, 24
# UInt32Value.value: field 1, varint
_UINT32_VALUE_TAG = b"\x08"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if not value:
            out.append(bits)
            return bytes(out)
        out.append(bits | 0x80)


def _plain_forward(ir: RouteIR) -> bool:
    """A route the byte assembly covers: it forwards, edits no headers, injects nothing."""
    return (
        bool(ir.destinations)
        and ir.redirect is None
        and ir.direct_response is None
        and ir.headers is None
        and ir.fault is None
        and ir.cors is None
        and not any([c.headers is not None for c in ir.destinations])
    )


def _match(match: RouteMatchIR) -> tuple[bytes, str]:
    """The route's match field, and the path part of its decorator's operation. Nearly
    every route matches every request with the one shared match object: told by identity
    (hashing it, a dataclass in a dataclass, cost more than the rest of the lookup)."""
    if match is _MATCH_ALL:
        return _MATCH_ALL_FIELD
    return _match_field(match)


@lru_cache(maxsize=1024)
def _match_field(match: RouteMatchIR) -> tuple[bytes, str]:
    message = route_match(match)
    encoded: bytes = message.SerializeToString(deterministic=True)
    return length_delimited(_ROUTE_MATCH, encoded), operation_path(message)


_MATCH_ALL = MATCH_ALL  # (compared by identity)
_MATCH_ALL_FIELD = _match_field(_MATCH_ALL)

_ONE = (WeightedDestinationIR("", 100),)
_SEVERAL = (WeightedDestinationIR("", 50), WeightedDestinationIR("", 50))


@lru_cache(maxsize=4096)
def _action_rest(
    timeout_s: float | None,
    retries: RetryIR | None,
    rewrite: RewriteIR | None,
    mirrors: tuple[MirrorIR, ...],
    hash_policies: tuple[HashPolicyIR, ...],
    single: bool,
) -> bytes:
    """Every RouteAction field but the cluster specifier (fields 1 and 3, the lowest the
    action sets), serialized: what follows the specifier in the deterministic encoding."""
    shape = RouteIR(
        "",
        RouteMatchIR(),
        _ONE if single else _SEVERAL,
        timeout_s=timeout_s,
        retries=retries,
        rewrite=rewrite,
        mirrors=mirrors,
        hash_policies=hash_policies,
    )
    action = rc.RouteAction()
    forward_action(action, shape)
    action.ClearField("cluster")
    action.ClearField("weighted_clusters")
    encoded: bytes = action.SerializeToString(deterministic=True)
    return encoded


def _weight_field(weight: int) -> bytes:
    """A cluster weight's field (its UInt32Value, framed)."""
    return length_delimited(_WEIGHT_WEIGHT, _UINT32_VALUE_TAG + _varint(weight) if weight else b"")


# The weight fields of the usual weights (percentages): no varint loop, no framing per
# weighted cluster
_WEIGHTS = [_weight_field(w) for w in range(1024)]


def _weighted(clusters: tuple[WeightedDestinationIR, ...]) -> bytes:
    entries = []
    for wc in clusters:
        w = wc.weight
        weight = _WEIGHTS[w] if 0 <= w < len(_WEIGHTS) else _weight_field(w)
        entry = length_delimited(_WEIGHT_NAME, wc.destination.encode()) + weight
        entries.append(length_delimited(_WEIGHTED_CLUSTERS, entry))
    return length_delimited(_ACTION_WEIGHTED_CLUSTERS, b"".join(entries))


def route_bytes(ir: RouteIR, virtual_host: str) -> bytes:
    """`build_route(ir, virtual_host)`, serialized deterministically."""
    if not _plain_forward(ir):
        built: bytes = build_route(ir, virtual_host).SerializeToString(deterministic=True)
        return built
    match, path = _match(ir.match)
    single = len(ir.destinations) == 1
    rest = _action_rest(ir.timeout_s, ir.retries, ir.rewrite, ir.mirrors, ir.hash_policies, single)
    if single:
        cluster = ir.destinations[0].destination
        specifier = length_delimited(_ACTION_CLUSTER, cluster.encode())
        parsed = parse_outbound_cluster(cluster)
        operation = f"{parsed[2]}:{parsed[0]}{path}" if parsed else virtual_host + path
    else:
        specifier = _weighted(ir.destinations)
        operation = virtual_host + path
    parts = [match, length_delimited(_ROUTE_ACTION, specifier + rest)]
    if ir.provenance:
        parts.append(length_delimited(_ROUTE_METADATA, provenance_bytes(ir.provenance)))
    parts.append(
        length_delimited(
            _ROUTE_DECORATOR, length_delimited(_DECORATOR_OPERATION, operation.encode())
        )
    )
    if ir.name:
        parts.append(length_delimited(_ROUTE_NAME, ir.name.encode()))
    if ir.stat_prefix:
        parts.append(length_delimited(_ROUTE_STAT_PREFIX, ir.stat_prefix.encode()))
    return b"".join(parts)


def virtual_host_bytes(ir: VirtualHostIR) -> bytes:
    """`build_virtual_host(ir)`, serialized deterministically."""
    parts = [length_delimited(_VH_NAME, ir.name.encode())] if ir.name else []
    parts += [length_delimited(_VH_DOMAINS, d.encode()) for d in ir.domains]
    parts += [length_delimited(_VH_ROUTES, route_bytes(r, ir.name)) for r in ir.routes]
    if ir.provenance:
        parts.append(length_delimited(_VH_METADATA, provenance_bytes(ir.provenance)))
    return b"".join(parts)
