"""VirtualService `http` rules -> RouteIR, as Istio's sidecar translation does it
(pilot/pkg/networking/core/route/route.go `TranslateRoute`, `TranslateRouteMatch`,
retry/retry.go `ConvertPolicy`):

* each match block of each rule becomes one route, in order; a rule without match
  blocks matches everything, and nothing after a catch-all route is reachable, so
  nothing after it is emitted;
* a match block whose `port` is not the listener's port, or whose `sourceLabels` /
  `sourceNamespace` do not fit the proxy, is left out for that proxy;
* a header or query parameter matched with `regex: "*"` (or an empty StringMatch) only
  has to be present; `withoutHeaders` inverts the test and treats a missing header as
  empty, so "no such header" satisfies it;
* `method`, `authority` and `scheme` test the `:method`, `:authority`, `:scheme`
  pseudo-headers;
* header edits: `set` overwrites, `add` appends; a request `host`/`:authority` edit
  rewrites the authority instead; per-destination edits ride on the weighted cluster
  (on the route when there is only one destination);
* mirrors default to 100% (`mirrorPercentage` 0 turns a mirror off);
* fault delay/abort without a percentage inject nothing (Istio's API says so);
* retries: none given -> the mesh default (left to the Envoy builder); `attempts: 0`
  disables them; integers in `retryOn` are retriable status codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from translators.ir import (
    MATCH_ALL,
    CorsIR,
    DirectResponseIR,
    FaultIR,
    HashPolicyIR,
    HeaderMatchIR,
    HeaderOpsIR,
    HeaderValueIR,
    MatchKind,
    MirrorIR,
    RedirectIR,
    RetryIR,
    RewriteIR,
    RouteIR,
    RouteMatchIR,
    StringMatchIR,
    WeightedDestinationIR,
)
from translators.model.base import StringMatch
from translators.model.networking import HTTPMatchRequest, HTTPRoute
from translators.model.traffic import (
    GRPC_STATUS,
    CorsPolicy,
    Destination,
    HeaderOperations,
    Headers,
    HTTPFaultInjection,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    Percent,
    RedirectPortSelection,
    UnmatchedPreflights,
)
from translators.naming import routing_claim
from translators.traffic.source import SourceIR

# Istio's default retryOn when a VirtualService gives a policy without one.
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

# destination -> its outbound cluster name (for the listener port being built)
ClusterOf = Callable[[Destination], str]
# (destination) -> the consistent-hash policy its DestinationRule asks for, if any
HashOf = Callable[[Destination], HashPolicyIR | None]


# --- matches ------------------------------------------------------------------------


def string_match(match: StringMatch, presence: bool = False) -> StringMatchIR:
    """`presence`: headers and query parameters, where Istio reads `regex: "*"` as "is
    present" (`*` alone is not a valid RE2 regex)."""
    if match.exact is not None:
        return StringMatchIR(MatchKind.EXACT, match.exact)
    if match.prefix is not None:
        return StringMatchIR(MatchKind.PREFIX, match.prefix)
    if presence and match.regex == "*":
        return StringMatchIR(MatchKind.PRESENT, "")
    return StringMatchIR(MatchKind.REGEX, match.regex or "")


def _header_name(name: str) -> str:
    """Header names are case-insensitive; JWT claim names (`@request.auth.claims.Group`)
    are not."""
    return name if routing_claim(name) is not None else name.lower()


_MATCH_ALL = MATCH_ALL


def route_match(match: HTTPMatchRequest | None) -> RouteMatchIR:
    if match is None:
        return _MATCH_ALL
    headers = [
        HeaderMatchIR(_header_name(name), string_match(m, presence=True))
        for name, m in match.headers.items()
    ]
    headers += [
        HeaderMatchIR(_header_name(name), string_match(m, presence=True), invert=True)
        for name, m in match.without_headers.items()
    ]
    headers.sort(key=lambda h: (h.name, h.invert))
    for pseudo, value in ((":method", match.method), (":authority", match.authority)):
        if value is not None:
            headers.append(HeaderMatchIR(pseudo, string_match(value, presence=True)))
    if match.scheme is not None:
        headers.append(HeaderMatchIR(":scheme", string_match(match.scheme, presence=True)))
    query = tuple(
        HeaderMatchIR(name, string_match(m, presence=True))
        for name, m in sorted(match.query_params.items())
    )
    path = string_match(match.uri) if match.uri else RouteMatchIR().path
    return RouteMatchIR(path, tuple(headers), query, match.ignore_uri_case)


