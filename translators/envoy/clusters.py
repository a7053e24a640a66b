"""DestinationIR -> envoy.config.cluster.v3.Cluster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from functools import lru_cache
from operator import attrgetter
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, proxy_protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2
from google.protobuf import struct_pb2

from translators.envoy.common import (
    ads,
    duration,
    endpoint_address,
    length_delimited,
    pack,
    provenance,
    provenance_bytes,
    sorted_sources,
)
from translators.envoy.tls import raw_buffer_socket, transport_socket, upstream_tls_context
from translators.envoy.traffic import apply_policy, dynamic_forward_proxy
from translators.ir import (
    DestinationIR,
    EndpointIR,
    EndpointSetIR,
    LoadBalancing,
    LocalityGroupIR,
    Resolution,
    UpstreamTLSIR,
    UpstreamTLSMode,
)
from translators.naming import (
    TLS_MODE_ISTIO,
    TLS_MODE_METADATA_KEY,
    TLS_TRANSPORT_SOCKET,
    TRANSPORT_SOCKET_MATCH_KEY,
)

_TYPES = {
    Resolution.ENDPOINTS: cluster_pb2.Cluster.EDS,
    Resolution.STATIC: cluster_pb2.Cluster.STATIC,
    Resolution.DNS: cluster_pb2.Cluster.STRICT_DNS,
    Resolution.DNS_ROUND_ROBIN: cluster_pb2.Cluster.LOGICAL_DNS,
    Resolution.ORIGINAL_DESTINATION: cluster_pb2.Cluster.ORIGINAL_DST,
}
_LB = {
    LoadBalancing.ROUND_ROBIN: cluster_pb2.Cluster.ROUND_ROBIN,
    LoadBalancing.LEAST_REQUEST: cluster_pb2.Cluster.LEAST_REQUEST,
    LoadBalancing.RANDOM: cluster_pb2.Cluster.RANDOM,
    LoadBalancing.PASSTHROUGH: cluster_pb2.Cluster.CLUSTER_PROVIDED,
    LoadBalancing.RING_HASH: cluster_pb2.Cluster.RING_HASH,
    LoadBalancing.MAGLEV: cluster_pb2.Cluster.MAGLEV,
}


def _tls_mode_metadata(tls_mode: str) -> base_pb2.Metadata:
    """Endpoint metadata the cluster's transport_socket_matches select on."""
    match = struct_pb2.Struct()
    match.fields[TLS_MODE_METADATA_KEY].string_value = tls_mode
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[TRANSPORT_SOCKET_MATCH_KEY].CopyFrom(match)
    return metadata


def lb_endpoint(e: EndpointIR) -> endpoint_components_pb2.LbEndpoint:
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=endpoint_address(e.address, e.port)),
        load_balancing_weight={"value": e.weight},
    )
    if e.tls_mode:
        endpoint.metadata.CopyFrom(_tls_mode_metadata(e.tls_mode))
    return endpoint


def _locality_group(group: LocalityGroupIR) -> endpoint_components_pb2.LocalityLbEndpoints:
    region, zone, subzone = [*group.locality.split("/", 2), "", ""][:3]
    out = endpoint_components_pb2.LocalityLbEndpoints(
        lb_endpoints=[lb_endpoint(e) for e in group.endpoints], priority=group.priority
    )
    out.locality.SetInParent()
    out.locality.region, out.locality.zone, out.locality.sub_zone = region, zone, subzone
    if group.weight is not None:
        out.load_balancing_weight.value = group.weight
    return out


def load_assignment(
    cluster: str, endpoints: tuple[EndpointIR, ...], groups: tuple[LocalityGroupIR, ...] = ()
) -> endpoint_pb2.ClusterLoadAssignment:
    """One locality group without a locality, or (`groups`) Istio's groups by locality."""
    if groups:
        return endpoint_pb2.ClusterLoadAssignment(
            cluster_name=cluster, endpoints=[_locality_group(g) for g in groups]
        )
    locality = endpoint_components_pb2.LocalityLbEndpoints(
        lb_endpoints=[lb_endpoint(e) for e in endpoints]
    )
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=cluster, endpoints=[locality] if endpoints else []
    )


