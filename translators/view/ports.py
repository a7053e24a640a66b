"""Port planning: which outbound listeners (HTTP and TCP/TLS ports, and where they
bind) a namespace + Sidecar gets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from translators.ir import TcpRouteIR
from translators.mesh import Service
from translators.model.networking import HTTP_PROTOCOLS, EgressListener, SidecarSpec
from translators.naming import outbound_route_config


@dataclass(frozen=True, slots=True)
class EgressIR:
    """An outbound listener: `bind` None means the workload's own address. HTTP ones use
    `route_config`; TCP/TLS ones proxy by `tcp_chains` instead."""

    bind: str | None
    port: int
    route_config: str
    forward_proxy: bool = False
    tcp_chains: tuple[TcpRouteIR, ...] = ()


def ports_of(services: Iterable[Service], http: bool) -> frozenset[int]:
    """The service ports of `services` that are (`http`) or are not HTTP."""
    return frozenset(
        p.number for s in services for p in s.ports if (p.protocol in HTTP_PROTOCOLS) is http
    )


def ports_by_protocol(services: Iterable[Service]) -> tuple[frozenset[int], frozenset[int]]:
    """(`ports_of(services, http=True)`, `ports_of(services, http=False)`) in one walk."""
    http: set[int] = set()
    other: set[int] = set()
    for s in services:
        for p in s.ports:
            (http if p.protocol in HTTP_PROTOCOLS else other).add(p.number)
    return frozenset(http), frozenset(other)


def egress_ports(
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
        if e.port is not None and e.port.protocol in HTTP_PROTOCOLS and not e.unix_socket
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


def tcp_ports(
    sidecar: SidecarSpec | None,
    catch_all: EgressListener | None,
    service_ports: frozenset[int],
    http_ports: set[int],
) -> list[tuple[str | None, int]]:
    """(bind, port) of outbound TCP/TLS listeners: a Sidecar's egress listeners of a
    non-HTTP protocol, and — where `egress_ports` would take every HTTP port — every
    non-HTTP service port no other listener has."""
    explicit = [
        (e.bind, e.port.number)
        for e in (sidecar.egress if sidecar else [])
        if e.port is not None and e.port.protocol not in HTTP_PROTOCOLS and not e.unix_socket
    ]
    if sidecar is not None and sidecar.egress and catch_all is None:
        return explicit
    taken = _taken_ports(sidecar) | http_ports
    ports = sorted(service_ports - taken)
    bind = catch_all.bind if catch_all else None
    return explicit + [(bind, port) for port in ports]
