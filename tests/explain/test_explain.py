"""`explain` over the traffic test mesh and the strict-mTLS example: each step names the
generated resource and the object behind it, and the outcomes are what Envoy may do.
(What Envoy actually does is checked in tests/e2e/test_explain_envoy.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden.cases import case_named, load_mesh
from translators.explain import ExplainError, Explanation, explain, parse_request
from translators.mesh import MeshOptions
from translators.translate import MeshTranslator
from xdscp.sources.files import DirectorySource

ROOT = Path(__file__).resolve().parents[2]
TRAFFIC = ROOT / "tests" / "traffic" / "meshes" / "traffic"
STRICT = ROOT / "examples" / "strict-mtls"
# Two classic mistakes, inserted before the `teapot` rule (a `str.replace` pair): a subset
# no DestinationRule defines, a typo in a destination host.
BROKEN_RULES = (
    "  - name: teapot\n",
    "  - name: canary\n"
    "    match: [{uri: {prefix: /canary}}]\n"
    "    route: [{destination: {host: reviews, subset: v3}}]\n"
    "  - name: typo\n"
    "    match: [{uri: {prefix: /typo}}]\n"
    "    route: [{destination: {host: reviewz}}]\n"
    "  - name: teapot\n",
)
V1 = "outbound|8080|v1|reviews.default.svc.cluster.local"
V2 = "outbound|8080|v2|reviews.default.svc.cluster.local"


def translator_of(directory: Path) -> MeshTranslator:
    mesh = DirectorySource(directory, MeshOptions(local_mode=True)).load()
    assert not mesh.errors
    return MeshTranslator(mesh)


@pytest.fixture(scope="module")
def traffic() -> MeshTranslator:
    return translator_of(TRAFFIC)


@pytest.fixture(scope="module")
def strict() -> MeshTranslator:
    return translator_of(STRICT)


def ask(translator: MeshTranslator, source: str, url: str, *headers: str, **kw: str) -> Explanation:
    return explain(translator, parse_request(source, url, headers=headers, **kw))


def test_first_matching_rule_with_the_reasons_earlier_ones_failed(traffic: MeshTranslator) -> None:
    found = ask(traffic, "default/client", "http://reviews:8080/abort", "end-user: mary")
    assert found.listener.name == "127.0.1.1_8080"
    assert found.listener.route_config == "8080"
    assert found.listener.sources == ("Sidecar/default/client",)
    route = found.route
    assert route is not None
    assert (route.object, route.rule, route.name) == (
        "VirtualService/default/reviews",
        "http[1]",
        "abort",
    )
    assert route.virtual_host == "reviews.default.svc.cluster.local:8080"
    (skipped,) = route.skipped
    assert skipped.rule == "http[0]"
    assert skipped.failed == ("header end-user: wants exact 'jason', got 'mary'",)
    assert route.fault is not None and route.fault.abort_status == 418
    assert route.fault.abort_percent == 50.0
    outcomes = {(o.result, o.status, o.cluster): o.share for o in found.outcomes}
    assert outcomes == {("fault_abort", 418, ""): 50.0, ("forwarded", None, V1): 50.0}


def test_path_failures_name_the_uri_match(traffic: MeshTranslator) -> None:
    found = ask(traffic, "default/client", "http://reviews:8080/teapot")
    assert found.route is not None and found.route.rule == "http[13]"
    assert found.route.action == "direct_response"
    assert [s.rule for s in found.route.skipped] == [f"http[{i}]" for i in range(13)]
    assert found.route.skipped[1].failed == ("uri: wants prefix '/abort', got '/teapot'",)
    assert [(o.result, o.status) for o in found.outcomes] == [("direct_response", 418)]


def test_weighted_split_with_shares_subsets_endpoints_and_mtls(traffic: MeshTranslator) -> None:
    found = ask(traffic, "default/client", "http://reviews:8080/levels")
    assert [(d.cluster, d.share, d.subset) for d in found.destinations] == [
        (V1, 50.0, "v1"),
        (V2, 50.0, "v2"),
    ]
    v1 = found.destinations[0]
    assert v1.sources == ("ServiceEntry/default/reviews", "DestinationRule/default/reviews")
    assert (v1.tls.mode, v1.tls.decided_by) == ("mTLS", "auto-mTLS")
    assert v1.tls.sni == "outbound_.8080_.v1_.reviews.default.svc.cluster.local"
    (endpoint,) = v1.endpoints
    assert (endpoint.address, endpoint.port, endpoint.workload) == (
        "127.0.2.1",
        8080,
        "default/reviews-v1",
    )
    assert endpoint.inbound is not None
    assert endpoint.inbound.filter_chain == "inbound|8080|mtls"
    assert endpoint.inbound.peer == "spiffe://cluster.local/ns/default/sa/client"
    assert endpoint.inbound.peer_authentication == "PERMISSIVE"
    assert endpoint.inbound.verdict == "allowed"


def test_route_policies_and_rewrites(traffic: MeshTranslator) -> None:
    slow = ask(traffic, "default/client", "http://reviews:8080/slow").route
    assert slow is not None and (slow.timeout, slow.retries) == ("0.3s", "")
    retried = ask(traffic, "default/client", "http://reviews:8080/flaky/retried").route
    assert retried is not None and retried.retries.startswith("3 on 5xx")
    mirrored = ask(traffic, "default/client", "http://reviews:8080/mirror").route
    assert mirrored is not None and mirrored.mirrors == (f"{V2} (100%)",)
    hashed = ask(traffic, "default/client", "http://reviews:8080/hash").route
    assert hashed is not None and hashed.hash_policy == ("header x-user",)
    rewritten = ask(traffic, "default/client", "http://reviews:8080/headers/x?a=1").route
    assert rewritten is not None and rewritten.upstream_path == "/rewritten/x?a=1"
    moved = ask(traffic, "default/client", "http://reviews:8080/old/x")
    assert moved.route is not None and moved.route.location == "http://reviews:8080/new"
    assert [(o.result, o.status) for o in moved.outcomes] == [("redirect", 307)]


def test_tcp_port_weighted_chain(traffic: MeshTranslator) -> None:
    found = ask(traffic, "default/client", "tcp://reviews:9090")
    assert found.route is None
    assert found.listener.protocol == "tcp"
    assert found.listener.filter_chain == "outbound|9090||reviews.default.svc.cluster.local"
    assert "VirtualService/default/reviews" in found.listener.sources
    assert {(d.subset, d.share) for d in found.destinations} == {("v1", 50.0), ("v2", 50.0)}
    assert all(
        e.inbound and e.inbound.listener.endswith("_9090")
        for d in found.destinations
        for e in d.endpoints
    )


def test_authorization_allow_and_deny_name_the_policy_rule(strict: MeshTranslator) -> None:
    allowed = ask(strict, "prod/frontend", "http://orders:8080/orders")
    (endpoint,) = allowed.destinations[0].endpoints
    assert endpoint.inbound is not None
    assert endpoint.inbound.peer_authentication == "STRICT"
    assert endpoint.inbound.peer_authentication_sources == ("PeerAuthentication/prod/default",)
    assert endpoint.inbound.reason == "allowed by AuthorizationPolicy/prod/orders-readers rules[0]"
    assert [o.result for o in allowed.outcomes] == ["forwarded"]
    admin = ask(strict, "prod/frontend", "http://orders:8080/admin")
    assert admin.destinations[0].endpoints[0].inbound is not None
    assert admin.destinations[0].endpoints[0].inbound.reason == (
        "denied by AuthorizationPolicy/prod/orders-no-admin rules[0]"
    )
    assert [(o.result, o.status) for o in admin.outcomes] == [("denied", 403)]
    admin_inbound = admin.destinations[0].endpoints[0].inbound
    assert [(r.action, r.verdict, r.reached) for r in admin_inbound.rbac] == [
        ("DENY", "denied", True),
        ("ALLOW", "denied", False),  # Envoy stops at the first denial
    ]
    assert admin_inbound.rbac[0].matched[0].policy == "ns[prod]-policy[orders-no-admin]-rule[0]"
    intruder = ask(strict, "prod/intruder", "http://orders:8080/orders")
    assert [(o.result, o.status) for o in intruder.outcomes] == [("denied", 403)]
    inbound = intruder.destinations[0].endpoints[0].inbound
    assert inbound is not None
    allow = next(r for r in inbound.rbac if r.action == "ALLOW")
    assert allow.missed == (
        "AuthorizationPolicy/prod/orders-readers rules[0]: the source (from) does not match"
        " spiffe://cluster.local/ns/prod/sa/intruder",
    )
    route = intruder.route
    assert route is not None and (route.object, route.rule) == (
        "ServiceEntry/prod/orders",
        "default route",
    )


@pytest.mark.parametrize(
    ("source", "url", "message"),
    [
        ("default/nobody", "http://reviews:8080/", "no workload default/nobody in the mesh"),
        ("default/client", "http://ratings:8080/", "unknown host 'ratings'"),
        ("default/client", "http://reviews:7000/", "has no outbound listener on port 7000"),
        ("default/client", "ftp://reviews/", "expected http://host[:port]/path"),
        ("default/client", "tcp://reviews/", "a TCP URL needs a port"),
        ("nobody", "http://reviews:8080/", "no workload nobody in the mesh"),
        ("/", "http://reviews:8080/", "expected NAMESPACE/NAME"),
        ("default/client", "http://reviews:9090/", "is TCP: ask for tcp://reviews:9090"),
        ("default/client", "tcp://reviews:8080", "is HTTP: ask for http://reviews:8080/"),
    ],
)
def test_questions_it_cannot_answer_are_one_line(
    traffic: MeshTranslator, source: str, url: str, message: str
) -> None:
    with pytest.raises(ExplainError) as raised:
        ask(traffic, source, url)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_iptables_capture_per_port_listener_and_passthrough() -> None:
    """Kubernetes-style capture: the unbound 0.0.0.0_<port> listener takes a known port;
    any other port stays with virtualOutbound and passes through untouched."""
    translator = MeshTranslator(load_mesh(case_named("capture-iptables")))
    known = ask(translator, "shop/productpage", "http://reviews:9080/")
    assert known.listener.name == "0.0.0.0_9080"
    (endpoint,) = known.destinations[0].endpoints
    assert endpoint.inbound is not None
    assert (endpoint.inbound.listener, endpoint.inbound.peer_authentication) == (
        "10.1.0.5_9080",
        "STRICT",
    )
    other = ask(translator, "shop/productpage", "http://reviews:9999/")
    assert other.listener.name == "virtualOutbound"
    assert [(o.result, o.cluster) for o in other.outcomes] == [
        ("passthrough", "PassthroughCluster")
    ]
    assert "no outbound listener for port 9999" in other.notes[0]


def test_a_route_to_a_cluster_the_proxy_lacks_says_why(tmp_path: Path) -> None:
    for path in TRAFFIC.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    routing = tmp_path / "routing.yaml"
    routing.write_text(routing.read_text().replace(*BROKEN_RULES))
    translator = translator_of(tmp_path)
    canary = ask(translator, "default/client", "http://reviews:8080/canary")
    (outcome,) = canary.outcomes
    assert (outcome.result, outcome.status) == ("no_cluster", 503)
    assert "DestinationRule/default/reviews defines no subset v3" in outcome.detail
    typo = ask(translator, "default/client", "http://reviews:8080/typo")
    assert "no service reviewz.default.svc.cluster.local in the registry" in typo.outcomes[0].detail


def test_tls_ports_pick_the_chain_by_sni_and_shared_tcp_ports_say_so() -> None:
    translator = MeshTranslator(load_mesh(case_named("vs-tcp-tls")))
    ratings = ask(
        translator, "default/client", "tcp://ratings.bookinfo.com:443", sni="ratings.bookinfo.com"
    )
    assert ratings.listener.filter_chain == "outbound|443||reviews.bookinfo.com"
    assert [(o.result, o.cluster) for o in ratings.outcomes] == [
        ("forwarded", "outbound|443||login.bookinfo.com")
    ]
    assert ratings.notes == ()
    with pytest.raises(ExplainError, match=r"no filter chain of .* takes a connection with no SNI"):
        ask(translator, "default/client", "tcp://login.bookinfo.com:443")
    shared = ask(translator, "default/client", "tcp://queue-b:5000")
    assert shared.notes == (
        "TCP carries no host name: port 5000 goes to queue-a.default.svc.cluster.local,"
        " whatever host the application connected to",
    )
    mongo = ask(translator, "default/client", "tcp://mongo:27017")
    assert [(o.cluster, o.share) for o in mongo.outcomes] == [
        ("outbound|27017|v1|mongo.default.svc.cluster.local", 80.0),
        ("outbound|27017|v2|mongo.default.svc.cluster.local", 20.0),
    ]


def test_a_host_header_overrides_the_url_authority(traffic: MeshTranslator) -> None:
    found = ask(traffic, "default/client", "http://127.0.1.1:8080/levels", "Host: reviews")
    assert found.authority == "reviews"
    assert found.route is not None and found.route.rule == "http[10]"
    assert "host" not in found.headers


def test_a_unique_workload_name_stands_for_namespace_slash_name(traffic: MeshTranslator) -> None:
    """As `describe` and `proxy-config` take it."""
    by_name = ask(traffic, "client", "http://reviews:8080/abort", "end-user: mary")
    by_key = ask(traffic, "default/client", "http://reviews:8080/abort", "end-user: mary")
    assert by_name.to_json() == by_key.to_json()
    assert by_name.source == "default/client"
