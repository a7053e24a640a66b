"""Where a routed request goes: each weighted cluster with its share, the DestinationRule
subset behind it, its endpoints, and whether the hop is mutual TLS — read from the
caller's generated Cluster and ClusterLoadAssignment. Which object decided the TLS mode
is told with the translator's own merge (`client_tls`), not a second copy of it."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from translators.behaviour.routing import lb_endpoints
from translators.explain.model import TlsStep
from translators.explain.provenance import first_of_kind, object_by_ref
from translators.mesh import MeshConfig
from translators.model.networking import Location
from translators.naming import (
    CLUSTER_TYPE,
    TLS_TRANSPORT_SOCKET,
    TRANSPORT_SOCKET_MATCH_KEY,
    WORKLOAD_SECRET,
    parse_outbound_cluster,
)
from translators.security.upstream import client_tls
from translators.translate import ProxyResources

MTLS, TLS, PLAINTEXT = "mTLS", "TLS", "plaintext"


def find_cluster(
    resources: ProxyResources, name: str
) -> tuple[cluster_pb2.Cluster, tuple[str, ...]] | None:
    for resource in resources.of_type(CLUSTER_TYPE):
        if resource.name == name:
            message = resource.message
            assert isinstance(message, cluster_pb2.Cluster)
            return message, resource.provenance
    return None


def _socket_mode(socket: base_pb2.TransportSocket) -> tuple[str, str]:
    """(mode, SNI) of a transport socket: mesh certificates over SDS are mutual TLS."""
    if socket.name != TLS_TRANSPORT_SOCKET or not socket.typed_config.Is(
        tls_pb2.UpstreamTlsContext.DESCRIPTOR
    ):
        return PLAINTEXT, ""
    context = tls_pb2.UpstreamTlsContext()
    socket.typed_config.Unpack(context)
    mesh = any(
        s.name == WORKLOAD_SECRET
        for s in context.common_tls_context.tls_certificate_sds_secret_configs
    )
    return (MTLS if mesh else TLS), context.sni


def endpoint_tls(
    cluster: cluster_pb2.Cluster, endpoint: endpoint_components_pb2.LbEndpoint
) -> tuple[str, str]:
    """(mode, SNI) Envoy uses to this endpoint: the cluster's transport socket, or the
    first transport_socket_match whose fields the endpoint's metadata carries."""
    if cluster.transport_socket_matches:
        metadata = endpoint.metadata.filter_metadata.get(TRANSPORT_SOCKET_MATCH_KEY)
        for match in cluster.transport_socket_matches:
            wanted = dict(match.match.fields.items())
            if all(
                metadata is not None and key in metadata.fields and metadata.fields[key] == value
                for key, value in wanted.items()
            ):
                return _socket_mode(match.transport_socket)
        return PLAINTEXT, ""
    if cluster.HasField("transport_socket"):
        return _socket_mode(cluster.transport_socket)
    return PLAINTEXT, ""


def cluster_tls(
    mesh: MeshConfig, cluster: cluster_pb2.Cluster, sources: tuple[str, ...]
) -> TlsStep:
    """The cluster's TLS and the object that decided it."""
    if cluster.HasField("transport_socket"):
        mode, sni = _socket_mode(cluster.transport_socket)
    elif cluster.transport_socket_matches:
        mode, sni = _socket_mode(cluster.transport_socket_matches[0].transport_socket)
        mode = f"{mode} to endpoints with a sidecar, plaintext to the others"
    else:
        mode, sni = PLAINTEXT, ""
    parsed = parse_outbound_cluster(cluster.name)
    rule_ref = first_of_kind(sources, "DestinationRule")
    if parsed is not None and rule_ref:
        port, subset, _ = parsed
        rule = object_by_ref(mesh, rule_ref)
        if rule is not None:
            subset_policy = next(
                (s.traffic_policy for s in rule.spec.subsets if subset and s.name == subset), None
            )
            settings = client_tls(rule.spec.traffic_policy, subset_policy, port)
            if settings is not None:
                where = f"subset {subset}" if subset else "trafficPolicy"
                return TlsStep(mode, rule_ref, f"tls.mode {settings.mode} ({where})", sni)
    service = mesh.services.get(parsed[2]) if parsed is not None else None
    authn = tuple(s for s in sources if s.startswith("PeerAuthentication/"))
    if mode.startswith(MTLS):
        reason = "no DestinationRule sets tls; the endpoints run a sidecar"
        if authn:
            reason += f" ({', '.join(authn)} considered)"
        return TlsStep(mode, "auto-mTLS", reason, sni)
    if service is not None and service.location is Location.MESH_EXTERNAL:
        return TlsStep(mode, service.source, "MESH_EXTERNAL: never auto-mTLS", sni)
    if authn:
        return TlsStep(mode, ", ".join(authn), "auto-mTLS off: mode DISABLE at the callee", sni)
    if service is None:
        return TlsStep(mode, "", "not a mesh service", sni)
    return TlsStep(mode, "auto-mTLS", "no endpoint runs a sidecar", sni)


def cluster_endpoints(
    resources: ProxyResources, name: str
) -> list[endpoint_components_pb2.LbEndpoint]:
    try:
        return lb_endpoints(resources.resources, name)
    except LookupError:
        return []
