"""Gateway API status as the spec names it, from pure functions of a mesh: which routes
attach where and why the others do not (NotAllowedByListeners, NoMatchingParent,
NoMatchingListenerHostname), whether backends resolve (BackendNotFound, RefNotPermitted,
InvalidKind), and the Gateway's and each listener's conditions."""

from __future__ import annotations

from tests.translators.helpers import docs, mesh_of, service_entry, workload_entry
from translators.gateway.attach import (
    GATEWAY_NAME_LABEL,
    intersect_hostnames,
    resolve_gateway_api,
)
from translators.gateway.status import (
    ClassStatus,
    GatewayStatus,
    RouteStatus,
    Status,
    gateway_api_status,
)
from translators.mesh import MeshConfig

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: xdscp
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - name: shared
    port: 8080
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchLabels: {kubernetes.io/metadata.name: shop}}
"""
PROXY = workload_entry("edge-proxy", "10.9.0.1", "infra", f"{{{GATEWAY_NAME_LABEL}: edge}}")


def route(name: str, namespace: str, parent: str, hostnames: str = "[]", backend: str = "") -> str:
    backend = backend or "{name: reviews, namespace: infra, port: 8080}"
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n  parentRefs: [{parent}]\n  hostnames: {hostnames}\n"
        f"  rules: [{{backendRefs: [{backend}]}}]\n"
    )


def statuses(*documents: str) -> tuple[MeshConfig, dict[str, Status]]:
    mesh = mesh_of(docs(GATEWAY, PROXY, service_entry("reviews", "infra"), *documents))
    return mesh, gateway_api_status(resolve_gateway_api(mesh))


def parent_conditions(status: Status) -> list[dict[str, tuple[bool, str]]]:
    assert isinstance(status, RouteStatus)
    return [{c.type: (c.status, c.reason) for c in p.conditions} for p in status.parents]


def test_hostname_intersection_is_bidirectional() -> None:
    assert intersect_hostnames("*.example.com", "a.example.com") == "a.example.com"
    assert intersect_hostnames("a.example.com", "*.example.com") == "a.example.com"
    assert intersect_hostnames("*.example.com", "*.a.example.com") == "*.a.example.com"
    assert intersect_hostnames("*.example.com", "example.com") is None
    assert intersect_hostnames("a.example.com", "b.example.com") is None
    assert intersect_hostnames(None, "b.example.com") == "b.example.com"


def test_accepted_route_counts_on_its_listener_and_the_gateway_is_programmed() -> None:
    _, found = statuses(
        route("reviews", "infra", "{name: edge, sectionName: http}", "[reviews.example.com]")
    )
    assert parent_conditions(found["HTTPRoute/infra/reviews"]) == [
        {"Accepted": (True, "Accepted"), "ResolvedRefs": (True, "ResolvedRefs")}
    ]
    gateway = found["KubernetesGateway/infra/edge"]
    assert isinstance(gateway, GatewayStatus)
    assert [(c.type, c.status, c.reason) for c in gateway.conditions] == [
        ("Accepted", True, "Accepted"),
        ("Programmed", True, "Programmed"),
    ]
    assert gateway.addresses == ("10.9.0.1",)
    assert {lst.name: lst.attached_routes for lst in gateway.listeners} == {"http": 1, "shared": 0}
    http = gateway.listeners[0]
    assert http.supported_kinds == ("HTTPRoute", "GRPCRoute")
    assert [(c.type, c.status, c.reason) for c in http.conditions] == [
        ("Accepted", True, "Accepted"),
        ("Programmed", True, "Programmed"),
        ("ResolvedRefs", True, "ResolvedRefs"),
        ("Conflicted", False, "NoConflicts"),
    ]


def test_why_a_route_is_not_accepted() -> None:
    _, found = statuses(
        # listener `http` allows only its own namespace (the default: Same)
        route("other-ns", "shop-x", "{name: edge, namespace: infra, sectionName: http}"),
        route("no-section", "infra", "{name: edge, sectionName: nope}"),
        route("no-port", "infra", "{name: edge, port: 81}"),
        route("no-gateway", "infra", "{name: missing}"),
        route("no-host", "infra", "{name: edge, sectionName: http}", "[reviews.example.org]"),
    )
    reasons = {
        ref.split("/")[-1]: parent_conditions(s)[0]["Accepted"]
        for ref, s in found.items()
        if ref.startswith("HTTPRoute/")
    }
    assert reasons == {
        "other-ns": (False, "NotAllowedByListeners"),
        "no-section": (False, "NoMatchingParent"),
        "no-port": (False, "NoMatchingParent"),
        "no-gateway": (False, "NoMatchingParent"),
        "no-host": (False, "NoMatchingListenerHostname"),
    }


def test_selector_namespaces_and_all() -> None:
    mesh, found = statuses(route("r", "shop", "{name: edge, namespace: infra, port: 8080}"))
    assert parent_conditions(found["HTTPRoute/shop/r"])[0]["Accepted"] == (True, "Accepted")
    labelled = gateway_api_status(resolve_gateway_api(mesh, {"shop": {"team": "a"}}))
    assert parent_conditions(labelled["HTTPRoute/shop/r"])[0]["Accepted"] == (True, "Accepted")


def test_backend_refs_resolve_or_say_why() -> None:
    grant = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: shop-routes, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service, name: reviews}]
"""
    parent = "{name: edge, namespace: infra, port: 8080}"
    _, found = statuses(
        route("missing", "infra", parent, backend="{name: ratings, port: 8080}"),
        route("bad-port", "infra", parent, backend="{name: reviews, port: 9999}"),
        route("kind", "infra", parent, backend="{name: r, kind: Thing, group: x.io, port: 1}"),
        route("cross", "shop", parent),
    )
    resolved = {
        ref.split("/")[-1]: parent_conditions(s)[0]["ResolvedRefs"]
        for ref, s in found.items()
        if ref.startswith("HTTPRoute/")
    }
    assert resolved == {
        "missing": (False, "BackendNotFound"),
        "bad-port": (False, "BackendNotFound"),
        "kind": (False, "InvalidKind"),
        "cross": (False, "RefNotPermitted"),
    }
    _, granted = statuses(route("cross", "shop", parent), grant)
    assert parent_conditions(granted["HTTPRoute/shop/cross"])[0]["ResolvedRefs"] == (
        True,
        "ResolvedRefs",
    )


