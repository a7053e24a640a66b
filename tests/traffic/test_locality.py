"""localityLbSetting with Istio's semantics: endpoints grouped by locality, priorities and
weights relative to the calling proxy's locality, in the EDS each proxy receives."""

from __future__ import annotations

import textwrap

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from tests.translators.helpers import mesh_of, workload
from translators.ir import EndpointIR, EndpointSetIR, LocalityGroupIR, LocalityLbIR
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE
from translators.traffic.locality import lb_priority, locality_match, localize
from translators.translate import MeshTranslator

CLUSTER = "outbound|8080||orders.default.svc.cluster.local"


def _mesh(rule: str, client_locality: str = "us-east/a/1") -> str:
    return (
        textwrap.dedent(f"""
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {{name: orders}}
    spec:
      hosts: [orders]
      location: MESH_INTERNAL
      resolution: STATIC
      ports: [{{number: 8080, name: http, protocol: HTTP}}]
      endpoints:
      - {{address: 10.0.0.1, locality: us-east/a/1, labels: {{tier: gold}}}}
      - {{address: 10.0.0.2, locality: us-east/a/2}}
      - {{address: 10.0.0.3, locality: us-east/b/1}}
      - {{address: 10.0.0.4, locality: us-west/c/1, labels: {{tier: gold}}}}
      - {{address: 10.0.0.5, locality: eu/d/1}}
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {{name: client}}
    spec: {{address: 10.9.0.1, locality: "{client_locality}", labels: {{tier: gold}}}}
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {{name: far}}
    spec: {{address: 10.9.0.2, locality: eu/d/1}}
    ---
    """)
        + rule
    )


def _rule(policy: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: orders}\nspec:\n  host: orders\n  trafficPolicy:\n"
        + "\n".join(f"    {line}" for line in policy.strip().splitlines())
    )


def _eds(text: str, proxy: str) -> endpoint_pb2.ClusterLoadAssignment:
    mesh = mesh_of(text)
    resources = MeshTranslator(mesh).translate(workload(mesh, proxy))
    (found,) = [r for r in resources.of_type(ENDPOINT_TYPE) if r.name == CLUSTER]
    cla = found.message
    assert isinstance(cla, endpoint_pb2.ClusterLoadAssignment)
    return cla


def _priorities(cla: endpoint_pb2.ClusterLoadAssignment) -> dict[str, int]:
    return {
        lb.endpoint.address.socket_address.address: group.priority
        for group in cla.endpoints
        for lb in group.lb_endpoints
    }


OUTLIER = "outlierDetection: {consecutive5xxErrors: 1}"


def test_failover_priorities_follow_the_callers_locality() -> None:
    text = _mesh(_rule(OUTLIER))
    assert _priorities(_eds(text, "default/client")) == {
        "10.0.0.1": 0,  # same subzone
        "10.0.0.2": 1,  # same zone
        "10.0.0.3": 2,  # same region
        "10.0.0.4": 3,  # elsewhere
        "10.0.0.5": 3,
    }
    # another proxy of the same namespace gets its own view of the same cluster
    assert _priorities(_eds(text, "default/far")) == {
        "10.0.0.1": 1,
        "10.0.0.2": 1,
        "10.0.0.3": 1,
        "10.0.0.4": 1,
        "10.0.0.5": 0,
    }
    cla = _eds(text, "default/client")
    group = next(g for g in cla.endpoints if g.priority == 0)
    assert (group.locality.region, group.locality.zone, group.locality.sub_zone) == (
        "us-east",
        "a",
        "1",
    )


def test_failover_needs_outlier_detection() -> None:
    """Istio: without outlier detection no endpoint ever fails, so no priorities."""
    text = _mesh(_rule("loadBalancer: {simple: ROUND_ROBIN}"))
    assert set(_priorities(_eds(text, "default/client")).values()) == {0}


def test_disabled_setting_keeps_every_endpoint_equal() -> None:
    rule = _rule(f"{OUTLIER}\nloadBalancer: {{localityLbSetting: {{enabled: false}}}}")
    assert set(_priorities(_eds(_mesh(rule), "default/client")).values()) == {0}


def test_explicit_failover_region_and_weighted_cluster() -> None:
    rule = _rule(
        f"{OUTLIER}\nloadBalancer:\n  localityLbSetting:\n    failover: [{{from: us-east, to: eu}}]"
    )
    text = _mesh(rule)
    assert _priorities(_eds(text, "default/client")) == {
        "10.0.0.1": 0,
        "10.0.0.2": 1,
        "10.0.0.3": 2,
        "10.0.0.4": 4,  # not the region failover names: after it
        "10.0.0.5": 3,
    }
    mesh = mesh_of(text)
    resources = MeshTranslator(mesh).translate(workload(mesh, "default/client"))
    (cluster,) = [r for r in resources.of_type(CLUSTER_TYPE) if r.name == CLUSTER]
    parsed = cluster.message
    assert isinstance(parsed, cluster_pb2.Cluster)
    assert parsed.common_lb_config.HasField("locality_weighted_lb_config")


