"""Istio `Gateway`s on the proxies they select: servers -> listeners and filter chains,
VirtualServices bound by `gateways:` -> routes.

Istio's rules (pilot/pkg/networking/core/gateway.go, pkg/config/gateway):

* a Gateway selects workloads by label, in any namespace; one with no selector selects
  nothing here (xdscp has no separate "gateway proxy" type to default to);
* a VirtualService applies to a gateway listed in its `gateways` (`name` in its own
  namespace, or `namespace/name`), to the servers one of whose hosts its hosts
  intersect (`ns/host`: only VirtualServices of namespace `ns`; `*/` or no namespace:
  any; `./`: the Gateway's own);
* several VirtualServices for one host on one gateway are merged: their routes in age
  order (oldest first), each VirtualService's rules in their own order;
* plain-text HTTP servers of one port share one route configuration (`http.<port>`);
  each TLS-terminating server has its own filter chain (by SNI) and route configuration;
  `httpsRedirect` answers every request of its hosts with a 301 to https;
* PASSTHROUGH servers route TLS by SNI (`tls:` routes), TCP servers by `tcp:` routes;
* AUTO_PASSTHROUGH servers need no VirtualService: the mesh mTLS SNI
  `outbound_.<port>_.<subset>_.<host>` of a host the server takes names the cluster the
  connection goes to, undecrypted (`sni_dnat.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from translators.gateway.ir import (
    Credential,
    DownstreamTLSIR,
    DownstreamTLSMode,
    GatewayChainIR,
    GatewayListenerIR,
)
from translators.hosts import resolve_host
from translators.index import MeshIndex
from translators.ir import (
    HashPolicyIR,
    RedirectIR,
    RouteIR,
    RouteMatchIR,
    RouteTableIR,
    TcpRouteIR,
    VirtualHostIR,
    WeightedDestinationIR,
)
from translators.mesh import MeshConfig, Workload
from translators.model.base import MESH_GATEWAY
from translators.model.delegation import provenance_of, with_delegation
from translators.model.gateway import GatewaySpec, Server, ServerProtocol, ServerTLSMode
from translators.model.networking import HTTPRoute, VirtualServiceSpec
from translators.model.objects import MeshObject, age_order
from translators.model.traffic import Destination, RouteDestination, SourceMatch
from translators.naming import (
    credential_ca_secret,
    credential_secret,
    gateway_filter_chain,
    gateway_http_route_config,
    gateway_https_route_config,
    outbound_cluster,
    port_listener,
)
from translators.traffic.http import http_routes
from translators.traffic.source import SourceIR
from translators.traffic.vhosts import destination_port


def selected_gateways(
    gateways: Iterable[MeshObject[GatewaySpec]], workload: Workload
) -> list[MeshObject[GatewaySpec]]:
    """Those of `gateways` whose (non-empty) selector matches `workload`, in their order."""
    return [
        g
        for g in gateways
        if g.spec.selector and all(workload.labels.get(k) == v for k, v in g.spec.selector.items())
    ]


# --- hosts -------------------------------------------------------------------------


def split_server_host(host: str) -> tuple[str, str]:
    """`ns/host` -> (ns, host); a bare host is `*/host`."""
    namespace, slash, name = host.rpartition("/")
    return (namespace if slash else "*"), name


def intersect(a: str, b: str) -> str | None:
    """The hostnames two (possibly wildcard) hosts both cover, or None: the more
    specific of the two when one covers the other."""
    for wide, narrow in ((a, b), (b, a)):
        if wide == "*" or wide == narrow:
            return narrow
        if wide.startswith("*.") and narrow.endswith(wide[1:]) and narrow != wide[2:]:
            return narrow
    return None


def server_serves(
    server: Server, gateway: MeshObject[GatewaySpec], vs_namespace: str, host: str
) -> bool:
    """Does `server` of `gateway` take the (resolved) VirtualService host `host` of a
    VirtualService in `vs_namespace`?"""
    for raw in server.hosts:
        namespace, server_host = split_server_host(raw)
        if namespace == ".":
            namespace = gateway.namespace
        if namespace in ("*", vs_namespace) and intersect(server_host, host) is not None:
            return True
    return False


def gateway_key(name: str, namespace: str) -> tuple[str, str] | None:
    """A `gateways:` entry as (namespace, name); None for `mesh`."""
    if name == MESH_GATEWAY:
        return None
    ns, slash, short = name.partition("/")
    return (ns, short) if slash else (namespace, name)


def _server_domains(
    server: Server,
    gateway: MeshObject[GatewaySpec],
    vs: MeshObject[VirtualServiceSpec],
    suffix: str,
) -> list[str]:
    """The hostnames `vs` serves through `server` (empty: it does not apply there)."""
    found: list[str] = []
    for raw in server.hosts:
        namespace, host = split_server_host(raw)
        if namespace == ".":
            namespace = gateway.namespace
        if namespace not in ("*", vs.namespace):
            continue
        for vs_host in vs.spec.hosts:
            full = resolve_host(vs_host, vs.namespace, suffix)
            common = intersect(host, full)
            if common is not None:
                found.append(common)
    return list(dict.fromkeys(found))


# --- VirtualService binding --------------------------------------------------------


def _names(gateways: Iterable[str], namespace: str) -> set[tuple[str, str]]:
    out = set()
    for name in gateways:
        if name == MESH_GATEWAY:
            continue
        ns, slash, short = name.partition("/")
        out.add((ns, short) if slash else (namespace, name))
    return out


def _bound(
    match: SourceMatch | None, default: set[tuple[str, str]], key: tuple[str, str], ns: str
) -> bool:
    if match is None or not match.gateways:
        return key in default
    return key in _names(match.gateways, ns)


def _rules_for(vs: MeshObject[VirtualServiceSpec], key: tuple[str, str]) -> list[HTTPRoute]:
    """`vs`'s http rules as they apply to gateway `key`: match blocks bound elsewhere
    dropped, the rest unbound (so the shared route builder takes them as they are)."""
    default = _names(vs.spec.gateways, vs.namespace)
    rules = []
    for rule in vs.spec.http:
        if not rule.match:
            if key in default:
                rules.append(rule)
            continue
        kept = [
            m.model_copy(update={"gateways": []})
            for m in rule.match
            if _bound(m, default, key, vs.namespace)
        ]
        if kept:
            rules.append(rule.model_copy(update={"match": kept}))
    return rules


@dataclass
class _Port:
    """What one port of the gateway proxy collects while servers are read."""

    number: int
    protocol: ServerProtocol
    http_hosts: dict[str, list[RouteIR]] = field(default_factory=dict)
    http_provenance: dict[str, set[str]] = field(default_factory=dict)
    chains: list[GatewayChainIR] = field(default_factory=list)
    route_configs: list[RouteTableIR] = field(default_factory=list)
    provenance: set[str] = field(default_factory=set)


@dataclass
class IstioGatewayBuild:
    mesh: MeshConfig
    index: MeshIndex
    workload: Workload
    ports: dict[int, _Port] = field(default_factory=dict)
    credentials: list[Credential] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def suffix(self) -> str:
        return self.mesh.options.domain_suffix

    def virtual_services(self, key: tuple[str, str]) -> list[MeshObject[VirtualServiceSpec]]:
        return [
            vs
            for vs in sorted(
                with_delegation(self.mesh.of_kind("VirtualService"), self.suffix), key=age_order
            )
            if key in _names(vs.spec.gateways, vs.namespace)
            or any(
                key in _names(m.gateways, vs.namespace) for rule in vs.spec.http for m in rule.match
            )
        ]

    def http_routes_of(
        self, vs: MeshObject[VirtualServiceSpec], key: tuple[str, str], port: int
    ) -> list[RouteIR]:
        def cluster(dest: Destination) -> str:
            host = resolve_host(dest.host, vs.namespace, self.suffix)
            target = self.mesh.services.get(host)
            return outbound_cluster(destination_port(dest, target, port), host, dest.subset or "")

        def no_hash(dest: Destination) -> HashPolicyIR | None:
            return None

        source = SourceIR(self.workload.namespace, tuple(sorted(self.workload.labels.items())))
        return http_routes(
            _rules_for(vs, key),
            f"{vs.namespace}.{vs.name}",
            provenance_of(vs),
            port,
            source,
            cluster,
            no_hash,
        )

    def weighted(
        self, route: list[RouteDestination], vs: MeshObject[VirtualServiceSpec], port: int
    ) -> tuple[WeightedDestinationIR, ...]:
        several = len(route) > 1
        out = []
        for d in route:
            if several and d.weight == 0:
                continue
            host = resolve_host(d.destination.host, vs.namespace, self.suffix)
            target = self.mesh.services.get(host)
            cluster = outbound_cluster(
                destination_port(d.destination, target, port), host, d.destination.subset or ""
            )
            out.append(WeightedDestinationIR(cluster, d.weight if several else 100))
        return tuple(out)

    # --- servers -----------------------------------------------------------------

    def port(self, server: Server, gateway: MeshObject[GatewaySpec]) -> _Port | None:
        number = server.port.number
        found = self.ports.get(number)
        if found is None:
            found = self.ports[number] = _Port(number, server.port.protocol)
        elif _family(found.protocol) != _family(server.port.protocol):
            self.warnings.append(
                f"{gateway.ref}: server {server.port.name}: port {number} is already used with "
                f"protocol {found.protocol} by an older gateway; this server is ignored"
            )
            return None
        found.provenance.add(gateway.ref)
        return found

    def add_gateway(self, gateway: MeshObject[GatewaySpec]) -> None:
        key = (gateway.namespace, gateway.name)
        services = self.virtual_services(key)
        for server in gateway.spec.servers:
            tls = server.tls
            port = self.port(server, gateway)
            if port is None:
                continue
            if tls is not None and tls.mode is ServerTLSMode.AUTO_PASSTHROUGH:
                self.add_auto_passthrough_server(port, server, gateway)
                continue
            protocol = server.port.protocol
            terminates = tls is not None and tls.mode is not ServerTLSMode.PASSTHROUGH
            if protocol.is_http or (protocol is ServerProtocol.HTTPS and terminates):
                self.add_http_server(port, server, gateway, services)
            elif tls is not None and tls.mode is ServerTLSMode.PASSTHROUGH:
                self.add_passthrough_server(port, server, gateway, services)
            else:
                self.add_tcp_server(port, server, gateway, services)

    def add_http_server(
        self,
        port: _Port,
        server: Server,
        gateway: MeshObject[GatewaySpec],
        services: list[MeshObject[VirtualServiceSpec]],
    ) -> None:
        key = (gateway.namespace, gateway.name)
        hosts: dict[str, list[RouteIR]] = {}
        sources: dict[str, set[str]] = {}
        redirect = server.tls is not None and server.tls.https_redirect
        for vs in services:
            domains = _server_domains(server, gateway, vs, self.suffix) if vs.spec.http else []
            if not domains:
                continue
            routes = (
                [
                    RouteIR(
                        "https_redirect",
                        RouteMatchIR(),
                        (),
                        (gateway.ref,),
                        RedirectIR(scheme="https", code=301),
                    )
                ]
                if redirect
                else self.http_routes_of(vs, key, port.number)
            )
            if not routes:
                continue  # none of its rules is bound to this gateway
            for domain in domains:
                if redirect and domain in hosts:
                    continue
                hosts.setdefault(domain, []).extend(routes)
                sources.setdefault(domain, set()).update({*provenance_of(vs), gateway.ref})
        tls = server.tls
        if tls is None or tls.mode is ServerTLSMode.PASSTHROUGH:  # plain text (or redirect)
            for domain, routes in hosts.items():
                port.http_hosts.setdefault(domain, []).extend(routes)
                port.http_provenance.setdefault(domain, set()).update(sources[domain])
            if not any(
                c.route_config == gateway_http_route_config(port.number) for c in port.chains
            ):
                port.chains.append(
                    GatewayChainIR(
                        gateway_filter_chain(port.number, "http"),
                        route_config=gateway_http_route_config(port.number),
                        provenance=(gateway.ref,),
                    )
                )
            return
        names = _sni(server)
        if any(set(c.server_names) == set(names) for c in port.chains):
            # Envoy refuses two filter chains that match alike: the older server keeps it
            self.warnings.append(
                f"{gateway.ref}: server {server.port.name}: port {port.number} already "
                f"terminates TLS for {', '.join(names) or '*'} (an older server); ignored"
            )
            return
        name = gateway_https_route_config(
            port.number, server.port.name, gateway.name, gateway.namespace
        )
        port.route_configs.append(
            RouteTableIR(name, tuple(_virtual_hosts(hosts, sources, port.number)))
        )
        port.chains.append(
            GatewayChainIR(
                gateway_filter_chain(port.number, server.port.name),
                server_names=_sni(server),
                tls=self.downstream(server, gateway),
                route_config=name,
                provenance=(gateway.ref,),
            )
        )

    def downstream(
        self, server: Server, gateway: MeshObject[GatewaySpec], http: bool = True
    ) -> DownstreamTLSIR:
        tls = server.tls
        assert tls is not None
        common = DownstreamTLSIR(
            DownstreamTLSMode.SIMPLE,
            min_version="" if tls.min_protocol_version == "TLS_AUTO" else tls.min_protocol_version,
            max_version="" if tls.max_protocol_version == "TLS_AUTO" else tls.max_protocol_version,
            cipher_suites=tuple(tls.cipher_suites),
            subject_alt_names=tuple(tls.subject_alt_names),
            http=http,
        )
        if tls.mode is ServerTLSMode.ISTIO_MUTUAL:
            return replace(common, mode=DownstreamTLSMode.ISTIO_MUTUAL)
        mutual = tls.mode is not ServerTLSMode.SIMPLE
        mode = DownstreamTLSMode.MUTUAL if mutual else DownstreamTLSMode.SIMPLE
        if tls.credential_name:
            name = tls.credential_name.removeprefix("kubernetes://")
            # Istio: the Secret lives with the gateway proxy, not with the Gateway object
            namespace = self.workload.namespace
            self.credentials.append(Credential(namespace, name, mutual))
            return replace(
                common,
                mode=mode,
                certificate_secret=credential_secret(namespace, name),
                ca_secret=credential_ca_secret(namespace, name) if mutual else "",
            )
        return replace(
            common,
            mode=mode,
            certificate_file=tls.server_certificate,
            key_file=tls.private_key,
            ca_file=tls.ca_certificates,
        )

    def add_auto_passthrough_server(
        self, port: _Port, server: Server, gateway: MeshObject[GatewaySpec]
    ) -> None:
        """Istio's AUTO_PASSTHROUGH: no VirtualService; a caller presenting the mesh's mTLS
        SNI `outbound_.<port>_.<subset>_.<host>` reaches that cluster, still encrypted
        (which clusters those are is known only with the proxy's clusters: `sni_dnat`)."""
        hosts = []
        for raw in server.hosts:
            namespace, host = split_server_host(raw)
            hosts.append(f"{gateway.namespace if namespace == '.' else namespace}/{host}")
        if any(c.auto_passthrough for c in port.chains):
            self.warnings.append(
                f"{gateway.ref}: server {server.port.name}: port {port.number} already has an "
                "AUTO_PASSTHROUGH server (an older one); ignored"
            )
            return
        port.chains.append(
            GatewayChainIR(
                gateway_filter_chain(port.number, server.port.name),
                auto_passthrough=tuple(hosts),
                provenance=(gateway.ref,),
            )
        )

    def add_passthrough_server(
        self,
        port: _Port,
        server: Server,
        gateway: MeshObject[GatewaySpec],
        services: list[MeshObject[VirtualServiceSpec]],
    ) -> None:
        key = (gateway.namespace, gateway.name)
        for vs in services:
            domains = _server_domains(server, gateway, vs, self.suffix)
            if not domains:
                continue
            default = _names(vs.spec.gateways, vs.namespace)
            for i, rule in enumerate(vs.spec.tls):
                for match in rule.match:
                    if match.port not in (None, port.number) or not _bound(
                        match, default, key, vs.namespace
                    ):
                        continue
                    snis = [s for s in match.sni_hosts if any(intersect(s, d) for d in domains)]
                    taken = {n for c in port.chains for n in c.server_names}
                    snis = [s for s in snis if s not in taken]
                    if not snis:
                        continue
                    chain = TcpRouteIR(
                        gateway_filter_chain(port.number, f"{vs.namespace}.{vs.name}.{i}"),
                        self.weighted(rule.route, vs, port.number),
                        tuple(snis),
                        (vs.ref, gateway.ref),
                    )
                    port.chains.append(
                        GatewayChainIR(
                            chain.name, tuple(snis), tcp=chain, provenance=chain.provenance
                        )
                    )

    def add_tcp_server(
        self,
        port: _Port,
        server: Server,
        gateway: MeshObject[GatewaySpec],
        services: list[MeshObject[VirtualServiceSpec]],
    ) -> None:
        key = (gateway.namespace, gateway.name)
        if any(not c.server_names for c in port.chains):
            return  # the port's catch-all chain is taken (by an older server)
        for vs in services:
            if not _server_domains(server, gateway, vs, self.suffix):
                continue
            default = _names(vs.spec.gateways, vs.namespace)
            for rule in vs.spec.tcp:
                fits = not rule.match or any(
                    m.port in (None, port.number) and _bound(m, default, key, vs.namespace)
                    for m in rule.match
                )
                if not fits or (not rule.match and key not in default):
                    continue
                tls = (
                    self.downstream(server, gateway, http=False)
                    if server.tls is not None and server.tls.mode is not ServerTLSMode.PASSTHROUGH
                    else None
                )
                chain = TcpRouteIR(
                    gateway_filter_chain(port.number, "tcp"),
                    self.weighted(rule.route, vs, port.number),
                    (),
                    (vs.ref, gateway.ref),
                )
                port.chains.append(
                    GatewayChainIR(chain.name, tls=tls, tcp=chain, provenance=chain.provenance)
                )
                return

    # --- result --------------------------------------------------------------------

    def listeners(self) -> tuple[list[GatewayListenerIR], list[RouteTableIR]]:
        listeners = []
        configs: list[RouteTableIR] = []
        for number in sorted(self.ports):
            port = self.ports[number]
            if port.http_hosts or any(
                c.route_config == gateway_http_route_config(number) for c in port.chains
            ):
                configs.append(
                    RouteTableIR(
                        gateway_http_route_config(number),
                        tuple(_virtual_hosts(port.http_hosts, port.http_provenance, number)),
                    )
                )
            configs += port.route_configs
            if not port.chains:
                continue
            listeners.append(
                GatewayListenerIR(
                    port_listener(number, self.workload.address),
                    self.workload.address,
                    number,
                    tuple(port.chains),
                    tuple(sorted(port.provenance)),
                )
            )
        return listeners, configs


def _family(protocol: ServerProtocol) -> str:
    return "http" if protocol.is_http else "tls" if protocol.is_tls else str(protocol)


def _sni(server: Server) -> tuple[str, ...]:
    names = [split_server_host(h)[1] for h in server.hosts]
    if "*" in names:
        return ()
    return tuple(dict.fromkeys(names))


def _virtual_hosts(
    hosts: dict[str, list[RouteIR]], sources: dict[str, set[str]], port: int
) -> list[VirtualHostIR]:
    out = []
    for domain in sorted(hosts, key=_domain_order):
        out.append(
            VirtualHostIR(
                f"{domain}:{port}",
                (domain,),
                tuple(hosts[domain]),
                tuple(sorted(sources.get(domain, set()))),
            )
        )
    return out


def _domain_order(domain: str) -> tuple[int, str]:
    return (2 if domain == "*" else 1 if domain.startswith("*") else 0, domain)
