"""With mTLS, the client certificate's SPIFFE ID reaches the resolver (and nothing else does)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from xdscp.cache import CLUSTER_TYPE, SnapshotCache
from xdscp.server import AggregatedDiscoveryService, StaticResolver, StatusBook, serve

from .ads_client import SotwClient
from .resources import mesh

SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/web"


@dataclass
class _Pki:
    root: bytes
    server_key: bytes
    server_chain: bytes
    client_key: bytes
    client_chain: bytes


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    subject: str,
    san: x509.GeneralName,
    server: bool,
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else (
        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM)


def _pki() -> _Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test root")])
    now = datetime.datetime.now(datetime.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key, server_chain = _issue(
        ca_key, name, "xds", x509.IPAddress(ipaddress.ip_address("127.0.0.1")), server=True
    )
    client_key, client_chain = _issue(
        ca_key, name, "web", x509.UniformResourceIdentifier(SPIFFE_ID), server=False
    )
    return _Pki(
        root.public_bytes(serialization.Encoding.PEM),
        server_key,
        server_chain,
        client_key,
        client_chain,
    )


class _Recording(StaticResolver):
    def __init__(self, cache: SnapshotCache) -> None:
        super().__init__(cache)
        self.identities: list[str | None] = []

    def connect(self, node: object, peer_identity: str | None) -> str:
        self.identities.append(peer_identity)
        return super().connect(node, peer_identity)


async def test_mtls_peer_spiffe_id_reaches_resolver_and_status() -> None:
    pki = _pki()
    cache = SnapshotCache()
    cache.set("proxy-1", mesh())
    resolver = _Recording(cache)
    status = StatusBook()
    credentials = grpc.ssl_server_credentials(
        [(pki.server_key, pki.server_chain)], root_certificates=pki.root, require_client_auth=True
    )
    server, port = await serve(
        AggregatedDiscoveryService(cache, resolver, status), "127.0.0.1:0", credentials
    )
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{port}",
        grpc.ssl_channel_credentials(pki.root, pki.client_key, pki.client_chain),
    )
    try:
        client = SotwClient(channel)
        await client.subscribe(CLUSTER_TYPE)
        assert resolver.identities == [SPIFFE_ID]
        assert status.snapshot_json()["proxy-1"]["peer_identity"] == SPIFFE_ID
        await client.close()
    finally:
        await channel.close(None)
        await server.stop(None)
