"""VirtualService HTTP features through the behaviour evaluator: which route a described
request takes (every match feature), what a redirect or direct response answers, and
what the destination receives (rewrites, header edits). The same tables are then sent
through a real Envoy serving the generated route configuration, so the evaluator (and
so these tables) cannot drift from what Envoy does."""

from __future__ import annotations

import http.client

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from tests.envoy_validate import find_envoy
from tests.golden.cases import case_named, translate_case
from tests.translators.test_behaviour_envoy import envoy_serving
from translators.behaviour.routing import (
    Decision,
    Request,
    route,
    route_config_for_port,
    upstream_request,
)
from translators.translate import ProxyResources

REVIEWS = "reviews.default.svc.cluster.local"
RATINGS = "ratings.default.svc.cluster.local"


def reviews(subset: str) -> str:
    return f"outbound|9080|{subset}|{REVIEWS}"


def ratings(subset: str) -> str:
    return f"outbound|8080|{subset}|{RATINGS}"


def proxy(case: str) -> ProxyResources:
    _, (only,) = translate_case(case_named(case))
    return only


@pytest.fixture(scope="module")
def matches_config() -> route_pb2.RouteConfiguration:
    return route_config_for_port(proxy("vs-http-matches").resources, 9080)


@pytest.fixture(scope="module")
def actions_config() -> route_pb2.RouteConfiguration:
    return route_config_for_port(proxy("vs-http-actions").resources, 8080)


# --- every match feature (tests/golden/testdata/in/vs-http-matches.yaml) --------------

# (request, route name, cluster) for requests to `reviews` on port 9080
MATCH_TABLE: list[tuple[Request, str, str]] = [
    (Request("reviews", "/", {"end-user": "jason"}), "jason", reviews("v2")),
    (Request("reviews", "/", {"end-user": "jasonx"}), "default", reviews("v1")),
    # presence (`regex: "*"`) and withoutHeaders (a missing header does not exclude)
    (Request("reviews", "/", {"x-debug": "1"}), "debug-not-internal", reviews("v3")),
    (
        Request("reviews", "/", {"x-debug": "yes", "x-internal": "no"}),
        "debug-not-internal",
        reviews("v3"),
    ),
    (Request("reviews", "/", {"x-debug": "1", "x-internal": "true"}), "default", reviews("v1")),
    # query parameters, ANDed with the uri of the same block; blocks are ORed
    (Request("reviews", "/books?version=3"), "query.0", reviews("v3")),
    (Request("reviews", "/books/x?a=1&version=3"), "query.0", reviews("v3")),
    (Request("reviews", "/books?version=33"), "default", reviews("v1")),
    (Request("reviews", "/shelf?version=3"), "default", reviews("v1")),
    (Request("reviews", "/?beta&id=42"), "query.flagged", reviews("v3")),
    (Request("reviews", "/x?id=7&beta=no"), "query.flagged", reviews("v3")),
    (Request("reviews", "/?beta=1&id=x42"), "default", reviews("v1")),
    (Request("reviews", "/?id=42"), "default", reviews("v1")),
    # method, with an exact uri
    (Request("reviews", "/reviews", method="POST"), "writes", reviews("v2")),
    (Request("reviews", "/reviews", method="PUT"), "writes", reviews("v2")),
    (Request("reviews", "/reviews"), "default", reviews("v1")),
    (Request("reviews", "/reviews/1", method="POST"), "default", reviews("v1")),
    (Request("reviews", "/reviews?draft=1", method="POST"), "writes", reviews("v2")),
    # ignoreUriCase
    (Request("reviews", "/legacy/index"), "case", reviews("v1")),
    (Request("reviews", "/LEGACY/INDEX"), "case", reviews("v1")),
    # authority (a prefix of what the caller sent, port included) + scheme + uri regex
    (Request("reviews.default", "/v1/books"), "authority", reviews("v2")),
    (Request("reviews.default.svc:9080", "/v2/x"), "authority", reviews("v2")),
    (Request("reviews", "/v1/books"), "default", reviews("v1")),
    (Request("reviews.default", "/v1"), "default", reviews("v1")),
    (Request("reviews.default", "/v12/x"), "default", reviews("v1")),
    # a block for port 9443 is not on the 9080 listener; the catch-all ends the rules
    (Request("reviews", "/admin"), "default", reviews("v1")),
]


