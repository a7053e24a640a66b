"""`explain`: the whole path of one request as Envoy will take it, from the caller's
outbound listener to the callee's authorization decision, and what may come of it.

Everything is read from the resources the translator generates for the two proxies
(the bytes Envoy receives), through the evaluator the behaviour tests check against
real Envoy (translators/behaviour). Pure: the caller hands in a `MeshTranslator`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from envoy.config.listener.v3 import listener_pb2

from translators.behaviour.paths import envoy_path, listener_manager
from translators.behaviour.rbac import ALLOWED, DENIED, Call
from translators.behaviour.routing import Decision, Request, Unsupported, upstream_request
from translators.explain.destinations import (
    MTLS,
    PLAINTEXT,
    cluster_endpoints,
    cluster_tls,
    endpoint_tls,
    find_cluster,
)
from translators.explain.inbound import inbound_step
from translators.explain.jwt import jwt_filter, jwt_outcome, rejected_status
from translators.explain.model import (
    DestinationStep,
    EndpointStep,
    Explanation,
    Outcome,
    RouteStep,
    TlsStep,
)
from translators.explain.outbound import (
    http_route_step,
    listener_step,
    outbound_listener,
    tcp_chain,
)
from translators.explain.request import ExplainError, ExplainRequest
from translators.hosts import resolve_host
from translators.mesh import Workload
from translators.naming import (
    ALLOW_ANY,
    ALLOW_ANY_DYNAMIC_DNS,
    BLACKHOLE_CLUSTER,
    BLOCK_ALL,
    PASSTHROUGH_CLUSTER,
    parse_outbound_cluster,
    spiffe_id,
)
from translators.translate import MeshTranslator

# What the caller gets when the callee's sidecar refuses the connection (no filter chain
# for it, or a failed handshake): Envoy resets, the router answers 503.
REFUSED_STATUS = 503
NO_ENDPOINT_STATUS = 503
NO_CLUSTER_STATUS = 503  # a route to a cluster Envoy does not have: flag NC
RBAC_DENIED_STATUS = 403


# Clusters that are no service: what becomes of a connection sent there.
_SPECIAL = {
    PASSTHROUGH_CLUSTER: (
        "passthrough",
        "sent on to the address the application connected to: no mesh routing, no mTLS",
    ),
    BLACKHOLE_CLUSTER: ("blackhole", "Envoy closes the connection: no service on this port"),
}


def _workload_key(translator: MeshTranslator, given: str) -> str:
    """`namespace/name` as given, or the key of the one workload called `given` (as
    `describe` and `proxy-config` accept it)."""
    if "/" in given:
        return given
    named = sorted(k for k in translator.mesh.workloads if k.partition("/")[2] == given)
    if len(named) == 1:
        return named[0]
    if named:
        raise ExplainError(
            f"several workloads are named {given}: {', '.join(named)}; give NAMESPACE/NAME"
        )
    known = ", ".join(sorted(translator.mesh.workloads)[:8]) or "none"
    raise ExplainError(f"no workload {given} in the mesh (workloads: {known})")


def _workload(translator: MeshTranslator, key: str) -> Workload:
    namespace, _, name = key.partition("/")
    found = translator.mesh.workload(namespace, name)
    if found is None:
        known = ", ".join(sorted(translator.mesh.workloads)[:8]) or "none"
        raise ExplainError(f"no workload {key} in the mesh (workloads: {known})")
    return found


def _endpoint_workloads(translator: MeshTranslator, fqdn: str) -> dict[tuple[str, int], str]:
    """(address, port) -> workload key, from the service's registry entry."""
    service = translator.mesh.services.get(fqdn)
    found: dict[tuple[str, int], str] = {}
    if service is None:
        return found
    for endpoint in service.endpoints:
        if endpoint.workload:
            for port in service.ports:
                found[(endpoint.address, endpoint.port_for(port))] = endpoint.workload
    return found


def _missing_cluster(translator: MeshTranslator, fqdn: str, subset: str) -> str:
    """Why a route names a cluster the proxy was not sent (Envoy answers 503, flag NC)."""
    if fqdn not in translator.mesh.services:
        return f"no service {fqdn} in the registry: a typo in the destination host?"
    if subset:
        rules = [
            o.ref
            for o in translator.mesh.of_kind("DestinationRule")
            if resolve_host(o.spec.host, o.namespace, translator.mesh.options.domain_suffix) == fqdn
        ]
        if rules:
            return f"{', '.join(rules)} defines no subset {subset}: add it there"
        return f"no DestinationRule for {fqdn} defines subset {subset}"
    return "this proxy was not sent the cluster (Sidecar egress hosts or exportTo hide it)"


