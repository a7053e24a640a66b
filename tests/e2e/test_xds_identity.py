"""Authenticated xDS over real mutual TLS: a proxy gets config and secrets for the
identity its client certificate proves, and nothing for an identity it only claims."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

import ca
from tests.e2e.harness import REPO, free_port
from translators.naming import CLUSTER_TYPE, SECRET_TYPE
from xdscp.identity import XDS_SERVER_NAME, IdentitySettings
from xdscp.service import ControlPlane


def _node(namespace: str, name: str) -> base_pb2.Node:
    node = base_pb2.Node(id=f"sidecar~127.0.0.9~{name}.{namespace}~{namespace}.svc.cluster.local")
    node.metadata.fields["NAMESPACE"].string_value = namespace
    node.metadata.fields["WORKLOAD_NAME"].string_value = name
    return node


async def _first_response(
    channel: grpc.aio.Channel, node: base_pb2.Node, type_url: str, names: list[str]
) -> discovery_pb2.DiscoveryResponse:
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)

    async def requests() -> AsyncIterator[discovery_pb2.DiscoveryRequest]:
        yield discovery_pb2.DiscoveryRequest(node=node, type_url=type_url, resource_names=names)
        await asyncio.sleep(10)

    call = stub.StreamAggregatedResources(requests())
    try:
        async with asyncio.timeout(10):
            response: discovery_pb2.DiscoveryResponse = await call.read()
            return response
    finally:
        call.cancel()


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    control = ControlPlane(
        REPO / "examples" / "canary",
        f"127.0.0.1:{free_port()}",
        None,
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
    )
    await control.start()
    try:
        yield control
    finally:
        await control.stop()


def _channel(plane: ControlPlane, cert: str, key: str) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=plane.identity.trust_bundle_pem.encode(),
        private_key=key.encode(),
        certificate_chain=cert.encode(),
    )
    host, port = plane.xds_address
    return grpc.aio.secure_channel(
        f"{host}:{port}", credentials, options=[("grpc.ssl_target_name_override", XDS_SERVER_NAME)]
    )


async def test_a_proxy_gets_its_own_identity_and_nothing_it_only_claims(
    plane: ControlPlane, tmp_path: Path
) -> None:
    workload = plane.runtime.mesh.workload("default", "client") if plane.runtime.mesh else None
    assert workload is not None
    files = plane.identity.write_bootstrap_credentials(workload, tmp_path / "client")
    cert, key = files["cert"].read_text(), files["key"].read_text()

    async with _channel(plane, cert, key) as channel:
        # As itself: its secrets, with its own SPIFFE ID.
        response = await _first_response(
            channel, _node("default", "client"), SECRET_TYPE, ["default", "ROOTCA"]
        )
        secrets = {}
        for resource in response.resources:
            secret = secret_pb2.Secret()
            resource.Unpack(secret)
            secrets[secret.name] = secret
        assert set(secrets) == {"default", "ROOTCA"}
        leaf = x509.load_pem_x509_certificate(
            secrets["default"].tls_certificate.certificate_chain.inline_bytes
        )
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
            "spiffe://cluster.local/ns/default/sa/client"
        ]

    async with _channel(plane, cert, key) as channel:
        # Claiming to be order-v1 (service account order-service): refused, nothing sent.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _first_response(channel, _node("default", "order-v1"), CLUSTER_TYPE, [])
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "may not act as workload default/order-v1" in (refused.value.details() or "")


async def test_certificates_from_another_ca_cannot_connect(plane: ControlPlane) -> None:
    rogue = ca.new_root_ca(common_name="rogue")
    svid = ca.issue_svid(rogue, "spiffe://cluster.local/ns/default/sa/client")
    async with _channel(plane, svid.cert_chain_pem, svid.key_pem) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _first_response(channel, _node("default", "client"), CLUSTER_TYPE, [])
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_restart_keeps_the_root(tmp_path: Path) -> None:
    roots = []
    for _ in range(2):
        control = ControlPlane(
            REPO / "examples" / "canary",
            f"127.0.0.1:{free_port()}",
            None,
            identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
        )
        await control.start()
        roots.append(control.identity.trust_bundle_pem)
        await control.stop()
    assert roots[0] == roots[1]
