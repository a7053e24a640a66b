"""Behaviour tests: described requests through the generated config (DESIGN §7). They
assert where traffic goes, so they survive any re-encoding of the same meaning."""

from __future__ import annotations

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from tests.golden.cases import case_named, translate_case
from translators.behaviour.routing import (
    Decision,
    Request,
    Unsupported,
    endpoints,
    host_without_port,
    route,
    route_config_for_port,
    route_on_port,
    select_virtual_host,
    to_service,
)
from translators.naming import ALLOW_ANY_DYNAMIC_DNS
from translators.translate import ProxyResources

ORDER = "order-service.default.svc.cluster.local"
REVIEWS = "reviews.default.svc.cluster.local"


def proxies(case: str) -> dict[str, ProxyResources]:
    _, results = translate_case(case_named(case))
    return {r.proxy: r for r in results}


# --- the canary ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canary() -> dict[str, ProxyResources]:
    return proxies("canary")


@pytest.mark.parametrize(
    "host",
    [
        "order-service",
        "order-service:8080",
        "order-service.default",
        "order-service.default.svc:8080",
        f"{ORDER}",
        "Order-Service:8080",
    ],
)
def test_canary_client_splits_90_10(canary: dict[str, ProxyResources], host: str) -> None:
    decision = route_on_port(canary["default/client"].resources, 8080, Request(host, "/orders"))
    assert decision is not None
    assert decision.virtual_host == f"{ORDER}:8080"
    assert decision.route == "default.order-service-routing.0"
    assert decision.share(f"outbound|8080|v1|{ORDER}") == pytest.approx(0.9)
    assert decision.share(f"outbound|8080|v2|{ORDER}") == pytest.approx(0.1)


@pytest.mark.parametrize("host", ["order-service.other", "payments"])
def test_canary_client_unknown_authority_is_not_a_service(
    canary: dict[str, ProxyResources], host: str
) -> None:
    """No service takes it: it reaches the ALLOW_ANY catch-all (Istio's default policy)."""
    decision = route_on_port(canary["default/client"].resources, 8080, Request(host))
    assert decision is not None
    assert decision.virtual_host == ALLOW_ANY_DYNAMIC_DNS
    assert to_service(decision) is None


def test_canary_client_ignores_the_authority_port(canary: dict[str, ProxyResources]) -> None:
    """Istio's sidecar route configurations ignore the Host's port
    (`ignore_port_in_host_matching`): a name with any port reaches that name's service."""
    config = route_config_for_port(canary["default/client"].resources, 8080)
    assert config is not None and config.ignore_port_in_host_matching
    for vhost in config.virtual_hosts:
        assert all(":" not in domain for domain in vhost.domains), vhost.domains
    decision = route_on_port(
        canary["default/client"].resources, 8080, Request("order-service:9090")
    )
    assert decision is not None
    assert decision.virtual_host == f"{ORDER}:8080"


def test_canary_subsets_reach_their_version(canary: dict[str, ProxyResources]) -> None:
    resources = canary["default/client"].resources
    assert endpoints(resources, f"outbound|8080|v1|{ORDER}") == [("127.0.2.1", 8080, 1)]
    assert endpoints(resources, f"outbound|8080|v2|{ORDER}") == [("127.0.2.2", 8080, 1)]
    assert sorted(endpoints(resources, f"outbound|8080||{ORDER}")) == [
        ("127.0.2.1", 8080, 1),
        ("127.0.2.2", 8080, 1),
    ]


def test_canary_inbound_reaches_the_local_app(canary: dict[str, ProxyResources]) -> None:
    resources = canary["default/order-v1"].resources
    decision = route_on_port(resources, 8080, Request("anything"), address="127.0.2.1")
    assert decision is not None
    assert endpoints(resources, decision.cluster) == [("127.0.2.1", 18080, 1)]


def test_canary_client_has_no_other_listener(canary: dict[str, ProxyResources]) -> None:
    with pytest.raises(LookupError):
        route_config_for_port(canary["default/client"].resources, 9080)


# --- route order and matchers (golden case route-matches) ------------------------------


@pytest.fixture(scope="module")
def productpage() -> ProxyResources:
    return proxies("route-matches")["default/productpage"]


def v(subset: str) -> str:
    return f"outbound|9080|{subset}|{REVIEWS}"


DEFAULT_SPLIT = ((v("v1"), 75), (v("v2"), 25))

