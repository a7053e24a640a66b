"""Mesh + one proxy -> ProxyView (the IR).

Per-service pieces (clusters, load assignments, virtual hosts) do not depend on
which proxy asks, only on the objects involved, so they are memoized by the
digests of those objects. With 1,000 proxies of one mesh, each piece is built
once; after one VirtualService changes, only the pieces that read it are rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from translators.hosts import resolve_host, short_aliases
from translators.index import MeshIndex
from translators.ir import (
    ClusterIR,
    Direction,
    Discovery,
    EndpointIR,
    HeaderMatchIR,
    InboundIR,
    LbPolicy,
    ListenerIR,
    LoadAssignmentIR,
    MatchKind,
    ProxyView,
    RouteConfigIR,
    RouteIR,
    RouteMatchIR,
    StringMatchIR,
    VirtualHostIR,
    WeightedClusterIR,
)
from translators.mesh import Service, Workload
from translators.model.base import StringMatch
from translators.model.networking import (
    HTTP_PROTOCOLS,
    CaptureMode,
    DestinationRuleSpec,
    EgressListener,
    HTTPMatchRequest,
    HTTPRoute,
    Resolution,
    SidecarSpec,
    SimpleLB,
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
    virtual_host,
)
from translators.security.upstream import UpstreamPeers, client_tls, cluster_tls

T = TypeVar("T")
A = TypeVar("A")

# Istio's default when no load balancer is configured.
_LB = {
    SimpleLB.UNSPECIFIED: LbPolicy.LEAST_REQUEST,
    SimpleLB.LEAST_CONN: LbPolicy.LEAST_REQUEST,
    SimpleLB.LEAST_REQUEST: LbPolicy.LEAST_REQUEST,
    SimpleLB.ROUND_ROBIN: LbPolicy.ROUND_ROBIN,
    SimpleLB.RANDOM: LbPolicy.RANDOM,
    SimpleLB.PASSTHROUGH: LbPolicy.CLUSTER_PROVIDED,
}


@dataclass(slots=True)
class Memo:
    """Translation results keyed by content; `previous` is the last generation's memo,
    consulted (and copied from) so unchanged pieces survive a config change."""

    entries: dict[Hashable, Any] = field(default_factory=dict)
    previous: dict[Hashable, Any] | None = None
    # Results that depend on the whole mesh generation; never carried over.
    this_generation: dict[Hashable, Any] = field(default_factory=dict)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        try:
            found: T = self.entries[key]
            return found
        except KeyError:
            pass
        if self.previous is not None and key in self.previous:
            value: T = self.previous[key]
        else:
            value = build()
        self.entries[key] = value
        return value

    def call(self, key: Hashable, build: Callable[[A], T], arg: A) -> T:
        """`get` for the common case of a one-argument builder (no lambda needed)."""
        try:
            found: T = self.entries[key]
            return found
        except KeyError:
            pass
        if self.previous is not None and key in self.previous:
            value: T = self.previous[key]
        else:
            value = build(arg)
        self.entries[key] = value
        return value

    def generation_get(self, key: Hashable, build: Callable[[], T]) -> T:
        try:
            found: T = self.this_generation[key]
        except KeyError:
            found = self.this_generation[key] = build()
        return found

    def next_generation(self) -> Memo:
        return Memo(previous=self.entries)


def _digest(obj: MeshObject[Any] | None) -> str:
    return obj.digest if obj is not None else ""


def _lb_policy(policy: TrafficPolicy | None, port: int) -> LbPolicy | None:
    if policy is None:
        return None
    for level in policy.port_level_settings:
        if level.port.number == port and level.load_balancer is not None:
            return _LB[level.load_balancer.simple]
    if policy.load_balancer is not None:
        return _LB[policy.load_balancer.simple]
    return None


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
            (e, EndpointIR(e.address, e.port_for(port), e.weight, e.workload), on)
            for e, on in zip(service.endpoints, mesh_tls, strict=True)
        ]
        base_lb = _lb_policy(top, port.number) or LbPolicy.LEAST_REQUEST
        discovery = {
            Resolution.DNS: Discovery.STRICT_DNS,
            Resolution.DNS_ROUND_ROBIN: Discovery.LOGICAL_DNS,
        }.get(service.resolution, Discovery.EDS)
        variants: list[tuple[str, LbPolicy, list[tuple[EndpointIR, bool]], TrafficPolicy | None]]
        variants = [("", base_lb, [(ep, on) for _, ep, on in endpoints], None)]
        for subset in subsets:
            selected = [
                (ep, on)
                for e, ep, on in endpoints
                if all(e.labels.get(k) == v for k, v in subset.labels.items())
            ]
            lb = _lb_policy(subset.traffic_policy, port.number) or base_lb
            variants.append((subset.name, lb, selected, subset.traffic_policy))
        for subset_name, lb, chosen, subset_policy in variants:
            name = outbound_cluster(port.number, service.hostname, subset_name)
            settings = client_tls(top, subset_policy, port.number)
            tls, members = cluster_tls(
                service,
                port.number,
                subset_name,
                settings,
                peers,
                [on for _, on in chosen],
                [ep for ep, _ in chosen],
            )
            # auto-mTLS follows the destinations' PeerAuthentications: name them too
            sources = provenance if settings is not None else tls_provenance
            if discovery is Discovery.EDS:
                clusters.append(ClusterIR(name, discovery, lb, provenance=sources, tls=tls))
                assignments.append(LoadAssignmentIR(name, members, provenance))
            else:
                clusters.append(
                    ClusterIR(name, discovery, lb, members, provenance=sources, tls=tls)
                )
    return tuple(clusters), tuple(assignments)


def _string_match(match: StringMatch) -> StringMatchIR:
    if match.exact is not None:
        return StringMatchIR(MatchKind.EXACT, match.exact)
    if match.prefix is not None:
        return StringMatchIR(MatchKind.PREFIX, match.prefix)
    return StringMatchIR(MatchKind.REGEX, match.regex or "")


def _route_match(match: HTTPMatchRequest | None) -> RouteMatchIR:
    if match is None:
        return RouteMatchIR()
    headers = tuple(
        HeaderMatchIR(name.lower(), _string_match(m)) for name, m in sorted(match.headers.items())
    )
    path = _string_match(match.uri) if match.uri else RouteMatchIR().path
    return RouteMatchIR(path, headers)


def _destinations(
    rule: HTTPRoute, vs: MeshObject[VirtualServiceSpec], port: int, index: MeshIndex
) -> tuple[WeightedClusterIR, ...]:
    suffix = index.mesh.options.domain_suffix
    weighted: list[WeightedClusterIR] = []
    for dest in rule.route:
        if len(rule.route) > 1 and dest.weight == 0:
            continue  # Istio drops zero-weight destinations
        host = resolve_host(dest.destination.host, vs.namespace, suffix)
        target = index.mesh.services.get(host)
        if dest.destination.port is not None:
            dest_port = dest.destination.port.number
        elif target is not None and len(target.ports) == 1:
            dest_port = target.ports[0].number
        else:
            dest_port = port
        name = outbound_cluster(dest_port, host, dest.destination.subset or "")
        weighted.append(WeightedClusterIR(name, dest.weight if len(rule.route) > 1 else 100))
    return tuple(weighted)


def _destination_ports(
    vs: MeshObject[VirtualServiceSpec] | None, index: MeshIndex
) -> tuple[tuple[str, tuple[int, ...] | None], ...]:
    """The ports of every service `vs` routes to: a destination without a port takes the
    service's only port, so a virtual host depends on these too (memo key)."""
    if vs is None:
        return ()
    suffix = index.mesh.options.domain_suffix
    hosts = sorted(
        {
            resolve_host(d.destination.host, vs.namespace, suffix)
            for r in vs.spec.http
            for d in r.route
        }
    )
    out: list[tuple[str, tuple[int, ...] | None]] = []
    for host in hosts:
        target = index.mesh.services.get(host)
        out.append((host, tuple(p.number for p in target.ports) if target else None))
    return tuple(out)