def is_catch_all(match: RouteMatchIR) -> bool:
    """Istio's IsCatchAllRoute: matches every request, so later routes are unreachable."""
    path = match.path
    everything = (path.kind is MatchKind.PREFIX and path.value == "/") or (
        path.kind is MatchKind.REGEX and path.value in ("*", ".*", "/.*")
    )
    return everything and not match.headers and not match.query_params


# --- actions --------------------------------------------------------------------------


def _authority_key(name: str) -> bool:
    return name.lower() in ("host", ":authority")


def _values(headers: dict[str, str], append: bool) -> list[HeaderValueIR]:
    return [
        HeaderValueIR(name, value, append)
        for name, value in sorted(headers.items())
        if not _authority_key(name)
    ]


def header_ops(headers: Headers | None) -> HeaderOpsIR | None:
    if headers is None:
        return None
    request = headers.request or HeaderOperations()
    response = headers.response or HeaderOperations()
    authority = next((v for k, v in request.add.items() if _authority_key(k)), "")
    authority = next((v for k, v in request.set.items() if _authority_key(k)), authority)
    ops = HeaderOpsIR(
        request_add=tuple(_values(request.set, False) + _values(request.add, True)),
        request_remove=tuple(request.remove),
        response_add=tuple(_values(response.set, False) + _values(response.add, True)),
        response_remove=tuple(response.remove),
        authority=authority,
    )
    return ops if ops != HeaderOpsIR() else None


def redirect(spec: HTTPRedirect, listener_port: int) -> RedirectIR:
    """Istio's ApplyRedirect: FROM_REQUEST_PORT is the listener's port (the route is built
    for one port); an explicit :80 for http or :443 for https is left out."""
    port = spec.port or 0
    if spec.derive_port is RedirectPortSelection.FROM_REQUEST_PORT:
        port = listener_port
    scheme = spec.scheme or "http"  # sidecars never terminate TLS
    if (port, scheme) in ((80, "http"), (443, "https")):
        port = 0
    return RedirectIR(
        path=spec.uri,
        prefix_rewrite=spec.prefix_rewrite,
        authority=spec.authority,
        port=port,
        scheme=spec.scheme,
        code=spec.redirect_code,
    )


def rewrite(spec: HTTPRewrite | None) -> RewriteIR | None:
    if spec is None:
        return None
    regex = spec.uri_regex_rewrite
    return RewriteIR(
        prefix=spec.uri,
        regex=regex.match if regex else "",
        substitution=regex.rewrite if regex else "",
        authority=spec.authority,
    )


def retries(spec: HTTPRetry | None, consistent_hash: bool) -> RetryIR | None:
    """None: the mesh default policy (which the builder makes). With consistent hashing
    a retry stays on the hashed host, so the previous-hosts predicate is left out."""
    if spec is None:
        return None
    if spec.attempts == 0:
        return RetryIR(attempts=0, retry_on="")
    retry_on = DEFAULT_RETRY_ON
    codes: list[int] = []
    if spec.retry_on:
        words: list[str] = []
        for part in (p.strip() for p in spec.retry_on.split(",")):
            if part.isdigit() and 100 <= int(part) <= 599:
                codes.append(int(part))
            elif part:
                words.append(part)
        if codes and "retriable-status-codes" not in words:
            words.append("retriable-status-codes")
        retry_on = ",".join(words)
    previous_hosts = not consistent_hash
    if spec.retry_ignore_previous_hosts is not None:
        previous_hosts = spec.retry_ignore_previous_hosts
    return RetryIR(
        attempts=spec.attempts,
        retry_on=retry_on,
        retriable_status_codes=tuple(codes),
        per_try_timeout_s=spec.per_try_timeout,
        previous_hosts=previous_hosts,
        remote_localities=bool(spec.retry_remote_localities),
        backoff_s=spec.backoff,
    )


def _percent(percentage: Percent | None, deprecated: int | None = None) -> float:
    if percentage is not None:
        return percentage.value
    return float(deprecated or 0)


def fault(spec: HTTPFaultInjection | None) -> FaultIR | None:
    if spec is None:
        return None
    delay, abort = spec.delay, spec.abort
    return FaultIR(
        delay_s=delay.fixed_delay if delay else None,
        delay_percent=_percent(delay.percentage, delay.percent) if delay else 0.0,
        abort_http_status=abort.http_status if abort else None,
        abort_grpc_status=GRPC_STATUS[abort.grpc_status] if abort and abort.grpc_status else None,
        abort_percent=_percent(abort.percentage) if abort else 0.0,
    )


def _max_age(seconds: float | None) -> str:
    return "" if seconds is None else str(int(seconds))


