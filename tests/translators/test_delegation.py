"""VirtualService delegation (`http[].delegate`): the merge of a root's rule with its
delegate's rules (Istio's mergeHTTPRoute semantics), what sidecars then route, what the
analysis reports, and that incremental translation sees a delegate as the root's input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.analysis.runner import analyze
from translators.behaviour.routing import Request, route_on_port
from translators.index import MeshIndex
from translators.mesh import MeshConfig, update_mesh
from translators.model.delegation import DelegatedVirtualService, with_delegation
from translators.translate import MeshTranslator
from xdscp.sources.documents import parse_text

REVIEWS = "reviews.default.svc.cluster.local"


def vs(name: str, spec: str, namespace: str = "default") -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec:\n{spec}"
    )


ROOT = vs(
    "root",
    """
  hosts: [reviews]
  http:
  - name: api
    match: [{uri: {prefix: /reviews}}]
    timeout: 3s
    headers: {request: {set: {x-root: "yes"}}}
    delegate: {name: reviews-routes}
  - route: [{destination: {host: reviews, subset: v1}}]
""",
)
DELEGATE = vs(
    "reviews-routes",
    """
  http:
  - name: tester
    match: [{uri: {prefix: /reviews/v2}, headers: {x-user: {exact: tester}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: outside
    match: [{uri: {prefix: /ratings}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - name: rest
    timeout: 1s
    route: [{destination: {host: reviews, subset: v3}}]
""",
)
MESH = docs(
    service_entry("reviews", extra=""),
    workload_entry("client", "10.2.0.1"),
    ROOT,
    DELEGATE,
)


def merged_root(mesh: MeshConfig) -> DelegatedVirtualService:
    found = [
        o
        for o in with_delegation(mesh.objects, mesh.options.domain_suffix)
        if o.kind == "VirtualService" and o.name == "root"
    ]
    assert len(found) == 1 and isinstance(found[0], DelegatedVirtualService)
    return found[0]


def test_delegate_rules_replace_the_root_rule_within_its_match() -> None:
    root = merged_root(mesh_of(MESH))
    names = [r.name for r in root.spec.http]
    # `outside` (/ratings is not within /reviews) does not take effect, as in Istio
    assert names == ["api-tester", "api-rest", None]
    tester, rest, fallback = root.spec.http
    assert tester.match[0].uri is not None and tester.match[0].uri.prefix == "/reviews/v2"
    assert tester.match[0].headers["x-user"].exact == "tester"
    assert [d.destination.subset for d in tester.route] == ["v2"]
    # a delegate rule without a match takes the root's; unset fields come from the root
    assert rest.match[0].uri is not None and rest.match[0].uri.prefix == "/reviews"
    assert tester.timeout == root.spec.http[0].timeout and str(tester.timeout) != ""
    assert rest.timeout is not None and rest.timeout != tester.timeout  # its own 1s
    assert tester.headers is not None and tester.headers.request is not None
    assert tester.headers.request.set == {"x-root": "yes"}
    assert all(r.delegate is None for r in root.spec.http)
    assert fallback.route[0].destination.subset == "v1"
    assert root.delegates == ("VirtualService/default/reviews-routes",)


def test_header_match_of_root_and_delegate_are_merged() -> None:
    root = vs(
        "root",
        """
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /}, headers: {x-tenant: {exact: a}}}]
    delegate: {name: d}
""",
    )
    leaf = vs(
        "d",
        """
  http:
  - match: [{uri: {exact: /x}, headers: {x-user: {prefix: t}}}]
    route: [{destination: {host: reviews}}]
  - match: [{headers: {x-tenant: {exact: b}}}]
    route: [{destination: {host: reviews}}]
""",
    )
    merged = merged_root(mesh_of(docs(service_entry("reviews"), root, leaf)))
    # the second delegate rule contradicts the root's x-tenant: dropped
    assert len(merged.spec.http) == 1
    match = merged.spec.http[0].match[0]
    assert set(match.headers) == {"x-tenant", "x-user"}
    assert match.uri is not None and match.uri.exact == "/x"


@pytest.mark.parametrize(
    ("root_uri", "leaf_uri", "kept"),
    [
        ("{prefix: /a}", "{prefix: /a/b}", True),
        ("{prefix: /a/b}", "{prefix: /a}", False),
        ("{prefix: /a}", "{exact: /a/x}", True),
        ("{exact: /a}", "{exact: /a}", True),
        ("{exact: /a}", "{prefix: /a}", False),
        ("{prefix: /a}", "{regex: /a.*}", False),
    ],
)
def test_uri_subsets(root_uri: str, leaf_uri: str, kept: bool) -> None:
    root = vs(
        "root",
        f"  hosts: [reviews]\n  http:\n  - match: [{{uri: {root_uri}}}]\n"
        "    delegate: {name: d}\n",
    )
    leaf = vs(
        "d",
        f"  http:\n  - match: [{{uri: {leaf_uri}}}]\n"
        "    route: [{destination: {host: reviews}}]\n",
    )
    merged = merged_root(mesh_of(docs(service_entry("reviews"), root, leaf)))
    assert len(merged.spec.http) == (1 if kept else 0)


def messages(mesh: MeshConfig, code: str) -> list[tuple[str, str, str]]:
    return [(m.ref, m.field, m.text) for m in analyze(mesh).messages if m.code == code]


def test_missing_delegate_drops_the_rule_and_is_reported() -> None:
    root = ROOT.replace("name: reviews-routes", "name: nowhere")
    mesh = mesh_of(docs(service_entry("reviews"), workload_entry("client", "10.2.0.1"), root))
    merged = merged_root(mesh)
    assert [r.name for r in merged.spec.http] == [None]  # only the fallback rule
    found = messages(mesh, "XDS0802")
    assert [(ref, where) for ref, where, _ in found] == [
        ("VirtualService/default/root", "spec.http[0].delegate")
    ]
    assert "does not exist" in found[0][2]


def test_delegate_not_exported_to_the_root_namespace() -> None:
    hidden = DELEGATE.replace("  http:\n", "  exportTo: [other]\n  http:\n", 1)
    mesh = mesh_of(docs(service_entry("reviews"), ROOT, hidden))
    assert [r.name for r in merged_root(mesh).spec.http] == [None]
    found = messages(mesh, "XDS0802")
    assert any("not exported to namespace default" in text for _, _, text in found)
    visible = DELEGATE.replace("  http:\n", "  exportTo: [default]\n  http:\n", 1)
    assert len(merged_root(mesh_of(docs(service_entry("reviews"), ROOT, visible))).spec.http) == 3


def test_analysis_reports_a_delegate_rule_outside_the_root_match() -> None:
    found = messages(mesh_of(MESH), "XDS0802")
    assert [(ref, where) for ref, where, _ in found] == [
        ("VirtualService/default/reviews-routes", "spec.http[1].match")
    ]


def test_delegate_in_another_namespace_resolves_its_own_short_hosts() -> None:
    root = ROOT.replace("name: reviews-routes}", "name: reviews-routes, namespace: team}")
    leaf = DELEGATE.replace("namespace: default", "namespace: team")
    merged = merged_root(mesh_of(docs(service_entry("reviews"), root, leaf)))
    assert merged.spec.http[0].route[0].destination.host == "reviews.team.svc.cluster.local"


# --- what a sidecar routes (the evaluator reading the translated Envoy config) -----------


def client_routes(mesh: MeshConfig) -> Any:
    return MeshTranslator(mesh).translate(workload(mesh, "default/client")).resources


@pytest.mark.parametrize(
    ("path", "headers", "subset", "route_name"),
    [
        ("/reviews/v2/1", {"x-user": "tester"}, "v2", "api-tester"),
        ("/reviews/v2/1", {}, "v3", "api-rest"),
        ("/reviews/1", {"x-user": "tester"}, "v3", "api-rest"),
        ("/ratings/1", {}, "v1", "default.root.2"),
        ("/", {}, "v1", "default.root.2"),
    ],
)
def test_sidecar_routes_through_the_delegate(
    path: str, headers: dict[str, str], subset: str, route_name: str
) -> None:
    decision = route_on_port(client_routes(mesh_of(MESH)), 8080, Request("reviews", path, headers))
    assert decision is not None
    assert decision.route == route_name
    assert decision.share(f"outbound|8080|{subset}|{REVIEWS}") == 1


def test_route_provenance_names_root_and_delegate() -> None:
    resources = client_routes(mesh_of(MESH))
    named = [r for r in resources if "VirtualService/default/reviews-routes" in r.provenance]
    assert named, "no resource names the delegate"
    assert all("VirtualService/default/root" in r.provenance for r in named)


# --- incremental: a delegate edit changes the root's pieces ------------------------------


def test_editing_only_the_delegate_updates_the_root_incrementally() -> None:
    mesh = mesh_of(MESH)
    translator = MeshTranslator(mesh)
    client = workload(mesh, "default/client")
    request = Request("reviews", "/reviews/v2/1", {"x-user": "tester"})
    before = route_on_port(translator.translate(client).resources, 8080, request)
    assert before is not None and before.share(f"outbound|8080|v2|{REVIEWS}") == 1
    edited = parse_text(DELEGATE.replace("subset: v2", "subset: v1"), "edit.yaml").objects
    new_mesh = update_mesh(mesh, edited)
    incremental = MeshTranslator(new_mesh, previous=translator).translate(client).resources
    fresh = MeshTranslator(new_mesh).translate(client).resources
    after = route_on_port(incremental, 8080, request)
    assert after is not None and after.share(f"outbound|8080|v1|{REVIEWS}") == 1
    assert {(r.type_url, r.name, r.body()) for r in incremental} == {
        (r.type_url, r.name, r.body()) for r in fresh
    }
    index = MeshIndex.of(new_mesh)
    assert isinstance(index.virtual_services[REVIEWS][0], DelegatedVirtualService)


# --- a gateway binds the root (`gateways:`) and routes by the merged rules ---------------

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop.example.com]
"""


def test_gateway_routes_through_the_delegate() -> None:
    root = ROOT.replace("hosts: [reviews]", "hosts: [shop.example.com]\n  gateways: [public]")
    mesh = mesh_of(
        docs(
            service_entry("reviews"),
            workload_entry("ingress", "10.2.0.9", labels="{istio: ingressgateway}"),
            GATEWAY,
            root,
            DELEGATE,
        )
    )
    result = MeshTranslator(mesh).translate(workload(mesh, "default/ingress"))
    tester = route_on_port(
        result.resources, 80, Request("shop.example.com", "/reviews/v2/x", {"x-user": "tester"})
    )
    assert tester is not None and tester.route == "api-tester"
    assert tester.share(f"outbound|8080|v2|{REVIEWS}") == 1
    other = route_on_port(result.resources, 80, Request("shop.example.com", "/x"))
    assert other is not None and other.share(f"outbound|8080|v1|{REVIEWS}") == 1
    named = [r for r in result.resources if "VirtualService/default/reviews-routes" in r.provenance]
    assert named
