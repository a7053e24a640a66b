"""MeshTranslator reuses work across proxies and generations, but never serves a stale
piece: identical inputs give the identical EnvoyResource object, any change that
affects a resource gives a new one."""

from __future__ import annotations

from envoy.config.route.v3 import route_pb2

from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.translate import EnvoyResource, MeshTranslator, ProxyResources, translate

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders}
spec:
  hosts: [orders]
  http:
  - route:
    - destination: {host: orders, subset: v1}
      weight: %d
    - destination: {host: orders, subset: v2}
      weight: %d
"""
DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders}
spec:
  host: orders
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""
ENDPOINTS = (
    "[{address: 10.1.0.1, labels: {version: v1}}, {address: 10.1.0.2, labels: {version: v2}}]"
)


def canary(v1: int = 90, v2: int = 10) -> str:
    return docs(
        service_entry("orders", endpoints=ENDPOINTS),
        DR,
        VS % (v1, v2),
        workload_entry("client", "10.0.0.1"),
        workload_entry("other", "10.0.0.2"),
    )


def by_key(result: ProxyResources) -> dict[tuple[str, str], EnvoyResource]:
    return {(r.type_url, r.name): r for r in result.resources}


def test_identical_inputs_give_identical_objects_across_generations() -> None:
    first = MeshTranslator(mesh_of(canary()))
    before = by_key(first.translate(workload(first.mesh, "default/client")))
    translator = first
    for _ in range(3):  # re-parsed from text each time: equal content, new objects
        translator = MeshTranslator(mesh_of(canary()), previous=translator)
        after = by_key(translator.translate(workload(translator.mesh, "default/client")))
        assert after.keys() == before.keys()
        for key, resource in after.items():
            assert resource is before[key], key


def test_proxies_share_pieces_within_a_generation() -> None:
    translator = MeshTranslator(mesh_of(canary()))
    client = by_key(translator.translate(workload(translator.mesh, "default/client")))
    other = by_key(translator.translate(workload(translator.mesh, "default/other")))
    shared = [k for k in client if k[0] in (CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE)]
    assert shared
    for key in shared:
        assert client[key] is other[key], key
    # listeners bind each workload's own address: not shareable
    assert {k for k in client if k[0] == LISTENER_TYPE} != {
        k for k in other if k[0] == LISTENER_TYPE
    }


def test_a_change_rebuilds_what_it_affects_and_only_that() -> None:
    first = MeshTranslator(mesh_of(canary(90, 10)))
    before = by_key(first.translate(workload(first.mesh, "default/client")))
    second = MeshTranslator(mesh_of(canary(50, 50)), previous=first)
    after = by_key(second.translate(workload(second.mesh, "default/client")))
    assert after.keys() == before.keys()
    for key, resource in after.items():
        if key[0] == ROUTE_TYPE:
            assert resource is not before[key]
            assert resource.message != before[key].message
        else:
            assert resource is before[key], key
    # and it is what a fresh translation gives
    fresh = by_key(translate(second.mesh, workload(second.mesh, "default/client")))
    assert {k: r.message for k, r in fresh.items()} == {k: r.message for k, r in after.items()}


def _route_clusters(result: ProxyResources) -> list[str]:
    out: list[str] = []
    for resource in result.of_type(ROUTE_TYPE):
        assert isinstance(resource.message, route_pb2.RouteConfiguration)
        out += [r.route.cluster for vh in resource.message.virtual_hosts for r in vh.routes]
    return out


def test_route_follows_a_change_of_the_destination_service() -> None:
    """A VirtualService for `front` sends traffic to `back` without naming a port: the
    cluster is `back`'s only port. When `back` changes its port (nothing about `front`
    or the VirtualService changes) the memoized route must not keep the old port."""
    vs = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [front]
  http:
  - route:
    - destination: {host: back}
"""

    def mesh_text(back_port: int) -> str:
        return docs(
            service_entry("front"),
            service_entry("back", ports=f"[{{number: {back_port}, name: http, protocol: HTTP}}]"),
            vs,
            workload_entry("client", "10.0.0.1"),
        )

    first = MeshTranslator(mesh_of(mesh_text(9000)))
    assert "outbound|9000||back.default.svc.cluster.local" in _route_clusters(
        first.translate(workload(first.mesh, "default/client"))
    )
    second = MeshTranslator(mesh_of(mesh_text(9100)), previous=first)
    routes = _route_clusters(second.translate(workload(second.mesh, "default/client")))
    assert "outbound|9100||back.default.svc.cluster.local" in routes
    assert "outbound|9000||back.default.svc.cluster.local" not in routes
