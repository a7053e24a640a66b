"""Envoy protos for traffic management: route matches and actions beyond "forward to
these clusters", the HTTP filters they need, DestinationRule cluster settings, and
outbound TCP/TLS filter chains. Shapes follow Istio's translation (cited per function)
so an Envoy dump reads the same as under Istio.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.common.matcher.v3 import matcher_pb2
from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import cluster_pb2 as dfp_cluster_pb2
from envoy.extensions.common.dynamic_forward_proxy.v3 import dns_cache_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import (
    dynamic_forward_proxy_pb2 as dfp_filter_pb2,
)
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3 import (
    sni_dynamic_forward_proxy_pb2 as sni_dfp_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3 import (
    client_side_weighted_round_robin_pb2 as cswrr_pb2,
)
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3 import previous_priorities_config_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.matcher.v3 import metadata_pb2, regex_pb2, string_pb2, value_pb2
from envoy.type.v3 import percent_pb2

from translators.envoy.common import cidr_range, duration, pack, provenance, provenance_bytes
from translators.envoy.jwt import claim_value, jwt_metadata
from translators.ir import (
    BackendUtilizationIR,
    CorsIR,
    DestinationPolicyIR,
    DirectResponseIR,
    FaultIR,
    HashPolicyIR,
    HeaderMatchIR,
    HeaderOpsIR,
    HeaderValueIR,
    ListenerIR,
    MatchKind,
    MirrorIR,
    RedirectIR,
    RetryIR,
    RouteIR,
    RouteMatchIR,
    SlowStartIR,
    StringMatchIR,
    TcpRouteIR,
    WeightedDestinationIR,
)
from translators.naming import DFP_DNS_CACHE, parse_outbound_cluster, routing_claim
from translators.traffic.http import DEFAULT_RETRY_ON

FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
DFP_FILTER = "envoy.filters.http.dynamic_forward_proxy"
SNI_DFP_FILTER = "envoy.filters.network.sni_dynamic_forward_proxy"
DFP_CLUSTER_TYPE = "envoy.clusters.dynamic_forward_proxy"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
UINT32_MAX = 2**32 - 1


# --- matches ---------------------------------------------------------------------------


def string_matcher(match: StringMatchIR) -> string_pb2.StringMatcher:
    if match.kind is MatchKind.EXACT:
        return string_pb2.StringMatcher(exact=match.value)
    if match.kind is MatchKind.PREFIX:
        return string_pb2.StringMatcher(prefix=match.value)
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=match.value))


def header_matcher(header: HeaderMatchIR) -> rc.HeaderMatcher:
    """Istio's translateHeaderMatch; an inverted (withoutHeaders) string match treats a
    missing header as empty, so a request without the header is not excluded."""
    out = rc.HeaderMatcher(name=header.name)
    if header.match.kind is MatchKind.PRESENT:
        out.present_match = True
    else:
        out.string_match.CopyFrom(string_matcher(header.match))
        if header.invert:
            out.treat_missing_header_as_empty = True
    if header.invert:
        out.invert_match = True
    return out


def claim_matcher(claim: tuple[str, ...], header: HeaderMatchIR) -> metadata_pb2.MetadataMatcher:
    """`@request.auth.claims.<claim>`: the claim of the token jwt_authn verified on this
    sidecar (Istio's MetadataMatcherForJWTClaims); a missing claim never matches, so
    `withoutHeaders` on it matches requests without it."""
    if header.match.kind is MatchKind.PRESENT:
        value = value_pb2.ValueMatcher(present_match=True)
    else:
        value = claim_value(string_matcher(header.match))
    matcher = jwt_metadata(claim, value)
    matcher.invert = header.invert
    return matcher


def route_match(ir: RouteMatchIR) -> rc.RouteMatch:
    match = rc.RouteMatch()
    if ir.path.kind is MatchKind.EXACT:
        match.path = ir.path.value
    elif ir.path.kind is MatchKind.PREFIX:
        match.prefix = ir.path.value
    else:
        match.safe_regex.regex = ir.path.value
    if ir.ignore_case:
        match.case_sensitive.value = False
    for header in ir.headers:
        claim = routing_claim(header.name)
        if claim is None:
            match.headers.append(header_matcher(header))
        else:
            match.dynamic_metadata.append(claim_matcher(claim, header))
    for query in ir.query_params:
        matcher = match.query_parameters.add(name=query.name)
        if query.match.kind is MatchKind.PRESENT:
            matcher.present_match = True
        else:
            matcher.string_match.CopyFrom(string_matcher(query.match))
    return match


# --- actions ---------------------------------------------------------------------------


def _fraction(percent: float) -> percent_pb2.FractionalPercent:
    """Istio's translatePercentToFractionalPercent: per million, so 0.1% survives."""
    return percent_pb2.FractionalPercent(
        numerator=round(percent * 10000), denominator=percent_pb2.FractionalPercent.MILLION
    )


def _header_values(values: tuple[HeaderValueIR, ...]) -> list[base_pb2.HeaderValueOption]:
    option = base_pb2.HeaderValueOption
    return [
        option(
            header=base_pb2.HeaderValue(key=v.name, value=v.value),
            append_action=option.APPEND_IF_EXISTS_OR_ADD
            if v.append
            else option.OVERWRITE_IF_EXISTS_OR_ADD,
        )
        for v in values
    ]


def _apply_headers(target: rc.Route | rc.WeightedCluster.ClusterWeight, ops: HeaderOpsIR) -> None:
    target.request_headers_to_add.extend(_header_values(ops.request_add))
    target.request_headers_to_remove.extend(ops.request_remove)
    target.response_headers_to_add.extend(_header_values(ops.response_add))
    target.response_headers_to_remove.extend(ops.response_remove)


@lru_cache(maxsize=1)
def _previous_hosts() -> rc.RetryPolicy.RetryHostPredicate:
    return rc.RetryPolicy.RetryHostPredicate(
        name="envoy.retry_host_predicates.previous_hosts",
        typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate()),
    )