def virtual_host_for(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    index: MeshIndex,
) -> VirtualHostIR:
    suffix = index.mesh.options.domain_suffix
    domains = short_aliases(service.hostname, port, suffix)
    if not same_namespace and service.hostname.endswith("." + suffix):
        name = service.hostname.split(".", 1)[0]
        domains = [d for d in domains if d not in (name, f"{name}:{port}")]
    routes: list[RouteIR] = []
    provenance: tuple[str, ...] = (service.source,)
    if vs is not None:
        provenance += (vs.ref,)
        for i, rule in enumerate(vs.spec.http):
            matches: list[HTTPMatchRequest | None] = list(rule.match) or [None]
            clusters = _destinations(rule, vs, port, index)
            for j, match in enumerate(matches):
                if match is not None and match.port is not None and match.port != port:
                    continue
                route_name = rule.name or f"{vs.namespace}.{vs.name}.{i}"
                if len(matches) > 1:
                    route_name += f".{(match.name if match else None) or j}"
                routes.append(RouteIR(route_name, _route_match(match), clusters, (vs.ref,)))
    else:
        default = WeightedClusterIR(outbound_cluster(port, service.hostname), 100)
        routes.append(RouteIR("default", RouteMatchIR(), (default,), (service.source,)))
    return VirtualHostIR(
        virtual_host(service.hostname, port), tuple(domains), tuple(routes), provenance
    )