def test_listener_problems() -> None:
    gateway = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: odd, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: udp, port: 53, protocol: UDP}
  - {name: tls, port: 9443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: tcp, port: 9444, protocol: TCP}
  - {name: web, port: 9000, protocol: HTTP}
  - name: secure
    port: 9000
    protocol: HTTPS
    tls: {certificateRefs: [{name: c, namespace: certs}]}
  - {name: kinds, port: 9001, protocol: HTTP, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
"""
    _, found = statuses(gateway)
    status = found["KubernetesGateway/infra/odd"]
    assert isinstance(status, GatewayStatus)
    by_name = {
        lst.name: {c.type: (c.status, c.reason) for c in lst.conditions} for lst in status.listeners
    }
    assert by_name["udp"]["Accepted"] == (False, "UnsupportedProtocol")
    assert by_name["tls"]["Accepted"] == (True, "Accepted")
    kinds = {lst.name: lst.supported_kinds for lst in status.listeners}
    assert (kinds["tls"], kinds["tcp"], kinds["web"]) == (
        ("TLSRoute",),
        ("TCPRoute",),
        ("HTTPRoute", "GRPCRoute"),
    )
    assert by_name["web"]["Conflicted"] == (True, "ProtocolConflict")
    assert by_name["secure"]["Conflicted"] == (True, "ProtocolConflict")
    assert by_name["secure"]["ResolvedRefs"] == (False, "RefNotPermitted")
    assert by_name["kinds"]["ResolvedRefs"] == (False, "InvalidRouteKinds")
    invalid = {k: v for k, v in by_name.items() if k not in ("tls", "tcp")}
    assert all(v["Programmed"] == (False, "Invalid") for v in invalid.values())
    # some listeners are valid: accepted, with the reason naming the others; no proxy
    # runs this gateway (no workload carries its name label)
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Accepted", True, "ListenersNotValid"),
        ("Programmed", False, "NoResources"),
    ]


def test_other_controllers_objects_get_no_status_and_no_proxy_is_no_resources() -> None:
    others = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: theirs}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: ours}
spec: {controllerName: xdscp.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: foreign, namespace: infra}
spec: {gatewayClassName: theirs, listeners: [{name: http, port: 80, protocol: HTTP}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: lonely, namespace: infra}
spec: {gatewayClassName: ours, listeners: [{name: http, port: 80, protocol: HTTP}]}
"""
    _, found = statuses(others, route("both", "infra", "{name: foreign}, {name: lonely}"))
    assert "KubernetesGateway/infra/foreign" not in found
    assert "GatewayClass/default/theirs" not in found
    assert isinstance(found["GatewayClass/default/ours"], ClassStatus)
    lonely = found["KubernetesGateway/infra/lonely"]
    assert isinstance(lonely, GatewayStatus)
    assert [(c.type, c.status, c.reason) for c in lonely.conditions][1] == (
        "Programmed",
        False,
        "NoResources",
    )
    both = found["HTTPRoute/infra/both"]
    assert isinstance(both, RouteStatus)
    assert [p.parent_ref["name"] for p in both.parents] == ["lonely"]  # `foreign` is not ours