def _apply_tls(cluster: cluster_pb2.Cluster, tls: UpstreamTLSIR) -> None:
    """The cluster's TLS: one transport socket, or — when only some endpoints have a mesh
    sidecar — Istio's pair of matches on the endpoints' `tlsMode` metadata."""
    socket = transport_socket(upstream_tls_context(tls))
    if not tls.mesh_endpoints_only:
        cluster.transport_socket.CopyFrom(socket)
        return
    istio = cluster.transport_socket_matches.add(name=f"tlsMode-{TLS_MODE_ISTIO}")
    istio.match.fields[TLS_MODE_METADATA_KEY].string_value = TLS_MODE_ISTIO
    istio.transport_socket.CopyFrom(socket)
    plaintext = cluster.transport_socket_matches.add(name="tlsMode-disabled")
    plaintext.match.SetInParent()
    plaintext.transport_socket.CopyFrom(raw_buffer_socket())


DNS_REFRESH_RATE_S = 60.0  # Istio's meshConfig.dnsRefreshRate default
PROXY_PROTOCOL_SOCKET = "envoy.transport_sockets.upstream_proxy_protocol"
_PROXY_PROTOCOL_VERSIONS = {
    1: proxy_protocol_pb2.ProxyProtocolConfig.V1,
    2: proxy_protocol_pb2.ProxyProtocolConfig.V2,
}


def _with_proxy_protocol(
    socket: base_pb2.TransportSocket, version: int
) -> base_pb2.TransportSocket:
    transport = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport(
        config=proxy_protocol_pb2.ProxyProtocolConfig(version=_PROXY_PROTOCOL_VERSIONS[version]),
        transport_socket=socket,
    )
    return base_pb2.TransportSocket(name=PROXY_PROTOCOL_SOCKET, typed_config=pack(transport))


def _apply_proxy_protocol(cluster: cluster_pb2.Cluster, version: int) -> None:
    """Istio's applyUpstreamProxyProtocol: every transport socket of the cluster (plain
    TCP when it has none) is wrapped, so the PROXY header precedes TLS."""
    if not cluster.HasField("transport_socket") and not cluster.transport_socket_matches:
        cluster.transport_socket.CopyFrom(_with_proxy_protocol(raw_buffer_socket(), version))
        return
    if cluster.HasField("transport_socket"):
        cluster.transport_socket.CopyFrom(_with_proxy_protocol(cluster.transport_socket, version))
    for match in cluster.transport_socket_matches:
        match.transport_socket.CopyFrom(_with_proxy_protocol(match.transport_socket, version))


def build_cluster(ir: DestinationIR) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=ir.name, connect_timeout=duration(ir.connect_timeout_s))
    if ir.resolution is Resolution.FORWARD_PROXY:
        dynamic_forward_proxy(cluster)
    else:
        cluster.type = _TYPES[ir.resolution]
        cluster.lb_policy = _LB[ir.load_balancing]
    if ir.provenance:
        cluster.metadata.CopyFrom(provenance(ir.provenance))
    if ir.resolution is Resolution.ENDPOINTS:
        # No service_name: Envoy then asks EDS for the cluster's own name.
        cluster.eds_cluster_config.eds_config.CopyFrom(ads())
    elif ir.resolution not in (Resolution.ORIGINAL_DESTINATION, Resolution.FORWARD_PROXY):
        cluster.load_assignment.CopyFrom(load_assignment(ir.name, ir.endpoints))
    if ir.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
        # Istio's DNS clusters for an IPv4 proxy: A records only (Envoy's default would
        # prefer AAAA, e.g. ::1 for a name under `localhost`), the mesh's 60 s refresh
        # rate when a lookup fails, the records' TTL otherwise
        cluster.dns_lookup_family = cluster_pb2.Cluster.V4_ONLY
        cluster.dns_refresh_rate.CopyFrom(duration(DNS_REFRESH_RATE_S))
        cluster.respect_dns_ttl = True
    if ir.tls is not None:
        _apply_tls(cluster, ir.tls)
    if ir.policy is not None:
        apply_policy(cluster, ir.policy)
        if ir.policy.proxy_protocol_version is not None:
            _apply_proxy_protocol(cluster, ir.policy.proxy_protocol_version)
    return cluster