# (path, headers, route name, clusters) of requests to `reviews` on port 9080
ROUTE_TABLE: list[tuple[str, dict[str, str], str, tuple[tuple[str, int], ...]]] = [
    ("/", {}, "default", DEFAULT_SPLIT),
    ("/", {"End-User": "jason"}, "jason", ((v("v2"), 100),)),
    ("/health", {"end-user": "jason"}, "jason", ((v("v2"), 100),)),  # first match wins
    ("/", {"end-user": "Jason"}, "default", DEFAULT_SPLIT),  # values are case-sensitive
    ("/", {"x-team": "qa-berlin", "x-canary": "yes"}, "testers", ((v("v3"), 100),)),
    ("/", {"x-team": "qa-berlin"}, "default", DEFAULT_SPLIT),  # every header must match
    ("/", {"x-team": "qa-1", "x-canary": "yesss"}, "default", DEFAULT_SPLIT),  # full match
    ("/health", {}, "health", ((v("v1"), 100),)),
    ("/health?verbose=1", {}, "health", ((v("v1"), 100),)),  # exact ignores the query
    ("/healthz", {}, "default", DEFAULT_SPLIT),
    ("/items/42", {}, "default.reviews.3.items", ((v("v3"), 100),)),
    ("/items/42?full=1", {}, "default.reviews.3.items", ((v("v3"), 100),)),
    ("/items/abc", {}, "default", DEFAULT_SPLIT),
    ("/api/v3/books", {}, "default.reviews.3.1", ((v("v3"), 100),)),
    ("/api/v3", {}, "api", ((v("v2"), 100),)),  # prefix /api/v3/ needs the slash
    ("/apiary", {}, "api", ((v("v2"), 100),)),  # prefixes are not path segments
    ("/admin", {}, "default", DEFAULT_SPLIT),  # that match is for port 9443 only
]


@pytest.mark.parametrize(("path", "headers", "route_name", "clusters"), ROUTE_TABLE)
def test_route_matches_in_order(
    productpage: ProxyResources,
    path: str,
    headers: dict[str, str],
    route_name: str,
    clusters: tuple[tuple[str, int], ...],
) -> None:
    decision = route_on_port(productpage.resources, 9080, Request("reviews", path, headers))
    assert decision == Decision(f"{REVIEWS}:9080", route_name, clusters)


def test_zero_weight_destination_is_never_picked(productpage: ProxyResources) -> None:
    decision = route_on_port(productpage.resources, 9080, Request("reviews", "/api"))
    assert decision is not None
    assert decision.share(v("v1")) == 0.0
    assert decision.cluster == v("v2")


@pytest.mark.parametrize(
    ("host", "found"),
    [
        ("reviews", True),
        ("REVIEWS:9080", True),
        (f"{REVIEWS}:9080", True),
        ("reviews:9081", True),  # the port is ignored, as in Istio
        ("ratings", False),
    ],
)
def test_route_matches_authorities(productpage: ProxyResources, host: str, found: bool) -> None:
    decision = to_service(route_on_port(productpage.resources, 9080, Request(host)))
    assert (decision is not None) is found


# --- Envoy's virtual host selection on its own -----------------------------------------


def config(*domains_by_vhost: tuple[str, list[str]]) -> route_pb2.RouteConfiguration:
    return route_pb2.RouteConfiguration(
        name="test",
        virtual_hosts=[
            rc.VirtualHost(
                name=name,
                domains=domains,
                routes=[
                    rc.Route(
                        name=f"{name}-all",
                        match=rc.RouteMatch(prefix="/"),
                        route=rc.RouteAction(cluster=name),
                    )
                ],
            )
            for name, domains in domains_by_vhost
        ],
    )


DOMAINS = config(
    ("default", ["*"]),
    ("prefix-short", ["api.*"]),
    ("prefix-long", ["api.internal.*"]),
    ("suffix-short", ["*.example.com"]),
    ("suffix-long", ["*.api.example.com"]),
    ("suffix-dash", ["*-canary.example.com"]),
    ("exact", ["api.example.com", "api.example.com:443"]),
)

