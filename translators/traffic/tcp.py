"""Outbound TCP and TLS ports: VirtualService `tcp` and `tls` routes -> tcp_proxy
filter chains (TcpRouteIR) of one listener per port.

Istio gives every TCP service its own listener on the service's address; an xdscp
sidecar is called on its own address (no iptables, no per-service IPs), so all the
services that share a port share one listener, told apart the only way left:

* TLS and HTTPS ports by SNI (Istio does the same on its shared 0.0.0.0 listeners):
  a `tls` route's `sniHosts` become a filter chain's server names; a TLS service
  without one is reached by its own host name as SNI;
* plain TCP ports cannot be told apart at all: the first service (by host name)
  gets the port's default chain, the others are reported as unreachable there.

A `tcp` route applies when one of its match blocks fits (port, sourceLabels,
sourceNamespace) or it has none; the first that applies wins, as in Istio.
`destinationSubnets` make a chain for those destination addresses only (Envoy's
filter-chain prefix ranges: the most specific range a connection's destination falls in
wins, then SNI) — with traffic capture the original destination, in file mode the
sidecar address the caller dialled.
"""

from __future__ import annotations

from dataclasses import replace

from translators.hosts import resolve_host
from translators.index import MeshIndex
from translators.ir import TcpRouteIR, TunnelIR, WeightedDestinationIR
from translators.mesh import Service
from translators.model.networking import Protocol, VirtualServiceSpec
from translators.model.networking import Resolution as ServiceResolution
from translators.model.objects import MeshObject
from translators.model.traffic import L4MatchAttributes, RouteDestination, TLSMatchAttributes
from translators.naming import outbound_cluster, parse_outbound_cluster, tcp_filter_chain
from translators.traffic.source import SourceIR
from translators.traffic.vhosts import destination_port

SNI_PROTOCOLS = frozenset({Protocol.TLS, Protocol.HTTPS})


def _weighted(
    route: list[RouteDestination], vs: MeshObject[VirtualServiceSpec], port: int, index: MeshIndex
) -> tuple[WeightedDestinationIR, ...]:
    suffix = index.mesh.options.domain_suffix
    several = len(route) > 1
    out = []
    for d in route:
        if several and d.weight == 0:
            continue
        host = resolve_host(d.destination.host, vs.namespace, suffix)
        target = index.service(host)
        cluster = outbound_cluster(
            destination_port(d.destination, target, port), host, d.destination.subset or ""
        )
        out.append(WeightedDestinationIR(cluster, d.weight if several else 100))
    return tuple(out)


def _fits(match: L4MatchAttributes | TLSMatchAttributes, port: int, source: SourceIR) -> bool:
    return (match.port is None or match.port == port) and source.matches(match)


def _subnets(matches: list[L4MatchAttributes] | list[TLSMatchAttributes]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for m in matches for s in m.destination_subnets))


def _service_chains(
    service: Service, port: int, index: MeshIndex, namespace: str, source: SourceIR
) -> list[TcpRouteIR]:
    vs, _ = index.virtual_service(service.hostname, namespace)
    default = (WeightedDestinationIR(outbound_cluster(port, service.hostname), 100),)
    own = (service.source,)
    service_port = service.port(port)
    if service_port is not None and service_port.protocol in SNI_PROTOCOLS:
        chains = []
        for rule in vs.spec.tls if vs else []:
            assert vs is not None
            for match in rule.match:
                if _fits(match, port, source):
                    subnets = _subnets([match])
                    chains.append(
                        TcpRouteIR(
                            tcp_filter_chain(port, match.sni_hosts[0], subnets),
                            _weighted(rule.route, vs, port, index),
                            tuple(match.sni_hosts),
                            (vs.ref,),
                            subnets,
                        )
                    )
        return chains or [
            TcpRouteIR(tcp_filter_chain(port, service.hostname), default, (service.hostname,), own)
        ]
    # Istio's buildSidecarOutboundTCPFilterChainOpts: a rule whose fitting match blocks all
    # name destination subnets gets a chain for those subnets and the search goes on; the
    # first rule that fits any destination ends it. The service's own chain comes last.
    chains = []
    for tcp in vs.spec.tcp if vs else []:
        assert vs is not None
        fitting = [m for m in tcp.match if _fits(m, port, source)]
        if not tcp.match or any(not m.destination_subnets for m in fitting):
            chains.append(
                TcpRouteIR(
                    tcp_filter_chain(port, service.hostname),
                    _weighted(tcp.route, vs, port, index),
                    provenance=(vs.ref,),
                )
            )
            return chains
        subnets = _subnets(fitting)
        if subnets:
            chains.append(
                TcpRouteIR(
                    tcp_filter_chain(port, service.hostname, subnets),
                    _weighted(tcp.route, vs, port, index),
                    provenance=(vs.ref,),
                    destination_prefixes=subnets,
                )
            )
    chains.append(TcpRouteIR(tcp_filter_chain(port, service.hostname), default, provenance=own))
    return chains