# --- byte assembly for the two most numerous resources ------------------------
# A mesh of 10,000 services has 60,000 clusters and load assignments per proxy;
# building each as a protobuf message and serializing it dominated translation.
# They differ only in name, endpoints and provenance, so the rest is serialized
# once per shape and the pieces are concatenated. Protobuf allows fields in any
# order; the result parses to exactly the message `build_cluster` makes.

_CLUSTER_NAME, _CLUSTER_METADATA = 1, 25
_CLA_CLUSTER_NAME, _CLA_ENDPOINTS = 1, 2
_LOCALITY_LB_ENDPOINTS = 2


def _shape_key(ir: DestinationIR | UpstreamTLSIR, cleared: tuple[str, ...]) -> tuple[object, ...]:
    """The values of every field but `cleared`: the cache key of what the rest serializes
    to, built without constructing a dataclass (`dataclasses.replace` cost a third of a
    second per 60,000 calls)."""
    getter = _GETTERS.get((type(ir), cleared))
    if getter is None:
        names = [f for f in _init_fields(type(ir)) if f not in cleared]
        assert len(names) > 1  # attrgetter of one name returns the value, not a tuple
        getter = _GETTERS[(type(ir), cleared)] = attrgetter(*names)
    return (type(ir), *getter(ir))


def _rebuild(key: tuple[object, ...], cleared: dict[str, object]) -> DestinationIR | UpstreamTLSIR:
    kind = key[0]
    assert kind is DestinationIR or kind is UpstreamTLSIR
    names = [f for f in _init_fields(kind) if f not in cleared]
    return kind(**dict(zip(names, key[1:], strict=True)), **cleared)  # type: ignore[arg-type]


_INIT_FIELDS: dict[type, tuple[str, ...]] = {}
# (IR type, cleared fields) -> a C-level getter of the other fields' values, as a tuple
_GETTERS: dict[tuple[type, tuple[str, ...]], attrgetter[Any]] = {}


def _init_fields(kind: type) -> tuple[str, ...]:
    found = _INIT_FIELDS.get(kind)
    if found is None:
        found = _INIT_FIELDS[kind] = tuple(f.name for f in fields(kind) if f.init)
    return found


_SHAPE_CLEARED = ("name", "provenance", "tls")
_NO_SNI = ("sni",)


@lru_cache(maxsize=1024)
def _cluster_shape(key: tuple[object, ...]) -> bytes:
    shape = _rebuild(key, {"name": "", "provenance": (), "tls": None})
    assert isinstance(shape, DestinationIR)
    encoded: bytes = build_cluster(shape).SerializeToString(deterministic=True)
    return encoded


@lru_cache(maxsize=65536)
def _built_tls_fields(tls: UpstreamTLSIR) -> bytes:
    cluster = cluster_pb2.Cluster()
    _apply_tls(cluster, tls)
    encoded: bytes = cluster.SerializeToString(deterministic=True)
    return encoded


@lru_cache(maxsize=65536)
def _context_without_sni(key: tuple[object, ...]) -> bytes:
    tls = _rebuild(key, {"sni": ""})
    assert isinstance(tls, UpstreamTLSIR)
    encoded: bytes = upstream_tls_context(tls).SerializeToString(deterministic=True)
    return encoded


# Field numbers for assembling `Cluster.transport_socket` around a shared TLS context.
_CLUSTER_TRANSPORT_SOCKET, _SOCKET_NAME, _SOCKET_TYPED_CONFIG = 24, 1, 3
_ANY_TYPE_URL, _ANY_VALUE, _UPSTREAM_TLS_SNI = 1, 2, 2
_UPSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
)