@lru_cache(maxsize=2)
def default_retry_policy(previous_hosts: bool = True) -> rc.RetryPolicy:
    """The mesh default when a rule sets no retries (Istio's retry.DefaultPolicy): its
    retryOn, 2 attempts and no retriable status code — since Istio 1.24 a 503 from the
    upstream is not retried by default. With consistent hashing the retry stays on the
    hashed host: no previous-hosts predicate. Shared and cached: copy it, never mutate it."""
    policy = rc.RetryPolicy(
        retry_on=DEFAULT_RETRY_ON,
        num_retries={"value": 2},
        host_selection_retry_max_attempts=5,
    )
    if previous_hosts:
        policy.retry_host_predicate.append(_previous_hosts())
    return policy


def retry_policy(ir: RetryIR) -> rc.RetryPolicy:
    """Istio's retry.ConvertPolicy for an explicit policy."""
    policy = rc.RetryPolicy(
        retry_on=ir.retry_on,
        num_retries={"value": ir.attempts},
        host_selection_retry_max_attempts=5,
        retriable_status_codes=list(ir.retriable_status_codes),
    )
    if ir.previous_hosts:
        policy.retry_host_predicate.append(_previous_hosts())
    if ir.per_try_timeout_s is not None:
        policy.per_try_timeout.CopyFrom(duration(ir.per_try_timeout_s))
    if ir.remote_localities:
        policy.retry_priority.name = "envoy.retry_priorities.previous_priorities"
        policy.retry_priority.typed_config.CopyFrom(
            pack(previous_priorities_config_pb2.PreviousPrioritiesConfig(update_frequency=2))
        )
    if ir.backoff_s is not None:
        policy.retry_back_off.base_interval.CopyFrom(duration(ir.backoff_s))
    return policy


def _hash_policy(ir: HashPolicyIR) -> rc.RouteAction.HashPolicy:
    policy = rc.RouteAction.HashPolicy()
    if ir.header:
        policy.header.header_name = ir.header
    elif ir.cookie:
        policy.cookie.name = ir.cookie
        policy.cookie.path = ir.cookie_path
        if ir.cookie_ttl_s is not None:
            policy.cookie.ttl.CopyFrom(duration(ir.cookie_ttl_s))
        for name, value in ir.cookie_attributes:
            policy.cookie.attributes.add(name=name, value=value)
    elif ir.source_ip:
        policy.connection_properties.source_ip = True
    else:
        policy.query_parameter.name = ir.query_parameter
    return policy


