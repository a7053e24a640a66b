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


# DestinationRules with a workloadSelector (Istio: sorted ahead of the rules without one,
# merged when their matchLabels are equal; a rule without selector exported to "." is
# merged into each of them; SidecarScope.DestinationRule picks the first that selects).
PLAIN_CLIENT = workload_entry("plain", "10.0.0.2", labels="{app: plain}")


def _selector_rule(name: str, created: str, labels: str, spec: str) -> str:
    return _rule(name, created, f"  workloadSelector: {{matchLabels: {labels}}}\n{spec}")


SEL_A = _selector_rule(
    "orders-sel-a",
    "2024-02-01T00:00:00Z",
    "{app: client}",
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}\n"
    "  subsets: [{name: v1, labels: {version: v1}}]\n",
)
SEL_B = _selector_rule(
    "orders-sel-b",
    "2024-02-02T00:00:00Z",
    "{app: client}",
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 70}}}\n"
    "  subsets: [{name: v2, labels: {version: v2}}, {name: v1, labels: {version: v2}}]\n",
)


def _subsets(resources: dict[str, EnvoyResource]) -> set[str]:
    prefix = f"{CLUSTER_TYPE}|outbound|8080|"
    return {
        key[len(prefix) :].split("|")[0]
        for key in resources
        if key.startswith(prefix) and key.endswith(HOST)
    }


def _addresses(resources: dict[str, EnvoyResource], subset: str) -> list[str]:
    assignment = resources[f"{ENDPOINT_TYPE}|outbound|8080|{subset}|{HOST}"].message
    assert isinstance(assignment, endpoint_pb2.ClusterLoadAssignment)
    return [
        e.endpoint.address.socket_address.address
        for group in assignment.endpoints
        for e in group.lb_endpoints
    ]


def test_selector_rules_with_equal_labels_are_merged_for_the_selected_proxy() -> None:
    mesh = mesh_of(docs(ORDERS, CLIENT, PLAIN_CLIENT, SEL_B, SEL_A))
    resources = _resources(mesh)
    assert _subsets(resources) == {"", "v1", "v2"}
    # the oldest rule's policy and subset `v1` win; the younger one adds `v2`
    assert _max_connections(_cluster(resources, f"outbound|8080||{HOST}")) == 7
    assert _addresses(resources, "v1") == ["10.1.0.1"]
    provenance = resources[f"{CLUSTER_TYPE}|outbound|8080|v2|{HOST}"].provenance
    assert [p for p in provenance if "DestinationRule" in p] == [
        "DestinationRule/default/orders-sel-a",
        "DestinationRule/default/orders-sel-b",
    ]
    # a proxy neither selects gets no rule at all (none without selector exists)
    assert _subsets(_resources(mesh, "default/plain")) == {""}


def test_selector_rules_with_different_labels_stay_apart() -> None:
    other = _selector_rule(
        "orders-sel-b",
        "2024-02-02T00:00:00Z",
        "{app: client, tier: x}",
        "  subsets: [{name: v2, labels: {version: v2}}]\n",
    )
    tier = workload_entry("tiered", "10.0.0.3", labels="{app: client, tier: x}")
    mesh = mesh_of(docs(ORDERS, CLIENT, tier, SEL_A, other))
    # `client` is selected by the older rule only
    assert _subsets(_resources(mesh)) == {"", "v1"}
    # `tiered` is selected by both: the older one applies alone (no merge across selectors)
    tiered = _resources(mesh, "default/tiered")
    assert _subsets(tiered) == {"", "v1"}
    assert _max_connections(_cluster(tiered, f"outbound|8080||{HOST}")) == 7


def test_a_selector_rule_wins_over_an_older_rule_without_selector() -> None:
    # V1 (no selector) is older than SEL_B; the selected proxy still gets SEL_B first
    mesh = mesh_of(docs(ORDERS, CLIENT, PLAIN_CLIENT, V1, SEL_B))
    selected = _resources(mesh)
    assert _max_connections(_cluster(selected, f"outbound|8080||{HOST}")) == 70
    assert _addresses(selected, "v1") == ["10.1.0.2"]
    # V1 has no exportTo ".": Istio keeps it apart (different exportTo), nothing merged
    assert _subsets(selected) == {"", "v1", "v2"}
    plain = _resources(mesh, "default/plain")
    assert _subsets(plain) == {"", "v1"}
    assert _max_connections(_cluster(plain, f"outbound|8080||{HOST}")) == 3


def test_a_namespace_rule_exported_to_dot_is_merged_into_the_selector_rule() -> None:
    namespace_rule = _rule(
        "orders-ns",
        "2024-01-01T00:00:00Z",
        "  exportTo: ['.']\n"
        "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 5}}}\n"
        "  subsets: [{name: v1, labels: {version: v2}}, {name: v3, labels: {version: v1}}]\n",
    )
    bare = _selector_rule(
        "orders-sel",
        "2024-02-01T00:00:00Z",
        "{app: client}",
        "  subsets: [{name: v1, labels: {version: v1}}]\n",
    )
    mesh = mesh_of(docs(ORDERS, CLIENT, PLAIN_CLIENT, namespace_rule, bare))
    selected = _resources(mesh)
    # the selector rule's own subset wins; the namespace rule adds v3 and, as the
    # selector rule sets none, its trafficPolicy
    assert _subsets(selected) == {"", "v1", "v3"}
    assert _addresses(selected, "v1") == ["10.1.0.1"]
    assert _max_connections(_cluster(selected, f"outbound|8080||{HOST}")) == 5
    # the proxy no selector selects keeps the namespace rule (Istio drops it here,
    # istio/istio#58322; xdscp does not)
    plain = _resources(mesh, "default/plain")
    assert _subsets(plain) == {"", "v1", "v3"}
    assert _addresses(plain, "v1") == ["10.1.0.2"]


def test_analysis_reports_what_a_selector_merge_leaves_out() -> None:
    messages = [
        m
        for m in analyze(mesh_of(docs(ORDERS, CLIENT, SEL_A, SEL_B))).messages
        if m.type is codes.MERGED_RULE_PART_IGNORED
    ]
    assert sorted((m.name, m.field) for m in messages) == [
        ("orders-sel-b", "spec.subsets[1]"),
        ("orders-sel-b", "spec.trafficPolicy"),
    ]
    assert all(m.related == ("DestinationRule/default/orders-sel-a",) for m in messages)
    assert all("workloadSelector" in m.text for m in messages)
