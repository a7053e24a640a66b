"""The caller's side of a request: which outbound listener and filter chain take it,
which virtual host and route, and that route's policies — read from the caller's
generated Listener and RouteConfiguration with the evaluator in translators/behaviour."""

from __future__ import annotations

from dataclasses import replace

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2

from translators.behaviour.paths import listener_manager
from translators.behaviour.routing import (
    Decision,
    Request,
    host_without_port,
    match_failures,
    route,
    route_config_for_port,
    select_virtual_host,
    tcp_route,
    upstream_request,
)
from translators.envoy.traffic import FAULT_FILTER
from translators.explain.model import Fault, ListenerStep, RouteStep, SkippedRoute
from translators.explain.provenance import object_by_ref, sources_of
from translators.explain.request import ExplainError, ExplainRequest
from translators.explain.rules import RuleRef, rule_ref
from translators.mesh import MeshConfig, Workload
from translators.naming import LISTENER_TYPE, VIRTUAL_OUTBOUND_LISTENER
from translators.translate import ProxyResources

OUTBOUND = base_pb2.OUTBOUND


def outbound_listener(
    resources: ProxyResources, workload: Workload, port: int
) -> tuple[listener_pb2.Listener, tuple[str, ...]]:
    """The listener an application's connection to `port` enters: the egress listener on
    the workload's own address (captureMode NONE), else the per-port 0.0.0.0 one."""
    found: dict[str, tuple[listener_pb2.Listener, tuple[str, ...]]] = {}
    for resource in resources.of_type(LISTENER_TYPE):
        message = resource.message
        assert isinstance(message, listener_pb2.Listener)
        address = message.address.socket_address
        if message.traffic_direction == OUTBOUND and address.port_value == port:
            found[address.address] = (message, resource.provenance)
    for address in (workload.address, "0.0.0.0"):
        if address in found:
            return found[address]
    for resource in resources.of_type(LISTENER_TYPE):
        # iptables capture: a port no listener serves stays with virtualOutbound, which
        # sends it to its fallback (PassthroughCluster or BlackHoleCluster)
        message = resource.message
        assert isinstance(message, listener_pb2.Listener)
        if message.name == VIRTUAL_OUTBOUND_LISTENER and message.use_original_dst.value:
            return message, resource.provenance
    ports = sorted(
        {
            r.message.address.socket_address.port_value  # type: ignore[attr-defined]
            for r in resources.of_type(LISTENER_TYPE)
            if r.message.traffic_direction == OUTBOUND  # type: ignore[attr-defined]
            and r.message.filter_chains  # type: ignore[attr-defined]
        }
    )
    raise ExplainError(
        f"{workload.key} has no outbound listener on port {port}"
        f" (its outbound ports: {', '.join(map(str, ports)) or 'none'})"
    )


def listener_step(
    listener: listener_pb2.Listener, sources: tuple[str, ...], chain: str = ""
) -> ListenerStep:
    manager = listener_manager(listener)
    address = listener.address.socket_address
    return ListenerStep(
        listener.name,
        f"{address.address}:{address.port_value}",
        "http" if manager is not None else "tcp",
        chain,
        manager.rds.route_config_name if manager is not None else "",
        sources,
    )


def _percent(fraction: percent_pb2.FractionalPercent) -> float:
    per = {
        percent_pb2.FractionalPercent.HUNDRED: 100,
        percent_pb2.FractionalPercent.TEN_THOUSAND: 10_000,
        percent_pb2.FractionalPercent.MILLION: 1_000_000,
    }[fraction.denominator]
    return round(float(fraction.numerator) * 100 / per, 4)


def _seconds(value: duration_pb2.Duration) -> str:
    return f"{value.seconds + value.nanos / 1e9:g}s"


def _fault(chosen: rc.Route) -> Fault | None:
    packed = chosen.typed_per_filter_config.get(FAULT_FILTER)
    if packed is None:
        return None
    config = fault_pb2.HTTPFault()
    packed.Unpack(config)
    abort = config.abort if config.HasField("abort") else None
    delay = config.delay if config.HasField("delay") else None
    return Fault(
        abort_status=abort.http_status if abort is not None and abort.http_status else None,
        abort_percent=_percent(abort.percentage) if abort is not None else 0.0,
        delay=_seconds(delay.fixed_delay) if delay is not None else "",
        delay_percent=_percent(delay.percentage) if delay is not None else 0.0,
    )


def _retries(action: rc.RouteAction) -> str:
    if not action.HasField("retry_policy"):
        return ""
    policy = action.retry_policy
    text = f"{policy.num_retries.value or 1} on {policy.retry_on}"
    if policy.retriable_status_codes:
        text += f" (status {', '.join(map(str, policy.retriable_status_codes))})"
    if policy.HasField("per_try_timeout"):
        text += f", {_seconds(policy.per_try_timeout)} per try"
    return text


def _hash_policy(action: rc.RouteAction) -> tuple[str, ...]:
    found = []
    for policy in action.hash_policy:
        kind = policy.WhichOneof("policy_specifier")
        if kind == "header":
            found.append(f"header {policy.header.header_name}")
        elif kind == "cookie":
            found.append(f"cookie {policy.cookie.name}")
        elif kind == "query_parameter":
            found.append(f"query parameter {policy.query_parameter.name}")
        else:
            found.append("source IP")
    return tuple(found)


