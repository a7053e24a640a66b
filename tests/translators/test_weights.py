"""Weighted routing, for any list of weights: the translation keeps the VirtualService's
destination order, drops zero-weight destinations (as Istio does), and a lone destination
carries all traffic."""

from __future__ import annotations

from typing import Any

from envoy.config.route.v3 import route_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from translators.ir import RouteIR
from translators.mesh import build_mesh
from translators.model.objects import MeshObject, Origin, parse_object
from translators.naming import ROUTE_TYPE, outbound_cluster
from translators.translate import translate

HOST = "orders.default.svc.cluster.local"


def _object(doc: dict[str, Any]) -> MeshObject[Any]:
    parsed = parse_object(doc, Origin("property.yaml"))
    assert isinstance(parsed, MeshObject), [str(e) for e in parsed]
    return parsed


def _mesh_docs(destinations: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """A service with subsets s0..s9 and one VirtualService rule `(subset, weight)...`."""
    meta = {"namespace": "default"}
    return [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": "orders", **meta},
            "spec": {
                "hosts": ["orders"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
                "endpoints": [
                    {"address": f"10.1.0.{i}", "labels": {"version": f"s{i}"}} for i in range(10)
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "orders", **meta},
            "spec": {
                "host": "orders",
                "subsets": [{"name": f"s{i}", "labels": {"version": f"s{i}"}} for i in range(10)],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "orders", **meta},
            "spec": {
                "hosts": ["orders"],
                "http": [
                    {
                        "route": [
                            {"destination": {"host": "orders", "subset": f"s{s}"}, "weight": w}
                            for s, w in destinations
                        ]
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "WorkloadEntry",
            "metadata": {"name": "client", **meta},
            "spec": {"address": "10.0.0.1"},
        },
    ]


destinations = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 100)), min_size=1, max_size=8
).filter(lambda ds: len(ds) == 1 or sum(w for _, w in ds) > 0)


@settings(max_examples=150, deadline=None)
@given(destinations)
def test_weighted_clusters_drop_zero_weights_and_keep_order(
    dests: list[tuple[int, int]],
) -> None:
    mesh = build_mesh([_object(d) for d in _mesh_docs(dests)])
    assert not mesh.errors
    client = mesh.workload("default", "client")
    assert client is not None
    result = translate(mesh, client)

    if len(dests) == 1:
        expected = [(outbound_cluster(8080, HOST, f"s{dests[0][0]}"), 100)]
    else:
        expected = [(outbound_cluster(8080, HOST, f"s{s}"), w) for s, w in dests if w > 0]

    (config,) = result.view.route_tables
    vhost, _catch_all = config.virtual_hosts
    (route,) = vhost.routes
    assert isinstance(route, RouteIR)
    assert [(c.destination, c.weight) for c in route.destinations] == expected

    (resource,) = result.of_type(ROUTE_TYPE)
    assert isinstance(resource.message, route_pb2.RouteConfiguration)
    action = resource.message.virtual_hosts[0].routes[0].route
    if len(expected) == 1:
        assert action.cluster == expected[0][0]
        assert not action.HasField("weighted_clusters")
    else:
        assert [(c.name, c.weight.value) for c in action.weighted_clusters.clusters] == expected


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8))
def test_several_destinations_all_weightless_are_rejected(count: int) -> None:
    docs = _mesh_docs([(i, 0) for i in range(count)])
    parsed = parse_object(docs[2], Origin("property.yaml", 2))
    assert isinstance(parsed, list)
    (error,) = parsed
    assert error.field == "spec.http[0]"
    assert "need weights" in error.message