def _mirror(ir: MirrorIR) -> rc.RouteAction.RequestMirrorPolicy:
    mirror = rc.RouteAction.RequestMirrorPolicy(
        cluster=ir.destination, trace_sampled={"value": False}
    )
    mirror.runtime_fraction.default_value.CopyFrom(_fraction(ir.percent))
    return mirror


def _weighted(wc: WeightedDestinationIR) -> rc.WeightedCluster.ClusterWeight:
    weight = rc.WeightedCluster.ClusterWeight(name=wc.destination, weight={"value": wc.weight})
    if wc.headers is not None:
        _apply_headers(weight, wc.headers)
        if wc.headers.authority:
            weight.host_rewrite_literal = wc.headers.authority
    return weight


def _forward(route: rc.Route, ir: RouteIR) -> None:
    """Istio's applyHTTPRouteDestination."""
    action = route.route
    action.timeout.CopyFrom(duration(ir.timeout_s or 0))
    # Istio's setTimeout: a gRPC client's `grpc-timeout` header is honoured, capped by the
    # route's timeout (0: uncapped); without it Envoy ignores the header. Like Istio, the
    # deprecated field: its replacement (max_stream_duration.grpc_timeout_header_max)
    # switches the route to Envoy's "new timeouts", where `timeout` no longer applies.
    action.max_grpc_timeout.CopyFrom(duration(ir.timeout_s or 0))
    authority = ir.headers.authority if ir.headers else ""
    if ir.rewrite is not None:
        if ir.rewrite.regex:
            action.regex_rewrite.pattern.regex = ir.rewrite.regex
            action.regex_rewrite.substitution = ir.rewrite.substitution
        elif ir.rewrite.prefix:
            action.prefix_rewrite = ir.rewrite.prefix
        authority = ir.rewrite.authority or authority
    if authority:
        action.host_rewrite_literal = authority
    action.request_mirror_policies.extend(_mirror(m) for m in ir.mirrors)
    if len(ir.destinations) == 1:
        (only,) = ir.destinations
        action.cluster = only.destination
        if only.headers is not None:
            # one destination: its header edits apply after the rule's, on the route
            _apply_headers(route, only.headers)
            if only.headers.authority and not authority:
                action.host_rewrite_literal = only.headers.authority
    else:
        action.weighted_clusters.clusters.extend(_weighted(wc) for wc in ir.destinations)
    action.hash_policy.extend(_hash_policy(h) for h in ir.hash_policies)
    consistent = bool(ir.hash_policies) and len(ir.destinations) == 1
    if ir.retries is None:
        action.retry_policy.CopyFrom(default_retry_policy(previous_hosts=not consistent))
    elif ir.retries.attempts > 0:
        action.retry_policy.CopyFrom(retry_policy(ir.retries))


def _redirect(ir: RedirectIR) -> rc.RedirectAction:
    """Istio's ApplyRedirect."""
    out = rc.RedirectAction(host_redirect=ir.authority)
    if ir.prefix_rewrite:
        out.prefix_rewrite = ir.prefix_rewrite
    elif ir.path:
        out.path_redirect = ir.path
    if ir.scheme:
        out.scheme_redirect = ir.scheme
    if ir.port:
        out.port_redirect = ir.port
    out.response_code = {
        301: rc.RedirectAction.MOVED_PERMANENTLY,
        302: rc.RedirectAction.FOUND,
        303: rc.RedirectAction.SEE_OTHER,
        307: rc.RedirectAction.TEMPORARY_REDIRECT,
        308: rc.RedirectAction.PERMANENT_REDIRECT,
    }[ir.code]
    return out


def _direct_response(ir: DirectResponseIR) -> rc.DirectResponseAction:
    out = rc.DirectResponseAction(status=ir.status)
    if ir.body is not None:
        out.body.inline_string = ir.body
    elif ir.body_base64 is not None:
        out.body.inline_bytes = base64.b64decode(ir.body_base64)
    return out