@pytest.mark.parametrize(("request_", "route_name", "cluster"), MATCH_TABLE)
def test_match_features(
    matches_config: route_pb2.RouteConfiguration, request_: Request, route_name: str, cluster: str
) -> None:
    decision = route(matches_config, request_)
    assert decision is not None
    assert (decision.route, decision.cluster) == (route_name, cluster)


def test_nothing_after_a_catch_all(matches_config: route_pb2.RouteConfiguration) -> None:
    names = [r.name for vh in matches_config.virtual_hosts for r in vh.routes]
    assert "unreachable" not in names
    assert "admin-port" not in names  # its only block is for another port


# --- actions (tests/golden/testdata/in/vs-http-actions.yaml) -----------------------------

# (request, route, action, status, Location or body)
ANSWER_TABLE: list[tuple[Request, str, str, int, str | None]] = [
    (
        Request("ratings", "/old/a/b?x=1"),
        "moved",
        "redirect",
        308,
        "http://ratings.example.com/new/a/b?x=1",
    ),
    # a scheme change keeps a non-default port (Envoy drops only :80 from http)
    (Request("ratings:8080", "/login"), "to-https", "redirect", 301, "https://ratings:8080/signin"),
    (Request("ratings", "/here"), "same-port", "redirect", 302, "http://ratings:8080/there"),
    (Request("ratings", "/gone/1"), "gone", "direct_response", 410, '{"error": "gone"}'),
    (Request("ratings", "/bin"), "binary", "direct_response", 503, "unknown error"),
]


def _answer(decision: Decision) -> str | None:
    return decision.location if decision.action == "redirect" else decision.body


@pytest.mark.parametrize(("request_", "route_name", "action", "status", "answer"), ANSWER_TABLE)
def test_redirects_and_direct_responses(
    actions_config: route_pb2.RouteConfiguration,
    request_: Request,
    route_name: str,
    action: str,
    status: int,
    answer: str,
) -> None:
    decision = route(actions_config, request_)
    assert decision is not None
    assert (decision.route, decision.action, decision.status) == (route_name, action, status)
    assert _answer(decision) == answer
    assert decision.clusters == ()


# (request, cluster, upstream authority, upstream path, headers that must be there)
UPSTREAM_TABLE: list[tuple[Request, str | None, str, str, dict[str, str]]] = [
    (Request("ratings", "/api/v1/stars?n=5"), None, "ratings.internal", "/v1/stars?n=5", {}),
    (Request("ratings", "/users/42/ratings"), None, "ratings", "/ratings?user=42", {}),
    (
        Request("ratings", "/", {"x-secret": "s", "x-trail": "client"}),
        ratings("v1"),
        "ratings.internal",
        "/",
        {"x-mesh": "xdscp", "x-trail": "client,ratings", "x-subset": "v1"},
    ),
    (
        Request("ratings", "/"),
        ratings("v2"),
        "ratings.internal",  # the rule's rewrite wins over the destination's (as in Istio)
        "/",
        {"x-mesh": "xdscp", "x-trail": "ratings", "x-subset": "v2"},
    ),
]


@pytest.mark.parametrize(("request_", "cluster", "host", "path", "headers"), UPSTREAM_TABLE)
def test_what_the_destination_receives(
    actions_config: route_pb2.RouteConfiguration,
    request_: Request,
    cluster: str | None,
    host: str,
    path: str,
    headers: dict[str, str],
) -> None:
    decision = route(actions_config, request_)
    assert decision is not None
    upstream = upstream_request(decision, request_, cluster)
    assert (upstream.host, upstream.path) == (host, path)
    assert headers.items() <= dict(upstream.headers).items()
    assert "x-secret" not in upstream.headers


