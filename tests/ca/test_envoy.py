"""Real Envoy accepts the CA's PEMs as static SDS secrets and does mTLS with them.

`envoy --mode validate` loads every certificate and key (it rejects a key that
does not match its certificate), and a short-lived Envoy listener proves
BoringSSL completes a handshake with our SVIDs and that Envoy's SPIFFE SAN
matcher reads our URI SAN.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ca import (
    SVID,
    CertificateAuthority,
    KeyType,
    issue_svid,
    new_intermediate_ca,
    new_root_ca,
)

ENVOY = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")
pytestmark = pytest.mark.skipif(not Path(ENVOY).exists(), reason="no envoy binary")

ALLOWED = "spiffe://cluster.local/ns/default/sa/"


@pytest.fixture(scope="module")
def mesh_ca() -> CertificateAuthority:
    return new_intermediate_ca(new_root_ca())


def _tls_context(kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.{kind}",
            "common_tls_context": {
                "tls_certificate_sds_secret_configs": [{"name": "default"}],
                "combined_validation_context": {
                    "default_validation_context": {
                        "match_typed_subject_alt_names": [
                            {"san_type": "URI", "matcher": {"prefix": ALLOWED}}
                        ]
                    },
                    "validation_context_sds_secret_config": {"name": "ROOTCA"},
                },
            },
            **extra,
        },
    }


def _bootstrap(
    authority: CertificateAuthority, svid: SVID, key_pem: str, *, listen: int, backend: int
) -> dict[str, Any]:
    def address(port: int) -> dict[str, Any]:
        return {"socket_address": {"address": "127.0.0.1", "port_value": port}}

    return {
        "static_resources": {
            "secrets": [
                {
                    "name": "default",
                    "tls_certificate": {
                        "certificate_chain": {"inline_string": svid.cert_chain_pem},
                        "private_key": {"inline_string": key_pem},
                    },
                },
                {
                    "name": "ROOTCA",
                    "validation_context": {
                        "trusted_ca": {"inline_string": authority.trust_bundle().pem}
                    },
                },
            ],
            "listeners": [
                {
                    "name": "inbound",
                    "address": address(listen),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.tcp_proxy",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions."
                                        "filters.network.tcp_proxy.v3.TcpProxy",
                                        "stat_prefix": "inbound",
                                        "cluster": "backend",
                                    },
                                }
                            ],
                            "transport_socket": _tls_context(
                                "DownstreamTlsContext", {"require_client_certificate": True}
                            ),
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "backend",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "backend",
                        "endpoints": [
                            {"lb_endpoints": [{"endpoint": {"address": address(backend)}}]}
                        ],
                    },
                },
                {  # unused here, but validates the upstream (client) side of the same secrets
                    "name": "outbound",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {"cluster_name": "outbound", "endpoints": []},
                    "transport_socket": _tls_context("UpstreamTlsContext", {"sni": "x"}),
                },
            ],
        }
    }


def _validate(tmp_path: Path, bootstrap: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(bootstrap))  # JSON is YAML; no PEM escaping worries
    return subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(config), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.RSA_2048])
def test_envoy_validate_accepts_issued_secrets(
    tmp_path: Path, mesh_ca: CertificateAuthority, key_type: KeyType
) -> None:
    svid = issue_svid(mesh_ca, ALLOWED + "reviews", key_type=key_type)
    result = _validate(tmp_path, _bootstrap(mesh_ca, svid, svid.key_pem, listen=1, backend=2))
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_validate_really_loads_the_key(tmp_path: Path, mesh_ca: CertificateAuthority) -> None:
    svid = issue_svid(mesh_ca, ALLOWED + "reviews")
    wrong_key = issue_svid(mesh_ca, ALLOWED + "other").key_pem
    result = _validate(tmp_path, _bootstrap(mesh_ca, svid, wrong_key, listen=1, backend=2))
    assert result.returncode != 0
    assert "KEY_VALUES_MISMATCH" in result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def echo_backend() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = conn.recv(64)
                conn.sendall(b"echo " + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    server.close()


def _client_context(tmp_path: Path, authority: CertificateAuthority, svid: SVID) -> ssl.SSLContext:
    chain, key = tmp_path / f"{svid.serial}.pem", tmp_path / f"{svid.serial}.key"
    chain.write_text(svid.cert_chain_pem)
    key.write_text(svid.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # sidecars authenticate by SPIFFE ID, not hostname
    ctx.load_cert_chain(str(chain), str(key))
    ctx.load_verify_locations(cadata=authority.trust_bundle().pem)
    return ctx


def _stat(admin_port: int, suffix: str) -> int:
    """A counter of the inbound listener, read from Envoy's admin /stats."""
    url = f"http://127.0.0.1:{admin_port}/stats?filter=^listener\\.127\\.0\\.0\\.1_"
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    values = [int(v) for k, _, v in (line.partition(": ") for line in lines) if k.endswith(suffix)]
    assert len(values) == 1, lines
    return values[0]


def _exchange(port: int, ctx: ssl.SSLContext) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        tls.sendall(b"ping")
        return tls.recv(64)


@pytest.mark.e2e
def test_envoy_mtls_with_issued_svids(
    tmp_path: Path, mesh_ca: CertificateAuthority, echo_backend: int
) -> None:
    server_svid = issue_svid(mesh_ca, ALLOWED + "reviews")
    listen, admin = _free_port(), _free_port()
    bootstrap = _bootstrap(
        mesh_ca, server_svid, server_svid.key_pem, listen=listen, backend=echo_backend
    )
    bootstrap["admin"] = {
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}
    }
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(bootstrap))
    envoy = subprocess.Popen(
        [ENVOY, "-c", str(config), "--disable-hot-restart", "-l", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        good = _client_context(tmp_path, mesh_ca, issue_svid(mesh_ca, ALLOWED + "productpage"))
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = _exchange(listen, good)
                break
            except (ConnectionRefusedError, ConnectionResetError):
                assert envoy.poll() is None, envoy.stderr.read() if envoy.stderr else ""
                assert time.monotonic() < deadline, "envoy listener did not come up"
                time.sleep(0.05)
        assert reply == b"echo ping"
        assert _stat(admin, "ssl.handshake") == 1

        # Same CA, but a SPIFFE ID outside the allowed prefix: Envoy's SAN matcher refuses it.
        outsider = issue_svid(mesh_ca, "spiffe://cluster.local/ns/other/sa/intruder")
        # (TLS 1.3: the client finishes first, so the refusal shows as an alert or a reset.)
        with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
            _exchange(listen, _client_context(tmp_path, mesh_ca, outsider))
        assert refused.value is not None
        assert _stat(admin, "ssl.fail_verify_san") == 1  # refused for its identity, not by chance
    finally:
        envoy.terminate()
        envoy.wait(10)