def fault_config(ir: FaultIR) -> fault_pb2.HTTPFault:
    """Istio's TranslateFault: no percentage given means 0% (nothing injected)."""
    out = fault_pb2.HTTPFault()
    if ir.delay_s is not None:
        out.delay.fixed_delay.CopyFrom(duration(ir.delay_s))
        out.delay.percentage.CopyFrom(_fraction(ir.delay_percent))
    if ir.abort_http_status is not None:
        out.abort.http_status = ir.abort_http_status
        out.abort.percentage.CopyFrom(_fraction(ir.abort_percent))
    elif ir.abort_grpc_status is not None:
        out.abort.grpc_status = ir.abort_grpc_status
        out.abort.percentage.CopyFrom(_fraction(ir.abort_percent))
    return out


def cors_config(ir: CorsIR) -> cors_pb2.CorsPolicy:
    """Istio's TranslateCORSPolicy."""
    out = cors_pb2.CorsPolicy(
        allow_origin_string_match=[string_matcher(o) for o in ir.allow_origins],
        allow_methods=ir.allow_methods,
        allow_headers=ir.allow_headers,
        expose_headers=ir.expose_headers,
        max_age=ir.max_age,
        forward_not_matching_preflights={"value": ir.forward_not_matching_preflights},
    )
    out.filter_enabled.default_value.CopyFrom(_fraction(100))
    if ir.allow_credentials is not None:
        out.allow_credentials.value = ir.allow_credentials
    return out


def route_operation(route: rc.Route, virtual_host: str) -> str:
    """Istio's GetRouteOperation, the span name tracing shows: `host:port` of the route's
    only cluster, else of its virtual host (`VirtualService name:port` in Istio), then
    the path match (`/*` for every path)."""
    path = operation_path(route.match)
    parsed = parse_outbound_cluster(route.route.cluster) if route.HasField("route") else None
    if parsed is not None:
        port, _subset, fqdn = parsed
        return f"{fqdn}:{port}{path}"
    return virtual_host + path


def operation_path(match: rc.RouteMatch) -> str:
    """The path part of a route's operation: `/prefix*`, the exact path or the regex."""
    which = match.WhichOneof("path_specifier")
    path: str = "/*"
    if which == "prefix":
        path = match.prefix + "*"
    elif which == "path":
        path = match.path
    elif which == "safe_regex":
        path = match.safe_regex.regex
    return path


def forward_action(action: rc.RouteAction, ir: RouteIR) -> None:
    """The RouteAction of a forwarding route whose destinations edit no headers
    (`translators/envoy/route_bytes.py` serializes it once per setting)."""
    route = rc.Route()
    _forward(route, ir)
    action.CopyFrom(route.route)


def build_route(ir: RouteIR, virtual_host: str) -> rc.Route:
    """`virtual_host`: the name (`host:port`) of the virtual host the route is in."""
    route = rc.Route(name=ir.name, match=route_match(ir.match))
    if ir.headers is not None:
        _apply_headers(route, ir.headers)
    if ir.redirect is not None:
        route.redirect.CopyFrom(_redirect(ir.redirect))
    elif ir.direct_response is not None:
        route.direct_response.CopyFrom(_direct_response(ir.direct_response))
    else:
        _forward(route, ir)
    route.decorator.operation = route_operation(route, virtual_host)
    if ir.fault is not None:
        route.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(fault_config(ir.fault)))
    if ir.cors is not None:
        route.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(cors_config(ir.cors)))
    if ir.stat_prefix:
        route.stat_prefix = ir.stat_prefix
    if ir.provenance:
        route.metadata.ParseFromString(provenance_bytes(ir.provenance))
    return route


# --- HTTP filters of outbound listeners ----------------------------------------------


@lru_cache(maxsize=1)
def dns_cache_config() -> dns_cache_pb2.DnsCacheConfig:
    """One cache for every dynamic forward proxy filter and cluster (they must agree)."""
    return dns_cache_pb2.DnsCacheConfig(
        name=DFP_DNS_CACHE, dns_lookup_family=cluster_pb2.Cluster.V4_PREFERRED
    )


def outbound_http_filters(ir: ListenerIR) -> list[hcm.HttpFilter]:
    """CORS and fault injection are always there on outbound HTTP (as in Istio): they
    act only on routes that configure them, so a VirtualService change never has to
    touch the listener. The dynamic forward proxy only where a route needs it."""
    filters = [
        hcm.HttpFilter(name=CORS_FILTER, typed_config=pack(cors_pb2.Cors())),
        hcm.HttpFilter(name=FAULT_FILTER, typed_config=pack(fault_pb2.HTTPFault())),
    ]
    if ir.forward_proxy:
        config = dfp_filter_pb2.FilterConfig(dns_cache_config=dns_cache_config())
        filters.append(hcm.HttpFilter(name=DFP_FILTER, typed_config=pack(config)))
    return filters


