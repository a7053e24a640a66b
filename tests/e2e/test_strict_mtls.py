"""The strict-mTLS scenario end to end: real Envoy sidecars, SPIFFE identities from the
built-in CA over SDS, mutual TLS between sidecars, plaintext refused, AuthorizationPolicy."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest

import ca
from tests.e2e.harness import RunningMesh, http_get, relocate_example, xdscp_up

pytestmark = pytest.mark.e2e

FRONTEND_ID = "spiffe://cluster.local/ns/prod/sa/frontend"


def _call(mesh: RunningMesh, caller: str, path: str = "/orders") -> tuple[int, str]:
    egress = mesh.workload(f"prod/{caller}")["call_through"][0]
    return http_get(f"http://{egress}{path}", host="orders.prod.svc.cluster.local")


def _orders_inbound(mesh: RunningMesh) -> tuple[str, int]:
    host, port = mesh.workload("prod/orders-v1")["inbound"][0].rsplit(":", 1)
    return host, int(port)


def _plaintext_get(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"GET /orders HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n")
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def test_strict_mtls_identity_and_authorization(tmp_path: Path) -> None:
    config, _ = relocate_example("strict-mtls", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        # frontend -> orders over mutual TLS; the app sees the caller's SPIFFE ID.
        status, body = _call(mesh, "frontend")
        assert status == 200, body
        assert f"URI={FRONTEND_ID}" in json.loads(body)["caller"]

        # A direct plaintext request to the orders sidecar is refused under STRICT.
        host, port = _orders_inbound(mesh)
        reply = _plaintext_get(host, port)
        assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]

        # TLS with a certificate from another CA is refused as well.
        rogue = ca.new_root_ca(common_name="rogue CA")
        svid = ca.issue_svid(rogue, FRONTEND_ID)
        cert_file, key_file = tmp_path / "rogue.pem", tmp_path / "rogue.key"
        cert_file.write_text(svid.cert_chain_pem)
        key_file.write_text(svid.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(cert_file, key_file)

        def rogue_request() -> None:
            with (
                socket.create_connection((host, port), timeout=5) as raw,
                context.wrap_socket(raw) as tls,
            ):
                tls.sendall(b"GET /orders HTTP/1.1\r\nHost: orders\r\n\r\n")
                if not tls.recv(1024):
                    raise EOFError("closed by the sidecar")

        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError)):
            rogue_request()

        # AuthorizationPolicy: allowed caller 200, other identity 403, DENY beats ALLOW,
        # and the method rule holds.
        assert _call(mesh, "intruder")[0] == 403
        assert _call(mesh, "frontend", "/admin/settings")[0] == 403
        assert _call(mesh, "frontend", "/orders/42")[0] == 200
        assert _call(mesh, "frontend", "/other")[0] == 403
