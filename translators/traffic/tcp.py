"""Outbound TCP and TLS ports: VirtualService `tcp` and `tls` routes -> tcp_proxy
filter chains (TcpChainIR) of one listener per port.

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
"""

from __future__ import annotations

from translators.hosts import resolve_host
from translators.index import MeshIndex
from translators.ir import TcpChainIR, WeightedClusterIR
from translators.mesh import Service
from translators.model.networking import Protocol, VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.model.traffic import L4MatchAttributes, RouteDestination, TLSMatchAttributes
from translators.naming import outbound_cluster, tcp_filter_chain
from translators.traffic.source import SourceIR
from translators.traffic.vhosts import destination_port

SNI_PROTOCOLS = frozenset({Protocol.TLS, Protocol.HTTPS})


def _weighted(
    route: list[RouteDestination], vs: MeshObject[VirtualServiceSpec], port: int, index: MeshIndex
) -> tuple[WeightedClusterIR, ...]:
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
        out.append(WeightedClusterIR(cluster, d.weight if several else 100))
    return tuple(out)


def _fits(match: L4MatchAttributes | TLSMatchAttributes, port: int, source: SourceIR) -> bool:
    return (match.port is None or match.port == port) and source.matches(match)


def _service_chains(
    service: Service, port: int, index: MeshIndex, namespace: str, source: SourceIR
) -> list[TcpChainIR]:
    vs, _ = index.virtual_service(service.hostname, namespace)
    default = (WeightedClusterIR(outbound_cluster(port, service.hostname), 100),)
    own = (service.source,)
    service_port = service.port(port)
    if service_port is not None and service_port.protocol in SNI_PROTOCOLS:
        chains = []
        for rule in vs.spec.tls if vs else []:
            assert vs is not None
            for match in rule.match:
                if _fits(match, port, source):
                    chains.append(
                        TcpChainIR(
                            tcp_filter_chain(port, match.sni_hosts[0]),
                            _weighted(rule.route, vs, port, index),
                            tuple(match.sni_hosts),
                            (vs.ref,),
                        )
                    )
        return chains or [
            TcpChainIR(tcp_filter_chain(port, service.hostname), default, (service.hostname,), own)
        ]
    for tcp in vs.spec.tcp if vs else []:
        assert vs is not None
        if not tcp.match or any(_fits(m, port, source) for m in tcp.match):
            return [
                TcpChainIR(
                    tcp_filter_chain(port, service.hostname),
                    _weighted(tcp.route, vs, port, index),
                    provenance=(vs.ref,),
                )
            ]
    return [TcpChainIR(tcp_filter_chain(port, service.hostname), default, provenance=own)]


def tcp_chains(
    port: int, services: list[Service], index: MeshIndex, namespace: str, source: SourceIR
) -> tuple[tuple[TcpChainIR, ...], list[str]]:
    """The filter chains of the outbound listener on `port`, and what could not be routed.
    Envoy refuses a listener with two chains matching the same connections, so each SNI
    name and the SNI-less default chain go to the first service that wants them."""
    chains: list[TcpChainIR] = []
    warnings: list[str] = []
    names: set[str] = set()
    seen: set[TcpChainIR] = set()
    default_owner: str | None = None
    for service in sorted(services, key=lambda s: s.hostname):
        for chain in _service_chains(service, port, index, namespace, source):
            if not chain.server_names:
                if default_owner is not None:
                    warnings.append(
                        f"{service.source}: TCP port {port} is already routed to {default_owner}"
                        f" (services sharing a TCP port need their own addresses); "
                        f"{service.hostname}:{port} is unreachable"
                    )
                    continue
                default_owner = service.hostname
                chains.append(chain)
                continue
            fresh = tuple(n for n in chain.server_names if n not in names)
            if chain in seen:
                continue  # the same route, reached from another service it covers
            seen.add(chain)
            if fresh != chain.server_names:
                warnings.append(
                    f"{chain.provenance[0]}: SNI {sorted(set(chain.server_names) - set(fresh))}"
                    f" on port {port} is already routed elsewhere"
                )
            if fresh:
                names.update(fresh)
                name = tcp_filter_chain(port, fresh[0])
                chains.append(TcpChainIR(name, chain.clusters, fresh, chain.provenance))
    return tuple(chains), warnings