def _route_object(mesh: MeshConfig, chosen: rc.Route) -> tuple[str, RuleRef]:
    sources = sources_of(chosen.metadata)
    # a delegated route names the root first, then its delegates (provenance_of)
    vs = next((s for s in sources if s.startswith("VirtualService/")), "")
    if vs:
        found = object_by_ref(mesh, vs)
        if found is None or found.kind != "VirtualService":
            return vs, RuleRef()
        return vs, rule_ref(mesh, found, chosen.name)
    route = next((s for s in sources if s.startswith(("HTTPRoute/", "GRPCRoute/"))), "")
    if route:  # a Gateway API route (a gateway's, or GAMMA on a sidecar)
        return route, RuleRef(_route_rule(route, chosen.name))
    # no VirtualService: the service's own default route
    return (sources[0] if sources else ""), RuleRef("default route")


def _route_rule(route: str, name: str) -> str:
    """`rules[i].matches[j]` from a Gateway API route's generated route name
    (`ns.name.i.j.k` for HTTPRoute, `ns.name.i.j` for GRPCRoute)."""
    parts = name.rsplit(".", 3 if route.startswith("HTTPRoute/") else 2)
    if len(parts) < 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        return ""
    return f"rules[{parts[1]}].matches[{parts[2]}]"


def _matched_domain(
    config: route_pb2.RouteConfiguration, vhost: rc.VirtualHost, authority: str
) -> str:
    authority = authority.lower()
    if config.ignore_port_in_host_matching:
        authority = host_without_port(authority)
    exact = next((d for d in vhost.domains if d.lower() == authority), None)
    return exact if exact is not None else ", ".join(vhost.domains)


def http_route_step(
    mesh: MeshConfig, resources: ProxyResources, listener: listener_pb2.Listener, request: Request
) -> tuple[RouteStep, Decision]:
    """The virtual host and route Envoy picks, the routes it tried first and why they did
    not match, and the chosen route's policies. Raises ExplainError when nothing in the
    mesh takes the authority."""
    address = listener.address.socket_address
    config = route_config_for_port(resources.resources, address.port_value, address.address)
    vhost = select_virtual_host(config, request.host)
    decision = route(config, request)
    if vhost is None or decision is None:
        where = f"virtual host {vhost.name}" if vhost is not None else f"route config {config.name}"
        raise ExplainError(
            f"no route for {request.host}{request.path} in {where}: Envoy answers 404"
            " (check the VirtualService's match blocks, or the host)"
        )
    skipped: list[SkippedRoute] = []
    for candidate in vhost.routes:
        if candidate.name == decision.route and candidate == decision.raw:
            break
        obj, rule = _route_object(mesh, candidate)
        skipped.append(
            SkippedRoute(
                candidate.name,
                obj,
                rule.rule,
                tuple(match_failures(candidate.match, request)),
                rule.delegate,
                rule.delegate_rule,
            )
        )
    chosen = decision.raw
    assert chosen is not None
    obj, rule = _route_object(mesh, chosen)
    step = RouteStep(
        vhost.name,
        _matched_domain(config, vhost, request.host),
        chosen.name,
        obj,
        rule.rule,
        decision.action,
        tuple(skipped),
        status=decision.status,
        location=decision.location,
        fault=_fault(chosen),
        delegate=rule.delegate,
        delegate_rule=rule.delegate_rule,
    )
    if decision.action != "route":
        return step, decision
    action = chosen.route
    timeout = action.timeout if action.HasField("timeout") else None
    upstream = upstream_request(decision, request, decision.clusters[0][0])
    return (
        replace(
            step,
            timeout=_seconds(timeout) if timeout is not None and timeout.ToNanoseconds() else "",
            retries=_retries(action),
            mirrors=tuple(
                f"{m.cluster} ({_percent(m.runtime_fraction.default_value):g}%)"
                for m in action.request_mirror_policies
            ),
            hash_policy=_hash_policy(action),
            upstream_path=upstream.path,
            upstream_authority=upstream.host,
        ),
        decision,
    )


def tcp_chain(
    resources: ProxyResources, listener: listener_pb2.Listener, request: ExplainRequest
) -> tuple[str, tuple[tuple[str, int], ...], tuple[str, ...]]:
    """(chain name, weighted clusters, chain sources) a TCP connection takes."""
    address = listener.address.socket_address
    try:
        found = tcp_route(resources.resources, address.port_value, request.sni, address.address)
    except LookupError as exc:  # the chain is an HTTP connection manager, not a TCP proxy
        raise ExplainError(
            f"port {request.port} of {request.source} is HTTP: ask for"
            f" http://{request.host}:{request.port}/"
        ) from exc
    if found is None:
        sni = f"SNI {request.sni!r}" if request.sni else "no SNI"
        raise ExplainError(
            f"no filter chain of {listener.name} takes a connection with {sni}:"
            " Envoy closes it (pass --sni for a TLS destination)"
        )
    name, clusters = found
    chain = next(c for c in listener.filter_chains if c.name == name)
    return name, clusters, sources_of(chain.metadata)