# --- clusters --------------------------------------------------------------------------


def dynamic_forward_proxy(cluster: cluster_pb2.Cluster) -> None:
    """Make `cluster` Envoy's dynamic forward proxy: upstream = the request's authority."""
    config = dfp_cluster_pb2.ClusterConfig(
        dns_cache_config=dns_cache_config(),
        # TLS to a forward-proxied host is the application's (or a DestinationRule's) choice
        allow_insecure_cluster_options=True,
    )
    cluster.ClearField("type")
    cluster.cluster_type.name = DFP_CLUSTER_TYPE
    cluster.cluster_type.typed_config.CopyFrom(pack(config))
    cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED


def _thresholds(ir: DestinationPolicyIR) -> circuit_breaker_pb2.CircuitBreakers.Thresholds:
    """Istio's getDefaultCircuitBreakerThresholds, then the connection pool's limits and
    the retry budget (applyRetryBudget; Envoy then ignores max_retries)."""
    thresholds = circuit_breaker_pb2.CircuitBreakers.Thresholds(
        max_connections={"value": ir.max_connections or UINT32_MAX},
        max_pending_requests={"value": ir.max_pending_requests or UINT32_MAX},
        max_requests={"value": ir.max_requests or UINT32_MAX},
        max_retries={"value": ir.max_retries or UINT32_MAX},
        track_remaining=True,
    )
    if ir.retry_budget is not None:
        budget = thresholds.retry_budget
        budget.budget_percent.value = ir.retry_budget.percent
        budget.min_retry_concurrency.value = ir.retry_budget.min_concurrency
    return thresholds


def _status_matcher(codes: tuple[int, ...]) -> matcher_pb2.MatchPredicate:
    """Istio's applyOutlierDetectionErrorCodes: a response is an outlier-detection error
    when its `:status` is one of `codes` (and only then)."""
    rules = [
        matcher_pb2.MatchPredicate(
            http_response_headers_match=matcher_pb2.HttpHeadersMatch(
                headers=[
                    rc.HeaderMatcher(
                        name=":status", string_match=string_pb2.StringMatcher(exact=str(code))
                    )
                ]
            )
        )
        for code in codes
    ]
    if len(rules) == 1:
        return rules[0]
    return matcher_pb2.MatchPredicate(or_match=matcher_pb2.MatchPredicate.MatchSet(rules=rules))


def _outlier(ir: DestinationPolicyIR, cluster: cluster_pb2.Cluster) -> None:
    """Istio's applyOutlierDetection."""
    spec = ir.outlier
    if spec is None:
        return
    out = outlier_detection_pb2.OutlierDetection(enforcing_success_rate={"value": 0})
    if spec.consecutive_5xx is not None:
        out.consecutive_5xx.value = spec.consecutive_5xx
        out.enforcing_consecutive_5xx.value = 100 if spec.consecutive_5xx > 0 else 0
    if spec.consecutive_gateway is not None:
        out.consecutive_gateway_failure.value = spec.consecutive_gateway
        out.enforcing_consecutive_gateway_failure.value = 100 if spec.consecutive_gateway > 0 else 0
    if spec.interval_s is not None:
        out.interval.CopyFrom(duration(spec.interval_s))
    if spec.base_ejection_s is not None:
        out.base_ejection_time.CopyFrom(duration(spec.base_ejection_s))
    if spec.max_ejection_percent is not None:
        out.max_ejection_percent.value = spec.max_ejection_percent
    if spec.split_local_origin:
        out.split_external_local_origin_errors = True
        if spec.consecutive_local_origin:
            out.consecutive_local_origin_failure.value = spec.consecutive_local_origin
            out.enforcing_consecutive_local_origin_failure.value = 100
        out.enforcing_local_origin_success_rate.value = 0
    cluster.outlier_detection.CopyFrom(out)
    # Istio disables the panic threshold by default: with few endpoints per service,
    # panic mode would send traffic to the very hosts outlier detection ejected.
    cluster.common_lb_config.healthy_panic_threshold.value = float(spec.min_health_percent)