_TLS_TYPE_URL_FIELD = length_delimited(_ANY_TYPE_URL, _UPSTREAM_TLS_TYPE.encode())
_TLS_SOCKET_NAME_FIELD = length_delimited(_SOCKET_NAME, TLS_TRANSPORT_SOCKET.encode())


def _shares_context(tls: UpstreamTLSIR) -> bool:
    # SIMPLE / MUTUAL contexts depend on the SNI beyond its field (SAN validation)
    return bool(
        not tls.mesh_endpoints_only and tls.sni and tls.mode is UpstreamTLSMode.ISTIO_MUTUAL
    )


def _tls_fields(tls: UpstreamTLSIR) -> bytes:
    """The serialized transport socket field. Every mTLS cluster has its own SNI, but the
    rest of its TLS context is shared by all clusters of a service (same SANs): that part
    is serialized once and the SNI appended — byte-identical to serializing the whole."""
    if not _shares_context(tls):
        return _built_tls_fields(tls)
    return _mtls_socket(_context_without_sni(_shape_key(tls, _NO_SNI)), tls.sni)


def _mtls_socket(context_without_sni: bytes, sni: str) -> bytes:
    encoded = sni.encode()
    # the SNI comes last: the fields around it depend on its length only
    return _mtls_socket_header(context_without_sni, len(encoded)) + encoded


@lru_cache(maxsize=4096)
def _mtls_socket_header(context_without_sni: bytes, sni_size: int) -> bytes:
    """The transport socket field up to its SNI's bytes (shared by a service's clusters,
    whose SNIs differ but whose contexts do not)."""
    sni = bytes(sni_size)
    context = context_without_sni + length_delimited(_UPSTREAM_TLS_SNI, sni)
    packed = _TLS_TYPE_URL_FIELD + length_delimited(_ANY_VALUE, context)
    socket = _TLS_SOCKET_NAME_FIELD + length_delimited(_SOCKET_TYPED_CONFIG, packed)
    field = length_delimited(_CLUSTER_TRANSPORT_SOCKET, socket)
    return field[: len(field) - sni_size]


@lru_cache(maxsize=65536)
def _metadata_field(sources: tuple[str, ...]) -> bytes:
    return length_delimited(_CLUSTER_METADATA, provenance_bytes(sources))


def _assembled(ir: DestinationIR) -> bool:
    """Whether `cluster_bytes` assembles `ir` from shared pieces (rare ones — static, DNS,
    passthrough, PROXY protocol around TLS — are serialized as messages: nothing to share)."""
    return ir.resolution is Resolution.ENDPOINTS and (
        ir.policy is None or ir.policy.proxy_protocol_version is None
    )


def cluster_bytes(ir: DestinationIR) -> bytes:
    """Serialized Cluster, equal in meaning to `build_cluster(ir)`."""
    if not _assembled(ir):
        encoded: bytes = build_cluster(ir).SerializeToString(deterministic=True)
        return encoded
    shape = _cluster_shape(_shape_key(ir, _SHAPE_CLEARED))
    tls = _tls_fields(ir.tls) if ir.tls is not None else b""
    metadata = _metadata_field(sorted_sources(ir.provenance)) if ir.provenance else b""
    return length_delimited(_CLUSTER_NAME, ir.name.encode()) + shape + tls + metadata


def _same_shape(a: DestinationIR, b: DestinationIR) -> bool:
    """`a` and `b` serialize alike but for name, TLS and provenance — told by identity, as a
    service's subset clusters without a policy of their own share these objects."""
    return (
        a.policy is b.policy
        and a.resolution is b.resolution
        and a.load_balancing is b.load_balancing
        and a.endpoints is b.endpoints
        and a.connect_timeout_s == b.connect_timeout_s
    )


def _same_context(a: UpstreamTLSIR, b: UpstreamTLSIR) -> bool:
    """Mesh mTLS contexts equal but for the SNI (`_tls_fields`'s shared part)."""
    return (
        a.mode is UpstreamTLSMode.ISTIO_MUTUAL
        and b.mode is UpstreamTLSMode.ISTIO_MUTUAL
        and bool(a.sni)
        and bool(b.sni)
        and not a.mesh_endpoints_only
        and not b.mesh_endpoints_only
        and a.subject_alt_names is b.subject_alt_names
        and a.ca_certificates == b.ca_certificates
        and a.client_certificate == b.client_certificate
        and a.private_key == b.private_key
        and a.insecure_skip_verify == b.insecure_skip_verify
        and a.credential == b.credential
        and a.ca_crl == b.ca_crl
    )


