"""Identity is re-checked on every change, not only at connect: when a live workload's
serviceAccount changes (or the workload goes away), its open xDS streams, authenticated
as the old identity, get nothing of the new one and are closed with a clear status."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from tests.e2e.harness import REPO, free_port, http_get, relocate_example, wait_until, xdscp_up
from tests.protocol.ads_client import DeltaClient, SotwClient
from translators.naming import SECRET_TYPE
from xdscp.identity import XDS_SERVER_NAME, IdentitySettings
from xdscp.service import ControlPlane

CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
ORDER_ID = "spiffe://cluster.local/ns/default/sa/order-service"
SECRETS = ["default", "ROOTCA"]


@dataclass
class _Mesh:
    plane: ControlPlane
    services: Path  # the file holding the WorkloadEntries
    work: Path


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[_Mesh]:
    config = tmp_path / "canary"
    shutil.copytree(REPO / "examples" / "canary", config)
    plane = ControlPlane(
        config,
        f"127.0.0.1:{free_port()}",
        None,
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
    )
    await plane.start()
    try:
        yield _Mesh(plane, config / "services.yaml", tmp_path)
    finally:
        await plane.stop()


def _node(name: str) -> base_pb2.Node:
    node = base_pb2.Node(id=f"sidecar~127.0.0.9~{name}.default~default.svc.cluster.local")
    node.metadata.fields["NAMESPACE"].string_value = "default"
    node.metadata.fields["WORKLOAD_NAME"].string_value = name
    return node


def _channel(mesh: _Mesh, workload: str) -> grpc.aio.Channel:
    """An mTLS channel with the bootstrap client certificate `xdscp bootstrap` wrote for
    the workload (the first time: a restarted Envoy reuses the same files)."""
    files = {"cert": mesh.work / workload / "xds-client-cert.pem",
             "key": mesh.work / workload / "xds-client-key.pem"}  # fmt: skip
    if not files["cert"].exists():
        found = (
            mesh.plane.runtime.mesh.workload("default", workload)
            if mesh.plane.runtime.mesh
            else None
        )
        assert found is not None
        files = mesh.plane.identity.write_bootstrap_credentials(found, mesh.work / workload)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=mesh.plane.identity.trust_bundle_pem.encode(),
        private_key=files["key"].read_bytes(),
        certificate_chain=files["cert"].read_bytes(),
    )
    host, port = mesh.plane.xds_address
    return grpc.aio.secure_channel(
        f"{host}:{port}", credentials, options=[("grpc.ssl_target_name_override", XDS_SERVER_NAME)]
    )


def _svid_identities(packed: list[any_pb2.Any]) -> set[str]:
    """SPIFFE IDs of the workload certificates among packed Secrets."""
    found: set[str] = set()
    for resource in packed:
        if not resource.type_url.endswith("Secret"):
            continue
        secret = secret_pb2.Secret.FromString(resource.value)
        chain = secret.tls_certificate.certificate_chain.inline_bytes
        if chain:
            leaf = x509.load_pem_x509_certificate(chain)
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            found.update(sans.get_values_for_type(x509.UniformResourceIdentifier))
    return found


def _identities_in(raw: bytes, api: str) -> set[str]:
    if api == "sotw":
        return _svid_identities(list(discovery_pb2.DiscoveryResponse.FromString(raw).resources))
    delta = discovery_pb2.DeltaDiscoveryResponse.FromString(raw)
    return _svid_identities([r.resource for r in delta.resources])


async def _open(mesh: _Mesh, workload: str, api: str) -> SotwClient | DeltaClient:
    """A stream authenticated as `workload`, holding its SDS secrets (ACKed)."""
    channel = _channel(mesh, workload)
    client: SotwClient | DeltaClient
    if api == "sotw":
        client = SotwClient(channel)
        client.node = _node(workload)
        await client.subscribe(SECRET_TYPE, SECRETS)
    else:
        client = DeltaClient(channel)
        client.node = _node(workload)
        await client.send(SECRET_TYPE, subscribe=SECRETS)
        await client.ack(await client.recv())
    return client


async def _drain(client: SotwClient | DeltaClient, api: str) -> set[str]:
    """Every SVID identity the server sends until it ends the stream."""
    seen: set[str] = set()
    while True:
        try:
            raw = await client.read_raw(timeout=15)
        except EOFError:
            return seen
        seen |= _identities_in(raw, api)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("api", ["sotw", "delta"])
async def test_a_service_account_change_closes_the_old_identitys_stream(
    mesh: _Mesh, api: str
) -> None:
    client = await _open(mesh, "client", api)
    bystander = await _open(mesh, "order-v1", api)
    assert _identities_in(client.raw[0], api) == {CLIENT_ID}
    try:
        _edit(mesh.services, "serviceAccount: client", "serviceAccount: order-service")

        assert ORDER_ID not in await _drain(client, api)
        assert await client.status(timeout=5) == grpc.StatusCode.PERMISSION_DENIED
        details = await client.call.details()
        assert "identity changed to " + ORDER_ID in details
        assert CLIENT_ID in details  # which identity the stream had

        # Envoy reconnects with the same certificate: refused, nothing sent.
        again = await _open_refused(mesh, "client", api)
        assert again == grpc.StatusCode.PERMISSION_DENIED
        # Other proxies keep their streams.
        assert not bystander.call.done()
    finally:
        await client.close()
        await bystander.close()


async def _open_refused(mesh: _Mesh, workload: str, api: str) -> grpc.StatusCode:
    channel = _channel(mesh, workload)
    client: SotwClient | DeltaClient = (
        SotwClient(channel) if api == "sotw" else DeltaClient(channel)
    )
    client.node = _node(workload)
    try:
        if isinstance(client, SotwClient):
            await client.send(SECRET_TYPE, SECRETS)
        else:
            await client.send(SECRET_TYPE, subscribe=SECRETS)
        with pytest.raises(EOFError):
            await client.read_raw(timeout=5)
        return await client.status(timeout=5)
    finally:
        await client.close()
        await channel.close(None)


async def test_a_deleted_workload_closes_its_streams(mesh: _Mesh) -> None:
    client = await _open(mesh, "client", "sotw")
    try:
        text = mesh.services.read_text()
        documents = text.split("\n---\n")
        kept = [d for d in documents if "name: client\n" not in d]
        assert len(kept) == len(documents) - 1
        mesh.services.write_text("\n---\n".join(kept))

        assert await _drain(client, "sotw") == set()
        assert await client.status(timeout=5) == grpc.StatusCode.NOT_FOUND
        assert "workload default/client no longer exists" in await client.call.details()
    finally:
        await client.close()


async def test_an_unrelated_change_keeps_the_stream(mesh: _Mesh) -> None:
    client = await _open(mesh, "client", "sotw")
    try:
        _edit(mesh.services, "version: v2", "version: v3")
        await asyncio.sleep(2.5)  # well past the source's debounce
        assert not client.call.done()
    finally:
        await client.close()


def _certificate_identities(admin: str) -> set[str]:
    """URI SANs of every certificate real Envoy holds (its /certs admin endpoint)."""
    status, body = http_get(f"{admin}/certs")
    assert status == 200, body
    return {
        san["uri"]
        for entry in json.loads(body).get("certificates", [])
        for cert in entry.get("cert_chain", [])
        for san in cert.get("subject_alt_names", [])
        if "uri" in san
    }


def _secret_identities(admin: str) -> set[str]:
    """URI SANs of the certificate chains in Envoy's dynamic secrets (config_dump)."""
    status, body = http_get(f"{admin}/config_dump?resource=dynamic_active_secrets")
    assert status == 200, body
    found: set[str] = set()
    for entry in json.loads(body).get("configs", []):
        chain = entry.get("secret", {}).get("tls_certificate", {}).get("certificate_chain", {})
        if "inline_bytes" in chain:
            leaf = x509.load_pem_x509_certificate(base64.b64decode(chain["inline_bytes"]))
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            found.update(sans.get_values_for_type(x509.UniformResourceIdentifier))
    return found


@pytest.mark.e2e
def test_real_envoy_is_cut_off_and_refused_after_its_identity_changes(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as running:
        admin = running.workload("default/client")["admin"]
        assert wait_until(lambda: CLIENT_ID in _secret_identities(admin), timeout=20)

        _edit(config / "services.yaml", "serviceAccount: client", "serviceAccount: order-service")

        def revoked_and_refused() -> bool:
            log = running.log()
            return "xds.stream_revoked" in log and "may not act as workload default/client" in log

        assert wait_until(revoked_and_refused, timeout=20), running.log()[-3000:]
        log = running.log()
        revoked = next(line for line in log.splitlines() if "xds.stream_revoked" in line)
        assert "PERMISSION_DENIED" in revoked and "identity changed" in revoked
        time.sleep(1.0)  # Envoy retries meanwhile; each retry must be refused too
        assert ORDER_ID not in _certificate_identities(admin)
        assert ORDER_ID not in _secret_identities(admin)
        assert CLIENT_ID in _secret_identities(admin)  # it keeps what it had
