"""Sidecar `ingress[].tls` through the real `xdscp up` and real Envoy: with the port's
PeerAuthentication mode DISABLE (Istio's condition), the sidecar terminates TLS with the
user's certificate files and serves the HTTPS port as HTTP to the app; a plaintext
caller gets no answer."""

from __future__ import annotations

import http.client
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.harness import MeshScenario, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

PEER_AUTHENTICATION = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: secure}
spec:
  selector: {matchLabels: {app: secure}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {8443: {mode: DISABLE}}
"""


def _certificates(directory: Path, address: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for `address` (IP SAN), as PEM files."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _status(address: str, context: ssl.SSLContext | None) -> int:
    connection = (
        http.client.HTTPSConnection(address, 8443, timeout=5, context=context)
        if context is not None
        else http.client.HTTPConnection(address, 8443, timeout=5)
    )
    try:
        connection.request("GET", "/", headers={"Host": "secure"})
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def test_the_sidecar_terminates_tls_with_the_users_certificate(tmp_path: Path) -> None:
    scenario = MeshScenario(subnet=3)
    address = scenario.workload("secure", 2, service_account="secure")
    ca, cert, key = _certificates(tmp_path, address)
    scenario.service("secure", [(8443, "HTTPS")])
    scenario.add(PEER_AUTHENTICATION)
    tls = {"mode": "SIMPLE", "serverCertificate": str(cert), "privateKey": str(key)}
    scenario.server_sidecar("secure", (8443, "HTTPS"), capture_none=True, tls=tls)
    config = scenario.write(tmp_path)
    context = ssl.create_default_context(cafile=str(ca))
    with xdscp_up(config, tmp_path) as mesh:
        assert wait_until(lambda: _status(address, context) == 200, 30), mesh.log()
        assert _status(address, None) == 0  # plaintext: the TLS handshake never happens
