"""Outbound clusters and load assignments: per service and DestinationRule (memo pieces
that read no VirtualService), gathered per namespace + Sidecar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from translators.index import MeshIndex
from translators.ir import (
    DestinationIR,
    EndpointIR,
    EndpointSetIR,
    LoadBalancing,
    Resolution,
    UpstreamTLSIR,
    UpstreamTLSMode,
)
from translators.memo import PieceCache
from translators.mesh import Endpoint, Service
from translators.model.networking import (
    HTTP_PROTOCOLS,
    DestinationRuleSpec,
    LocalityLoadBalancerSetting,
    Location,
    OutboundMode,
    ServicePort,
    SidecarSpec,
    Subset,
    TrafficPolicy,
)
from translators.model.networking import (
    Resolution as ServiceResolution,
)
from translators.model.objects import MeshObject
from translators.naming import (
    BLACKHOLE_CLUSTER,
    PASSTHROUGH_CLUSTER,
    mtls_sni,
    outbound_cluster,
)
from translators.security.upstream import (
    UpstreamPeers,
    client_tls,
    cluster_tls,
    credential_names,
    credential_namespace,
)
from translators.traffic import locality
from translators.traffic.outbound import allow_any_cluster, egress_proxy_cluster, outbound_mode
from translators.traffic.policy import (
    EffectivePolicy,
    cluster_policy,
    connect_timeout,
    effective_policy,
    is_passthrough,
    load_balancing,
)
from translators.view.ports import ports_by_protocol
from translators.view.scope import ref_of

if TYPE_CHECKING:
    from translators.resources import EnvoyResource


def service_clusters(
    service: Service,
    dr: MeshObject[DestinationRuleSpec] | None,
    peers: UpstreamPeers | None = None,
    gateway_namespace: str = "",
) -> tuple[tuple[DestinationIR, ...], tuple[EndpointSetIR, ...]]:
    """Outbound clusters for every port of `service` and every subset of its DR, with
    their client TLS (the DR's, else auto-mTLS as `peers` allow). `gateway_namespace`:
    the asking gateway's (see `credential_namespace`)."""
    provenance = (service.source,) + (dr.refs if dr else ())
    tls_provenance = provenance + (peers.sources if peers is not None else ())
    subsets = dr.spec.subsets if dr else []
    top = dr.spec.traffic_policy if dr else None
    origins = service.endpoints
    if (
        top is None
        and _RESOLUTIONS.get(service.resolution, Resolution.ENDPOINTS) is Resolution.ENDPOINTS
        and not any(map(_LOCALITY, origins))
        and all([s.traffic_policy is None for s in subsets])
    ):
        plain = _plain_clusters(service, subsets, peers, provenance, tls_provenance)
        if plain is not None:
            return plain
    return general_service_clusters(service, dr, peers, gateway_namespace)


def general_service_clusters(
    service: Service,
    dr: MeshObject[DestinationRuleSpec] | None,
    peers: UpstreamPeers | None = None,
    gateway_namespace: str = "",
) -> tuple[tuple[DestinationIR, ...], tuple[EndpointSetIR, ...]]:
    """`service_clusters` by the general loop, for every service (the reference the
    straight line of `_plain_clusters` must equal)."""
    provenance = (service.source,) + (dr.refs if dr else ())
    tls_provenance = provenance + (peers.sources if peers is not None else ())
    subsets = dr.spec.subsets if dr else []
    top = dr.spec.traffic_policy if dr else None
    origins = service.endpoints
    clusters: list[DestinationIR] = []
    assignments: list[EndpointSetIR] = []
    credentials = credential_namespace(dr, gateway_namespace)
    for index, port in enumerate(service.ports):
        mesh_tls = peers.mesh_tls[index] if peers is not None else (False,) * len(origins)
        if len(mesh_tls) != len(origins):
            raise ValueError(f"{service.hostname}: mesh TLS known for another set of endpoints")
        irs = [
            EndpointIR(e.address, e.port_for(port), e.weight, e.workload, locality=e.locality)
            for e in origins
        ]
        resolution = _resolution(service.resolution, port.protocol in HTTP_PROTOCOLS)
        # per variant (the service, then each subset): its endpoints, whether each takes
        # mesh mTLS, where each comes from, its own policy; kept as parallel sequences
        variants: list[
            tuple[
                str,
                Sequence[EndpointIR],
                Sequence[bool],
                Sequence[Endpoint],
                TrafficPolicy | None,
            ]
        ]
        variants = [("", irs, mesh_tls, origins, None)]
        for subset in subsets:
            wanted = subset.labels.items()  # (a set-like view: one C-level subset test)
            picked = [i for i, e in enumerate(origins) if wanted <= e.labels.items()]
            variants.append(
                (
                    subset.name,
                    [irs[i] for i in picked],
                    [mesh_tls[i] for i in picked],
                    [origins[i] for i in picked],
                    subset.traffic_policy,
                )
            )
        # the settings of a variant without a policy of its own: worked out once per port
        settled: dict[int, tuple[LoadBalancing, Resolution, Any, float, Any, EffectivePolicy]] = {}
        for subset_name, chosen, chosen_tls, chosen_sources, subset_policy in variants:
            name = outbound_cluster(port.number, service.hostname, subset_name)
            found = settled.get(id(subset_policy)) if subset_policy is None else None
            if found is None:
                # connection pool, outlier detection, load balancer: Istio's merge order
                effective = effective_policy(top, subset_policy, port.number)
                kind = resolution
                if is_passthrough(effective.load_balancer):
                    kind = _resolution(ServiceResolution.NONE, port.protocol in HTTP_PROTOCOLS)
                found = (
                    load_balancing(effective.load_balancer),
                    kind,
                    cluster_policy(effective, port.protocol),
                    connect_timeout(effective),
                    client_tls(top, subset_policy, port.number),
                    effective,
                )
                if subset_policy is None:
                    settled[id(None)] = found
            lb, kind, policy, timeout, settings, effective = found
            tls, members = cluster_tls(
                service, port.number, subset_name, settings, peers, chosen_tls, chosen, credentials
            )
            # auto-mTLS follows the destinations' PeerAuthentications: name them too
            sources = provenance if settings is not None else tls_provenance
            if kind is Resolution.ENDPOINTS:
                clusters.append(
                    DestinationIR(
                        name,
                        kind,
                        lb,
                        connect_timeout_s=timeout,
                        provenance=sources,
                        tls=tls,
                        policy=policy,
                    )
                )
                assignments.append(
                    locality.assignment(
                        name,
                        members,
                        chosen_sources,
                        provenance,
                        effective.load_balancer,
                        effective.outlier_detection is not None,
                    )
                )
            elif kind in (Resolution.ORIGINAL_DESTINATION, Resolution.FORWARD_PROXY):
                clusters.append(
                    DestinationIR(
                        name,
                        kind,
                        LoadBalancing.PASSTHROUGH,
                        connect_timeout_s=timeout,
                        provenance=sources,
                        tls=tls,
                        policy=policy,
                    )
                )
            else:
                if kind is Resolution.DNS_ROUND_ROBIN:
                    # Envoy refuses a LOGICAL_DNS cluster without exactly one endpoint (a
                    # selector can pick several, a subset none): as Istio, keep the first,
                    # and leave out a cluster with none (its routes answer 503).
                    if not members:
                        continue
                    members = members[:1]
                clusters.append(
                    DestinationIR(name, kind, lb, members, timeout, sources, tls, policy)
                )
    return tuple(clusters), tuple(assignments)


_LOCALITY = attrgetter("locality")
# (port number, protocol) -> what a cluster of an EDS service without any traffic policy
# gets (load balancing, policy, connect timeout), or None when it is not that plain
_PLAIN_SETTINGS: dict[tuple[int, str], tuple[LoadBalancing, Any, float] | None] = {}


def _plain_settings(port: ServicePort) -> tuple[LoadBalancing, Any, float] | None:
    key = (port.number, port.protocol)
    if key in _PLAIN_SETTINGS:
        return _PLAIN_SETTINGS[key]
    effective = effective_policy(None, None, port.number)
    found: tuple[LoadBalancing, Any, float] | None = None
    if (
        effective.load_balancer is None
        and effective.outlier_detection is None
        and client_tls(None, None, port.number) is None
        and not _distributes(locality.effective_setting(None))
    ):
        found = (
            load_balancing(effective.load_balancer),
            cluster_policy(effective, port.protocol),
            connect_timeout(effective),
        )
    _PLAIN_SETTINGS[key] = found
    return found


def _distributes(setting: LocalityLoadBalancerSetting | None) -> bool:
    return setting is not None and bool(setting.distribute)


def _plain_clusters(
    service: Service,
    subsets: Sequence[Subset],
    peers: UpstreamPeers | None,
    provenance: tuple[str, ...],
    tls_provenance: tuple[str, ...],
) -> tuple[tuple[DestinationIR, ...], tuple[EndpointSetIR, ...]] | None:
    """`service_clusters` for the usual service: EDS, no traffic policy at any level, no
    endpoint locality, auto-mTLS to all or none of a cluster's endpoints. The same IR
    the general loop builds (tests/translators/test_plain_clusters.py), in a straight
    line: 30,000 clusters of a large mesh go this way. None: not that plain."""
    origins = service.endpoints
    host = service.hostname
    auto = peers is not None and service.location is not Location.MESH_EXTERNAL
    identities = peers.mesh_identities if peers is not None else ()
    picks = [
        [i for i, e in enumerate(origins) if subset.labels.items() <= e.labels.items()]
        for subset in subsets
    ]
    clusters: list[DestinationIR] = []
    assignments: list[EndpointSetIR] = []
    for index, port in enumerate(service.ports):
        settings = _plain_settings(port)
        if settings is None:
            return None
        lb, policy, timeout = settings
        mesh_tls = peers.mesh_tls[index] if peers is not None else (False,) * len(origins)
        if len(mesh_tls) != len(origins):
            raise ValueError(f"{host}: mesh TLS known for another set of endpoints")
        if auto and any(mesh_tls) and not all(mesh_tls):
            return None  # some endpoints tagged (in some cluster): the general loop
        number = port.number
        irs = tuple(
            [EndpointIR(e.address, e.port_for(port), e.weight, e.workload) for e in origins]
        )
        # auto-mTLS to all of the service's endpoints: to all of each subset's (if any)
        meshed = auto and bool(mesh_tls) and mesh_tls[0]
        variants = [("", irs)]
        for subset, picked in zip(subsets, picks, strict=True):
            variants.append((subset.name, tuple([irs[i] for i in picked])))
        for subset_name, members in variants:
            name = f"outbound|{number}|{subset_name}|{host}"
            tls = None
            if meshed and members:
                tls = UpstreamTLSIR(
                    UpstreamTLSMode.ISTIO_MUTUAL,
                    mtls_sni(number, host, subset_name),
                    identities,
                )
            clusters.append(
                DestinationIR(
                    name, Resolution.ENDPOINTS, lb, (), timeout, tls_provenance, tls, policy
                )
            )
            assignments.append(EndpointSetIR(name, members, provenance))
    return tuple(clusters), tuple(assignments)


def _gateway_credential(dr: MeshObject[DestinationRuleSpec] | None, gateway_namespace: str) -> bool:
    """Does a gateway read a credentialName of `dr` that a sidecar ignores?"""
    return (
        bool(gateway_namespace)
        and dr is not None
        and dr.spec.workload_selector is None
        and bool(credential_names(dr.spec))
    )


class ServiceChunk:
    """One visible service's clusters and load assignments: the value of its memo piece
    (`("clusters", host, rule, gateway namespace)`). `resources` — their Envoy resources —
    is filled by the Envoy layer on first use (translators/translate.py) and lives as long
    as the piece: made from the IR alone, it is valid exactly while the IR is, and needs
    no memo piece (key, dependencies, bookkeeping) of its own."""

    __slots__ = ("assignments", "clusters", "resources")

    def __init__(
        self, clusters: tuple[DestinationIR, ...], assignments: tuple[EndpointSetIR, ...]
    ) -> None:
        self.clusters = clusters
        self.assignments = assignments
        self.resources: tuple[tuple[EnvoyResource, ...], tuple[EnvoyResource, ...]] | None = None


def _clusters_piece(
    index: MeshIndex,
    service: Service,
    dr: MeshObject[DestinationRuleSpec] | None,
    gateway_namespace: str = "",
) -> ServiceChunk:
    """`service_clusters` as a memo piece, recording what it reads: the service, the rule,
    and (auto-mTLS) the destinations' PeerAuthentications and sidecars."""
    index.read(("service", service.hostname))
    index.read(("security",))
    index.uses(dr)
    peers = index.security.upstream_peers(service)
    return ServiceChunk(*service_clusters(service, dr, peers, gateway_namespace))


def _resolution(resolution: ServiceResolution, http: bool) -> Resolution:
    """How a service port's endpoints are found, per its resolution. NONE (and a
    PASSTHROUGH load balancer) is Istio's original destination: connect where the caller
    connected. xdscp sidecars are called
    on their own address (no traffic capture), so for HTTP the destination the caller
    named — the authority — is what is left: a dynamic forward proxy resolves it (see
    translators/traffic/outbound.py). TCP has no authority: the original destination,
    which needs captured traffic."""
    if resolution is ServiceResolution.NONE:
        return Resolution.FORWARD_PROXY if http else Resolution.ORIGINAL_DESTINATION
    if resolution is ServiceResolution.DYNAMIC_DNS:
        # Istio: a dynamic forward proxy cluster resolving each request's authority (TLS:
        # the connection's SNI, see translators/traffic/tcp.py)
        return Resolution.FORWARD_PROXY
    return _RESOLUTIONS.get(resolution, Resolution.ENDPOINTS)


_RESOLUTIONS = {
    ServiceResolution.NONE: Resolution.FORWARD_PROXY,  # (or original destination: TCP)
    ServiceResolution.DYNAMIC_DNS: Resolution.FORWARD_PROXY,
    ServiceResolution.DNS: Resolution.DNS,
    ServiceResolution.DNS_ROUND_ROBIN: Resolution.DNS_ROUND_ROBIN,
}


def special_clusters() -> tuple[DestinationIR, ...]:
    return (
        DestinationIR(
            PASSTHROUGH_CLUSTER, Resolution.ORIGINAL_DESTINATION, LoadBalancing.PASSTHROUGH
        ),
        DestinationIR(BLACKHOLE_CLUSTER, Resolution.STATIC),
    )


@dataclass(frozen=True, slots=True, eq=False)
class OutboundClusters:
    """The clusters and load assignments of a namespace + Sidecar: a piece of its own,
    which reads no VirtualService, so a route change leaves it (and its 30,000 clusters
    in a large mesh) untouched."""

    visible: tuple[Service, ...]
    clusters: tuple[DestinationIR, ...]
    load_assignments: tuple[EndpointSetIR, ...]
    # per visible service, its piece's value (every load assignment comes from one)
    service_chunks: tuple[ServiceChunk, ...]
    # the clusters that come from no service (passthrough, blackhole, allow-any)
    other_clusters: tuple[DestinationIR, ...] = ()
    # the HTTP and the other ports of the visible services
    http_ports: frozenset[int] = frozenset()
    other_ports: frozenset[int] = frozenset()
    # the load assignments that depend on the calling proxy's locality (left out of the
    # shared EDS group, see translators/traffic/locality.py)
    localized: tuple[EndpointSetIR, ...] = ()


def outbound_clusters(
    index: MeshIndex,
    namespace: str,
    sidecar_obj: MeshObject[SidecarSpec] | None,
    memo: PieceCache,
    selected: tuple[str, ...] = (),
    gateway_namespace: str = "",
) -> OutboundClusters:
    """`selected`: the DestinationRules with a workloadSelector that select the proxies
    asking (their refs); `gateway_namespace`: theirs if they are gateways."""
    sidecar = sidecar_obj.spec if sidecar_obj else None
    index.uses(sidecar_obj)
    egress_hosts = None
    if sidecar is not None and sidecar.egress:
        egress_hosts = [h for e in sidecar.egress for h in e.hosts]
    visible = index.visible_services(namespace, egress_hosts)
    special = special_clusters()
    clusters: list[DestinationIR] = list(special)
    assignments: list[EndpointSetIR] = []
    chunks: list[ServiceChunk] = []
    for service in visible:
        dr = index.destination_rule(service.hostname, service.namespace, namespace, selected)
        # the DestinationRule this namespace sees is the choice (in the key); the service,
        # the rule's content and the auto-mTLS state are what the piece reads
        # (a gateway's differ only by a credentialName its rule has without selector)
        at = (
            gateway_namespace
            if gateway_namespace and _gateway_credential(dr, gateway_namespace)
            else ""
        )
        chunk_key = ("clusters", service.hostname, ref_of(dr), at)
        built = memo.get(
            chunk_key,
            lambda service=service, dr=dr, at=at: _clusters_piece(index, service, dr, at),  # type: ignore[misc]
        )
        clusters += built.clusters
        assignments += built.assignments
        chunks.append(built)
    if outbound_mode(sidecar) is OutboundMode.ALLOW_ANY and not egress_proxy_cluster(
        sidecar_obj, index.mesh.options.domain_suffix
    ):
        allow_any = allow_any_cluster()
        clusters.append(allow_any)
        special += (allow_any,)
    return OutboundClusters(
        tuple(visible),
        tuple(clusters),
        tuple(assignments),
        tuple(chunks),
        special,
        *ports_by_protocol(visible),
        tuple(a for a in assignments if a.locality_lb is not None),
    )
