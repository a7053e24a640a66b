"""VirtualServices that apply to nothing, shadow each other, or hold rules that can
never match."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator

from translators.analysis import codes
from translators.analysis.checks.destinations import own_ports
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.gateway.mesh_parents import routes_win
from translators.ir import RouteMatchIR
from translators.model.networking import VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.model.traffic import L4MatchAttributes, SourceMatch
from translators.traffic.http import is_catch_all, route_match

VS = MeshObject[VirtualServiceSpec]
# one match block: itself, the port it asks for, and (HTTP) the translator's route match
Block = tuple[SourceMatch, int | None, RouteMatchIR | None]


def mesh_virtual_services(ctx: AnalysisContext) -> list[VS]:
    """The VirtualServices sidecars apply (`AnalysisContext.sidecar_virtual_services`)."""
    return ctx.sidecar_virtual_services


def check_hosts(ctx: AnalysisContext, vs: VS) -> Iterable[Message]:
    """Per sidecar VirtualService; reads the services."""
    for i, host in enumerate(vs.spec.hosts):
        resolved = ctx.resolve(host, vs.namespace)
        if ctx.services_matching(resolved):
            continue
        yield codes.VIRTUAL_SERVICE_HOST_NOT_FOUND.at(
            vs,
            f"spec.hosts[{i}]",
            f"host {resolved} matches no service: this VirtualService applies to nothing "
            "for it (callers get the default route, or none)",
            "name the service's host as its ServiceEntry / Kubernetes Service spells it "
            "(short names are expanded in the VirtualService's namespace)",
        )


def check_conflicts(ctx: AnalysisContext) -> Iterable[Message]:
    """Per host, the translator's own choice (`MeshIndex.virtual_service`: oldest wins)
    from every namespace with proxies; each shadowed one reported once per host."""
    reported: set[tuple[str, str]] = set()
    contested = [(h, c) for h, c in ctx.index.virtual_services.items() if len(c) > 1]
    for host, candidates in sorted(contested):
        for namespace in ctx.caller_namespaces or (candidates[0].namespace,):
            winner, shadowed = ctx.index.virtual_service(host, namespace)
            for loser in shadowed:
                if winner is None or (loser.ref, host) in reported:
                    continue
                reported.add((loser.ref, host))
                index = next(
                    (
                        i
                        for i, h in enumerate(loser.spec.hosts)
                        if ctx.resolve(h, loser.namespace) == host
                    ),
                    0,
                )
                yield codes.CONFLICTING_VIRTUAL_SERVICES.at(
                    loser,
                    f"spec.hosts[{index}]",
                    f"{host} is also claimed by the older {winner.ref}, which applies; "
                    "this VirtualService is ignored for it",
                    f"merge its rules into {winner.ref}, or delete one of them",
                    (winner.ref,),
                )


def check_overridden(ctx: AnalysisContext) -> Iterable[Message]:
    """A sidecar VirtualService for a host GAMMA HTTPRoutes route, for callers that the
    translator gives the routes to (`routes_win`): it is ignored for them."""
    if not ctx.index.mesh_routes:
        return  # no HTTPRoute has a Service as parent: nothing can override
    for vs in mesh_virtual_services(ctx):
        for i, host in enumerate(vs.spec.hosts):
            resolved = ctx.resolve(host, vs.namespace)
            service = ctx.index.mesh.services.get(resolved)
            if service is None or not ctx.index.mesh_routes.get(resolved):
                continue
            winners: dict[str, None] = {}
            for namespace in ctx.caller_namespaces or (vs.namespace,):
                chosen, _ = ctx.index.virtual_service(resolved, namespace)
                for port in service.ports:
                    routes = ctx.index.mesh_routes_for(resolved, port.number, namespace)
                    if chosen is vs and routes and routes_win(routes, vs, namespace):
                        winners.update(dict.fromkeys(r.ref for r in routes))
            if not winners:
                continue
            yield codes.VIRTUAL_SERVICE_OVERRIDDEN.at(
                vs,
                f"spec.hosts[{i}]",
                f"{resolved} is routed by {', '.join(winners)} (an HTTPRoute with the "
                "Service as parent), which applies instead of this VirtualService",
                "keep one of the two: move the rules into the HTTPRoute, or delete it",
                tuple(winners),
            )


def _subnets(match: SourceMatch) -> tuple[str, ...]:
    """A tcp block's destination subnets (it matches only connections to them)."""
    return tuple(sorted(match.destination_subnets)) if isinstance(match, L4MatchAttributes) else ()


def _match_key(match: SourceMatch, port: int | None, http: RouteMatchIR | None) -> Hashable:
    return (
        http,
        port,
        tuple(sorted(match.source_labels.items())),
        match.source_namespace,
        tuple(sorted(match.gateways)),
        _subnets(match),
    )


