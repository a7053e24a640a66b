"""DestinationRule `workloadSelector` as Istio applies it (SidecarScope.DestinationRule and
setDestinationRules): a rule with a selector is private to its namespace and applies to
the proxies it selects there, ahead of the namespace's rule without one; the others keep
that rule. Proxies that see the same rules still share their outbound pieces."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2

from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.mesh import MeshConfig
from translators.naming import CLUSTER_TYPE
from translators.resources import EnvoyResource
from translators.translate import MeshTranslator

ORDERS = service_entry("orders", endpoints="[{address: 10.1.0.1, labels: {version: v1}}]")
CLIENTS = docs(
    workload_entry("fast", "10.0.0.1", labels="{app: fast}"),
    workload_entry("slow", "10.0.0.2", labels="{app: slow}"),
    workload_entry("slow2", "10.0.0.3", labels="{app: slow}"),
    workload_entry("other", "10.0.0.4", namespace="prod", labels="{app: fast}"),
)


def _rule(name: str, namespace: str, spec: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}"
    )


SELECTING = _rule(
    "fast",
    "default",
    "  host: orders.default.svc.cluster.local\n"
    "  workloadSelector: {matchLabels: {app: fast}}\n"
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 3}}}\n",
)
CATCH_ALL = _rule(
    "all",
    "default",
    "  host: orders.default.svc.cluster.local\n"
    "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 50}}}\n",
)
UNLIMITED = 4294967295


def _orders_resource(translator: MeshTranslator, key: str) -> EnvoyResource:
    for resource in translator.translate(workload(translator.mesh, key)).resources:
        if resource.type_url == CLUSTER_TYPE and resource.name == (
            "outbound|8080||orders.default.svc.cluster.local"
        ):
            return resource
    raise AssertionError(f"{key} has no orders cluster")


def _orders_cluster(translator: MeshTranslator, key: str) -> cluster_pb2.Cluster:
    message = _orders_resource(translator, key).message
    assert isinstance(message, cluster_pb2.Cluster)
    return message


def _max_connections(mesh: MeshConfig, key: str) -> int:
    cluster = _orders_cluster(MeshTranslator(mesh), key)
    thresholds = cluster.circuit_breakers.thresholds
    return thresholds[0].max_connections.value if thresholds else UNLIMITED


def test_the_selecting_rule_applies_to_the_proxies_it_selects_and_the_other_to_the_rest() -> None:
    mesh = mesh_of(docs(ORDERS, CLIENTS, CATCH_ALL, SELECTING))
    assert _max_connections(mesh, "default/fast") == 3
    assert _max_connections(mesh, "default/slow") == 50
    # private to its namespace: a proxy of prod with the same labels sees the service's rule
    assert _max_connections(mesh, "prod/other") == 50


def test_a_namespace_with_rules_for_the_host_ends_the_lookup_there() -> None:
    """Istio: the proxy's namespace has a rule for the host (one that does not select the
    proxy): the lookup stops there, the root namespace's rule is not consulted."""
    root = _rule(
        "root",
        "istio-system",
        "  host: orders.default.svc.cluster.local\n"
        "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 9}}}\n",
    )
    mesh = mesh_of(docs(ORDERS, CLIENTS, root, SELECTING))
    assert _max_connections(mesh, "default/fast") == 3
    assert _max_connections(mesh, "default/slow") == UNLIMITED
    assert _max_connections(mesh, "prod/other") == 9


def test_the_oldest_selecting_rule_wins() -> None:
    newer = _rule(
        "fast-too",
        "default",
        "  host: orders.default.svc.cluster.local\n"
        "  workloadSelector: {matchLabels: {app: fast}}\n"
        "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 4}}}\n",
    )
    mesh = mesh_of(docs(ORDERS, CLIENTS, SELECTING, newer))
    assert _max_connections(mesh, "default/fast") == 3


def test_proxies_with_equal_scope_share_their_clusters() -> None:
    translator = MeshTranslator(mesh_of(docs(ORDERS, CLIENTS, CATCH_ALL, SELECTING)))
    slow = _orders_resource(translator, "default/slow")
    assert _orders_resource(translator, "default/slow2") is slow
    assert _orders_resource(translator, "default/fast") is not slow
    assert _orders_resource(translator, "default/fast").body() != slow.body()


def test_an_edited_selector_moves_the_rule_to_other_proxies() -> None:
    first = MeshTranslator(mesh_of(docs(ORDERS, CLIENTS, CATCH_ALL, SELECTING)))
    assert (
        _orders_cluster(first, "default/slow").circuit_breakers.thresholds[0].max_connections.value
        == 50
    )
    moved = SELECTING.replace("{app: fast}", "{app: slow}")
    second = MeshTranslator(mesh_of(docs(ORDERS, CLIENTS, CATCH_ALL, moved)), previous=first)
    for key, expected in (("default/slow", 3), ("default/fast", 50)):
        limits = _orders_cluster(second, key).circuit_breakers.thresholds[0]
        assert limits.max_connections.value == expected, key