def _destination(
    translator: MeshTranslator,
    source: Workload,
    request: ExplainRequest,
    cluster_name: str,
    weight: int,
    share: float,
    upstream: Request | None,
) -> DestinationStep:
    resources = translator.translate(source)
    found = find_cluster(resources, cluster_name)
    parsed = parse_outbound_cluster(cluster_name)
    port, subset, fqdn = parsed if parsed is not None else (0, "", "")
    if found is None:
        missing = TlsStep("-", "", _missing_cluster(translator, fqdn, subset))
        return DestinationStep(cluster_name, weight, share, fqdn, port, subset, (), missing, ())
    cluster, sources = found
    tls = cluster_tls(translator.mesh, cluster, sources)
    owners = _endpoint_workloads(translator, fqdn)
    identity = spiffe_id(
        source.namespace, source.service_account, translator.mesh.options.trust_domain
    )
    endpoints = []
    for lb in cluster_endpoints(resources, cluster_name):
        address = lb.endpoint.address.socket_address
        mode, _ = endpoint_tls(cluster, lb)
        owner = owners.get((address.address, address.port_value), "")
        inbound = None
        if owner:
            namespace, _, name = owner.partition("/")
            callee = translator.mesh.workload(namespace, name)
            if callee is not None:
                # the callee sees the request as the caller's route rewrote it
                sent = upstream or Request(request.authority, request.path, {}, request.method)
                call = Call(
                    address.port_value,
                    identity if mode == MTLS else None,
                    tls=mode != PLAINTEXT,
                    source_ip=source.address,
                    method=sent.method,
                    path=sent.path,
                    host=sent.host,
                    headers=dict(sent.headers),
                )
                inbound = inbound_step(owner, translator.translate(callee), call, request.at)
        endpoints.append(
            EndpointStep(
                address.address,
                address.port_value,
                lb.load_balancing_weight.value or 1,
                owner,
                mode,
                inbound,
            )
        )
    return DestinationStep(
        cluster_name,
        weight,
        share,
        fqdn,
        port,
        subset,
        sources,
        tls,
        tuple(endpoints),
    )


def _split(clusters: Iterable[tuple[str, int]]) -> list[tuple[str, int, float]]:
    clusters = list(clusters)
    total = sum(w for _, w in clusters)
    return [(c, w, round(100.0 * w / total, 4) if total else 0.0) for c, w in clusters]


def _outcomes(
    route_step: RouteStep | None, destinations: tuple[DestinationStep, ...], http: bool
) -> tuple[Outcome, ...]:
    if route_step is not None and route_step.action != "route":
        result = route_step.action
        return (Outcome(result, 100.0, route_step.status, detail=route_step.location),)
    found: dict[tuple[str, str, int | None], float] = {}
    details: dict[tuple[str, str, int | None], str] = {}
    remaining = 100.0
    key: tuple[str, str, int | None]
    fault = route_step.fault if route_step is not None else None
    if fault is not None and fault.abort_status is not None and fault.abort_percent > 0:
        key = ("fault_abort", "", fault.abort_status)
        found[key] = fault.abort_percent
        details[key] = f"fault injected by {route_step.object if route_step else ''}"
        remaining -= fault.abort_percent
    for destination in destinations:
        share = remaining * destination.share / 100
        special = _SPECIAL.get(destination.cluster)
        if special is not None:
            key = (special[0], destination.cluster, None)
            found[key] = found.get(key, 0.0) + share
            details[key] = special[1]
            continue
        if destination.tls.mode == "-":
            key = ("no_cluster", destination.cluster, NO_CLUSTER_STATUS if http else None)
            found[key] = found.get(key, 0.0) + share
            details[key] = f"Envoy has no such cluster (503, flag NC): {destination.tls.reason}"
            continue
        total = sum(e.weight for e in destination.endpoints)
        if not total:
            key = ("no_endpoints", destination.cluster, NO_ENDPOINT_STATUS if http else None)
            found[key] = found.get(key, 0.0) + share
            details[key] = "the cluster has no endpoints (no healthy upstream)"
            continue
        for endpoint in destination.endpoints:
            inbound = endpoint.inbound
            verdict = inbound.verdict if inbound is not None else ALLOWED
            if verdict == ALLOWED:
                key = ("forwarded", destination.cluster, None)
                detail = "the application answers"
            elif verdict == DENIED:
                rejected = rejected_status(inbound.reason) if inbound is not None else None
                status = rejected or RBAC_DENIED_STATUS  # jwt_authn's 401, or RBAC's 403
                key = ("denied", destination.cluster, status if http else None)
                detail = inbound.reason if inbound is not None else ""
            else:
                key = ("refused", destination.cluster, REFUSED_STATUS if http else None)
                detail = inbound.reason if inbound is not None else ""
            found[key] = found.get(key, 0.0) + share * endpoint.weight / total
            details[key] = detail
    return tuple(
        Outcome(result, round(share, 4), status, cluster, details[(result, cluster, status)])
        for (result, cluster, status), share in found.items()
        if share > 0
    )


def explain(translator: MeshTranslator, request: ExplainRequest) -> Explanation:
    """The explanation of `request`; raises ExplainError for a question it cannot answer
    (unknown workload or host, no listener on the port, config the evaluator does not
    model — said so rather than guessed)."""
    try:
        return _explain(translator, request)
    except Unsupported as exc:
        raise ExplainError(f"explain does not model {exc} (used on this path)") from exc


