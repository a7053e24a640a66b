"""Issued certificates work in a real TLS stack (OpenSSL via Python's `ssl`).

Field-level tests can all pass while a real handshake fails (chain order,
critical SAN handling, key usage for EC); these tests complete mutual TLS on
127.0.0.1 the way the xDS server and a proxy will, with the trust bundle as
the only trust, and check that a certificate from another CA is refused.
Certificates here use the real clock, since OpenSSL checks validity against it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from ca import (
    CertificateAuthority,
    IssuedCertificate,
    ServerCertificate,
    issue_server_certificate,
    issue_svid,
    new_intermediate_ca,
    new_root_ca,
    verify_svid,
)
from tests.ca.conftest import REVIEWS, pem

SERVER_NAME = "xdscp.istio-system.svc"


@pytest.fixture(scope="module")
def mesh_ca() -> CertificateAuthority:
    # Through an intermediate, so a wrong chain order or a missing intermediate would fail.
    return new_intermediate_ca(new_root_ca())


@pytest.fixture(scope="module")
def foreign_ca() -> CertificateAuthority:
    return new_root_ca(common_name="another mesh")


@pytest.fixture(scope="module")
def server_cert(mesh_ca: CertificateAuthority) -> ServerCertificate:
    return issue_server_certificate(mesh_ca, [SERVER_NAME], ip_addresses=["127.0.0.1"])


def _files(tmp_path: Path, name: str, cert: IssuedCertificate) -> tuple[str, str]:
    chain, key = tmp_path / f"{name}-chain.pem", tmp_path / f"{name}-key.pem"
    chain.write_text(cert.cert_chain_pem)
    key.write_text(cert.key_pem)
    return str(chain), str(key)


@dataclass
class ServerResult:
    peer_der: bytes | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _handshake(
    tmp_path: Path,
    *,
    server: IssuedCertificate,
    server_trust: CertificateAuthority,
    client: IssuedCertificate,
    client_trust: CertificateAuthority,
) -> tuple[ServerResult, BaseException | None, bytes]:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*_files(tmp_path, "server", server))
    server_ctx.load_verify_locations(cadata=server_trust.trust_bundle().pem)
    server_ctx.verify_mode = ssl.CERT_REQUIRED

    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies server + hostname
    client_ctx.load_cert_chain(*_files(tmp_path, "client", client))
    client_ctx.load_verify_locations(cadata=client_trust.trust_bundle().pem)

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    result = ServerResult()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                result.peer_der = tls.getpeercert(binary_form=True)
                tls.sendall(b"hello " + tls.recv(16))
        except (OSError, ssl.SSLError) as exc:
            result.error = exc
        finally:
            result.done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_error: BaseException | None = None
    reply = b""
    try:
        with (
            socket.create_connection(listener.getsockname(), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as tls,
        ):
            tls.sendall(b"proxy")
            reply = tls.recv(64)
    except (OSError, ssl.SSLError) as exc:
        client_error = exc
    finally:
        thread.join(10)
        listener.close()
    assert result.done.is_set()
    return result, client_error, reply


def test_mutual_tls_with_issued_certificates(
    tmp_path: Path, mesh_ca: CertificateAuthority, server_cert: ServerCertificate
) -> None:
    svid = issue_svid(mesh_ca, REVIEWS)
    result, client_error, reply = _handshake(
        tmp_path, server=server_cert, server_trust=mesh_ca, client=svid, client_trust=mesh_ca
    )
    # Success proves the chain order: each side trusts only the root, so the
    # intermediate must have been sent after the leaf.
    assert client_error is None and result.error is None
    assert reply == b"hello proxy"
    # What the xDS server will do next: name the authenticated proxy from its certificate.
    # Python's ssl exposes only the peer leaf, so the CA's chain supplies the intermediate.
    assert result.peer_der is not None
    peer_pem = pem(x509.load_der_x509_certificate(result.peer_der))
    bundle = mesh_ca.trust_bundle()
    assert verify_svid(peer_pem, bundle, intermediates=mesh_ca.chain) == REVIEWS


def test_client_certificate_from_another_ca_is_refused(
    tmp_path: Path,
    mesh_ca: CertificateAuthority,
    foreign_ca: CertificateAuthority,
    server_cert: ServerCertificate,
) -> None:
    intruder = issue_svid(foreign_ca, REVIEWS)  # same identity, wrong CA
    result, _client_error, reply = _handshake(
        tmp_path, server=server_cert, server_trust=mesh_ca, client=intruder, client_trust=mesh_ca
    )
    assert isinstance(result.error, ssl.SSLCertVerificationError)
    assert result.peer_der is None
    assert reply == b""


def test_server_certificate_from_another_ca_is_refused(
    tmp_path: Path, mesh_ca: CertificateAuthority, foreign_ca: CertificateAuthority
) -> None:
    impostor = issue_server_certificate(foreign_ca, [SERVER_NAME])
    svid = issue_svid(mesh_ca, REVIEWS)
    result, client_error, _reply = _handshake(
        tmp_path, server=impostor, server_trust=mesh_ca, client=svid, client_trust=mesh_ca
    )
    assert isinstance(client_error, ssl.SSLCertVerificationError)
    assert result.peer_der is None