def test_failover_priority_labels() -> None:
    rule = _rule(
        f"{OUTLIER}\nloadBalancer:\n  localityLbSetting:\n"
        "    failoverPriority: [tier, topology.kubernetes.io/region]"
    )
    assert _priorities(_eds(_mesh(rule), "default/client")) == {
        "10.0.0.1": 0,  # tier and region match
        "10.0.0.4": 1,  # tier only
        "10.0.0.2": 2,  # neither (tier differs first)
        "10.0.0.3": 2,
        "10.0.0.5": 2,
    }


def test_distribute_reweights_localities() -> None:
    rule = _rule(
        "loadBalancer:\n  localityLbSetting:\n    distribute:\n"
        "    - from: us-east/*\n      to: {us-east/a/*: 80, us-west/*: 20}"
    )
    cla = _eds(_mesh(rule), "default/client")
    weights = {
        (g.locality.region, g.locality.zone, g.locality.sub_zone): (
            g.load_balancing_weight.value,
            len(g.lb_endpoints),
        )
        for g in cla.endpoints
    }
    assert weights == {
        ("us-east", "a", "1"): (40, 1),  # 80 shared by the two groups of us-east/a
        ("us-east", "a", "2"): (40, 1),
        ("us-west", "c", "1"): (20, 1),
        ("us-east", "b", "1"): (1, 0),  # not a destination: emptied
        ("eu", "d", "1"): (1, 0),
    }
    # a proxy the rule's `from` does not match keeps the plain groups
    far = _eds(_mesh(rule), "default/far")
    assert all(len(g.lb_endpoints) == 1 for g in far.endpoints)


def test_no_locality_anywhere_keeps_the_shared_single_group() -> None:
    text = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: orders}
    spec:
      hosts: [orders]
      location: MESH_INTERNAL
      resolution: STATIC
      ports: [{number: 8080, name: http, protocol: HTTP}]
      endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: client}
    spec: {address: 10.9.0.1}
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: orders}
    spec: {host: orders, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1}}}
    """
    cla = _eds(text, "default/client")
    assert len(cla.endpoints) == 1 and not cla.endpoints[0].HasField("locality")


def test_istio_matching_rules() -> None:
    assert locality_match("us-east/a/1", "us-east/*")
    assert locality_match("us-east/a/1", "us-east")
    assert locality_match("us-east/a/1", "*")
    assert not locality_match("us-east/a/1", "us-east/b")
    assert lb_priority("r/z/s", "r/z/s") == 0
    assert lb_priority("r/z/s", "r/z/t") == 1
    assert lb_priority("r/z/s", "r/y/s") == 2
    assert lb_priority("r/z/s", "q/z/s") == 3


def test_localize_renumbers_priorities_without_gaps() -> None:
    near = EndpointIR("10.0.0.1", 80, locality="r/z/s")
    far = EndpointIR("10.0.0.2", 80, locality="q/y/x")
    assignment = EndpointSetIR(
        "c",
        (near, far),
        groups=(
            LocalityGroupIR("q/y/x", (far,), weight=1),
            LocalityGroupIR("r/z/s", (near,), weight=1),
        ),
        locality_lb=LocalityLbIR(enable_failover=True),
    )
    out = localize(assignment, "r/z/s", {})
    assert [(g.locality, g.priority) for g in out.groups] == [("q/y/x", 1), ("r/z/s", 0)]
    assert out.locality_lb is None


def test_kubernetes_pod_locality_labels() -> None:
    """Istio's pod labels: `topology.istio.io/locality` first, then `istio-locality`, with
    `.` for `/` (label values cannot hold a slash)."""
    from xdscp.kube.registry import pod_workload

    def pod(labels: dict[str, str]) -> dict[str, object]:
        return {
            "metadata": {"name": "p", "namespace": "ns", "labels": labels},
            "spec": {},
            "status": {"podIP": "10.1.1.1", "phase": "Running"},
        }

    found = pod_workload(pod({"istio-locality": "us-east.a.1"}))
    assert found is not None and found.locality == "us-east/a/1"
    found = pod_workload(pod({"istio-locality": "x", "topology.istio.io/locality": "eu-west.b"}))
    assert found is not None and found.locality == "eu-west/b"


def test_locality_on_a_dns_service_is_reported() -> None:
    text = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata: {name: orders}
    spec:
      hosts: [orders.example.com]
      location: MESH_EXTERNAL
      resolution: DNS
      ports: [{number: 80, name: http, protocol: HTTP}]
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: orders}
    spec:
      host: orders.example.com
      trafficPolicy:
        outlierDetection: {consecutive5xxErrors: 1}
        loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}]}}
    """
    from translators.analysis import analyze

    found = {(m.code, m.field) for m in analyze(mesh_of(text)).messages}
    assert ("XDS0803", "spec.trafficPolicy.loadBalancer.localityLbSetting") in found
    # the same rule on a STATIC service is translated: nothing reported
    static = text.replace(
        "resolution: DNS", "resolution: STATIC\n      endpoints: [{address: 10.0.0.1}]"
    )
    found = {(m.code, m.field) for m in analyze(mesh_of(static)).messages}
    assert ("XDS0803", "spec.trafficPolicy.loadBalancer.localityLbSetting") not in found
