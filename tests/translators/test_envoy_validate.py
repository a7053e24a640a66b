"""The offline Envoy check used by the golden tests must be able to say no: it folds a
proxy's resources faithfully, and Envoy rejects what it would NACK."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from tests.envoy_validate import (
    UnresolvedReference,
    build_bootstrap,
    find_envoy,
    validate_resources,
)
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE
from translators.translate import translate
from xdscp.sources.files import DirectorySource

CANARY = Path(__file__).resolve().parents[2] / "examples" / "canary"

pytestmark = pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")


@dataclass(frozen=True)
class Raw:
    type_url: str
    message: Message


def canary_client() -> list[Raw]:
    mesh = DirectorySource(CANARY).load()
    workload = mesh.workload("default", "client")
    assert workload is not None
    return [Raw(r.type_url, r.message) for r in translate(mesh, workload).resources]


def static_cluster(
    name: str,
    *hosts: str,
    kind: cluster_pb2.Cluster.DiscoveryType.ValueType = cluster_pb2.Cluster.STATIC,
) -> Raw:
    cluster = cluster_pb2.Cluster(name=name, type=kind)
    cluster.connect_timeout.seconds = 1
    cluster.load_assignment.cluster_name = name
    locality = cluster.load_assignment.endpoints.add()
    for host in hosts:
        locality.lb_endpoints.append(
            endpoint_components_pb2.LbEndpoint(
                endpoint=endpoint_components_pb2.Endpoint(
                    address=address_pb2.Address(
                        socket_address=address_pb2.SocketAddress(address=host, port_value=80)
                    )
                )
            )
        )
    return Raw(CLUSTER_TYPE, cluster)


def test_folding_inlines_eds_and_rds() -> None:
    bootstrap = build_bootstrap(canary_client())
    clusters = {c.name: c for c in bootstrap.static_resources.clusters}
    v1 = clusters["outbound|8080|v1|order-service.default.svc.cluster.local"]
    assert v1.type == cluster_pb2.Cluster.STATIC
    assert not v1.HasField("eds_cluster_config")
    assert [
        e.endpoint.address.socket_address.address
        for loc in v1.load_assignment.endpoints
        for e in loc.lb_endpoints
    ] == ["127.0.2.1"]
    (listener,) = bootstrap.static_resources.listeners
    manager = hcm_pb2.HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    assert not manager.HasField("rds")
    assert manager.route_config.name == "8080"


def test_accepts_the_canary() -> None:
    verdict = validate_resources(canary_client(), validate_clusters=True)
    assert verdict.ok, str(verdict)


def test_rejects_an_invalid_regex() -> None:
    resources = canary_client()
    for resource in resources:
        if resource.type_url == ROUTE_TYPE:
            assert isinstance(resource.message, route_pb2.RouteConfiguration)
            route = resource.message.virtual_hosts[0].routes[0]
            route.match.safe_regex.regex = "/items/(a"  # replaces the prefix match
    verdict = validate_resources(resources)
    assert not verdict.ok
    assert "missing )" in verdict.output


def test_rejects_a_route_to_a_missing_cluster_when_asked() -> None:
    resources = canary_client()
    for resource in resources:
        if resource.type_url == ROUTE_TYPE:
            assert isinstance(resource.message, route_pb2.RouteConfiguration)
            action = resource.message.virtual_hosts[0].routes[0].route
            action.weighted_clusters.clusters[0].name = "outbound|8080|v9|nowhere"
    assert validate_resources(resources).ok  # Envoy's default for RDS: not checked
    verdict = validate_resources(resources, validate_clusters=True)
    assert not verdict.ok
    assert "outbound|8080|v9|nowhere" in verdict.output


@pytest.mark.parametrize(
    ("resource", "complaint"),
    [
        (static_cluster("named", "api.example.com"), "malformed IP address: api.example.com"),
        (
            static_cluster("dns", "a.example", "b.example", kind=cluster_pb2.Cluster.LOGICAL_DNS),
            "LOGICAL_DNS clusters must have a single",
        ),
        (static_cluster("", "10.0.0.1"), "Proto constraint validation failed"),
    ],
    ids=["static-host-name", "logical-dns-two-endpoints", "empty-name"],
)
def test_rejects_invalid_clusters(resource: Raw, complaint: str) -> None:
    verdict = validate_resources([resource])
    assert not verdict.ok
    assert complaint in verdict.output


def test_rejects_duplicate_cluster_names() -> None:
    verdict = validate_resources(
        [static_cluster("same", "10.0.0.1"), static_cluster("same", "10.0.0.2")]
    )
    assert not verdict.ok
    assert "same" in verdict.output


def test_dangling_references_are_translator_bugs() -> None:
    resources = canary_client()
    without_routes = [r for r in resources if r.type_url != ROUTE_TYPE]
    with pytest.raises(UnresolvedReference, match="uses route config '8080'"):
        build_bootstrap(without_routes)
    without_eds = [r for r in resources if r.type_url != ENDPOINT_TYPE]
    with pytest.raises(UnresolvedReference, match="has no ClusterLoadAssignment"):
        build_bootstrap(without_eds)
    only_routes = [r for r in resources if r.type_url == ROUTE_TYPE]
    with pytest.raises(UnresolvedReference, match="no listener uses"):
        build_bootstrap(only_routes)
