"""GAMMA mesh routing from pure translation: an HTTPRoute whose parentRef is a Service
becomes that Service's sidecar virtual host (weights, matches, filters, timeouts, the
spec's precedence), wins over a VirtualService of the same host (reported), applies to
callers as producer/consumer routes say, names itself as provenance, and gets the spec's
route status per Service parent (Accepted / NoMatchingParent, ResolvedRefs /
BackendNotFound). Checked by real Envoy (`--mode validate`) too."""

from __future__ import annotations

import pytest
from envoy.config.route.v3 import route_pb2

from tests.envoy_validate import find_envoy, validate_resources
from tests.gateway.test_translate import routes, translated
from tests.translators.helpers import docs, mesh_of, service_entry, workload_entry
from translators.explain.explain import explain
from translators.explain.request import ExplainRequest
from translators.gateway.attach import resolve_gateway_api
from translators.gateway.status import RouteStatus, gateway_api_status, invalid_route_status
from translators.mesh import MeshConfig
from translators.translate import MeshTranslator

SERVICES = docs(
    service_entry("reviews", endpoints="[{address: 10.1.0.1}]"),
    service_entry("reviews-v1", endpoints="[{address: 10.1.0.2}]"),
    service_entry("reviews-v2", endpoints="[{address: 10.1.0.3}]"),
    service_entry("ratings", "other", endpoints="[{address: 10.1.0.4}]"),
    workload_entry("client", "10.9.0.3", "default", "{app: client}"),
    workload_entry("outsider", "10.9.0.5", "shop", "{app: outsider}"),
)

ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews-split, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 8080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-canary, value: "yes"}]}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-routed, value: gamma}]}
    backendRefs: [{name: reviews-v2, port: 8080}]
    timeouts: {request: 3s}
  - backendRefs:
    - {name: reviews-v1, port: 8080, weight: 80}
    - {name: reviews-v2, port: 8080, weight: 20}
"""

VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews-v1}}]}]
"""


def reviews_vhost(mesh: MeshConfig, key: str = "default/client") -> route_pb2.VirtualHost:
    config = routes(translated(mesh, key))["8080"]
    return next(v for v in config.virtual_hosts if "reviews.default.svc.cluster.local" in v.domains)


def test_a_service_parent_routes_sidecar_traffic() -> None:
    vhost = reviews_vhost(mesh_of(docs(SERVICES, ROUTE)))
    # the header match first (more matches), as exact + prefix halves of PathPrefix /api
    first, second, split = vhost.routes
    assert first.match.path == "/api" and second.match.prefix == "/api/"
    assert [h.name for h in first.match.headers] == ["x-canary"]
    assert first.route.cluster == "outbound|8080||reviews-v2.default.svc.cluster.local"
    assert first.route.timeout.seconds == 3
    assert [h.header.key for h in first.request_headers_to_add] == ["x-routed"]
    weighted = {c.name: c.weight.value for c in split.route.weighted_clusters.clusters}
    assert weighted == {
        "outbound|8080||reviews-v1.default.svc.cluster.local": 80,
        "outbound|8080||reviews-v2.default.svc.cluster.local": 20,
    }
    assert split.match.prefix == "/"
    # the routes take the Service over: no default route to reviews itself
    assert all(
        r.route.cluster != "outbound|8080||reviews.default.svc.cluster.local" for r in vhost.routes
    )
    assert first.name.startswith("default.reviews-split.")


def test_an_httproute_wins_over_a_virtual_service_of_the_host_and_says_so() -> None:
    mesh = mesh_of(docs(SERVICES, VIRTUAL_SERVICE, ROUTE))
    vhost = reviews_vhost(mesh)
    assert len(vhost.routes) == 3
    assert vhost.routes[2].route.weighted_clusters.clusters
    view = MeshTranslator(mesh).view(mesh.workload("default", "client"))  # type: ignore[arg-type]
    assert any(
        "VirtualService/default/reviews: overridden by HTTPRoute/default/reviews-split" in w
        for w in view.warnings
    ), view.warnings


def test_provenance_names_the_httproute() -> None:
    mesh = mesh_of(docs(SERVICES, ROUTE))
    view = MeshTranslator(mesh).view(mesh.workload("default", "client"))  # type: ignore[arg-type]
    config = next(rc for rc in view.route_tables if rc.name == "8080")
    vhost = next(v for v in config.virtual_hosts if v.name.startswith("reviews.default"))
    assert "HTTPRoute/default/reviews-split" in vhost.provenance
    assert all(r.provenance == ("HTTPRoute/default/reviews-split",) for r in vhost.routes)


def test_parent_port_limits_the_route_to_that_port() -> None:
    other_port = ROUTE.replace("port: 8080}]\n  rules", "port: 9090}]\n  rules")
    vhost = reviews_vhost(mesh_of(docs(SERVICES, other_port), strict=True))
    assert [r.route.cluster for r in vhost.routes] == [
        "outbound|8080||reviews.default.svc.cluster.local"
    ]


CONSUMER = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ratings-for-default, namespace: default}
spec:
  parentRefs: [{kind: Service, group: "", name: ratings, namespace: other}]
  rules: [{backendRefs: [{name: reviews-v1, port: 8080}]}]