def cors(spec: CorsPolicy | None) -> CorsIR | None:
    if spec is None:
        return None
    origins = [string_match(o) for o in spec.allow_origins] or [
        StringMatchIR(MatchKind.EXACT, o) for o in spec.allow_origin
    ]
    return CorsIR(
        allow_origins=tuple(origins),
        allow_methods=",".join(spec.allow_methods),
        allow_headers=",".join(spec.allow_headers),
        expose_headers=",".join(spec.expose_headers),
        max_age=_max_age(spec.max_age),
        allow_credentials=spec.allow_credentials,
        forward_not_matching_preflights=spec.unmatched_preflights is not UnmatchedPreflights.IGNORE,
    )


def mirrors(rule: HTTPRoute, cluster_of: ClusterOf) -> tuple[MirrorIR, ...]:
    out: list[MirrorIR] = []
    if rule.mirror is not None:
        percent = _percent(rule.mirror_percentage, rule.mirror_percent)
        if rule.mirror_percentage is None and rule.mirror_percent is None:
            percent = 100.0
        if percent > 0:
            out.append(MirrorIR(cluster_of(rule.mirror), percent))
    for policy in rule.mirrors:
        percent = 100.0 if policy.percentage is None else policy.percentage.value
        if percent > 0:
            out.append(MirrorIR(cluster_of(policy.destination), percent))
    return tuple(out)


def destinations(rule: HTTPRoute, cluster_of: ClusterOf) -> tuple[WeightedDestinationIR, ...]:
    """Weighted clusters; Istio drops zero-weight destinations when there are several."""
    several = len(rule.route) > 1
    return tuple(
        WeightedDestinationIR(
            cluster_of(d.destination), d.weight if several else 100, header_ops(d.headers)
        )
        for d in rule.route
        if not several or d.weight > 0
    )


def _hash_policies(rule: HTTPRoute, hash_of: HashOf) -> tuple[HashPolicyIR, ...]:
    several = len(rule.route) > 1
    found: list[HashPolicyIR] = []
    for destination in rule.route:
        if several and not destination.weight:
            continue
        policy = hash_of(destination.destination)
        if policy is not None and policy not in found:  # (one or two destinations)
            found.append(policy)
    return tuple(found)


# --- rules ---------------------------------------------------------------------------


def http_routes(
    rules: list[HTTPRoute],
    prefix: str,
    provenance: tuple[str, ...],
    listener_port: int,
    source: SourceIR,
    cluster_of: ClusterOf,
    hash_of: HashOf,
) -> list[RouteIR]:
    """The routes of a VirtualService's http rules for one listener port and one caller.
    `prefix` names routes of unnamed rules (`<namespace>.<name>`)."""
    routes: list[RouteIR] = []
    for i, rule in enumerate(rules):
        matches: list[HTTPMatchRequest | None] = list(rule.match) or [None]
        # a route per match block, each one built once (10,000 of them in a large mesh)
        clusters, shared = _rule_route(rule, cluster_of, hash_of, listener_port, provenance)
        for j, match in enumerate(matches):
            if match is not None and match.port is not None and match.port != listener_port:
                continue
            if not source.matches(match):
                continue
            name = rule.name or f"{prefix}.{i}"
            if len(matches) > 1:
                name += f".{(match.name if match else None) or j}"
            ir = route_match(match)
            routes.append(
                RouteIR(
                    name,
                    ir,
                    clusters,
                    provenance,
                    stat_prefix=match.stat_prefix if match else "",
                    **shared,
                )
            )
            if is_catch_all(ir):
                return routes
    return routes


def _rule_route(
    rule: HTTPRoute,
    cluster_of: ClusterOf,
    hash_of: HashOf,
    listener_port: int,
    provenance: tuple[str, ...],
) -> tuple[tuple[WeightedDestinationIR, ...], dict[str, Any]]:
    """A rule's destinations and the RouteIR fields its match blocks share (all but the
    name, match, provenance and stat prefix)."""
    shared: dict[str, Any] = {
        "headers": header_ops(rule.headers),
        "fault": fault(rule.fault),
        "cors": cors(rule.cors_policy),
    }
    if rule.redirect is not None:
        shared["redirect"] = redirect(rule.redirect, listener_port)
        return (), shared
    if rule.direct_response is not None:
        body = rule.direct_response.body
        shared["direct_response"] = DirectResponseIR(
            rule.direct_response.status, body.string if body else None, body.bytes if body else None
        )
        return (), shared
    hashes = _hash_policies(rule, hash_of)
    shared["timeout_s"] = rule.timeout or None
    shared["retries"] = retries(rule.retries, consistent_hash=bool(hashes) and len(rule.route) == 1)
    shared["rewrite"] = rewrite(rule.rewrite)
    shared["mirrors"] = mirrors(rule, cluster_of)
    shared["hash_policies"] = hashes
    return destinations(rule, cluster_of), shared
