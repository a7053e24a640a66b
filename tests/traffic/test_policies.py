"""Caller-dependent routes, TCP/TLS routes, DestinationRule policies and ServiceEntry
resolution, judged by what the generated config does (behaviour evaluator), and the
sharing that keeps caller-dependent routing cheap."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from tests.golden.cases import case_named, translate_case
from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.behaviour.routing import Request, route_on_port, tcp_route, to_service
from translators.ir import LoadBalancing, Resolution
from translators.mesh import MeshOptions
from translators.model.networking import DestinationRuleSpec
from translators.naming import (
    ALLOW_ANY_DYNAMIC_DNS_CLUSTER,
    BLOCK_ALL,
    CLUSTER_TYPE,
    ROUTE_TYPE,
)
from translators.traffic.policy import effective_policy
from translators.translate import MeshTranslator, ProxyResources, translate

REVIEWS = "reviews.default.svc.cluster.local"


def proxies(case: str) -> dict[str, ProxyResources]:
    _, results = translate_case(case_named(case))
    return {r.proxy: r for r in results}


def cluster(resources: ProxyResources, name: str) -> cluster_pb2.Cluster:
    for resource in resources.of_type(CLUSTER_TYPE):
        if resource.name == name:
            message = resource.message
            assert isinstance(message, cluster_pb2.Cluster)
            return message
    raise LookupError(name)


# --- sourceLabels / sourceNamespace ----------------------------------------------------


@pytest.fixture(scope="module")
def source_match() -> dict[str, ProxyResources]:
    return proxies("vs-source-match")


@pytest.mark.parametrize(
    ("caller", "subset"),
    [
        ("default/client", "v1"),
        ("default/other-client", "v1"),
        ("default/canary-client", "v2"),  # sourceLabels track=canary
        ("tools/debugger", "v2"),  # sourceNamespace tools
    ],
)
def test_source_matches(source_match: dict[str, ProxyResources], caller: str, subset: str) -> None:
    decision = route_on_port(source_match[caller].resources, 9080, Request("reviews.default"))
    assert decision is not None
    assert decision.cluster == f"outbound|9080|{subset}|{REVIEWS}"


def test_a_virtual_service_for_other_callers_leaves_the_default_route(
    source_match: dict[str, ProxyResources],
) -> None:
    decision = route_on_port(source_match["default/client"].resources, 9080, Request("details"))
    assert decision is not None
    assert decision.route == "default"
    assert decision.action == "route"


def test_callers_that_look_alike_share_one_route_config(
    source_match: dict[str, ProxyResources],
) -> None:
    """Only the label a sourceLabels match tests (`track`) splits the shared outbound
    config: client and other-client (different `app`, same `track`) share it."""

    def routes(proxy: str) -> object:
        (found,) = source_match[proxy].of_type(ROUTE_TYPE)
        return found

    assert routes("default/client") is routes("default/other-client")
    assert routes("default/client") is not routes("default/canary-client")


def test_no_source_labels_anywhere_means_one_config_per_namespace() -> None:
    mesh = mesh_of(
        docs(
            service_entry("a"),
            workload_entry("c1", "10.0.0.1", labels="{app: x, track: one}"),
            workload_entry("c2", "10.0.0.2", labels="{app: y, track: two}"),
        )
    )
    translator = MeshTranslator(mesh)
    first = translator.translate(workload(mesh, "default/c1")).of_type(ROUTE_TYPE)
    second = translator.translate(workload(mesh, "default/c2")).of_type(ROUTE_TYPE)
    assert first[0] is second[0]


# --- tcp / tls routes --------------------------------------------------------------


@pytest.fixture(scope="module")
def tcp_client() -> ProxyResources:
    return proxies("vs-tcp-tls")["default/client"]


@pytest.mark.parametrize(
    ("port", "sni", "clusters"),
    [
        (
            27017,
            None,
            (
                ("outbound|27017|v1|mongo.default.svc.cluster.local", 80),
                ("outbound|27017|v2|mongo.default.svc.cluster.local", 20),
            ),
        ),
        (6379, None, (("outbound|6379||redis.default.svc.cluster.local", 100),)),
        (5000, None, (("outbound|5000||queue-a.default.svc.cluster.local", 100),)),
        (443, "login.bookinfo.com", (("outbound|443||login.bookinfo.com", 100),)),
        (443, "ratings.bookinfo.com", (("outbound|443||login.bookinfo.com", 100),)),
        (443, "api.example.com", (("outbound|443||api.example.com", 100),)),
        (443, "other.bookinfo.com", None),  # its tls route is for port 8443
        (443, "admin.bookinfo.com", None),  # ... and this one for admin callers only
        (443, None, None),  # no SNI, no chain: TLS ports are routed by SNI only
    ],
)
def test_tcp_and_tls_routes(
    tcp_client: ProxyResources,
    port: int,
    sni: str | None,
    clusters: tuple[tuple[str, int], ...] | None,
) -> None:
    found = tcp_route(tcp_client.resources, port, sni)
    assert (found[1] if found else None) == clusters


def test_tcp_services_sharing_a_port_are_reported(tcp_client: ProxyResources) -> None:
    assert any("queue-b" in w and "unreachable" in w for w in tcp_client.view.warnings)


# --- DestinationRule traffic policy ------------------------------------------------


@pytest.fixture(scope="module")
def policies() -> ProxyResources:
    return proxies("dr-traffic-policy")["default/client"]


@pytest.mark.parametrize(
    ("host", "path", "hash_on"),
    [
        ("reviews", "/sticky", "header"),  # subset v1 inherits the top-level hash
        ("cart", "/", "cookie"),
        ("session", "/", "connection_properties"),
        ("search", "/", "query_parameter"),
    ],
)
def test_consistent_hash_goes_on_the_routes(
    policies: ProxyResources, host: str, path: str, hash_on: str
) -> None:
    port = {"reviews": 9080, "cart": 8080, "session": 8081, "search": 8082}[host]
    decision = route_on_port(policies.resources, port, Request(host, path))
    assert decision is not None and decision.raw is not None
    (policy,) = decision.raw.route.hash_policy
    assert policy.WhichOneof("policy_specifier") == hash_on
    lb = cluster(policies, decision.cluster).lb_policy
    assert lb in (cluster_pb2.Cluster.RING_HASH, cluster_pb2.Cluster.MAGLEV)


def test_a_hashed_route_retries_on_the_same_host(policies: ProxyResources) -> None:
    """Istio leaves the previous-hosts retry predicate out when hashing (the retry must
    not move the key to another host) — unless the VirtualService says otherwise."""
    sticky = route_on_port(policies.resources, 9080, Request("reviews", "/sticky"))
    assert sticky is not None and sticky.raw is not None
    assert not sticky.raw.route.retry_policy.retry_host_predicate
    explicit = route_on_port(policies.resources, 9080, Request("reviews", "/retry"))
    assert explicit is not None and explicit.raw is not None
    assert not explicit.raw.route.retry_policy.retry_host_predicate


def test_subset_policy_overrides_the_top_level_field_by_field(policies: ProxyResources) -> None:
    v1 = cluster(policies, f"outbound|9080|v1|{REVIEWS}")
    v2 = cluster(policies, f"outbound|9080|v2|{REVIEWS}")
    v3 = cluster(policies, f"outbound|9080|v3|{REVIEWS}")
    # v2 overrides the load balancer only: the top-level pool and outlier detection stay
    assert v2.lb_policy == cluster_pb2.Cluster.RANDOM
    assert v2.circuit_breakers.thresholds[0].max_connections.value == 100
    assert v2.outlier_detection.consecutive_5xx.value == 5
    # v3 overrides the connection pool wholesale: top-level limits are gone (unlimited)
    assert v3.lb_policy == cluster_pb2.Cluster.RING_HASH
    assert v3.circuit_breakers.thresholds[0].max_connections.value == 2**32 - 1
    assert v3.connect_timeout.ToMilliseconds() == 10_000
    assert v1.connect_timeout.ToMilliseconds() == 250
    assert v1.outlier_detection.enforcing_success_rate.value == 0
    assert v1.common_lb_config.healthy_panic_threshold.value == 25.0


def test_port_level_settings_replace_their_level(policies: ProxyResources) -> None:
    grpc_v1 = cluster(policies, f"outbound|9090|v1|{REVIEWS}")
    # the top level's 9090 entry sets only a load balancer: no pool, no outlier detection
    assert grpc_v1.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert grpc_v1.circuit_breakers.thresholds[0].max_connections.value == 2**32 - 1
    assert not grpc_v1.HasField("outlier_detection")
    # a subset's port-level entry replaces everything for that port
    grpc_v3 = cluster(policies, f"outbound|9090|v3|{REVIEWS}")
    assert grpc_v3.outlier_detection.consecutive_5xx.value == 1
    assert grpc_v3.lb_policy == cluster_pb2.Cluster.LEAST_REQUEST


def test_merge_order_is_istios() -> None:
    spec = DestinationRuleSpec.model_validate(
        {
            "host": "r",
            "trafficPolicy": {
                "loadBalancer": {"simple": "RANDOM"},
                "outlierDetection": {"consecutive5xxErrors": 3},
                "portLevelSettings": [
                    {"port": {"number": 81}, "connectionPool": {"tcp": {"maxConnections": 1}}}
                ],
            },
            "subsets": [
                {
                    "name": "s",
                    "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 7}}},
                }
            ],
        }
    )
    top = spec.traffic_policy
    subset = spec.subsets[0].traffic_policy
    at_80 = effective_policy(top, subset, 80)
    assert at_80.load_balancer is not None and at_80.outlier_detection is not None
    assert at_80.connection_pool is not None and at_80.connection_pool.tcp is not None
    assert at_80.connection_pool.tcp.max_connections == 7
    at_81 = effective_policy(top, None, 81)
    assert at_81.load_balancer is None and at_81.outlier_detection is None  # replaced


def test_grpc_ports_and_upgrades_speak_http2(policies: ProxyResources) -> None:
    options_key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    grpc = cluster(policies, f"outbound|9090||{REVIEWS}")
    assert options_key in grpc.typed_extension_protocol_options
    upgraded = cluster(policies, f"outbound|9080|v3|{REVIEWS}")
    assert options_key in upgraded.typed_extension_protocol_options
    plain = cluster(policies, "outbound|8080||cart.default.svc.cluster.local")
    assert options_key not in plain.typed_extension_protocol_options


def test_passthrough_subset_forwards_to_what_the_caller_asked(policies: ProxyResources) -> None:
    (direct,) = [
        c for c in policies.view.destinations if c.name == f"outbound|9080|direct|{REVIEWS}"
    ]
    assert direct.resolution is Resolution.FORWARD_PROXY
    assert direct.load_balancing is LoadBalancing.PASSTHROUGH


# --- ServiceEntry resolution and outboundTrafficPolicy -------------------------------


@pytest.fixture(scope="module")
def external() -> ProxyResources:
    return proxies("se-resolution")["default/client"]


@pytest.mark.parametrize(
    ("host", "discovery"),
    [
        ("x.api.example.com", Resolution.FORWARD_PROXY),  # NONE, HTTP
        ("partner.example", Resolution.ENDPOINTS),  # STATIC
        ("mirrors.example", Resolution.DNS),  # DNS
        ("httpbin.example", Resolution.DNS),  # DNS, resolving itself
        ("cdn.example", Resolution.DNS_ROUND_ROBIN),  # DNS_ROUND_ROBIN
    ],
)
def test_resolution_decides_the_cluster_type(
    external: ProxyResources, host: str, discovery: Resolution
) -> None:
    decision = to_service(route_on_port(external.resources, 80, Request(host)))
    assert decision is not None
    (found,) = [c for c in external.view.destinations if c.name == decision.cluster]
    assert found.resolution is discovery
    assert found.tls is None  # MESH_EXTERNAL: never auto-mTLS


def test_none_over_tcp_is_original_dst(external: ProxyResources) -> None:
    found = tcp_route(external.resources, 5432)
    assert found is not None
    ((name, _),) = found[1]
    assert cluster(external, name).type == cluster_pb2.Cluster.ORIGINAL_DST


def test_registry_only_blocks_unknown_hosts(external: ProxyResources) -> None:
    decision = route_on_port(external.resources, 80, Request("unknown.example"))
    assert decision is not None
    assert (decision.virtual_host, decision.action, decision.status) == (
        BLOCK_ALL,
        "direct_response",
        502,
    )
    assert ALLOW_ANY_DYNAMIC_DNS_CLUSTER not in {c.name for c in external.view.destinations}


def test_allow_any_forwards_unknown_hosts_by_their_name() -> None:
    mesh = mesh_of(docs(service_entry("a"), workload_entry("c", "10.0.0.1")))
    resources = translate(mesh, workload(mesh, "default/c"))
    decision = route_on_port(resources.resources, 8080, Request("10.9.9.9:8080"))
    assert decision is not None
    assert decision.cluster == ALLOW_ANY_DYNAMIC_DNS_CLUSTER
    assert cluster(resources, ALLOW_ANY_DYNAMIC_DNS_CLUSTER).cluster_type.name == (
        "envoy.clusters.dynamic_forward_proxy"
    )


def test_none_in_file_mode_skips_tcp_that_would_loop() -> None:
    """Without traffic capture ORIGINAL_DST would connect the sidecar to itself."""
    text = docs(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db}\n"
        "spec:\n  hosts: [db.example]\n  resolution: NONE\n"
        "  ports: [{number: 5432, name: tcp, protocol: TCP}]\n",
        workload_entry("c", "127.0.0.9"),
    )
    mesh = mesh_of(text, MeshOptions(local_mode=True))
    result = translate(mesh, workload(mesh, "default/c"))
    assert not [li for li in result.view.listeners if li.port == 5432]
    assert any("needs an original destination" in w for w in result.view.warnings)
