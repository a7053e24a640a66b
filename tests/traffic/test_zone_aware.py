"""zoneAwareLbSetting as Istio's pilot applies it without proxy self-discovery
(loadbalancer.go ZoneAwareLBSettings): EDS priorities by region only — the caller's
region first, the `failover` region next, the rest last — with or without outlier
detection, and the cluster's zone-aware config (`minClusterSize`; `enabled: false`
turns Envoy's zone-aware routing off and leaves the endpoints unranked)."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from tests.envoy_validate import find_envoy, validate_resources
from tests.traffic.test_locality import CLUSTER, _eds, _mesh, _priorities, _rule
from tests.translators.helpers import mesh_of, workload
from translators.naming import CLUSTER_TYPE
from translators.translate import MeshTranslator


def _cluster(text: str) -> cluster_pb2.Cluster:
    mesh = mesh_of(text)
    resources = MeshTranslator(mesh).translate(workload(mesh, "default/client"))
    (found,) = [r for r in resources.of_type(CLUSTER_TYPE) if r.name == CLUSTER]
    assert isinstance(found.message, cluster_pb2.Cluster)
    return found.message


def test_the_callers_region_first_without_outlier_detection() -> None:
    text = _mesh(_rule("loadBalancer: {zoneAwareLbSetting: {minClusterSize: 3}}"))
    assert _priorities(_eds(text, "default/client")) == {
        "10.0.0.1": 0,  # us-east: every zone of the region at priority 0
        "10.0.0.2": 0,
        "10.0.0.3": 0,
        "10.0.0.4": 1,  # other regions
        "10.0.0.5": 1,
    }
    assert _priorities(_eds(text, "default/far"))["10.0.0.5"] == 0
    zone_aware = _cluster(text).common_lb_config.zone_aware_lb_config
    assert zone_aware.min_cluster_size.value == 3
    assert not zone_aware.HasField("routing_enabled")


def test_the_failover_region_comes_next() -> None:
    rule = _rule("loadBalancer:\n  zoneAwareLbSetting:\n    failover: [{from: us-east, to: eu}]")
    assert _priorities(_eds(_mesh(rule), "default/client")) == {
        "10.0.0.1": 0,
        "10.0.0.2": 0,
        "10.0.0.3": 0,
        "10.0.0.4": 2,  # us-west: after eu
        "10.0.0.5": 1,
    }


def test_failover_priority_labels_split_first() -> None:
    rule = _rule("loadBalancer:\n  zoneAwareLbSetting:\n    failoverPriority: [tier]")
    # the client is tier=gold: gold endpoints first, each split by region
    assert _priorities(_eds(_mesh(rule), "default/client")) == {
        "10.0.0.1": 0,  # gold, us-east
        "10.0.0.4": 1,  # gold, elsewhere
        "10.0.0.2": 2,
        "10.0.0.3": 2,
        "10.0.0.5": 3,
    }


def test_disabled_turns_zone_aware_routing_off() -> None:
    text = _mesh(_rule("loadBalancer: {zoneAwareLbSetting: {enabled: false}}"))
    assert set(_priorities(_eds(text, "default/client")).values()) == {0}
    zone_aware = _cluster(text).common_lb_config.zone_aware_lb_config
    assert zone_aware.HasField("routing_enabled") and zone_aware.routing_enabled.value == 0


def test_envoy_accepts_it() -> None:
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    mesh = mesh_of(_mesh(_rule("loadBalancer: {zoneAwareLbSetting: {minClusterSize: 3}}")))
    verdict = validate_resources(
        MeshTranslator(mesh).translate(workload(mesh, "default/client")).resources
    )
    assert verdict.ok, verdict