def _protocol_options(
    ir: DestinationPolicyIR,
) -> http_protocol_options_pb2.HttpProtocolOptions | None:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    common = options.common_http_protocol_options
    if ir.idle_timeout_s is not None:
        common.idle_timeout.CopyFrom(duration(ir.idle_timeout_s))
    if ir.max_requests_per_connection is not None:
        common.max_requests_per_connection.value = ir.max_requests_per_connection
    if ir.max_connection_duration_s is not None:
        common.max_connection_duration.CopyFrom(duration(ir.max_connection_duration_s))
    if ir.use_client_protocol:
        options.use_downstream_protocol_config.SetInParent()
    elif ir.http2:
        http2 = protocol_pb2.Http2ProtocolOptions()
        if ir.max_concurrent_streams is not None:
            http2.max_concurrent_streams.value = ir.max_concurrent_streams
        if ir.http2_keepalive is not None:
            http2.connection_keepalive.interval.CopyFrom(duration(ir.http2_keepalive.interval_s))
            http2.connection_keepalive.timeout.CopyFrom(duration(ir.http2_keepalive.timeout_s))
        options.explicit_http_config.http2_protocol_options.CopyFrom(http2)
    if ir.outlier_error_codes:
        options.outlier_detection.error_matcher.CopyFrom(_status_matcher(ir.outlier_error_codes))
    if options == http_protocol_options_pb2.HttpProtocolOptions():
        return None
    if not options.HasField("use_downstream_protocol_config") and not options.HasField(
        "explicit_http_config"
    ):
        # Envoy requires the upstream protocol to be chosen when the options are given
        options.explicit_http_config.http_protocol_options.SetInParent()
    return options


def apply_policy(cluster: cluster_pb2.Cluster, ir: DestinationPolicyIR) -> None:
    """Istio's applyConnectionPool / applyOutlierDetection / ApplyRingHashLoadBalancer."""
    cluster.circuit_breakers.thresholds.append(_thresholds(ir))
    if ir.tcp_keepalive is not None:
        keepalive = cluster.upstream_connection_options.tcp_keepalive
        keepalive.SetInParent()
        if ir.tcp_keepalive.probes is not None:
            keepalive.keepalive_probes.value = ir.tcp_keepalive.probes
        if ir.tcp_keepalive.time_s is not None:
            keepalive.keepalive_time.value = int(ir.tcp_keepalive.time_s)
        if ir.tcp_keepalive.interval_s is not None:
            keepalive.keepalive_interval.value = int(ir.tcp_keepalive.interval_s)
    options = _protocol_options(ir)
    if options is not None:
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))
    _outlier(ir, cluster)
    if ir.ring_hash_min_size is not None:
        cluster.ring_hash_lb_config.minimum_ring_size.value = ir.ring_hash_min_size
    if ir.maglev_table_size is not None:
        cluster.maglev_lb_config.table_size.value = ir.maglev_table_size
    if ir.slow_start is not None:
        _slow_start(cluster, ir.slow_start)
    if ir.backend_utilization is not None:
        _backend_utilization(cluster, ir.backend_utilization)
    if ir.zone_aware is not None and cluster.lb_policy != cluster_pb2.Cluster.CLUSTER_PROVIDED:
        # Istio's ZoneAwareLBSettings.ApplyToCluster (Envoy acts on it only with a local
        # cluster, Istio's proxy self-discovery)
        zone_aware = cluster.common_lb_config.zone_aware_lb_config
        zone_aware.SetInParent()
        if not ir.zone_aware:
            zone_aware.routing_enabled.value = 0
        if ir.zone_aware_min_cluster_size is not None:
            zone_aware.min_cluster_size.value = ir.zone_aware_min_cluster_size
    if ir.locality_weighted:
        cluster.common_lb_config.locality_weighted_lb_config.SetInParent()


_SLOW_START_TYPES = (
    cluster_pb2.Cluster.EDS,
    cluster_pb2.Cluster.STATIC,
    cluster_pb2.Cluster.STRICT_DNS,
    cluster_pb2.Cluster.LOGICAL_DNS,
)


_CSWRR = "envoy.load_balancing_policies.client_side_weighted_round_robin"


