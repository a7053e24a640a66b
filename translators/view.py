"""Mesh + one proxy -> ProxyView (the IR).

Per-service pieces (clusters, load assignments, virtual hosts) do not depend on
which proxy asks, only on the objects involved: they are pieces of the translator's
`PieceCache` (translators/memo.py), keyed by the objects a proxy's scope chooses and
invalidated by changes to what they read. With 1,000 proxies of one mesh, each piece
is built once; after one VirtualService changes, only the pieces that read it are
rebuilt.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from translators.capture import (
    ANY_ADDRESS,
    captures_traffic,
    inbound_passthrough_cluster,
    inbound_ports,
    virtual_listeners,
)
from translators.gateway.mesh_parents import routes_win
from translators.index import MeshIndex
from translators.ir import (
    ClusterIR,
    Direction,
    Discovery,
    EndpointIR,
    InboundIR,
    LbPolicy,
    ListenerIR,
    LoadAssignmentIR,
    ProxyView,
    RouteConfigIR,
    TcpChainIR,
    VirtualHostIR,
)
from translators.memo import PieceCache
from translators.mesh import Endpoint, Service, Workload
from translators.model.networking import (
    HTTP_PROTOCOLS,
    CaptureMode,
    DestinationRuleSpec,
    EgressListener,
    OutboundMode,
    Resolution,
    SidecarSpec,
    TrafficPolicy,
    VirtualServiceSpec,
)
from translators.model.objects import MeshObject
from translators.naming import (
    BLACKHOLE_CLUSTER,
    PASSTHROUGH_CLUSTER,
    inbound_cluster,
    outbound_cluster,
    outbound_route_config,
    port_listener,
)
from translators.security.request_authn import attach_jwt
from translators.security.upstream import UpstreamPeers, client_tls, cluster_tls
from translators.traffic import locality
from translators.traffic import vhosts as traffic_vhosts
from translators.traffic.outbound import allow_any_cluster, catch_all_virtual_host, outbound_mode
from translators.traffic.policy import (
    EffectivePolicy,
    cluster_policy,
    connect_timeout,
    effective_policy,
    is_passthrough,
    lb_policy,
)
from translators.traffic.source import SourceIR, source_label_keys
from translators.traffic.source import proxy_source as make_source
from translators.traffic.tcp import tcp_chains


def _ref(obj: MeshObject[Any] | None) -> str:
    return obj.ref if obj is not None else ""


def service_clusters(
    service: Service,
    dr: MeshObject[DestinationRuleSpec] | None,
    peers: UpstreamPeers | None = None,
) -> tuple[tuple[ClusterIR, ...], tuple[LoadAssignmentIR, ...]]:
    """Outbound clusters for every port of `service` and every subset of its DR, with
    their client TLS (the DR's, else auto-mTLS as `peers` allow)."""
    provenance = (service.source,) + ((dr.ref,) if dr else ())
    tls_provenance = provenance + (peers.sources if peers is not None else ())
    subsets = dr.spec.subsets if dr else []
    top = dr.spec.traffic_policy if dr else None
    clusters: list[ClusterIR] = []
    assignments: list[LoadAssignmentIR] = []
    for index, port in enumerate(service.ports):
        mesh_tls = peers.mesh_tls[index] if peers is not None else (False,) * len(service.endpoints)
        endpoints = [
            (
                e,
                EndpointIR(e.address, e.port_for(port), e.weight, e.workload, locality=e.locality),
                on,
            )
            for e, on in zip(service.endpoints, mesh_tls, strict=True)
        ]
        discovery = _discovery(service.resolution, port.protocol in HTTP_PROTOCOLS)
        variants: list[tuple[str, list[tuple[EndpointIR, bool, Endpoint]], TrafficPolicy | None]]
        variants = [("", [(ep, on, e) for e, ep, on in endpoints], None)]
        for subset in subsets:
            selected = [
                (ep, on, e)
                for e, ep, on in endpoints
                if all(e.labels.get(k) == v for k, v in subset.labels.items())
            ]
            variants.append((subset.name, selected, subset.traffic_policy))
        # the settings of a variant without a policy of its own: worked out once per port
        settled: dict[int, tuple[LbPolicy, Discovery, Any, float, Any, EffectivePolicy]] = {}
        for subset_name, chosen, subset_policy in variants:
            name = outbound_cluster(port.number, service.hostname, subset_name)
            found = settled.get(id(subset_policy)) if subset_policy is None else None
            if found is None:
                # connection pool, outlier detection, load balancer: Istio's merge order
                effective = effective_policy(top, subset_policy, port.number)
                kind = discovery
                if is_passthrough(effective.load_balancer):
                    kind = _discovery(Resolution.NONE, port.protocol in HTTP_PROTOCOLS)
                found = (
                    lb_policy(effective.load_balancer),
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
                service,
                port.number,
                subset_name,
                settings,
                peers,
                [on for _, on, _ in chosen],
                [ep for ep, _, _ in chosen],
            )
            # auto-mTLS follows the destinations' PeerAuthentications: name them too
            sources = provenance if settings is not None else tls_provenance
            if kind is Discovery.EDS:
                clusters.append(
                    ClusterIR(
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
                        [e for _, _, e in chosen],
                        provenance,
                        effective.load_balancer,
                        effective.outlier_detection is not None,
                    )
                )
            elif kind in (Discovery.ORIGINAL_DST, Discovery.DYNAMIC_FORWARD_PROXY):
                clusters.append(
                    ClusterIR(
                        name,
                        kind,
                        LbPolicy.CLUSTER_PROVIDED,
                        connect_timeout_s=timeout,
                        provenance=sources,
                        tls=tls,
                        policy=policy,
                    )
                )
            else:
                if kind is Discovery.LOGICAL_DNS:
                    # Envoy refuses a LOGICAL_DNS cluster without exactly one endpoint (a
                    # selector can pick several, a subset none): as Istio, keep the first,
                    # and leave out a cluster with none (its routes answer 503).
                    if not members:
                        continue
                    members = members[:1]
                clusters.append(ClusterIR(name, kind, lb, members, timeout, sources, tls, policy))
    return tuple(clusters), tuple(assignments)


def _clusters_piece(
    index: MeshIndex, service: Service, dr: MeshObject[DestinationRuleSpec] | None
) -> tuple[tuple[ClusterIR, ...], tuple[LoadAssignmentIR, ...]]:
    """`service_clusters` as a memo piece, recording what it reads: the service, the rule,
    and (auto-mTLS) the destinations' PeerAuthentications and sidecars."""
    index.read(("service", service.hostname))
    index.read(("security",))
    index.uses(dr)
    return service_clusters(service, dr, index.security.upstream_peers(service))


def _vhost_entry(
    service: Service, port: int, index: MeshIndex, source: SourceIR, memo: PieceCache
) -> tuple[VirtualHostIR | None, tuple[str, ...]]:
    """`service`'s virtual host on `port` for `source` (None: not an HTTP port of it), and
    the VirtualServices its own shadows (reported, not merged)."""
    index.read(("service", service.hostname))  # its ports and namespace decide
    service_port = service.port(port)
    if service_port is None or service_port.protocol not in HTTP_PROTOCOLS:
        return None, ()
    vs, shadowed = index.virtual_service(service.hostname, source.namespace)
    warnings = tuple(
        f"{other.ref}: shadowed by older {vs and vs.ref} for {service.hostname}"
        for other in shadowed
    )
    # GAMMA: HTTPRoutes naming the Service as parent take its routing over, against a
    # VirtualService as Istio orders them (translators/gateway/mesh_parents.py)
    gamma = index.mesh_routes_for(service.hostname, port, source.namespace)
    if gamma and vs is not None:
        if routes_win(gamma, vs, source.namespace):
            warnings = tuple(
                f"{other.ref}: overridden by {gamma[0].ref} for {service.hostname}"
                for other in (vs, *shadowed)
            )
            vs = None
        else:
            warnings += tuple(
                f"{route.ref}: shadowed by older {vs.ref} for {service.hostname} "
                f"(callers in {source.namespace})"
                for route in gamma
            )
            gamma = ()
    same_ns = service.namespace == source.namespace
    vhost = memo.get(
        (
            "vhost",
            service.hostname,
            port,
            _ref(vs),
            same_ns,
            traffic_vhosts.vhost_scope(service, vs, index, source, memo),
            tuple(r.ref for r in gamma),
        ),
        lambda: _vhost_piece(service, port, vs, same_ns, index, source, gamma),
    )
    return vhost, warnings


def _vhost_piece(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    index: MeshIndex,
    source: SourceIR,
    gamma: tuple[MeshObject[Any], ...] = (),
) -> VirtualHostIR:
    index.read(("service", service.hostname))
    index.uses(vs)
    if gamma:
        return traffic_vhosts.mesh_route_virtual_host(service, port, gamma, same_namespace, index)
    return virtual_host_for(service, port, vs, same_namespace, index, source)


def _discovery(resolution: Resolution, http: bool) -> Discovery:
    """Istio's cluster type per resolution. NONE (and a PASSTHROUGH load balancer) is
    Istio's ORIGINAL_DST: connect where the caller connected. xdscp sidecars are called
    on their own address (no traffic capture), so for HTTP the destination the caller
    named — the authority — is what is left: a dynamic forward proxy resolves it (see
    translators/traffic/outbound.py). TCP has no authority: ORIGINAL_DST, which needs
    captured traffic."""
    if resolution is Resolution.NONE:
        return Discovery.DYNAMIC_FORWARD_PROXY if http else Discovery.ORIGINAL_DST
    return {
        Resolution.DNS: Discovery.STRICT_DNS,
        Resolution.DNS_ROUND_ROBIN: Discovery.LOGICAL_DNS,
    }.get(resolution, Discovery.EDS)


def virtual_host_for(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    index: MeshIndex,
    source: SourceIR | None = None,
) -> VirtualHostIR:
    """`service`'s virtual host on `port` for a caller (`source`, default: any proxy of the
    service's namespace); see translators/traffic/vhosts.py."""
    caller = source if source is not None else SourceIR(service.namespace)
    return traffic_vhosts.virtual_host_for(service, port, vs, same_namespace, index, caller)


def _unique_domains_patched(
    vhosts: tuple[VirtualHostIR, ...],
    old_vhosts: tuple[VirtualHostIR, ...],
    old_unique: tuple[VirtualHostIR, ...],
) -> tuple[VirtualHostIR, ...]:
    """`_unique_domains(vhosts)` from the last generation's result: which domains a virtual
    host keeps depends only on the sequence of domain lists, so where that sequence is
    unchanged each position keeps its old decision (an identity walk, not 30,000 domains
    hashed again)."""
    if len(vhosts) != len(old_vhosts) or len(old_unique) != len(old_vhosts):
        return _unique_domains(list(vhosts))
    out: list[VirtualHostIR] = []
    for new, old, kept in zip(vhosts, old_vhosts, old_unique, strict=True):
        if new is old:
            out.append(kept)
        elif new.domains != old.domains:
            return _unique_domains(list(vhosts))
        else:
            out.append(new if kept is old else replace(new, domains=kept.domains))
    return tuple(out)


def _unique_domains(vhosts: list[VirtualHostIR]) -> tuple[VirtualHostIR, ...]:
    """Envoy NACKs a whole route config in which two virtual hosts share a domain. A short
    alias can be another service's own name (`foo` in namespace `bar` is also `foo.bar`,
    which a ServiceEntry may name literally): the service whose name it is keeps it,
    otherwise the first virtual host does."""
    own = {d: i for i, vh in enumerate(vhosts) for d in vh.domains[:1]}  # its fqdn
    seen: set[str] = set()
    out: list[VirtualHostIR] = []
    for i, vh in enumerate(vhosts):
        keep = tuple(d for d in vh.domains if own.get(d, i) == i and d not in seen)
        seen.update(keep)
        out.append(vh if keep == vh.domains else replace(vh, domains=keep))
    return tuple(out)


def special_clusters() -> tuple[ClusterIR, ...]:
    return (
        ClusterIR(PASSTHROUGH_CLUSTER, Discovery.ORIGINAL_DST, LbPolicy.CLUSTER_PROVIDED),
        ClusterIR(BLACKHOLE_CLUSTER, Discovery.STATIC),
    )


@dataclass(frozen=True, slots=True)
class EgressIR:
    """An outbound listener: `bind` None means the workload's own address. HTTP ones use
    `route_config`; TCP/TLS ones proxy by `tcp_chains` instead."""

    bind: str | None
    port: int
    route_config: str
    dynamic_forward_proxy: bool = False
    tcp_chains: tuple[TcpChainIR, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class OutboundView:
    """The part of a proxy's config that depends only on its namespace and its Sidecar:
    shared by every proxy with the same pair (usually all proxies of a namespace)."""

    key: tuple[str, str]
    clusters: tuple[ClusterIR, ...]
    load_assignments: tuple[LoadAssignmentIR, ...]
    route_configs: tuple[RouteConfigIR, ...]
    egress: tuple[EgressIR, ...]
    provenance: tuple[str, ...]
    warnings: tuple[str, ...]
    # Per visible service: its memo key and the cluster / load assignment IR it yielded
    # (the same tuple objects as long as the key holds). Lets the Envoy layer memoize by
    # these cheap keys instead of hashing 60,000 IR objects after every change.
    service_chunks: tuple[
        tuple[Hashable, tuple[ClusterIR, ...], tuple[LoadAssignmentIR, ...]], ...
    ] = ()
    # the memo key of the OutboundClusters piece the clusters come from
    clusters_key: Hashable = ()
    # route config name -> its virtual hosts before `_unique_domains` (for patching)
    raw_vhosts: Mapping[str, tuple[VirtualHostIR, ...]] = field(default_factory=dict)
    # route config name -> how many of its raw virtual hosts reach a forward proxy cluster
    dfp_counts: Mapping[str, int] = field(default_factory=dict)
    # load assignments that depend on the calling proxy's locality (`combine` applies it)
    localized: tuple[LoadAssignmentIR, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class LocalView:
    """The part of a proxy's config that is its own: listeners and inbound clusters."""

    listeners: tuple[ListenerIR, ...]
    clusters: tuple[ClusterIR, ...]
    warnings: tuple[str, ...]


def _ports_of(services: Iterable[Service], http: bool) -> frozenset[int]:
    """The service ports of `services` that are (`http`) or are not HTTP."""
    return frozenset(
        p.number for s in services for p in s.ports if (p.protocol in HTTP_PROTOCOLS) is http
    )


def _egress_ports(
    sidecar: SidecarSpec | None, catch_all: EgressListener | None, service_ports: frozenset[int]
) -> list[EgressIR]:
    """Outbound listeners. With a Sidecar, its egress listeners; without one (file mode has
    no iptables), every HTTP service port, bound to the workload's own address. A Sidecar's
    portless egress listener (Istio's catch-all, e.g. the common `hosts: [./*]`) stands for
    every HTTP port of the services its hosts select (`service_ports`) not taken by another
    listener."""
    explicit = [
        EgressIR(e.bind, e.port.number, outbound_route_config(e.port.number))
        for e in (sidecar.egress if sidecar else [])
        if e.port is not None and e.port.protocol in HTTP_PROTOCOLS
    ]
    if sidecar is not None and sidecar.egress and catch_all is None:
        return explicit
    ports = sorted(service_ports)
    taken = _taken_ports(sidecar)
    bind = catch_all.bind if catch_all else None
    return explicit + [
        EgressIR(bind, port, outbound_route_config(port)) for port in ports if port not in taken
    ]


def _taken_ports(sidecar: SidecarSpec | None) -> set[int]:
    """Ports a Sidecar assigns explicitly (egress listeners with a port, ingress)."""
    if sidecar is None:
        return set()
    return {e.port.number for e in sidecar.egress if e.port is not None} | {
        i.port.number for i in sidecar.ingress
    }


def _tcp_ports(
    sidecar: SidecarSpec | None,
    catch_all: EgressListener | None,
    service_ports: frozenset[int],
    http_ports: set[int],
) -> list[tuple[str | None, int]]:
    """(bind, port) of outbound TCP/TLS listeners: a Sidecar's egress listeners of a
    non-HTTP protocol, and — where `_egress_ports` would take every HTTP port — every
    non-HTTP service port no other listener has."""
    explicit = [
        (e.bind, e.port.number)
        for e in (sidecar.egress if sidecar else [])
        if e.port is not None and e.port.protocol not in HTTP_PROTOCOLS
    ]
    if sidecar is not None and sidecar.egress and catch_all is None:
        return explicit
    taken = _taken_ports(sidecar) | http_ports
    ports = sorted(service_ports - taken)
    bind = catch_all.bind if catch_all else None
    return explicit + [(bind, port) for port in ports]


def proxy_source(index: MeshIndex, workload: Workload, memo: PieceCache) -> SourceIR:
    """The caller as VirtualService matches see it (see translators/traffic/source.py)."""

    def keys() -> frozenset[str]:
        index.read(("source-labels",))
        return source_label_keys(index.mesh.of_kind("VirtualService"))

    return make_source(workload.namespace, workload.labels, memo.get(("source-label-keys",), keys))


def build_outbound(
    index: MeshIndex,
    namespace: str,
    sidecar_obj: MeshObject[SidecarSpec] | None,
    memo: PieceCache,
    source: SourceIR | None = None,
    previous: OutboundView | None = None,
) -> OutboundView:
    """Clusters, endpoints and route configs a proxy in `namespace` under `sidecar_obj` sees
    (as `source`, when VirtualServices match on their callers' labels). `previous`: this
    scope's view of the last generation, whose unchanged parts are reused."""
    sidecar = sidecar_obj.spec if sidecar_obj else None
    index.uses(sidecar_obj)
    source = source if source is not None else SourceIR(namespace)
    warnings: list[str] = []
    if sidecar is not None and any(
        mode is CaptureMode.IPTABLES
        for mode in [
            *(i.capture_mode for i in sidecar.ingress),
            *(e.capture_mode for e in sidecar.egress),
        ]
    ):
        warnings.append(
            f"{sidecar_obj and sidecar_obj.ref}: captureMode IPTABLES is not translated"
        )
    outbound = memo.get(
        ("outbound-clusters", namespace, _ref(sidecar_obj)),
        lambda: outbound_clusters(index, namespace, sidecar_obj, memo),
    )
    visible = list(outbound.visible)
    clusters = list(outbound.clusters)
    mode = outbound_mode(sidecar)
    catch_all_vhost = catch_all_virtual_host(mode, (sidecar_obj.ref,) if sidecar_obj else ())

    route_configs: list[RouteConfigIR] = []
    catch_all = next((e for e in sidecar.egress if e.port is None), None) if sidecar else None
    catch_all_hosts = catch_all.hosts if catch_all else None
    egress_list = _egress_ports(
        sidecar,
        catch_all,
        outbound.http_ports
        if catch_all is None
        else _ports_of(index.visible_services(namespace, catch_all.hosts), http=True),
    )
    hosts_by_port = {
        e.port.number: e.hosts for e in (sidecar.egress if sidecar else []) if e.port is not None
    }
    raw_vhosts: dict[str, tuple[VirtualHostIR, ...]] = {}
    before = previous.raw_vhosts if previous is not None else {}
    before_configs = {rc.name: rc for rc in previous.route_configs} if previous else {}
    for egress in egress_list:
        hosts = hosts_by_port.get(egress.port, catch_all_hosts)
        allowed = visible if hosts is None else index.visible_services(namespace, hosts)
        vhosts: list[VirtualHostIR] = []
        for service in allowed:
            # one piece per (service, port, caller): after a change only the entries that
            # read it are rebuilt, the others are dictionary lookups
            vhost, shadowed = memo.get(
                ("vhost-entry", service.hostname, egress.port, source),
                lambda s=service, p=egress.port: _vhost_entry(s, p, index, source, memo),  # type: ignore[misc]
            )
            if vhost is not None:
                vhosts.append(vhost)
            if shadowed:
                warnings += shadowed
        raw = raw_vhosts[egress.route_config] = tuple(vhosts)
        old_raw = before.get(egress.route_config)
        old_config = before_configs.get(egress.route_config)
        if old_raw is not None and old_config is not None:
            unique = _unique_domains_patched(raw, old_raw, old_config.virtual_hosts[:-1])
        else:
            unique = _unique_domains(vhosts)
        route_configs.append(RouteConfigIR(egress.route_config, (*unique, catch_all_vhost)))
    dfp = _dfp_names(outbound.clusters)
    same_clusters = previous is not None and previous.clusters is outbound.clusters
    dfp_counts = {
        name: _dfp_count(
            raw,
            dfp,
            before.get(name) if same_clusters else None,
            previous.dfp_counts.get(name) if previous is not None and same_clusters else None,
        )
        for name, raw in raw_vhosts.items()
    }
    egress_list = _with_forward_proxy(egress_list, route_configs, dfp, dfp_counts)
    http_ports = {e.port for e in egress_list}
    for bind, port in _tcp_ports(sidecar, catch_all, outbound.other_ports, http_ports):
        hosts = hosts_by_port.get(port, catch_all_hosts)
        allowed = visible if hosts is None else index.visible_services(namespace, hosts)
        candidates = [
            s
            for s in allowed
            if (sp := s.port(port)) is not None and sp.protocol not in HTTP_PROTOCOLS
        ]
        chains, problems = tcp_chains(port, candidates, index, namespace, source)
        warnings += problems
        chains = _reachable(chains, clusters, index.mesh.options.local_mode, warnings)
        if chains:
            egress_list.append(EgressIR(bind, port, "", tcp_chains=chains))
    # proxies that differ in the labels some sourceLabels match tests differ here too
    labels = "".join(f"|{k}={v}" for k, v in source.labels)
    return OutboundView(
        key=(namespace, (sidecar_obj.ref if sidecar_obj else "") + labels),
        clusters=outbound.clusters,
        load_assignments=outbound.load_assignments,
        route_configs=tuple(route_configs),
        egress=tuple(egress_list),
        provenance=(sidecar_obj.ref,) if sidecar_obj else (),
        warnings=tuple(dict.fromkeys(warnings)),  # once, not once per listener port
        service_chunks=outbound.service_chunks,
        clusters_key=("outbound-clusters", namespace, _ref(sidecar_obj)),
        raw_vhosts=raw_vhosts,
        dfp_counts=dfp_counts,
        localized=outbound.localized,
    )


@dataclass(frozen=True, slots=True, eq=False)
class OutboundClusters:
    """The clusters and load assignments of a namespace + Sidecar: a piece of its own,
    which reads no VirtualService, so a route change leaves it (and its 30,000 clusters
    in a large mesh) untouched."""

    visible: tuple[Service, ...]
    clusters: tuple[ClusterIR, ...]
    load_assignments: tuple[LoadAssignmentIR, ...]
    service_chunks: tuple[tuple[Hashable, tuple[ClusterIR, ...], tuple[LoadAssignmentIR, ...]], ...]
    # the HTTP and the other ports of the visible services
    http_ports: frozenset[int] = frozenset()
    other_ports: frozenset[int] = frozenset()
    # the load assignments that depend on the calling proxy's locality (left out of the
    # shared EDS group, see translators/traffic/locality.py)
    localized: tuple[LoadAssignmentIR, ...] = ()


def outbound_clusters(
    index: MeshIndex,
    namespace: str,
    sidecar_obj: MeshObject[SidecarSpec] | None,
    memo: PieceCache,
) -> OutboundClusters:
    sidecar = sidecar_obj.spec if sidecar_obj else None
    index.uses(sidecar_obj)
    egress_hosts = None
    if sidecar is not None and sidecar.egress:
        egress_hosts = [h for e in sidecar.egress for h in e.hosts]
    visible = index.visible_services(namespace, egress_hosts)
    clusters: list[ClusterIR] = list(special_clusters())
    assignments: list[LoadAssignmentIR] = []
    chunks: list[tuple[Hashable, tuple[ClusterIR, ...], tuple[LoadAssignmentIR, ...]]] = []
    for service in visible:
        dr = index.destination_rule(service.hostname, service.namespace, namespace)
        # the DestinationRule this namespace sees is the choice (in the key); the service,
        # the rule's content and the auto-mTLS state are what the piece reads
        chunk_key = ("clusters", service.hostname, _ref(dr))
        built = memo.get(
            chunk_key,
            lambda service=service, dr=dr: _clusters_piece(index, service, dr),  # type: ignore[misc]
        )
        clusters += built[0]
        assignments += built[1]
        chunks.append((chunk_key, built[0], built[1]))
    if outbound_mode(sidecar) is OutboundMode.ALLOW_ANY:
        clusters.append(allow_any_cluster())
    return OutboundClusters(
        tuple(visible),
        tuple(clusters),
        tuple(assignments),
        tuple(chunks),
        _ports_of(visible, http=True),
        _ports_of(visible, http=False),
        tuple(a for a in assignments if a.locality_lb is not None),
    )


def _dfp_names(clusters: Iterable[ClusterIR]) -> frozenset[str]:
    return frozenset(c.name for c in clusters if c.discovery is Discovery.DYNAMIC_FORWARD_PROXY)


def _reaches(vhost: VirtualHostIR, dfp: frozenset[str]) -> bool:
    return any(
        any(wc.cluster in dfp for wc in r.clusters) or any(m.cluster in dfp for m in r.mirrors)
        for r in vhost.routes
    )


def _dfp_count(
    raw: tuple[VirtualHostIR, ...],
    dfp: frozenset[str],
    old_raw: tuple[VirtualHostIR, ...] | None,
    old_count: int | None,
) -> int:
    """How many of a route config's virtual hosts reach a dynamic forward proxy cluster:
    from the last generation's count where the same clusters and as many virtual hosts
    (then only the new virtual host objects are looked at)."""
    if old_raw is None or old_count is None or len(old_raw) != len(raw):
        return sum(1 for vh in raw if _reaches(vh, dfp))
    count = old_count
    for new, old in zip(raw, old_raw, strict=True):
        if new is not old:
            count += _reaches(new, dfp) - _reaches(old, dfp)
    return count


def _with_forward_proxy(
    egress: list[EgressIR],
    configs: list[RouteConfigIR],
    dfp: frozenset[str],
    counts: Mapping[str, int],
) -> list[EgressIR]:
    """Mark the HTTP listeners whose routes reach a dynamic forward proxy cluster (`counts`:
    per route config, its virtual hosts that do, but for the catch-all one)."""
    needs = {
        rc.name
        for rc in configs
        if counts.get(rc.name, 0) or (rc.virtual_hosts and _reaches(rc.virtual_hosts[-1], dfp))
    }
    return [
        e
        if e.dynamic_forward_proxy == (e.route_config in needs)
        else replace(e, dynamic_forward_proxy=e.route_config in needs)
        for e in egress
    ]


def _reachable(
    chains: tuple[TcpChainIR, ...], clusters: list[ClusterIR], local: bool, warnings: list[str]
) -> tuple[TcpChainIR, ...]:
    """Without traffic capture (file mode) an ORIGINAL_DST cluster's "original destination"
    is the sidecar's own listener: such a chain would connect to itself, so it is left out."""
    if not local:
        return chains
    original = {c.name for c in clusters if c.discovery is Discovery.ORIGINAL_DST}
    kept = []
    for chain in chains:
        if all(wc.cluster in original for wc in chain.clusters):
            warnings.append(
                f"{chain.provenance[0] if chain.provenance else chain.name}: "
                f"{chain.name} needs an original destination (resolution NONE / PASSTHROUGH"
                " over TCP), which file mode has not; skipped"
            )
            continue
        kept.append(chain)
    return tuple(kept)


def build_local(
    index: MeshIndex,
    workload: Workload,
    sidecar_obj: MeshObject[SidecarSpec] | None,
    outbound: OutboundView,
) -> LocalView:
    """The workload's own listeners (outbound ones bound to its address) and inbound path."""
    sidecar = sidecar_obj.spec if sidecar_obj else None
    sidecar_ref = outbound.provenance
    warnings: list[str] = []
    # With traffic capture, listeners without an explicit bind are reached through the
    # virtual listeners; without it (file mode), they bind the workload's own address.
    capture = captures_traffic(index, workload, sidecar)
    own_address = ANY_ADDRESS if capture else workload.address
    listeners = [
        ListenerIR(
            port_listener(egress.port, egress.bind or own_address),
            Direction.OUTBOUND,
            egress.bind or own_address,
            egress.port,
            route_config=egress.route_config,
            provenance=sidecar_ref
            + tuple(dict.fromkeys(r for c in egress.tcp_chains for r in c.provenance)),
            tcp_chains=egress.tcp_chains,
            dynamic_forward_proxy=egress.dynamic_forward_proxy,
            captured=capture and egress.bind is None,
        )
        for egress in outbound.egress
    ]
    clusters: list[ClusterIR] = []
    peer_authn = index.security.inbound_mtls(workload)
    authz = index.security.authorization(workload)
    authz_refs = tuple(ref for policy in authz for ref in policy.provenance)
    if capture:
        listeners += virtual_listeners(outbound_mode(sidecar), peer_authn.mode, sidecar_ref)
        clusters.append(inbound_passthrough_cluster())
        if not (sidecar and sidecar.ingress):
            for port, http, source in inbound_ports(index, workload):
                cluster_name = inbound_cluster(port)
                app = EndpointIR(workload.address, port, workload=workload.key)
                clusters.append(
                    ClusterIR(
                        cluster_name,
                        Discovery.STATIC,
                        LbPolicy.ROUND_ROBIN,
                        (app,),
                        provenance=(source,),
                    )
                )
                listeners.append(
                    ListenerIR(
                        # the pod's own address: original-destination handoff picks the
                        # most specific listener, so 0.0.0.0_<port> stays outbound
                        port_listener(port, workload.address),
                        Direction.INBOUND,
                        workload.address,
                        port,
                        inbound_cluster=cluster_name,
                        provenance=(source, *peer_authn.sources, *authz_refs),
                        inbound=InboundIR(
                            mtls=peer_authn.at(port),
                            tcp=not http,
                            authz=authz,
                            provenance=peer_authn.sources,
                        ),
                        captured=True,
                    )
                )
    for ingress in sidecar.ingress if sidecar else []:
        bind = ingress.bind or workload.address
        port = ingress.port.number
        cluster_name = inbound_cluster(port)
        if not ingress.default_endpoint:
            warnings.append(
                f"{sidecar_obj and sidecar_obj.ref}: ingress port {port} has no defaultEndpoint;"
                " skipped"
            )
            continue
        if ingress.default_endpoint.startswith("unix://"):
            # the application listens on a unix socket: a pipe endpoint, no port
            app = EndpointIR(ingress.default_endpoint, 0, workload=workload.key)
        else:
            app_host, _, app_port = ingress.default_endpoint.rpartition(":")
            app_host = app_host.strip("[]")
            if index.mesh.options.local_mode and app_host in ("127.0.0.1", "0.0.0.0"):
                app_host = workload.address
            app = EndpointIR(app_host, int(app_port), workload=workload.key)
        clusters.append(
            ClusterIR(
                cluster_name, Discovery.STATIC, LbPolicy.ROUND_ROBIN, (app,), provenance=sidecar_ref
            )
        )
        inbound = InboundIR(
            mtls=peer_authn.at(port),
            tcp=ingress.port.protocol not in HTTP_PROTOCOLS,
            authz=authz,
            provenance=peer_authn.sources,
        )
        listeners.append(
            ListenerIR(
                port_listener(port, bind),
                Direction.INBOUND,
                bind,
                port,
                inbound_cluster=cluster_name,
                provenance=sidecar_ref + peer_authn.sources + authz_refs,
                inbound=inbound,
                captured=capture and ingress.bind is None,
            )
        )
    jwt = index.security.jwt_rules(workload)
    return LocalView(attach_jwt(tuple(listeners), jwt), tuple(clusters), tuple(warnings))


def combine(workload: Workload, outbound: OutboundView, local: LocalView) -> ProxyView:
    assignments = locality.for_proxy(workload, outbound.load_assignments, outbound.localized)
    return ProxyView(
        proxy=workload.key,
        clusters=outbound.clusters + local.clusters,
        load_assignments=assignments,
        listeners=local.listeners,
        route_configs=outbound.route_configs,
        warnings=outbound.warnings + local.warnings,
    )
