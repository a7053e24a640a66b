"""The bounded piece of the graph `/debug/graph` answers: scoped by proxy, namespace or
filter text, cut at the limit with whole neighbourhoods, and saying what was cut."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.harness import REPO
from translators.mesh import MeshOptions
from translators.translate import MeshTranslator
from xdscp.dashboard.scope import GraphScope, scoped_graph
from xdscp.dashboard.web import build_graph
from xdscp.sources.files import DirectorySource

SERVICE = "service:order-service.default.svc.cluster.local"


@pytest.fixture(scope="module")
def canary() -> dict[str, Any]:
    mesh = DirectorySource(REPO / "examples" / "canary", MeshOptions(local_mode=True)).load()
    graph: dict[str, Any] = build_graph(MeshTranslator(mesh)).graph.to_json()
    return graph


def ids(answer: dict[str, Any]) -> list[str]:
    return sorted(n["id"] for n in answer["nodes"])


def test_a_proxy_with_what_it_calls_and_what_serves_that(canary: dict[str, Any]) -> None:
    answer = scoped_graph(canary, GraphScope(proxy="default/client"))
    assert ids(answer) == [
        SERVICE,
        "workload:default/client",
        "workload:default/order-v1",
        "workload:default/order-v2",
    ]
    assert "truncated" not in answer
    assert ids(scoped_graph(canary, GraphScope(proxy="default/ghost"))) == []


def test_namespace_and_filter_narrow_and_the_cut_says_so(canary: dict[str, Any]) -> None:
    assert ids(scoped_graph(canary, GraphScope(namespace="elsewhere"))) == []
    answer = scoped_graph(canary, GraphScope(text="ORDER-V2"))
    assert ids(answer) == [SERVICE, "workload:default/order-v2"]
    assert {(e["source"], e["target"]) for e in answer["edges"]} == {
        (SERVICE, "workload:default/order-v2")
    }
    cut = scoped_graph(canary, GraphScope(proxy="default/client", limit=2))
    assert len(cut["nodes"]) <= 2 and cut["total_nodes"] == 4
    assert cut["truncated"]["message"].startswith(
        f"showing {len(cut['nodes'])} of 4 nodes (proxy default/client)"
    )


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"limit": "0"}, "limit must be between 1 and 5000, got 0"),
        ({"limit": "x"}, "limit must be a number of nodes, got 'x'"),
        ({"proxy": "client"}, "proxy must be NAMESPACE/NAME, got 'client'"),
    ],
)
def test_bad_parameters_are_one_line(query: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(")):
        GraphScope.of_query(query)