def _backend_utilization(cluster: cluster_pb2.Cluster, ir: BackendUtilizationIR) -> None:
    """`backendUtilization` as Envoy's client_side_weighted_round_robin policy (which
    replaces `lb_policy`), on clusters Envoy balances itself; a warmup moves into it."""
    if cluster.WhichOneof("cluster_discovery_type") != "type":
        return
    if cluster.type not in _SLOW_START_TYPES:
        return
    config = cswrr_pb2.ClientSideWeightedRoundRobin()
    if ir.error_penalty is not None:
        config.error_utilization_penalty.value = ir.error_penalty
    config.metric_names_for_computing_utilization.extend(ir.metric_names)
    if ir.expiration_s is not None:
        config.weight_expiration_period.CopyFrom(duration(ir.expiration_s))
    if ir.blackout_s is not None:
        config.blackout_period.CopyFrom(duration(ir.blackout_s))
    if ir.update_s is not None:
        config.weight_update_period.CopyFrom(duration(ir.update_s))
    for field in ("round_robin_lb_config", "least_request_lb_config"):
        balancer = getattr(cluster, field)
        if balancer.HasField("slow_start_config"):
            # (the common SlowStartConfig has the cluster one's fields and numbers)
            config.slow_start_config.MergeFromString(balancer.slow_start_config.SerializeToString())
            cluster.ClearField(field)
    policy = cluster.load_balancing_policy.policies.add()
    policy.typed_extension_config.name = _CSWRR
    policy.typed_extension_config.typed_config.CopyFrom(pack(config))


def _slow_start(cluster: cluster_pb2.Cluster, ir: SlowStartIR) -> None:
    """Istio's setWarmup / setSlowStartConfig, on the balancer's own config. Clusters whose
    balancer is not Envoy's (original destination, dynamic forward proxy) get none, as in
    Istio's applyLoadBalancer."""
    if cluster.WhichOneof("cluster_discovery_type") != "type":
        return
    if cluster.type not in _SLOW_START_TYPES:
        return
    if cluster.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN:
        config = cluster.round_robin_lb_config.slow_start_config
    elif cluster.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST:
        config = cluster.least_request_lb_config.slow_start_config
    else:
        return
    config.slow_start_window.CopyFrom(duration(ir.window_s))
    if ir.aggression is not None:
        # Envoy requires a runtime key; Istio's fixed "(" is one no deployment sets
        config.aggression.default_value = ir.aggression
        config.aggression.runtime_key = "("
    if ir.min_weight_percent is not None:
        config.min_weight_percent.value = ir.min_weight_percent


# --- outbound TCP / TLS listeners --------------------------------------------------


def tcp_proxy(chain: TcpRouteIR, stat_prefix: str) -> tcp_proxy_pb2.TcpProxy:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix)
    if len(chain.destinations) == 1:
        proxy.cluster = chain.destinations[0].destination
    else:
        for wc in chain.destinations:
            proxy.weighted_clusters.clusters.add(name=wc.destination, weight=wc.weight)
    if chain.tunnel is not None:
        proxy.tunneling_config.hostname = chain.tunnel.hostname
        proxy.tunneling_config.use_post = chain.tunnel.use_post
    return proxy


def tcp_filter_chain(
    chain: TcpRouteIR, proxy: tcp_proxy_pb2.TcpProxy
) -> listener_components_pb2.FilterChain:
    out = listener_components_pb2.FilterChain(name=chain.name)
    if chain.sni_forward_proxy_port:
        # resolves the SNI into the DNS cache the forward proxy cluster reads (Istio's
        # DYNAMIC_DNS for TLS)
        config = sni_dfp_pb2.FilterConfig(
            dns_cache_config=dns_cache_config(), port_value=chain.sni_forward_proxy_port
        )
        out.filters.add(name=SNI_DFP_FILTER, typed_config=pack(config))
    out.filters.add(name=TCP_PROXY_FILTER, typed_config=pack(proxy))
    if chain.server_names:
        out.filter_chain_match.server_names.extend(chain.server_names)
    if chain.destination_prefixes:
        out.filter_chain_match.prefix_ranges.extend(map(cidr_range, chain.destination_prefixes))
    if chain.provenance:
        out.metadata.CopyFrom(provenance(chain.provenance))
    return out
