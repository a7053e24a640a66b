"""Where VirtualService routes send traffic: hosts, subsets, ports and weights that
point at nothing, each of which Envoy answers with a bodyless 503."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.mesh import Service
from translators.model.networking import HTTP_PROTOCOLS, VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.model.traffic import Destination, TCPRoute, TLSRoute
from translators.traffic.http import destinations as surviving_destinations


@dataclass(frozen=True, slots=True)
class RouteTarget:
    field: str  # path of the Destination, e.g. spec.http[0].route[1].destination
    destination: Destination
    http: bool


def route_targets(spec: VirtualServiceSpec) -> Iterator[RouteTarget]:
    for i, rule in enumerate(spec.http):
        for j, weighted in enumerate(rule.route):
            yield RouteTarget(f"spec.http[{i}].route[{j}].destination", weighted.destination, True)
        if rule.mirror is not None:
            yield RouteTarget(f"spec.http[{i}].mirror", rule.mirror, True)
        for k, mirror in enumerate(rule.mirrors):
            yield RouteTarget(f"spec.http[{i}].mirrors[{k}].destination", mirror.destination, True)
    l4_sections: tuple[tuple[str, Sequence[TCPRoute | TLSRoute]], ...] = (
        ("tcp", spec.tcp),
        ("tls", spec.tls),
    )
    for section, l4_rules in l4_sections:
        for i, l4 in enumerate(l4_rules):
            for j, weighted_l4 in enumerate(l4.route):
                field = f"spec.{section}[{i}].route[{j}].destination"
                yield RouteTarget(field, weighted_l4.destination, False)


def suggestion(host: str, ctx: AnalysisContext) -> str:
    close = difflib.get_close_matches(host, ctx.service_names(), n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def own_ports(vs: MeshObject[VirtualServiceSpec], ctx: AnalysisContext, http: bool) -> set[int]:
    """The listener ports the VirtualService's routes are built for: its hosts' ports of
    the matching protocol family."""
    ports: set[int] = set()
    for host in vs.spec.hosts:
        for service in ctx.services_matching(ctx.resolve(host, vs.namespace)):
            ports.update(p.number for p in service.ports if (p.protocol in HTTP_PROTOCOLS) == http)
    return ports


def _check_target(
    vs: MeshObject[VirtualServiceSpec], target: RouteTarget, ctx: AnalysisContext
) -> Iterator[Message]:
    dest = target.destination
    host = ctx.resolve(dest.host, vs.namespace)
    service = ctx.service(host)
    if service is None:
        wildcard = next((s.hostname for s in ctx.services_matching(host)), None)
        why = (
            f"; {wildcard} covers it, but a wildcard host has one cluster under its own "
            "name, none per name it matches"
            if wildcard
            else suggestion(host, ctx)
        )
        yield codes.DESTINATION_HOST_NOT_FOUND.at(
            vs,
            f"{target.field}.host",
            f"destination host {host} is not in the service registry: requests routed "
            f"there get 503{why}",
            "name a host a ServiceEntry (or Kubernetes Service) defines, or add one for it",
        )
        return
    if dest.subset:
        rules = ctx.index.destination_rules.get(host, [])
        known = sorted({s.name for dr in rules for s in dr.spec.subsets})
        if dest.subset not in known:
            where = (
                f"its DestinationRules define {', '.join(known)}"
                if known
                else ("no DestinationRule exists for it")
            )
            yield codes.SUBSET_NOT_FOUND.at(
                vs,
                f"{target.field}.subset",
                f"subset {dest.subset!r} of {host} is not defined ({where}): requests "
                "routed there get 503",
                f"add subset {dest.subset!r} to a DestinationRule for {host}, or fix the name",
                tuple(dr.ref for dr in rules),
            )
    if dest.port is not None:
        if service.port(dest.port.number) is None:
            yield codes.DESTINATION_PORT_NOT_FOUND.at(
                vs,
                f"{target.field}.port.number",
                f"port {dest.port.number} is not a port of {host} "
                f"({_ports(service)}): requests routed there get 503",
                f"use one of {host}'s ports ({_ports(service)})",
                (service.source,),
            )
    elif len(service.ports) > 1:
        missing = sorted(p for p in own_ports(vs, ctx, target.http) if service.port(p) is None)
        if missing:
            yield codes.DESTINATION_PORT_REQUIRED.at(
                vs,
                f"{target.field}.port",
                f"{host} has several ports ({_ports(service)}); without a port the "
                f"destination takes the request's port, and {host} has no port "
                f"{', '.join(map(str, missing))}: 503 there",
                f"give destination.port.number (one of {_ports(service)})",
                (service.source,),
            )


def _ports(service: Service) -> str:
    return ", ".join(str(p.number) for p in service.ports)


def _zero_weights(vs: MeshObject[VirtualServiceSpec]) -> Iterator[Message]:
    for i, rule in enumerate(vs.spec.http):
        if len(rule.route) < 2:
            continue
        # the translator's own choice of which destinations reach Envoy
        kept = {c.destination for c in surviving_destinations(rule, lambda d: str(id(d)))}
        for j, weighted in enumerate(rule.route):
            if str(id(weighted.destination)) not in kept:
                yield _zero(vs, f"spec.http[{i}].route[{j}].weight", weighted.destination)
    l4_sections: tuple[tuple[str, Sequence[TCPRoute | TLSRoute]], ...] = (
        ("tcp", vs.spec.tcp),
        ("tls", vs.spec.tls),
    )
    for section, l4_rules in l4_sections:
        for i, l4 in enumerate(l4_rules):
            if len(l4.route) < 2:
                continue
            for j, l4_weighted in enumerate(l4.route):
                if l4_weighted.weight == 0:
                    field = f"spec.{section}[{i}].route[{j}].weight"
                    yield _zero(vs, field, l4_weighted.destination)


def _zero(vs: MeshObject[VirtualServiceSpec], field: str, dest: Destination) -> Message:
    what = dest.host + (f" subset {dest.subset}" if dest.subset else "")
    return codes.ZERO_WEIGHT_DESTINATION.at(
        vs,
        field,
        f"weight 0 beside other destinations: {what} never receives traffic from this rule",
        "give it a weight above 0, or remove the destination",
    )


def check_destinations(
    ctx: AnalysisContext, vs: MeshObject[VirtualServiceSpec]
) -> Iterable[Message]:
    """Per VirtualService; reads the services and the DestinationRules of its hosts."""
    for target in route_targets(vs.spec):
        yield from _check_target(vs, target, ctx)
    yield from _zero_weights(vs)