def _unique_domains(vhosts: list[VirtualHostIR]) -> tuple[VirtualHostIR, ...]:
    """Envoy NACKs a whole route config in which two virtual hosts share a domain. A short
    alias can be another service's own name (`foo` in namespace `bar` is also `foo.bar`,
    which a ServiceEntry may name literally): the service whose name it is keeps it,
    otherwise the first virtual host does."""
    own = {d: i for i, vh in enumerate(vhosts) for d in vh.domains[:2]}  # fqdn, fqdn:port
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
    """An outbound listener: `bind` None means the workload's own address."""

    bind: str | None
    port: int
    route_config: str


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


@dataclass(frozen=True, slots=True, eq=False)
class LocalView:
    """The part of a proxy's config that is its own: listeners and inbound clusters."""

    listeners: tuple[ListenerIR, ...]
    clusters: tuple[ClusterIR, ...]
    warnings: tuple[str, ...]


def _egress_ports(
    sidecar: SidecarSpec | None, catch_all: EgressListener | None, services: list[Service]
) -> list[EgressIR]:
    """Outbound listeners. With a Sidecar, its egress listeners; without one (file mode has
    no iptables), every HTTP service port, bound to the workload's own address. A Sidecar's
    portless egress listener (Istio's catch-all, e.g. the common `hosts: [./*]`) stands for
    every HTTP port of `services` (those its hosts select) not taken by another listener."""
    explicit = [
        EgressIR(e.bind, e.port.number, outbound_route_config(e.port.number))
        for e in (sidecar.egress if sidecar else [])
        if e.port is not None
    ]
    if sidecar is not None and sidecar.egress and catch_all is None:
        return explicit
    ports = sorted({p.number for s in services for p in s.ports if p.protocol in HTTP_PROTOCOLS})
    taken = {e.port for e in explicit} | (
        {i.port.number for i in sidecar.ingress} if sidecar else set()
    )
    bind = catch_all.bind if catch_all else None
    return explicit + [
        EgressIR(bind, port, outbound_route_config(port)) for port in ports if port not in taken
    ]


def outbound_key(index: MeshIndex, workload: Workload) -> tuple[str, str]:
    sidecar = index.sidecar_for(workload)
    return (workload.namespace, sidecar.ref if sidecar else "")


