"""DestinationRule `loadBalancer.backendUtilization` (Istio's API: weight endpoints by the
load they report, ORCA) as Envoy's client_side_weighted_round_robin policy, judged by real
Envoy (`envoy --mode validate`); and Istio's one-of with `simple` / `consistentHash`."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3 import (
    client_side_weighted_round_robin_pb2 as cswrr_pb2,
)

from tests.envoy_validate import find_envoy, validate_resources
from tests.translators.helpers import docs, mesh_of, service_entry, workload, workload_entry
from translators.analysis import analyze
from translators.naming import CLUSTER_TYPE
from translators.translate import translate

RULE = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders}
spec:
  host: orders
  trafficPolicy:
    loadBalancer:
      backendUtilization:
        errorUtilizationPenaltyPercent: 150
        metricNamesForComputingUtilization: [named_metrics.queue]
        weightExpirationPeriod: 120s
        weightStabilizationPeriod: 5s
        weightUpdatePeriod: 500ms
      warmup: {duration: 30s}
  subsets:
  - name: hashed
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}"""
MESH = docs(
    service_entry("orders", endpoints="[{address: 10.1.0.1, labels: {version: v1}}]"),
    workload_entry("client", "10.0.0.1", labels="{app: client}"),
    RULE,
)


def _clusters() -> dict[str, cluster_pb2.Cluster]:
    mesh = mesh_of(MESH)
    out = {}
    for resource in translate(mesh, workload(mesh, "default/client")).resources:
        if resource.type_url == CLUSTER_TYPE and isinstance(resource.message, cluster_pb2.Cluster):
            out[resource.name] = resource.message
    return out


def test_backend_utilization_becomes_client_side_weighted_round_robin() -> None:
    cluster = _clusters()["outbound|8080||orders.default.svc.cluster.local"]
    (policy,) = cluster.load_balancing_policy.policies
    assert policy.typed_extension_config.name == (
        "envoy.load_balancing_policies.client_side_weighted_round_robin"
    )
    config = cswrr_pb2.ClientSideWeightedRoundRobin()
    assert policy.typed_extension_config.typed_config.Unpack(config)
    assert config.error_utilization_penalty.value == pytest.approx(1.5)
    assert list(config.metric_names_for_computing_utilization) == ["named_metrics.queue"]
    assert config.weight_expiration_period.seconds == 120
    assert config.blackout_period.seconds == 5
    assert config.weight_update_period.nanos == 500_000_000
    # the warmup goes with the balancer that runs
    assert config.slow_start_config.slow_start_window.seconds == 30
    assert not cluster.HasField("round_robin_lb_config")
    # nothing reported as untranslated any more
    codes = {(m.code, m.field) for m in analyze(mesh_of(MESH)).messages}
    assert not any("backendUtilization" in field for _, field in codes)


def test_a_subset_hashing_instead_keeps_its_ring() -> None:
    """A subset's consistentHash replaces the top level balancer (Istio's merge: the
    loadBalancer field as a whole)."""
    hashed = _clusters()["outbound|8080|hashed|orders.default.svc.cluster.local"]
    assert hashed.lb_policy == cluster_pb2.Cluster.RING_HASH
    assert not hashed.HasField("load_balancing_policy")


def test_envoy_accepts_it() -> None:
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    mesh = mesh_of(MESH)
    verdict = validate_resources(translate(mesh, workload(mesh, "default/client")).resources)
    assert verdict.ok, verdict


def test_backend_utilization_is_one_of_the_balancers() -> None:
    both = RULE.replace("      warmup: {duration: 30s}", "      simple: LEAST_REQUEST")
    mesh = mesh_of(docs(MESH.replace(RULE, both)), strict=False)
    assert any("backendUtilization" in str(e) for e in mesh.errors), mesh.errors