def tcp_chains(
    port: int, services: list[Service], index: MeshIndex, namespace: str, source: SourceIR
) -> tuple[tuple[TcpRouteIR, ...], list[str]]:
    """The filter chains of the outbound listener on `port`, and what could not be routed.
    Envoy refuses a listener with two chains matching the same connections, so each SNI
    name (per set of destination subnets) and each SNI-less match (the default one, or
    one per set of subnets) go to the first service that wants them."""
    chains: list[TcpRouteIR] = []
    warnings: list[str] = []
    names: set[tuple[str, frozenset[str]]] = set()
    seen: set[TcpRouteIR] = set()
    sni_less: dict[frozenset[str], str] = {}  # destination subnets -> the host routed there
    for service in sorted(services, key=lambda s: s.hostname):
        for found in _service_chains(service, port, index, namespace, source):
            chain = _by_sni(_tunneled(found, index, source), index)
            subnets = frozenset(chain.destination_prefixes)
            if not chain.server_names:
                owner = sni_less.get(subnets)
                if owner is not None:
                    warnings.append(_taken(chain, service, port, owner))
                    continue
                sni_less[subnets] = service.hostname
                chains.append(chain)
                continue
            partial = [n for n in chain.server_names if _partial_wildcard(n)]
            if partial:
                # Envoy refuses such a server name (and with it the whole listener)
                warnings.append(
                    f"{chain.provenance[0]}: SNI {sorted(partial)} on port {port} has a "
                    "partial wildcard, which Envoy cannot match on: left out"
                )
                chain = replace(
                    chain, server_names=tuple(n for n in chain.server_names if n not in partial)
                )
                if not chain.server_names:
                    continue
            fresh = tuple(n for n in chain.server_names if (n, subnets) not in names)
            if chain in seen:
                continue  # the same route, reached from another service it covers
            seen.add(chain)
            if fresh != chain.server_names:
                warnings.append(
                    f"{chain.provenance[0]}: SNI {sorted(set(chain.server_names) - set(fresh))}"
                    f" on port {port} is already routed elsewhere"
                )
            if fresh:
                names.update((n, subnets) for n in fresh)
                name = tcp_filter_chain(port, fresh[0], chain.destination_prefixes)
                chains.append(replace(chain, name=name, server_names=fresh))
    return tuple(chains), warnings


def _by_sni(chain: TcpRouteIR, index: MeshIndex) -> TcpRouteIR:
    """A TLS chain to one DYNAMIC_DNS service (a dynamic forward proxy cluster) connects
    to the host its SNI names, on the service port's target (Istio's translation)."""
    if len(chain.destinations) != 1 or not chain.server_names:
        return chain
    parsed = parse_outbound_cluster(chain.destinations[0].destination)
    if parsed is None:
        return chain
    number, _, host = parsed
    target = index.service(host)
    if target is None or target.resolution is not ServiceResolution.DYNAMIC_DNS:
        return chain
    port = target.port(number)
    upstream = (port.target_port or port.number) if port is not None else number
    return replace(chain, sni_forward_proxy_port=upstream)


def _tunneled(chain: TcpRouteIR, index: MeshIndex, source: SourceIR) -> TcpRouteIR:
    """Istio's tunnelingconfig.Apply: a chain to one destination whose DestinationRule has
    a `tunnel` (its subset's, for a subset; no fallback to the top level) is tunnelled."""
    if len(chain.destinations) != 1:
        return chain
    parsed = parse_outbound_cluster(chain.destinations[0].destination)
    if parsed is None:
        return chain
    _, subset, host = parsed
    target = index.service(host)
    namespace = source.namespace
    dr = index.destination_rule(
        host, target.namespace if target else namespace, namespace, source.rules
    )
    if dr is None:
        return chain
    policy = dr.spec.traffic_policy
    if subset:
        policy = next((s.traffic_policy for s in dr.spec.subsets if s.name == subset), None)
    tunnel = policy.tunnel if policy is not None else None
    if tunnel is None:
        return chain
    target_host = f"[{tunnel.target_host}]" if ":" in tunnel.target_host else tunnel.target_host
    return replace(
        chain,
        tunnel=TunnelIR(
            f"{target_host}:{tunnel.target_port}", use_post=tunnel.protocol.upper() == "POST"
        ),
        provenance=(*chain.provenance, *dr.refs),
    )


def _partial_wildcard(name: str) -> bool:
    """`*washingtonpost.com` (Istio accepts it with a warning); `*.example.com` is fine."""
    return "*" in name and not (name.startswith("*.") and "*" not in name[1:])


def _taken(chain: TcpRouteIR, service: Service, port: int, owner: str) -> str:
    if chain.destination_prefixes:
        return (
            f"{chain.provenance[0]}: TCP port {port} destinations "
            f"{', '.join(chain.destination_prefixes)} are already routed to {owner}; this "
            f"rule for {service.hostname} is skipped"
        )
    return (
        f"{service.source}: TCP port {port} is already routed to {owner}"
        f" (services sharing a TCP port need their own addresses); "
        f"{service.hostname}:{port} is unreachable"
    )