def _catches_all(match: SourceMatch, port: int | None, http_ir: RouteMatchIR | None) -> bool:
    """A block every request of every caller on every port satisfies."""
    if port is not None or match.source_labels or match.source_namespace or match.gateways:
        return False
    if _subnets(match):
        return False
    return http_ir is None or is_catch_all(http_ir)


def _rules(vs: VS) -> Iterator[tuple[str, list[list[Block]]]]:
    """(section, per rule: its match blocks)."""
    http: list[list[Block]] = [
        [(m, m.port, route_match(m)) for m in rule.match] for rule in vs.spec.http
    ]
    tcp: list[list[Block]] = [[(m, m.port, None) for m in rule.match] for rule in vs.spec.tcp]
    yield "http", http
    yield "tcp", tcp


def check_rules(ctx: AnalysisContext, vs: VS) -> Iterable[Message]:
    """Rules after a catch-all (Istio's IST0130), match blocks repeating an earlier one
    (IST0131), and blocks that ask for a port or a caller that does not exist. Per
    sidecar VirtualService; reads the services (ports) and workloads (callers)."""
    for section, rules in _rules(vs):
        yield from _section(vs, section, rules, ctx)


def _section(
    vs: VS,
    section: str,
    rules: list[list[Block]],
    ctx: AnalysisContext,
) -> Iterator[Message]:
    seen: dict[Hashable, str] = {}
    catch_all: str | None = None
    ports = own_ports(vs, ctx, section == "http")
    for i, blocks in enumerate(rules):
        rule_field = f"spec.{section}[{i}]"
        if catch_all is not None:
            yield codes.UNREACHABLE_RULE.at(
                vs,
                rule_field,
                f"unreachable: {catch_all} matches every request before it",
                "move this rule above the catch-all, or delete it",
            )
            continue
        if not blocks:
            catch_all = rule_field
            continue
        repeated = 0
        for j, (match, port, http_ir) in enumerate(blocks):
            field = f"{rule_field}.match[{j}]"
            key = _match_key(match, port, http_ir)
            if key in seen:
                repeated += 1
                yield codes.INEFFECTIVE_MATCH.at(
                    vs,
                    field,
                    f"repeats {seen[key]}, which matches first: this block never decides",
                    "delete the block, or make it differ from the earlier one",
                )
                continue
            seen[key] = field
            yield from _never_true(vs, field, match, port, ports, ctx)
            if _catches_all(match, port, http_ir):
                catch_all = field
        if repeated == len(blocks):
            yield codes.UNREACHABLE_RULE.at(
                vs,
                rule_field,
                "unreachable: every match block repeats an earlier rule's",
                "delete the rule, or change its matches",
            )


def _never_true(
    vs: VS, field: str, match: SourceMatch, port: int | None, ports: set[int], ctx: AnalysisContext
) -> Iterator[Message]:
    if port is not None and ports and port not in ports:
        yield codes.MATCH_NEVER_TRUE.at(
            vs,
            f"{field}.port",
            f"port {port} is not a port of this VirtualService's hosts "
            f"({', '.join(map(str, sorted(ports)))}): the block never matches",
            "use one of the hosts' ports, or drop the port match",
        )
    namespace = match.source_namespace
    if namespace and namespace not in ctx.groups_by_namespace:
        yield codes.MATCH_NEVER_TRUE.at(
            vs,
            f"{field}.sourceNamespace",
            f"no workload runs in namespace {namespace!r}: the block never matches",
            "fix the namespace name",
        )
    elif match.source_labels:
        scopes = [namespace] if namespace else list(ctx.groups_by_namespace)
        if not any(ctx.selected(ns, match.source_labels) for ns in scopes):
            labels = ", ".join(f"{k}={v}" for k, v in sorted(match.source_labels.items()))
            yield codes.MATCH_NEVER_TRUE.at(
                vs,
                f"{field}.sourceLabels",
                f"no workload has the labels {labels}: the block never matches",
                "fix the labels to those of the calling workloads",
            )


def check_protocols(ctx: AnalysisContext, vs: VS) -> Iterable[Message]:
    """http rules only apply on HTTP ports, tcp rules only on the others: a VirtualService
    whose hosts have none of the right kind keeps those rules out of every proxy. Per
    sidecar VirtualService; reads the services."""
    hosts = [ctx.resolve(h, vs.namespace) for h in vs.spec.hosts]
    if not any(ctx.services_matching(h) for h in hosts):
        return  # XDS0105's finding
    for section, rules, http in (("http", vs.spec.http, True), ("tcp", vs.spec.tcp, False)):
        if not rules or own_ports(vs, ctx, http):
            continue
        wanted = "HTTP, HTTP2 or GRPC" if http else "TCP (non-HTTP)"
        yield codes.RULES_FOR_ANOTHER_PROTOCOL.at(
            vs,
            f"spec.{section}",
            f"its hosts have no {wanted} port: these {section} rules never apply",
            "declare the service port's protocol to match, or write the rules in the "
            + ("tcp" if http else "http")
            + " section",
        )