def _explain(translator: MeshTranslator, request: ExplainRequest) -> Explanation:
    request = replace(request, source=_workload_key(translator, request.source))
    source = _workload(translator, request.source)
    resources = translator.translate(source)
    listener, listener_sources = outbound_listener(resources, source, request.port)
    identity = spiffe_id(
        source.namespace, source.service_account, translator.mesh.options.trust_domain
    )
    headers = {k: v for k, v in request.headers.items() if k != "host"}
    authority = request.headers.get("host", request.authority)
    route_step: RouteStep | None = None
    decision: Decision | None = None
    normalised: tuple[str, ...] = ()
    captured = listener.use_original_dst.value
    if request.protocol == "http" and not captured:
        step = listener_step(listener, listener_sources)
        if step.protocol != "http":
            raise ExplainError(
                f"port {request.port} of {source.key} is TCP: ask for tcp://{request.host}:"
                f"{request.port}"
            )
        manager = listener_manager(listener)
        path = envoy_path(manager, request.path)
        if path is None:
            raise ExplainError(
                f"Envoy answers 400 to the path {request.path!r} before any route: it is not a"
                " valid path (a space, '#', a control or non-ASCII character, or %00)"
            )
        if path != request.path:
            merge = " and merge_slashes" if manager is not None and manager.merge_slashes else ""
            normalised = (
                f"Envoy normalises the path {request.path} to {path} (normalize_path{merge}):"
                " routes, RequestAuthentication and AuthorizationPolicies see that path",
            )
        envoy_request = Request(
            authority,
            path,
            headers,
            request.method,
            jwt=_routing_claims(listener, headers, path, request.at),
        )
        route_step, decision = http_route_step(translator.mesh, resources, listener, envoy_request)
        if route_step.virtual_host in (BLOCK_ALL, ALLOW_ANY_DYNAMIC_DNS, ALLOW_ANY):
            what = {
                BLOCK_ALL: "Envoy answers 502 (outboundTrafficPolicy REGISTRY_ONLY)",
                ALLOW_ANY: "Envoy sends it to the Sidecar's egressProxy (ALLOW_ANY)",
            }.get(
                route_step.virtual_host,
                "Envoy forwards it outside the mesh by its name (ALLOW_ANY)",
            )
            raise ExplainError(
                f"unknown host {request.host!r}: no service in the mesh has this name; {what}"
            )
        clusters = decision.clusters
        upstream_of = {c: _upstream(decision, envoy_request, c) for c, _ in clusters}
    else:
        chain, clusters, chain_sources = tcp_chain(resources, listener, request)
        sources = tuple(dict.fromkeys(listener_sources + chain_sources))
        step = listener_step(listener, sources, chain)
        if step.protocol != "tcp" and not captured:
            raise ExplainError(
                f"port {request.port} of {source.key} is HTTP: ask for http://{request.host}:"
                f"{request.port}/"
            )
        upstream_of = {}
    destinations = tuple(
        _destination(translator, source, request, cluster, weight, share, upstream_of.get(cluster))
        for cluster, weight, share in _split(clusters)
    )
    return Explanation(
        source.key,
        identity,
        request.protocol,
        request.method if request.protocol == "http" else "",
        request.url,
        authority if request.protocol == "http" else f"{request.host}:{request.port}",
        request.path if request.protocol == "http" else "",
        headers,
        step,
        route_step,
        destinations,
        _outcomes(route_step, destinations, request.protocol == "http"),
        normalised + _notes(translator, request, destinations),
    )


def _routing_claims(
    listener: listener_pb2.Listener, headers: Mapping[str, str], path: str, at: float | None
) -> Mapping[str, object] | None:
    """The claims `@request.auth.claims` routes see on the caller's sidecar: those of a
    token its (non-rejecting) jwt_authn filter accepts, else none."""
    for chain in listener.filter_chains:
        config = jwt_filter(chain)
        if config is not None:
            return jwt_outcome(config, headers, path, at).payload
    return None


def _upstream(decision: Decision, request: Request, cluster: str) -> Request:
    sent = upstream_request(decision, request, cluster)
    return Request(sent.host, sent.path, dict(sent.headers), request.method)


def _notes(
    translator: MeshTranslator, request: ExplainRequest, destinations: tuple[DestinationStep, ...]
) -> tuple[str, ...]:
    """What a reader could get wrong: a TCP port picks its chain by port (and SNI), never
    by the host the application named."""
    if any(d.cluster in _SPECIAL for d in destinations):
        return (
            f"no outbound listener for port {request.port}: the capture listener hands the"
            " connection to its fallback as it is (HTTP is not parsed, no route applies)",
        )
    if request.protocol != "tcp" or request.sni:
        return ()
    namespace = request.source.partition("/")[0]
    named = resolve_host(request.host, namespace, translator.mesh.options.domain_suffix)
    if destinations and all(d.service != named for d in destinations):
        return (
            f"TCP carries no host name: port {request.port} goes to "
            f"{', '.join(sorted({d.service for d in destinations}))}, whatever host the "
            "application connected to",
        )
    return ()


__all__ = ["ExplainError", "explain"]
