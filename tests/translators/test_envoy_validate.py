"""The offline Envoy check used by the golden tests must be able to say no: it folds a
proxy's resources faithfully, and Envoy rejects what it would NACK."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from google.protobuf.message import Message

from tests.envoy_validate import (
    UnresolvedReference,
    bootstrap_json,
    build_bootstrap,
    find_envoy,
    validate_resources,
)
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE
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


# --- TLS: SDS-over-ADS references become static secrets ----------------------------------


def _sds(name: str) -> secret_pb2.SdsSecretConfig:
    config = secret_pb2.SdsSecretConfig(name=name)
    config.sds_config.ads.SetInParent()
    config.sds_config.resource_api_version = config_source_pb2.V3
    return config


def mtls_cluster(name: str = "outbound|80||secure.default.svc.cluster.local") -> Raw:
    raw = static_cluster(name, "10.0.0.1")
    assert isinstance(raw.message, cluster_pb2.Cluster)
    context = tls_pb2.UpstreamTlsContext(sni=f"outbound_.80_._.{name.split('|')[3]}")
    common = context.common_tls_context
    common.tls_certificate_sds_secret_configs.append(_sds("default"))
    combined = common.combined_validation_context
    combined.validation_context_sds_secret_config.CopyFrom(_sds("ROOTCA"))
    combined.default_validation_context.match_typed_subject_alt_names.add(
        san_type=common_pb2.SubjectAltNameMatcher.URI
    ).matcher.exact = "spiffe://cluster.local/ns/default/sa/secure"
    raw.message.transport_socket.name = "envoy.transport_sockets.tls"
    raw.message.transport_socket.typed_config.Pack(context)
    return raw


def mtls_listener() -> Raw:
    resources = canary_client()
    (listener,) = [r for r in resources if r.type_url == LISTENER_TYPE]
    assert isinstance(listener.message, listener_pb2.Listener)
    context = tls_pb2.DownstreamTlsContext(require_client_certificate={"value": True})
    context.common_tls_context.tls_certificate_sds_secret_configs.append(_sds("default"))
    context.common_tls_context.validation_context_sds_secret_config.CopyFrom(_sds("ROOTCA"))
    chain = listener.message.filter_chains[0]
    chain.transport_socket.name = "envoy.transport_sockets.tls"
    chain.transport_socket.typed_config.Pack(context)
    return listener


def test_sds_references_are_validated_with_placeholder_secrets() -> None:
    resources = [r for r in canary_client() if r.type_url != LISTENER_TYPE]
    resources += [mtls_cluster(), mtls_listener()]
    bootstrap = build_bootstrap(resources)
    secrets = {s.name: s for s in bootstrap.static_resources.secrets}
    assert sorted(secrets) == ["ROOTCA", "default"]
    assert secrets["default"].HasField("tls_certificate")
    assert secrets["ROOTCA"].HasField("validation_context")
    assert "sds_config" not in bootstrap_json(bootstrap)
    verdict = validate_resources(resources)
    assert verdict.ok, str(verdict)


def test_given_secrets_are_the_ones_checked() -> None:
    bad_root = secret_pb2.Secret(
        name="ROOTCA",
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_string="-----BEGIN CERTIFICATE-----\nno\n")
        ),
    )
    verdict = validate_resources([mtls_cluster(), Raw(SECRET_TYPE, bad_root)])
    assert not verdict.ok
    assert "Failed to load trusted CA certificates" in verdict.output
