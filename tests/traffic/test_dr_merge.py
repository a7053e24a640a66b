"""Several DestinationRules for one host in one namespace act as one, as Istio merges
them (mergeDestinationRule): later rules add their subsets unless the name exists, the
first top-level trafficPolicy wins, rules with another exportTo stay apart. What the
merge leaves out is reported by analysis (XDS0108)."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.route.v3 import route_pb2

from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.analysis import codes
from translators.analysis.runner import analyze
from translators.mesh import MeshConfig
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE
from translators.resources import EnvoyResource
from translators.translate import MeshTranslator

HOST = "orders.default.svc.cluster.local"
ORDERS = service_entry(
    "orders",
    endpoints="[{address: 10.1.0.1, labels: {version: v1}}, "
    "{address: 10.1.0.2, labels: {version: v2}}]",
)
CLIENT = workload_entry("client", "10.0.0.1", labels="{app: client}")
OTHER_CLIENT = workload_entry("other", "10.0.0.9", namespace="prod", labels="{app: client}")
ROUTE_V2 = f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: orders, namespace: default}}
spec:
  hosts: [{HOST}]
  http:
  - route:
    - destination: {{host: {HOST}, subset: v2}}
"""


def _rule(name: str, created: str, spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: {name}, namespace: default, creationTimestamp: '{created}'}}\n"
        f"spec:\n  host: {HOST}\n{spec}"
    )


V1 = _rule(
    "orders-v1",
    "2024-01-01T00:00:00Z",
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 3}}}\n"
    "  subsets: [{name: v1, labels: {version: v1}}]\n",
)
V2 = _rule(
    "orders-v2",
    "2024-01-02T00:00:00Z",
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 50}}}\n"
    "  subsets: [{name: v2, labels: {version: v2}}, {name: v1, labels: {version: v2}}]\n",
)


def _resources(mesh: MeshConfig, key: str = "default/client") -> dict[str, EnvoyResource]:
    translated = MeshTranslator(mesh).translate(workload(mesh, key))
    return {f"{r.type_url}|{r.name}": r for r in translated.resources}


def _cluster(resources: dict[str, EnvoyResource], name: str) -> cluster_pb2.Cluster:
    message = resources[f"{CLUSTER_TYPE}|{name}"].message
    assert isinstance(message, cluster_pb2.Cluster)
    return message


def _max_connections(cluster: cluster_pb2.Cluster) -> int:
    value: int = cluster.circuit_breakers.thresholds[0].max_connections.value
    return value


def _routed_clusters(resources: dict[str, EnvoyResource]) -> set[str]:
    found: set[str] = set()
    for key, resource in resources.items():
        if key.startswith(f"{ROUTE_TYPE}|"):
            config = resource.message
            assert isinstance(config, route_pb2.RouteConfiguration)
            for vhost in config.virtual_hosts:
                found |= {r.route.cluster for r in vhost.routes if r.route.cluster}
    return found


def test_subsets_of_both_rules_are_built_and_routable() -> None:
    resources = _resources(mesh_of(docs(ORDERS, CLIENT, V2, V1, ROUTE_V2)))
    v1 = _cluster(resources, f"outbound|8080|v1|{HOST}")
    v2 = _cluster(resources, f"outbound|8080|v2|{HOST}")
    assert v1.name and v2.name
    assert f"outbound|8080|v2|{HOST}" in _routed_clusters(resources)
    # provenance names both rules the merged one comes from, the oldest first
    provenance = resources[f"{CLUSTER_TYPE}|outbound|8080|v2|{HOST}"].provenance
    refs = [p for p in provenance if "DestinationRule" in p]
    assert refs == ["DestinationRule/default/orders-v1", "DestinationRule/default/orders-v2"]


def test_the_oldest_rules_traffic_policy_and_subset_win() -> None:
    resources = _resources(mesh_of(docs(ORDERS, CLIENT, V2, V1)))
    assert _max_connections(_cluster(resources, f"outbound|8080||{HOST}")) == 3
    # the later rule's `v1` (selecting version v2) is dropped: v1 keeps the oldest's labels
    assignment = resources[f"{ENDPOINT_TYPE}|outbound|8080|v1|{HOST}"].message
    assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
    addresses = [
        e.endpoint.address.socket_address.address
        for group in assignment.endpoints
        for e in group.lb_endpoints
    ]
    assert addresses == ["10.1.0.1"]


def test_a_later_policy_applies_when_the_oldest_has_none() -> None:
    bare = _rule(
        "orders-a", "2024-01-01T00:00:00Z", "  subsets: [{name: v1, labels: {version: v1}}]\n"
    )
    resources = _resources(mesh_of(docs(ORDERS, CLIENT, bare, V2)))
    assert _max_connections(_cluster(resources, f"outbound|8080||{HOST}")) == 50
    assert f"{CLUSTER_TYPE}|outbound|8080|v2|{HOST}" in resources


def test_rules_with_different_export_to_are_not_merged() -> None:
    private = _rule(
        "orders-v2",
        "2024-01-02T00:00:00Z",
        "  exportTo: ['.']\n  subsets: [{name: v2, labels: {version: v2}}]\n",
    )
    mesh = mesh_of(docs(ORDERS, CLIENT, OTHER_CLIENT, V1, private))
    resources = _resources(mesh)
    assert f"{CLUSTER_TYPE}|outbound|8080|v1|{HOST}" in resources
    assert f"{CLUSTER_TYPE}|outbound|8080|v2|{HOST}" not in resources
    # prod sees V1 only too (the private rule is not exported there)
    other = _resources(mesh, "prod/other")
    assert f"{CLUSTER_TYPE}|outbound|8080|v2|{HOST}" not in other


def test_analysis_reports_what_the_merge_leaves_out() -> None:
    messages = [
        m
        for m in analyze(mesh_of(docs(ORDERS, CLIENT, V1, V2))).messages
        if m.type is codes.MERGED_RULE_PART_IGNORED
    ]
    assert sorted((m.name, m.field) for m in messages) == [
        ("orders-v2", "spec.subsets[1]"),
        ("orders-v2", "spec.trafficPolicy"),
    ]
    assert all(m.related == ("DestinationRule/default/orders-v1",) for m in messages)


def test_analysis_is_silent_when_the_rules_split_cleanly() -> None:
    clean = _rule(
        "orders-v2", "2024-01-02T00:00:00Z", "  subsets: [{name: v2, labels: {version: v2}}]\n"
    )
    messages = analyze(mesh_of(docs(ORDERS, CLIENT, V1, clean))).messages
    assert not [m for m in messages if m.type is codes.MERGED_RULE_PART_IGNORED]