def service_cluster_bytes(irs: Sequence[DestinationIR]) -> list[bytes]:
    """`cluster_bytes` of each of one service's clusters. Its subsets' clusters usually
    share shape, TLS settings and provenance with the one before (the same objects):
    those parts are taken from it instead of looked up again by value."""
    out: list[bytes] = []
    last: DestinationIR | None = None
    shape = context = metadata = b""
    for ir in irs:
        if not _assembled(ir):
            out.append(cluster_bytes(ir))
            last = None
            continue
        if last is None or not _same_shape(ir, last):
            shape = _cluster_shape(_shape_key(ir, _SHAPE_CLEARED))
        tls = b""
        if ir.tls is not None:
            if last is not None and last.tls is not None and _same_context(ir.tls, last.tls):
                tls = _mtls_socket(context, ir.tls.sni)
            else:
                tls = _tls_fields(ir.tls)
                if _shares_context(ir.tls):
                    context = _context_without_sni(_shape_key(ir.tls, _NO_SNI))
        if last is None or ir.provenance is not last.provenance:
            provenance = ir.provenance
            metadata = _metadata_field(sorted_sources(provenance)) if provenance else b""
        out.append(length_delimited(_CLUSTER_NAME, ir.name.encode()) + shape + tls + metadata)
        last = ir
    return out


@lru_cache(maxsize=262144)
def _lb_endpoint_field(endpoint: EndpointIR) -> bytes:
    """The endpoint serialized and framed as a LocalityLbEndpoints field: an endpoint is
    in its service's cluster and in its subset's, so this is done once for both."""
    encoded: bytes = lb_endpoint(endpoint).SerializeToString(deterministic=True)
    return length_delimited(_LOCALITY_LB_ENDPOINTS, encoded)


def load_assignment_bytes(
    cluster: str, endpoints: tuple[EndpointIR, ...], groups: tuple[LocalityGroupIR, ...] = ()
) -> bytes:
    """Serialized ClusterLoadAssignment, byte-identical to `load_assignment(...)`."""
    if groups:  # localities: rare enough to serialize as a message
        encoded: bytes = load_assignment(cluster, endpoints, groups).SerializeToString(
            deterministic=True
        )
        return encoded
    name = length_delimited(_CLA_CLUSTER_NAME, cluster.encode())
    if not endpoints:
        return name
    if len(endpoints) == 1:
        return name + length_delimited(_CLA_ENDPOINTS, _lb_endpoint_field(endpoints[0]))
    locality = b"".join([_lb_endpoint_field(e) for e in endpoints])
    return name + length_delimited(_CLA_ENDPOINTS, locality)


def service_load_assignment_bytes(sets: Sequence[EndpointSetIR]) -> list[bytes]:
    """`load_assignment_bytes` of each of one service's load assignments. Its subsets'
    endpoints are the service's own endpoint objects: each is serialized (or found) once,
    then taken by identity, not hashed again per subset."""
    fields: dict[int, bytes] = {}  # id -> framed endpoint (the objects live in `sets`)
    out: list[bytes] = []
    for found in sets:
        endpoints = found.endpoints
        if found.groups:
            out.append(load_assignment_bytes(found.destination, endpoints, found.groups))
            continue
        name = length_delimited(_CLA_CLUSTER_NAME, found.destination.encode())
        if not endpoints:
            out.append(name)
            continue
        parts = []
        for endpoint in endpoints:
            field = fields.get(id(endpoint))
            if field is None:
                field = fields[id(endpoint)] = _lb_endpoint_field(endpoint)
            parts.append(field)
        out.append(name + length_delimited(_CLA_ENDPOINTS, b"".join(parts)))
    return out
