"""The dashboard's graph of the canary example, from the translators' own views."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.meshgen import synthetic_mesh
from tests.e2e.harness import REPO
from translators.mesh import MeshConfig, MeshOptions
from translators.translate import MeshTranslator
from xdscp.dashboard.graph import (
    MAX_CONFIG_CALLS,
    CallEdge,
    MeshGraph,
    ServeEdge,
    _layers,
    mesh_graph,
)
from xdscp.sources.files import DirectorySource

HOST = "order-service.default.svc.cluster.local"
SERVICE = f"service:{HOST}"


def _graph(config: Path) -> tuple[MeshConfig, MeshGraph]:
    mesh = DirectorySource(config, MeshOptions(local_mode=True)).load()
    translator = MeshTranslator(mesh)
    views = {key: translator.view(w) for key, w in mesh.workloads.items()}
    return mesh, mesh_graph(mesh, views)


def test_canary_nodes_edges_weights_and_layers() -> None:
    _, graph = _graph(REPO / "examples" / "canary")
    data = graph.to_json()
    layers = {n["id"]: n["layer"] for n in data["nodes"]}
    assert layers == {
        "workload:default/client": 0,
        SERVICE: 1,
        "workload:default/order-v1": 2,
        "workload:default/order-v2": 2,
    }
    edges = {e["id"]: e for e in data["edges"]}
    # the order-service workloads see their own service but are not drawn calling it
    assert set(edges) == {
        f"workload:default/client->{SERVICE}",
        f"{SERVICE}->workload:default/order-v1",
        f"{SERVICE}->workload:default/order-v2",
    }
    call = edges[f"workload:default/client->{SERVICE}"]
    assert call["subset_weights"] == {"v1": 90, "v2": 10}
    assert call["ports"] == [8080] and call["empty_subsets"] == []
    assert data["hidden_calls"] == 0
    (route,) = call["routes"]
    assert route["match"] == "prefix /"
    assert route["provenance"] == ["VirtualService/default/order-service-routing"]
    assert "VirtualService/default/order-service-routing" in call["provenance"]
    v1 = edges[f"{SERVICE}->workload:default/order-v1"]
    assert (v1["subsets"], v1["weight"], v1["target_ports"]) == (["v1"], 90, [8080])
    v2 = edges[f"{SERVICE}->workload:default/order-v2"]
    assert (v2["subsets"], v2["weight"]) == (["v2"], 10)
    assert v2["provenance"] == ["ServiceEntry/default/order-service"]


def test_route_to_an_undefined_subset_is_flagged(tmp_path: Path) -> None:
    config = tmp_path / "canary"
    shutil.copytree(REPO / "examples" / "canary", config)
    routing = config / "routing.yaml"
    routing.write_text(routing.read_text().replace("subset: v2", "subset: v3", 1))
    _, graph = _graph(config)
    call = graph.calls()[("default/client", HOST)]
    assert call.empty_subsets == {"v3"}
    assert call.subset_weights() == {"v1": 90, "v3": 10}
    assert graph.serves[(HOST, "default/order-v2")].weight == 0


def test_layers_follow_call_chains_and_stop_on_cycles() -> None:
    calls = [CallEdge("ns/a", "s1"), CallEdge("ns/b", "s2"), CallEdge("ns/c", "s1")]
    serves = [ServeEdge("s1", "ns/b"), ServeEdge("s2", "ns/c")]
    layers = _layers(["ns/a", "ns/b", "ns/c"], calls, serves)
    # a -> s1 -> b -> s2 -> c -> s1 is a cycle: bounded, and every node gets a layer
    assert layers["workload:ns/a"] == 0
    assert len(layers) == 5 and max(layers.values()) == len(layers)
    chain = _layers(["ns/a", "ns/b", "ns/c"], calls[:2], serves)
    assert [chain[n] for n in ("workload:ns/a", "service:s1", "workload:ns/b")] == [0, 1, 2]
    assert [chain[n] for n in ("service:s2", "workload:ns/c")] == [3, 4]


def test_a_large_mesh_draws_only_calls_with_traffic() -> None:
    """Without Sidecar egress every proxy reaches every service: 41 workloads x 20
    services are 780 possible calls (own services left out), too many to mean anything."""
    mesh = synthetic_mesh(20)
    translator = MeshTranslator(mesh)
    graph = mesh_graph(mesh, {k: translator.view(w) for k, w in mesh.workloads.items()})
    assert graph.potential_calls == 41 * 20 - 40 > MAX_CONFIG_CALLS
    quiet = graph.to_json()
    assert [e for e in quiet["edges"] if e["kind"] == "calls"] == []
    assert quiet["hidden_calls"] == 780
    assert len(quiet["edges"]) == 40  # every workload still drawn behind its service
    caller, host = "default/svc-0-v1", "svc-7.default.svc.cluster.local"
    busy = graph.to_json([(caller, host)])
    (call,) = [e for e in busy["edges"] if e["kind"] == "calls"]
    assert (call["source"], call["target"]) == (f"workload:{caller}", f"service:{host}")
    assert call["subset_weights"] == {"v1": 90, "v2": 10}
    assert busy["hidden_calls"] == 779
    layers = {n["id"]: n["layer"] for n in busy["nodes"]}
    assert layers[f"service:{host}"] == layers[f"workload:{caller}"] + 1
    # a workload calling its own service is not a call edge
    assert graph.call("default/svc-0-v1", "svc-0.default.svc.cluster.local") is None
