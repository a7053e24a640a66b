"""Kubernetes Gateway API on the proxies that run a Gateway: listeners -> filter chains,
attached HTTPRoutes -> the same route IR VirtualServices become.

What attaches where is `attach.resolve_gateway_api`'s decision (the one status reports),
so a route the status calls Accepted is exactly a route translated here. Within a
virtual host, routes are ordered by the spec's precedence: an Exact path before any
prefix, longer prefixes first, then method, more header matches, more query matches,
then the oldest route, then rule and match order.

A `PathPrefix` matches whole path elements (`/foo` matches `/foo` and `/foo/bar`, never
`/foobar`): it becomes an exact route for `/foo` and a prefix route for `/foo/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from translators.gateway.attach import GatewayAPIState, GatewayState, RouteState
from translators.gateway.ir import Credential, DownstreamTLSIR, DownstreamTLSMode, GatewayChainIR
from translators.ir import (
    DirectResponseIR,
    HeaderMatchIR,
    HeaderOpsIR,
    HeaderValueIR,
    MatchKind,
    MirrorIR,
    RedirectIR,
    RewriteIR,
    RouteIR,
    RouteMatchIR,
    RouteTableIR,
    StringMatchIR,
    TcpRouteIR,
    VirtualHostIR,
    WeightedDestinationIR,
)
from translators.model.gateway_api import (
    GRPCMethodMatch,
    GRPCRouteMatch,
    GRPCRouteRule,
    GRPCRouteSpec,
    HTTPHeaderFilter,
    HTTPPathModifier,
    HTTPRouteFilter,
    HTTPRouteMatch,
    HTTPRouteRule,
    HTTPRouteSpec,
    Listener,
    MatchType,
    PathMatchType,
    PathModifierType,
    TLSModeType,
    duration_seconds,
)
from translators.model.objects import age_order
from translators.naming import (
    credential_secret,
    gateway_filter_chain,
    gateway_http_route_config,
    gateway_https_route_config,
    outbound_cluster,
)


@dataclass(frozen=True, slots=True)
class _Ranked:
    key: tuple[object, ...]
    route: RouteIR


def _string(kind: MatchType, value: str) -> StringMatchIR:
    return StringMatchIR(
        MatchKind.REGEX if kind is MatchType.REGULAR_EXPRESSION else MatchKind.EXACT, value
    )


def _matches(match: HTTPRouteMatch) -> list[RouteMatchIR]:
    headers = tuple(HeaderMatchIR(h.name.lower(), _string(h.type, h.value)) for h in match.headers)
    if match.method is not None:
        headers += (HeaderMatchIR(":method", StringMatchIR(MatchKind.EXACT, match.method)),)
    params = tuple(HeaderMatchIR(q.name, _string(q.type, q.value)) for q in match.query_params)
    path = match.path
    if path.type is PathMatchType.EXACT:
        paths = [StringMatchIR(MatchKind.EXACT, path.value)]
    elif path.type is PathMatchType.REGULAR_EXPRESSION:
        paths = [StringMatchIR(MatchKind.REGEX, path.value)]
    else:
        base = path.value.rstrip("/")
        paths = (
            [StringMatchIR(MatchKind.PREFIX, "/")]
            if not base
            else [StringMatchIR(MatchKind.EXACT, base), StringMatchIR(MatchKind.PREFIX, base + "/")]
        )
    return [RouteMatchIR(p, headers, params) for p in paths]


def _precedence(match: HTTPRouteMatch) -> tuple[int, int, int, int, int]:
    path = match.path
    rank = {PathMatchType.EXACT: 0, PathMatchType.PATH_PREFIX: 1}.get(path.type, 2)
    return (
        rank,
        -len(path.value),
        0 if match.method is not None else 1,
        -len(match.headers),
        -len(match.query_params),
    )


def _header_ops(
    request: HTTPHeaderFilter | None, response: HTTPHeaderFilter | None
) -> HeaderOpsIR | None:
    if request is None and response is None:
        return None

    def values(f: HTTPHeaderFilter | None) -> tuple[HeaderValueIR, ...]:
        if f is None:
            return ()
        return tuple(HeaderValueIR(h.name, h.value) for h in f.set) + tuple(
            HeaderValueIR(h.name, h.value, append=True) for h in f.add
        )

    return HeaderOpsIR(
        request_add=values(request),
        request_remove=tuple(request.remove) if request else (),
        response_add=values(response),
        response_remove=tuple(response.remove) if response else (),
    )


def _path_rewrite(modifier: HTTPPathModifier | None, match: RouteMatchIR) -> tuple[str, str, str]:
    """(prefix_rewrite, regex, substitution) for a path modifier on one generated match."""
    if modifier is None:
        return "", "", ""
    if modifier.type is PathModifierType.REPLACE_FULL_PATH:
        return "", "^.*$", modifier.replace_full_path or "/"
    replacement = modifier.replace_prefix_match or "/"
    if (
        match.path.kind is MatchKind.PREFIX
        and match.path.value.endswith("/")
        and match.path.value != "/"
    ):
        # the `/foo/` half of PathPrefix `/foo`: keep the separator after the new prefix
        return replacement.rstrip("/") + "/", "", ""
    return replacement, "", ""


def _grpc_path(method: GRPCMethodMatch | None) -> tuple[StringMatchIR, int]:
    """The path a gRPC method match is, and its precedence rank (exact first)."""
    if method is None:
        return StringMatchIR(MatchKind.PREFIX, "/"), 3
    if method.type is MatchType.EXACT:
        if method.service and method.method:
            return StringMatchIR(MatchKind.EXACT, f"/{method.service}/{method.method}"), 0
        if method.service:
            return StringMatchIR(MatchKind.PREFIX, f"/{method.service}/"), 1
        return StringMatchIR(MatchKind.REGEX, f"/[^/]+/{re.escape(method.method or '')}"), 2
    service = method.service or "[^/]+"
    name = method.method or "[^/]+"
    return StringMatchIR(MatchKind.REGEX, f"/{service}/{name}"), 2


class HTTPRouteTranslation:
    """The routes of one gateway's listeners, from the attachment the status reports."""

    def __init__(self, state: GatewayAPIState, suffix: str) -> None:
        self.state = state
        self.suffix = suffix

    def cluster(
        self, route: RouteState, name: str, namespace: str | None, port: int | None
    ) -> str | None:
        for backend in route.backends:
            ref = backend.ref
            if ref.name == name and ref.namespace == namespace and ref.port == port:
                if backend.service is None or port is None:
                    return None
                return outbound_cluster(port, backend.service.hostname)
        return None

    def mirrors(self, route: RouteState, filters: list[HTTPRouteFilter]) -> tuple[MirrorIR, ...]:
        out = []
        for f in filters:
            mirror = f.request_mirror
            if mirror is None:
                continue
            ref = mirror.backend_ref
            cluster = self.cluster(route, ref.name, ref.namespace, ref.port)
            if cluster is None:
                continue
            percent = 100.0
            if mirror.percent is not None:
                percent = float(mirror.percent)
            elif mirror.fraction is not None:
                percent = 100.0 * mirror.fraction.numerator / mirror.fraction.denominator
            out.append(MirrorIR(cluster, percent))
        return tuple(out)

    def action(self, route: RouteState, rule: HTTPRouteRule, match: RouteMatchIR) -> RouteIR:
        """The route of `rule` for one generated match (name and match set by the caller)."""
        filters = rule.filters
        request = next(
            (f.request_header_modifier for f in filters if f.request_header_modifier), None
        )
        response = next(
            (f.response_header_modifier for f in filters if f.response_header_modifier), None
        )
        headers = _header_ops(request, response)
        provenance = (route.obj.ref,)
        redirect = next((f.request_redirect for f in filters if f.request_redirect), None)
        if redirect is not None:
            prefix, _regex, _sub = _path_rewrite(redirect.path, match)
            full = ""
            if (
                redirect.path is not None
                and redirect.path.type is PathModifierType.REPLACE_FULL_PATH
            ):
                full = redirect.path.replace_full_path or "/"
            target = RedirectIR(
                path=full,
                prefix_rewrite="" if full else prefix,
                authority=redirect.hostname or "",
                port=redirect.port or 0,
                scheme=redirect.scheme.value if redirect.scheme else "",
                code=redirect.status_code,
            )
            return RouteIR("", match, (), provenance, redirect=target, headers=headers)
        clusters = []
        for ref in rule.backend_refs:
            cluster = self.cluster(route, ref.name, ref.namespace, ref.port)
            if cluster is not None and ref.weight > 0:
                clusters.append(WeightedDestinationIR(cluster, ref.weight))
        if not clusters:
            # no backend that resolves (or every weight 0): the spec's answer is a 500
            return RouteIR(
                "", match, (), provenance, direct_response=DirectResponseIR(500), headers=headers
            )
        rewrite = None
        url_rewrite = next((f.url_rewrite for f in filters if f.url_rewrite), None)
        if url_rewrite is not None:
            prefix, regex, substitution = _path_rewrite(url_rewrite.path, match)
            rewrite = RewriteIR(prefix, regex, substitution, url_rewrite.hostname or "")
        timeout = None
        if rule.timeouts is not None and rule.timeouts.request is not None:
            timeout = duration_seconds(rule.timeouts.request)
        return RouteIR(
            "",
            match,
            tuple(clusters),
            provenance,
            timeout_s=timeout,
            rewrite=rewrite,
            headers=headers,
            mirrors=self.mirrors(route, filters),
        )

    def rule_routes(self, route: RouteState, index: int, rule: HTTPRouteRule) -> Iterator[_Ranked]:
        obj = route.obj
        for j, match in enumerate(rule.matches):
            for k, ir_match in enumerate(_matches(match)):
                name = f"{obj.namespace}.{obj.name}.{index}.{j}.{k}"
                ir = replace(self.action(route, rule, ir_match), name=name)
                yield _Ranked((*_precedence(match), age_order(obj), index, j, k), ir)

    def routes_of(self, route: RouteState) -> Iterator[_Ranked]:
        if route.obj.kind == "GRPCRoute":
            grpc: GRPCRouteSpec = route.obj.spec
            for i, grpc_rule in enumerate(grpc.rules):
                yield from self.grpc_rule_routes(route, i, grpc_rule)
            return
        spec: HTTPRouteSpec = route.obj.spec
        for i, rule in enumerate(spec.rules):
            yield from self.rule_routes(route, i, rule)

    def grpc_rule_routes(
        self, route: RouteState, index: int, rule: GRPCRouteRule
    ) -> Iterator[_Ranked]:
        """A GRPCRoute rule: gRPC calls are HTTP/2 POSTs to `/<service>/<method>`."""
        obj = route.obj
        request = next(
            (f.request_header_modifier for f in rule.filters if f.request_header_modifier), None
        )
        response = next(
            (f.response_header_modifier for f in rule.filters if f.response_header_modifier), None
        )
        clusters = []
        for ref in rule.backend_refs:
            cluster = self.cluster(route, ref.name, ref.namespace, ref.port)
            if cluster is not None and ref.weight > 0:
                clusters.append(WeightedDestinationIR(cluster, ref.weight))
        mirrors = self.mirrors(route, list(rule.filters))  # type: ignore[arg-type]
        for j, match in enumerate(rule.matches or [GRPCRouteMatch()]):
            path, rank = _grpc_path(match.method)
            headers = tuple(
                HeaderMatchIR(h.name.lower(), _string(h.type, h.value)) for h in match.headers
            )
            ir_match = RouteMatchIR(path, headers)
            name = f"{obj.namespace}.{obj.name}.{index}.{j}"
            provenance = (obj.ref,)
            header_ops = _header_ops(request, response)
            if clusters:
                ir = RouteIR(
                    name, ir_match, tuple(clusters), provenance, headers=header_ops, mirrors=mirrors
                )
            else:
                ir = RouteIR(name, ir_match, (), provenance, direct_response=DirectResponseIR(500))
            yield _Ranked(
                (rank, -len(path.value), 0, -len(headers), 0, age_order(obj), index, j, 0), ir
            )

    def virtual_hosts(
        self, gateway: GatewayState, listeners: set[str], port: int
    ) -> list[VirtualHostIR]:
        """One virtual host per hostname across `listeners` (HTTP listeners of one port
        share a route configuration): a route attached through two of them counts once."""
        by_host: dict[str, dict[str, _Ranked]] = {}
        sources: dict[str, set[str]] = {}
        for route in self.state.routes.values():
            for attachment in route.attachments:
                if attachment.gateway != gateway.key or attachment.listener not in listeners:
                    continue
                if route.obj.kind not in ("HTTPRoute", "GRPCRoute"):
                    continue
                ranked = list(self.routes_of(route))
                for host in attachment.hostnames:
                    by_host.setdefault(host, {}).update((r.route.name, r) for r in ranked)
                    sources.setdefault(host, set()).update({route.obj.ref, gateway.obj.ref})
        out = []
        for host in sorted(
            by_host, key=lambda h: (2 if h == "*" else 1 if h.startswith("*") else 0, h)
        ):
            routes = tuple(r.route for r in sorted(by_host[host].values(), key=lambda r: r.key))
            out.append(
                VirtualHostIR(f"{host}:{port}", (host,), routes, tuple(sorted(sources[host])))
            )
        return out

    def l4_chains(
        self, gateway: GatewayState, listener: Listener, credentials: list[Credential]
    ) -> list[GatewayChainIR]:
        """A TLS Passthrough listener: a chain per attached TLSRoute, by its hostnames as
        SNI; a TCP (or TLS Terminate) listener: the oldest attached TCPRoute takes it."""
        obj = gateway.obj
        tls = None
        if listener.tls is not None and listener.tls.mode is TLSModeType.TERMINATE:
            ref = listener.tls.certificate_refs[0]
            namespace = ref.namespace or obj.namespace
            credentials.append(Credential(namespace, ref.name))
            tls = DownstreamTLSIR(
                DownstreamTLSMode.SIMPLE,
                certificate_secret=credential_secret(namespace, ref.name),
                http=False,
            )
        out: list[GatewayChainIR] = []
        taken: set[str] = set()
        for route in sorted(self.state.routes.values(), key=lambda r: age_order(r.obj)):
            for attachment in route.attachments:
                if attachment.gateway != gateway.key or attachment.listener != listener.name:
                    continue
                clusters = []
                for rule in route.obj.spec.rules:
                    for ref in rule.backend_refs:
                        cluster = self.cluster(route, ref.name, ref.namespace, ref.port)
                        if cluster is not None and ref.weight > 0:
                            clusters.append(WeightedDestinationIR(cluster, ref.weight))
                if not clusters:
                    continue  # nothing to send the connection to: no chain, refused
                names = () if "*" in attachment.hostnames else attachment.hostnames
                names = tuple(n for n in names if n not in taken)
                if route.obj.kind == "TLSRoute" and not names and "*" not in attachment.hostnames:
                    continue
                if not names and any(not c.server_names for c in out):
                    continue  # the listener's catch-all is taken by an older route
                taken.update(names)
                chain_name = gateway_filter_chain(
                    listener.port, f"{route.obj.namespace}.{route.obj.name}"
                )
                tcp = TcpRouteIR(chain_name, tuple(clusters), names, (route.obj.ref, obj.ref))
                out.append(
                    GatewayChainIR(chain_name, names, tls, tcp=tcp, provenance=tcp.provenance)
                )
        return out

    def gateway(
        self, gateway: GatewayState
    ) -> tuple[dict[int, list[GatewayChainIR]], list[RouteTableIR], list[Credential]]:
        chains: dict[int, list[GatewayChainIR]] = {}
        configs: list[RouteTableIR] = []
        credentials: list[Credential] = []
        http_listeners: dict[int, set[str]] = {}
        obj = gateway.obj
        for state in gateway.listeners:
            if not state.valid:
                continue
            listener = state.listener
            port = listener.port
            if listener.protocol in ("TLS", "TCP"):
                chains.setdefault(port, []).extend(self.l4_chains(gateway, listener, credentials))
                continue
            if listener.protocol == "HTTP":
                http_listeners.setdefault(port, set()).add(listener.name)
                if not any(
                    c.route_config == gateway_http_route_config(port) for c in chains.get(port, [])
                ):
                    chains.setdefault(port, []).append(
                        GatewayChainIR(
                            gateway_filter_chain(port, "http"),
                            route_config=gateway_http_route_config(port),
                            provenance=(obj.ref,),
                        )
                    )
                continue
            assert listener.tls is not None
            ref = listener.tls.certificate_refs[0]
            namespace = ref.namespace or obj.namespace
            credentials.append(Credential(namespace, ref.name))
            name = gateway_https_route_config(port, listener.name, obj.name, obj.namespace)
            vhosts = self.virtual_hosts(gateway, {listener.name}, port)
            configs.append(RouteTableIR(name, tuple(vhosts)))
            chains.setdefault(port, []).append(
                GatewayChainIR(
                    gateway_filter_chain(port, listener.name),
                    server_names=(listener.hostname,) if listener.hostname else (),
                    tls=DownstreamTLSIR(
                        DownstreamTLSMode.SIMPLE,
                        certificate_secret=credential_secret(namespace, ref.name),
                    ),
                    route_config=name,
                    provenance=(obj.ref,),
                )
            )
        for port, names in http_listeners.items():
            vhosts = self.virtual_hosts(gateway, names, port)
            configs.append(RouteTableIR(gateway_http_route_config(port), tuple(vhosts)))
        return chains, configs, credentials
