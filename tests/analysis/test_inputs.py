"""The analysis over every test mesh of the repository: the translator's golden inputs,
the telemetry golden inputs and the traffic test mesh. Valid ones analyze clean; the
ones that exercise a mistake on purpose (a shadowed VirtualService, a port-restricted
match, a weight 0, ...) produce exactly the message for it, listed here, so a false
positive on any of them fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden.cases import GoldenCase, all_cases, load_mesh
from translators.analysis import analyze
from translators.mesh import MeshOptions, build_mesh
from xdscp.sources.documents import parse_text
from xdscp.sources.files import DirectorySource

REPO = Path(__file__).resolve().parents[2]
AP = "AuthorizationPolicy/prod/"
VS = "VirtualService/default/"

# golden input -> the messages it must produce (the rest must analyze clean)
INTENDED: dict[str, set[tuple[str, str, str]]] = {
    # the callers it names are not in this one-proxy mesh; `other-app` selects nothing
    "authz-policies": {
        ("XDS0301", AP + "other-app", "spec.selector.matchLabels"),
        ("XDS0501", AP + "orders-allow", "spec.rules[0].from[0].source.principals[0]"),
        ("XDS0501", AP + "orders-allow", "spec.rules[1].from[0].source.principals[0]"),
        ("XDS0501", AP + "orders-deny-intruder", "spec.rules[0].from[0].source.serviceAccounts[0]"),
        ("XDS0502", AP + "orders-allow", "spec.rules[0].from[1].source.namespaces[0]"),
    },
    # SIMPLE origination verified by the system roots only (Istio's IST0128 too)
    "dr-tls": {
        ("XDS0405", "DestinationRule/default/payments", "spec.trafficPolicy.tls.caCertificates")
    },
    # a block for callers that do not exist: it does not make its rule match everywhere
    "vs-destination-subnets": {
        ("XDS0204", VS + "redis", "spec.tcp[1].match[2].sourceLabels"),
    },
    "dr-upstream-fields": {
        (
            "XDS0405",
            "DestinationRule/default/ratings",
            "spec.subsets[2].trafficPolicy.tls.caCertificates",
        )
    },
    # the younger of two rules with equal workloadSelector: its policy is merged away
    "dr-workload-selector": {("XDS0108", "DestinationRule/default/sel-b", "spec.trafficPolicy")},
    "mtls-port-level": {("XDS0304", "PeerAuthentication/prod/api-new", "spec.selector")},
    "route-matches": {
        ("XDS0204", VS + "reviews", "spec.http[3].match[2].port"),
        ("XDS0205", VS + "reviews", "spec.http[4].route[0].weight"),
    },
    "vs-conflict": {
        ("XDS0201", VS + "ratings-newest", "spec.hosts[0]"),
        ("XDS0201", "VirtualService/other/ratings-middle", "spec.hosts[0]"),
    },
    "vs-http-matches": {
        ("XDS0202", VS + "reviews", "spec.http[8]"),
        ("XDS0204", VS + "reviews", "spec.http[6].match[0].port"),
    },
    "vs-source-match": {
        ("XDS0201", VS + "reviews-late", "spec.hosts[0]"),
        ("XDS0204", VS + "details", "spec.http[0].match[0].sourceLabels"),
    },
    "vs-tcp-tls": {("XDS0204", VS + "mongo", "spec.tcp[0].match[0].port")},
    "telemetry-levels": {("XDS0305", "Telemetry/shop/shop-later", "spec")},
}


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_golden_inputs(case: GoldenCase) -> None:
    messages = analyze(load_mesh(case), include_schema=True).messages
    assert {(m.code, m.ref, m.field) for m in messages} == INTENDED.get(case.name, set())


@pytest.mark.parametrize(
    "path", sorted((REPO / "tests/telemetry/testdata/in").glob("*.yaml")), ids=lambda p: p.stem
)
def test_telemetry_golden_inputs(path: Path) -> None:
    parsed = parse_text(path.read_text(), str(path))
    mesh = build_mesh(parsed.objects, parsed.errors, MeshOptions(local_mode=True))
    messages = analyze(mesh, include_schema=True).messages
    assert {(m.code, m.ref, m.field) for m in messages} == INTENDED.get(path.stem, set())


def test_traffic_test_mesh_is_clean() -> None:
    directory = REPO / "tests/traffic/meshes/traffic"
    mesh = DirectorySource(directory, MeshOptions(local_mode=True), log_errors=False).load()
    assert [str(m) for m in analyze(mesh, include_schema=True).messages] == []