def build_outbound(
    index: MeshIndex, namespace: str, sidecar_obj: MeshObject[SidecarSpec] | None, memo: Memo
) -> OutboundView:
    """Clusters, endpoints and route configs a proxy in `namespace` under `sidecar_obj` sees."""
    sidecar = sidecar_obj.spec if sidecar_obj else None
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
    egress_hosts = None
    if sidecar is not None and sidecar.egress:
        egress_hosts = [h for e in sidecar.egress for h in e.hosts]
    visible = index.visible_services(namespace, egress_hosts)

    clusters: list[ClusterIR] = list(special_clusters())
    assignments: list[LoadAssignmentIR] = []
    for service in visible:
        dr = index.destination_rule(service.hostname, service.namespace, namespace)
        # Clusters depend on the destinations' PeerAuthentications too (auto-mTLS): keyed
        # by the mesh's security state, their peers are worked out only when rebuilt.
        built = memo.get(
            ("clusters", service.hostname, service.digest, _digest(dr), index.security.key),
            lambda service=service, dr=dr: service_clusters(  # type: ignore[misc]
                service, dr, index.security.upstream_peers(service)
            ),
        )
        clusters += built[0]
        assignments += built[1]

    route_configs: list[RouteConfigIR] = []
    catch_all = next((e for e in sidecar.egress if e.port is None), None) if sidecar else None
    catch_all_hosts = catch_all.hosts if catch_all else None
    egress_list = _egress_ports(
        sidecar,
        catch_all,
        visible if catch_all is None else index.visible_services(namespace, catch_all.hosts),
    )
    hosts_by_port = {
        e.port.number: e.hosts for e in (sidecar.egress if sidecar else []) if e.port is not None
    }
    for egress in egress_list:
        hosts = hosts_by_port.get(egress.port, catch_all_hosts)
        allowed = visible if hosts is None else index.visible_services(namespace, hosts)
        vhosts: list[VirtualHostIR] = []
        for service in allowed:
            service_port = service.port(egress.port)
            if service_port is None or service_port.protocol not in HTTP_PROTOCOLS:
                continue
            vs, shadowed = index.virtual_service(service.hostname, namespace)
            for other in shadowed:
                warnings.append(
                    f"{other.ref}: shadowed by older {vs and vs.ref} for {service.hostname}"
                )
            same_ns = service.namespace == namespace
            vhosts.append(
                memo.get(
                    (
                        "vhost",
                        service.hostname,
                        service.digest,
                        egress.port,
                        _digest(vs),
                        same_ns,
                        _destination_ports(vs, index),
                    ),
                    lambda s=service, v=vs, n=same_ns, p=egress.port: virtual_host_for(  # type: ignore[misc]
                        s, p, v, n, index
                    ),
                )
            )
        route_configs.append(RouteConfigIR(egress.route_config, _unique_domains(vhosts)))
    return OutboundView(
        key=(namespace, sidecar_obj.ref if sidecar_obj else ""),
        clusters=tuple(clusters),
        load_assignments=tuple(assignments),
        route_configs=tuple(route_configs),
        egress=tuple(egress_list),
        provenance=(sidecar_obj.ref,) if sidecar_obj else (),
        warnings=tuple(dict.fromkeys(warnings)),  # once, not once per listener port
    )


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
    listeners = [
        ListenerIR(
            port_listener(egress.port, egress.bind or workload.address),
            Direction.OUTBOUND,
            egress.bind or workload.address,
            egress.port,
            route_config=egress.route_config,
            provenance=sidecar_ref,
        )
        for egress in outbound.egress
    ]
    clusters: list[ClusterIR] = []
    peer_authn = index.security.inbound_mtls(workload)
    authz = index.security.authorization(workload)
    authz_refs = tuple(ref for policy in authz for ref in policy.provenance)
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
            )
        )
    return LocalView(tuple(listeners), tuple(clusters), tuple(warnings))


def build_view(index: MeshIndex, workload: Workload, memo: Memo) -> ProxyView:
    """The IR for one proxy (the outbound part is memoized per namespace and Sidecar)."""
    sidecar_obj = index.sidecar_for(workload)
    outbound = memo.generation_get(
        ("outbound", workload.namespace, _digest(sidecar_obj)),
        lambda: build_outbound(index, workload.namespace, sidecar_obj, memo),
    )
    local = build_local(index, workload, sidecar_obj, outbound)
    return combine(workload, outbound, local)


def combine(workload: Workload, outbound: OutboundView, local: LocalView) -> ProxyView:
    return ProxyView(
        proxy=workload.key,
        clusters=outbound.clusters + local.clusters,
        load_assignments=outbound.load_assignments,
        listeners=local.listeners,
        route_configs=outbound.route_configs,
        warnings=outbound.warnings + local.warnings,
    )