# (Host header, virtual host Envoy picks) under DOMAINS
DOMAIN_TABLE: list[tuple[str, str]] = [
    ("api.example.com", "exact"),  # exact beats every wildcard
    ("API.Example.com:443", "exact"),
    ("v2.api.example.com", "suffix-long"),  # longest suffix first
    ("www.example.com", "suffix-short"),
    ("web-canary.example.com", "suffix-dash"),
    ("www.example.com:8443", "default"),  # the port is part of the host
    ("api.example.com:8443", "prefix-short"),
    ("example.com", "default"),  # `*.example.com` needs something before the dot
    ("api.internal.corp", "prefix-long"),  # longest prefix first
    ("api.corp", "prefix-short"),
    ("www.api.corp", "default"),
    ("api.", "default"),  # a wildcard never matches the empty string
    ("-canary.example.com", "suffix-short"),  # ... so the next suffix gets it
    (".example.com", "default"),
]


@pytest.mark.parametrize(("host", "vhost"), DOMAIN_TABLE)
def test_virtual_host_selection(host: str, vhost: str) -> None:
    selected = select_virtual_host(DOMAINS, host)
    assert selected is not None
    assert selected.name == vhost


def test_suffix_beats_prefix_and_no_default_means_404() -> None:
    both = config(("prefix", ["www.*"]), ("suffix", ["*.example.com"]))
    found = route(both, Request("www.example.com"))
    assert found is not None
    assert found.cluster == "suffix"
    assert route(both, Request("other.org")) is None


def test_unmodelled_matchers_are_refused_not_ignored() -> None:
    unusual = config(("a", ["*"]))
    unusual.virtual_hosts[0].routes[0].match.grpc.SetInParent()
    with pytest.raises(Unsupported, match="grpc"):
        route(unusual, Request("a"))


# --- Sidecar egress, DNS services, domain collisions -----------------------------------


@pytest.mark.parametrize(
    ("proxy", "port", "host", "cluster"),
    [
        ("shop/web", 8080, "cart", "outbound|8080||cart.shop.svc.cluster.local"),
        ("shop/web", 8080, "pay.payments", "outbound|8080||pay.payments.svc.cluster.local"),
        ("shop/web", 8080, "catalog", None),  # only on web's 9090 listener
        ("shop/web", 9090, "catalog", "outbound|9090||catalog.shop.svc.cluster.local"),
        ("shop/web", 8080, "api.partner.example", None),
        ("shop/worker", 8080, "catalog", "outbound|8080||catalog.shop.svc.cluster.local"),
        ("shop/worker", 9090, "catalog:9090", "outbound|9090||catalog.shop.svc.cluster.local"),
        ("shop/worker", 8080, "pay.payments", None),  # `./*` is the shop namespace only
        ("ops/tool", 8080, "metrics", "outbound|8080||metrics.ops.svc.cluster.local"),
        ("ops/tool", 8080, "cart.shop", None),
    ],
)
def test_sidecar_egress_visibility(proxy: str, port: int, host: str, cluster: str | None) -> None:
    resources = proxies("sidecar-egress")[proxy].resources
    decision = to_service(route_on_port(resources, port, Request(host)))
    assert (decision.cluster if decision else None) == cluster


def test_dns_services_resolve_their_endpoints_or_their_own_name() -> None:
    resources = proxies("dns-resolution")["default/client"].resources
    decision = route_on_port(resources, 80, Request("api.partner.example"))
    assert decision is not None
    assert endpoints(resources, decision.cluster) == [
        ("api-1.partner.example", 80, 1),
        ("api-2.partner.example", 8080, 3),
    ]
    decision = route_on_port(resources, 80, Request("httpbin.example:80"))
    assert decision is not None
    assert endpoints(resources, decision.cluster) == [("httpbin.example", 80, 1)]


@pytest.mark.parametrize(
    ("host", "vhost"),
    [
        ("foo.bar", "foo.bar:80"),
        ("foo.bar:80", "foo.bar:80"),
        ("foo.bar.svc", "foo.bar.svc.cluster.local:80"),
        ("foo", None),  # another namespace's service: no bare name
    ],
)
def test_colliding_alias_goes_to_the_service_of_that_name(host: str, vhost: str | None) -> None:
    resources = proxies("domain-collision")["default/client"].resources
    decision = to_service(route_on_port(resources, 80, Request(host)))
    assert (decision.virtual_host if decision else None) == vhost


@pytest.mark.parametrize(
    ("host", "without"),
    [
        ("reviews:9080", "reviews"),
        ("reviews", "reviews"),
        ("[::1]:80", "[::1]"),
        ("name:", "name:"),
        ("[::1]", "[::1]"),
        ("reviews:http", "reviews:http"),
    ],
)
def test_host_without_port_as_envoy_strips_it(host: str, without: str) -> None:
    assert host_without_port(host) == without
