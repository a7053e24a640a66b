"""DestinationRule fields translated into Envoy's upstream settings the way Istio's pilot
does (cluster_traffic_policy.go, route.go ConsistentHashToHashPolicy): warmup, HTTP/2
keepalive, outlier-detection status codes, retry budget, PROXY protocol, cookie
attributes. Judged on the golden case `dr-upstream-fields` (which real Envoy validates
in tests/golden) and on Istio's merge rules."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from tests.golden.cases import case_named, translate_case
from tests.translators.helpers import mesh_of
from translators.analysis import analyze
from translators.behaviour.routing import Request, route_on_port
from translators.envoy.clusters import build_cluster, cluster_bytes
from translators.ir import DestinationIR, DestinationPolicyIR, LoadBalancing, Resolution
from translators.model.networking import DestinationRuleSpec, Protocol
from translators.naming import CLUSTER_TYPE
from translators.traffic.policy import cluster_policy, effective_policy
from translators.translate import ProxyResources

RATINGS = "ratings.default.svc.cluster.local"
OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@pytest.fixture(scope="module")
def proxy() -> ProxyResources:
    _, (only,) = translate_case(case_named("dr-upstream-fields"))
    return only


def cluster(resources: ProxyResources, port: int, subset: str = "") -> cluster_pb2.Cluster:
    name = f"outbound|{port}|{subset}|{RATINGS}"
    for resource in resources.of_type(CLUSTER_TYPE):
        if resource.name == name:
            message = resource.message
            assert isinstance(message, cluster_pb2.Cluster)
            return message
    raise LookupError(name)


def options(c: cluster_pb2.Cluster) -> http_protocol_options_pb2.HttpProtocolOptions:
    out = http_protocol_options_pb2.HttpProtocolOptions()
    assert c.typed_extension_protocol_options[OPTIONS].Unpack(out)
    return out


# --- warmup -> slow_start_config -------------------------------------------------------


def test_warmup_ramps_up_new_endpoints_of_the_round_robin_balancer(proxy: ProxyResources) -> None:
    top = cluster(proxy, 9080)
    assert top.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    slow = top.round_robin_lb_config.slow_start_config
    assert slow.slow_start_window.seconds == 60
    assert slow.aggression.default_value == 2.0
    assert slow.aggression.runtime_key == "("  # Istio's fixed key
    assert slow.min_weight_percent.value == 5.0


def test_deprecated_warmup_duration_sets_only_the_window(proxy: ProxyResources) -> None:
    v1 = cluster(proxy, 9080, "v1")
    assert v1.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST
    slow = v1.least_request_lb_config.slow_start_config
    assert slow.slow_start_window.seconds == 30
    assert not slow.HasField("aggression") and not slow.HasField("min_weight_percent")


def test_consistent_hashing_has_no_slow_start(proxy: ProxyResources) -> None:
    """v2 hashes on a cookie: its ring-hash config replaces the balancer's (as in Istio),
    although the top-level warmup would otherwise apply field by field."""
    v2 = cluster(proxy, 9080, "v2")
    assert v2.lb_policy == cluster_pb2.Cluster.RING_HASH
    assert v2.WhichOneof("lb_config") == "ring_hash_lb_config"


def test_warmup_defaults_are_istios() -> None:
    ir = DestinationIR(
        "c",
        Resolution.STATIC,
        LoadBalancing.ROUND_ROBIN,
        policy=_policy({"loadBalancer": {"simple": "ROUND_ROBIN", "warmup": {"duration": "9s"}}}),
    )
    slow = build_cluster(ir).round_robin_lb_config.slow_start_config
    assert (slow.slow_start_window.seconds, slow.aggression.default_value) == (9, 1.0)
    assert slow.min_weight_percent.value == 10.0


def test_original_destination_clusters_get_no_slow_start() -> None:
    ir = DestinationIR(
        "c",
        Resolution.ORIGINAL_DESTINATION,
        LoadBalancing.PASSTHROUGH,
        policy=_policy({"loadBalancer": {"warmup": {"duration": "9s"}}}),
    )
    assert build_cluster(ir).WhichOneof("lb_config") is None


# --- http2KeepAlive -> HTTP/2 PINGs ----------------------------------------------------


def test_http2_keepalive_applies_to_clusters_speaking_http2(proxy: ProxyResources) -> None:
    grpc = options(cluster(proxy, 9090)).explicit_http_config.http2_protocol_options
    assert grpc.connection_keepalive.interval.seconds == 30
    assert grpc.connection_keepalive.timeout.seconds == 5
    # the HTTP/1.1 port has no HTTP/2 options to put PINGs in (Istio sets none either)
    http1 = options(cluster(proxy, 9080)).explicit_http_config
    assert not http1.HasField("http2_protocol_options")


# --- outlierDetectionHttpErrorCodes -> error_matcher -----------------------------------


def test_outlier_detection_counts_the_listed_statuses(proxy: ProxyResources) -> None:
    both = options(cluster(proxy, 9080)).outlier_detection.error_matcher
    statuses = [
        rule.http_response_headers_match.headers[0].string_match.exact
        for rule in both.or_match.rules
    ]
    assert statuses == ["500", "503"]
    assert all(
        r.http_response_headers_match.headers[0].name == ":status" for r in both.or_match.rules
    )
    one = options(cluster(proxy, 9080, "v1")).outlier_detection.error_matcher
    assert one.http_response_headers_match.headers[0].string_match.exact == "429"
    assert cluster(proxy, 9080, "v1").outlier_detection.consecutive_5xx.value == 2


# --- retryBudget -> circuit breaker retry_budget ----------------------------------------


def test_retry_budget_and_istios_defaults(proxy: ProxyResources) -> None:
    top = cluster(proxy, 9080).circuit_breakers.thresholds[0].retry_budget
    assert (top.budget_percent.value, top.min_retry_concurrency.value) == (25.0, 5)
    empty = cluster(proxy, 9080, "v1").circuit_breakers.thresholds[0].retry_budget
    assert (empty.budget_percent.value, empty.min_retry_concurrency.value) == (20.0, 3)


def test_budget_interval_is_reported_not_translated() -> None:
    text = (
        case_named("dr-upstream-fields")
        .path.read_text(encoding="utf-8")
        .replace(
            "retryBudget: {percent: 25, minRetryConcurrency: 5}",
            "retryBudget: {percent: 25, minRetryConcurrency: 5, budgetInterval: 10s}",
        )
    )
    found = {(m.code, m.field) for m in analyze(mesh_of(text)).messages if m.code == "XDS0803"}
    assert found == {("XDS0803", "spec.trafficPolicy.retryBudget.budgetInterval")}


# --- proxyProtocol -> upstream_proxy_protocol transport socket ---------------------------


def _proxy_protocol(
    c: cluster_pb2.Cluster,
) -> upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport:
    assert c.transport_socket.name == "envoy.transport_sockets.upstream_proxy_protocol"
    out = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport()
    assert c.transport_socket.typed_config.Unpack(out)
    return out


def test_proxy_protocol_wraps_plain_tcp(proxy: ProxyResources) -> None:
    wrapped = _proxy_protocol(cluster(proxy, 9080, "v2"))
    assert wrapped.config.version == wrapped.config.V2
    assert wrapped.transport_socket.name == "envoy.transport_sockets.raw_buffer"


def test_proxy_protocol_goes_before_tls(proxy: ProxyResources) -> None:
    wrapped = _proxy_protocol(cluster(proxy, 9080, "v3"))
    assert wrapped.config.version == wrapped.config.V1
    assert wrapped.transport_socket.name == "envoy.transport_sockets.tls"
    tls = tls_pb2.UpstreamTlsContext()
    assert wrapped.transport_socket.typed_config.Unpack(tls)
    assert tls.sni == "ratings.example"


def test_clusters_without_proxy_protocol_keep_their_socket(proxy: ProxyResources) -> None:
    assert not cluster(proxy, 9080).HasField("transport_socket")
    assert not cluster(proxy, 9080, "v1").HasField("transport_socket")


def test_the_byte_assembly_equals_the_built_cluster_with_proxy_protocol() -> None:
    policy = _policy({"proxyProtocol": {"version": "V2"}})
    ir = DestinationIR(
        "outbound|80||a.b", Resolution.ENDPOINTS, LoadBalancing.ROUND_ROBIN, policy=policy
    )
    parsed = cluster_pb2.Cluster.FromString(cluster_bytes(ir))
    assert parsed == build_cluster(ir)
    assert parsed.transport_socket.name == "envoy.transport_sockets.upstream_proxy_protocol"


# --- cookie attributes -> the generated cookie -------------------------------------------


def test_cookie_attributes_reach_the_hash_policy(proxy: ProxyResources) -> None:
    decision = route_on_port(proxy.resources, 9080, Request("ratings", "/sticky"))
    assert decision is not None and decision.raw is not None
    (policy,) = decision.raw.route.hash_policy
    assert policy.cookie.name == "session"
    assert [(a.name, a.value) for a in policy.cookie.attributes] == [
        ("SameSite", "Strict"),
        ("Secure", ""),
    ]


# --- merge rules -------------------------------------------------------------------------


def test_proxy_protocol_and_retry_budget_merge_as_in_istio() -> None:
    """A subset's proxyProtocol / retryBudget override the top level's; a port-level
    entry (which cannot hold them) drops the top level's for its port, while a subset's
    port-level entry keeps what the level above resolved to (Istio's MergeTrafficPolicy)."""
    spec = DestinationRuleSpec.model_validate(
        {
            "host": "r",
            "trafficPolicy": {
                "proxyProtocol": {"version": "V1"},
                "retryBudget": {"percent": 10},
                "portLevelSettings": [
                    {"port": {"number": 81}, "loadBalancer": {"simple": "RANDOM"}}
                ],
            },
            "subsets": [
                {"name": "s", "trafficPolicy": {"proxyProtocol": {"version": "V2"}}},
                {
                    "name": "p",
                    "trafficPolicy": {
                        "portLevelSettings": [
                            {"port": {"number": 80}, "loadBalancer": {"simple": "RANDOM"}}
                        ]
                    },
                },
            ],
        }
    )
    top = spec.traffic_policy
    assert top is not None
    subset = spec.subsets[0].traffic_policy
    port_subset = spec.subsets[1].traffic_policy
    at_80 = effective_policy(top, subset, 80)
    assert at_80.proxy_protocol is not None and at_80.proxy_protocol.version == "V2"
    assert at_80.retry_budget is not None and at_80.retry_budget.percent == 10
    at_81 = effective_policy(top, None, 81)
    assert at_81.proxy_protocol is None and at_81.retry_budget is None
    kept = effective_policy(top, port_subset, 80)
    assert kept.proxy_protocol is not None and kept.proxy_protocol.version == "V1"
    assert kept.retry_budget is not None


def test_the_translated_fields_are_not_reported() -> None:
    text = case_named("dr-upstream-fields").path.read_text(encoding="utf-8")
    assert not [m for m in analyze(mesh_of(text)).messages if m.code == "XDS0803"]


def _policy(traffic_policy: dict[str, object]) -> DestinationPolicyIR:
    spec = DestinationRuleSpec.model_validate({"host": "r", "trafficPolicy": traffic_policy})
    return cluster_policy(effective_policy(spec.traffic_policy, None, 80), Protocol.HTTP)