"""


def test_a_consumer_route_applies_to_its_own_namespace_only() -> None:
    mesh = mesh_of(docs(SERVICES, CONSUMER))

    def ratings(key: str) -> list[str]:
        config = routes(translated(mesh, key))["8080"]
        vhost = next(
            v for v in config.virtual_hosts if "ratings.other.svc.cluster.local" in v.domains
        )
        return [r.route.cluster for r in vhost.routes]

    assert ratings("default/client") == ["outbound|8080||reviews-v1.default.svc.cluster.local"]
    assert ratings("shop/outsider") == ["outbound|8080||ratings.other.svc.cluster.local"]


def route_conditions(mesh: MeshConfig, ref: str) -> list[dict[str, tuple[bool, str]]]:
    status = gateway_api_status(resolve_gateway_api(mesh))[ref]
    assert isinstance(status, RouteStatus)
    return [{c.type: (c.status, c.reason) for c in p.conditions} for p in status.parents]


def test_status_per_service_parent() -> None:
    mesh = mesh_of(docs(SERVICES, ROUTE))
    assert route_conditions(mesh, "HTTPRoute/default/reviews-split") == [
        {"Accepted": (True, "Accepted"), "ResolvedRefs": (True, "ResolvedRefs")}
    ]
    broken = ROUTE.replace("name: reviews-v1", "name: missing").replace(
        "name: reviews, port: 8080", "name: nowhere"
    )
    mesh = mesh_of(docs(SERVICES, broken))
    assert route_conditions(mesh, "HTTPRoute/default/reviews-split") == [
        {"Accepted": (False, "NoMatchingParent"), "ResolvedRefs": (False, "BackendNotFound")}
    ]
    wrong_port = ROUTE.replace("port: 8080}]\n  rules", "port: 9090}]\n  rules")
    mesh = mesh_of(docs(SERVICES, wrong_port))
    assert route_conditions(mesh, "HTTPRoute/default/reviews-split")[0]["Accepted"] == (
        False,
        "NoMatchingParent",
    )


def test_a_refused_mesh_route_reports_on_its_service_parent() -> None:
    status = invalid_route_status([{"group": "", "kind": "Service", "name": "reviews"}], "bad")
    assert [p.parent_ref["kind"] for p in status.parents] == ["Service"]


def test_a_missing_backend_answers_500() -> None:
    missing = ROUTE.replace("- {name: reviews-v1, port: 8080, weight: 80}\n", "").replace(
        "- {name: reviews-v2, port: 8080, weight: 20}", "- {name: missing, port: 8080}"
    )
    vhost = reviews_vhost(mesh_of(docs(SERVICES, missing)))
    assert vhost.routes[-1].direct_response.status == 500


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_envoy_accepts_the_sidecar_config() -> None:
    mesh = mesh_of(docs(SERVICES, VIRTUAL_SERVICE, ROUTE, CONSUMER))
    result = validate_resources(translated(mesh, "default/client").resources)
    assert result.ok, result.output


def test_explain_names_the_httproute_rule() -> None:
    mesh = mesh_of(docs(SERVICES, VIRTUAL_SERVICE, ROUTE))
    found = explain(
        MeshTranslator(mesh), ExplainRequest("default/client", "http", "reviews", 8080, "/api/x")
    )
    assert found.route is not None
    assert (found.route.object, found.route.rule) == (
        "HTTPRoute/default/reviews-split",
        "rules[1].matches[0]",
    )
    assert {d.cluster: d.weight for d in found.destinations} == {
        "outbound|8080||reviews-v1.default.svc.cluster.local": 80,
        "outbound|8080||reviews-v2.default.svc.cluster.local": 20,
    }


def stamped(document: str, when: str) -> str:
    name_end = document.index("namespace: default}")
    return (
        document[:name_end]
        + f'namespace: default, creationTimestamp: "{when}"}}'
        + document[name_end + len("namespace: default}") :]
    )


def test_against_a_virtual_service_istios_order_decides() -> None:
    """Istio lists a sidecar's own-namespace Gateway API routes first, the rest by age."""
    older_vs = docs(
        SERVICES,
        stamped(VIRTUAL_SERVICE, "2020-01-01T00:00:00Z"),
        stamped(ROUTE, "2024-01-01T00:00:00Z"),
    )
    mesh = mesh_of(older_vs)
    # the route's own namespace: the route, however young
    assert len(reviews_vhost(mesh, "default/client").routes) == 3
    # another namespace: the older VirtualService
    assert [r.route.cluster for r in reviews_vhost(mesh, "shop/outsider").routes] == [
        "outbound|8080||reviews-v1.default.svc.cluster.local"
    ]
    view = MeshTranslator(mesh).view(mesh.workload("shop", "outsider"))  # type: ignore[arg-type]
    assert any("HTTPRoute/default/reviews-split: shadowed by older" in w for w in view.warnings)
    older_route = docs(
        SERVICES,
        stamped(VIRTUAL_SERVICE, "2024-01-01T00:00:00Z"),
        stamped(ROUTE, "2020-01-01T00:00:00Z"),
    )
    assert len(reviews_vhost(mesh_of(older_route), "shop/outsider").routes) == 3


def test_section_name_names_a_service_port() -> None:
    by_name = ROUTE.replace("port: 8080}]\n  rules", "sectionName: http}]\n  rules")
    mesh = mesh_of(docs(SERVICES, by_name))
    assert len(reviews_vhost(mesh).routes) == 3
    assert route_conditions(mesh, "HTTPRoute/default/reviews-split")[0]["Accepted"] == (
        True,
        "Accepted",
    )
    wrong = ROUTE.replace("port: 8080}]\n  rules", "sectionName: grpc}]\n  rules")
    mesh = mesh_of(docs(SERVICES, wrong))
    assert [r.route.cluster for r in reviews_vhost(mesh).routes] == [
        "outbound|8080||reviews.default.svc.cluster.local"
    ]
    assert route_conditions(mesh, "HTTPRoute/default/reviews-split")[0]["Accepted"] == (
        False,
        "NoMatchingParent",
    )