def test_route_level_settings(actions_config: route_pb2.RouteConfiguration) -> None:
    """Timeouts, retries, faults, mirrors and CORS as Envoy will run them."""

    def raw(path: str) -> rc.Route:
        decision = route(actions_config, Request("ratings", path))
        assert decision is not None and decision.raw is not None
        return decision.raw

    slow = raw("/slow").route
    assert slow.timeout.ToMilliseconds() == 500
    assert slow.retry_policy.num_retries.value == 3
    assert slow.retry_policy.per_try_timeout.ToMilliseconds() == 200
    assert slow.retry_policy.retry_on == "5xx,gateway-error,retriable-status-codes"
    assert list(slow.retry_policy.retriable_status_codes) == [503]
    assert not raw("/once").route.HasField("retry_policy")
    default = raw("/api/v1/").route
    assert default.timeout.ToMilliseconds() == 0  # Istio: no timeout unless asked
    assert default.retry_policy.num_retries.value == 2  # Istio's default policy
    (mirror,) = raw("/mirror").route.request_mirror_policies
    assert mirror.cluster == "outbound|9090||shadow.default.svc.cluster.local"
    assert mirror.runtime_fraction.default_value.numerator == 125_000  # 12.5% per million
    (only_shadow,) = raw("/mirrors").route.request_mirror_policies  # the 0% one is dropped
    assert only_shadow.runtime_fraction.default_value.numerator == 1_000_000
    assert "envoy.filters.http.fault" in raw("/faulty").typed_per_filter_config
    assert "envoy.filters.http.cors" in raw("/cors").typed_per_filter_config


# --- the same tables through real Envoy ----------------------------------------------


def answering_forwards(config: route_pb2.RouteConfiguration) -> route_pb2.RouteConfiguration:
    """A copy of `config` whose forwarding routes answer `<route>|<cluster>` (redirects and
    direct responses stay as they are: Envoy answers them itself)."""
    out = route_pb2.RouteConfiguration()
    out.CopyFrom(config)
    out.ClearField("metadata")
    for vhost in out.virtual_hosts:
        for candidate in vhost.routes:
            if candidate.WhichOneof("action") != "route":
                continue
            action = candidate.route
            target = action.cluster or ",".join(c.name for c in action.weighted_clusters.clusters)
            candidate.ClearField("route")
            candidate.ClearField("typed_per_filter_config")
            candidate.direct_response.status = 200
            candidate.direct_response.body.inline_string = f"{candidate.name}|{target}"
    return out


def _send(port: int, request: Request) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            request.method, request.path, headers={"Host": request.host, **request.headers}
        )
        response = conn.getresponse()
        return response.status, response.getheader("location") or "", response.read().decode()
    finally:
        conn.close()


def _expected(config: route_pb2.RouteConfiguration, request: Request) -> tuple[int, str, str]:
    decision = route(config, request)
    if decision is None:
        return 404, "", ""
    if decision.action == "redirect":
        return decision.status, decision.location, ""
    if decision.action == "direct_response":
        return decision.status, "", decision.body or ""
    target = ",".join(c for c, _ in decision.clusters)
    return 200, "", f"{decision.route}|{target}"


@pytest.mark.e2e
@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
@pytest.mark.parametrize(
    ("fixture", "requests"),
    [
        ("matches_config", [r for r, _, _ in MATCH_TABLE]),
        ("actions_config", [r for r, *_ in ANSWER_TABLE] + [r for r, *_ in UPSTREAM_TABLE]),
    ],
)
def test_envoy_agrees(
    fixture: str, requests: list[Request], request: pytest.FixtureRequest
) -> None:
    config: route_pb2.RouteConfiguration = request.getfixturevalue(fixture)
    with envoy_serving(answering_forwards(config)) as port:
        answers = [(r, _send(port, r), _expected(config, r)) for r in requests]
    disagreements = [f"{r}:\n  envoy     {e}\n  evaluator {o}" for r, e, o in answers if e != o]
    assert not disagreements, "\n".join(disagreements)
