"""The ingress gateway end to end with real Envoy, through the real `xdscp up` CLI:
Istio's bookinfo-gateway pattern (a Gateway selecting the `istio: ingressgateway`
workload, a VirtualService bound to it) reaches productpage from outside, the
header-based reviews routing holds behind it, HTTPS terminates with a certificate from
`credentialName` (SNI per host, a wrong SNI refused), MUTUAL requires a client
certificate, and a certificate replaced on disk is served without restart."""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.harness import RunningMesh, http_get, relocate_example, wait_until, xdscp_up
from tests.gateway.certs import CertAuthority

pytestmark = pytest.mark.e2e

HTTPS = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-https}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert, minProtocolVersion: TLSV1_2}
  - port: {number: 9443, name: mtls, protocol: HTTPS}
    hosts: [secure.example.com]
    tls: {mode: MUTUAL, credentialName: secure-cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo-https}
spec:
  hosts: [bookinfo.example.com, secure.example.com]
  gateways: [bookinfo-https]
  http:
  - route: [{destination: {host: productpage, port: {number: 9080}}}]
"""


def https_get(
    address: str,
    port: int,
    sni: str,
    ca: CertAuthority,
    path: str = "/productpage",
    client: tuple[Path, Path] | None = None,
    host: str = "",
) -> tuple[int, dict[str, object]]:
    """One HTTP/1.1 request over TLS with the SNI given (not the address's) and the
    `host` header (default: the SNI)."""
    context = ssl.create_default_context(cadata=ca.pem)
    context.check_hostname = False
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        request = f"GET {path} HTTP/1.1\r\nHost: {host or sni}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body) if body.strip().startswith("{") else {}


def _served(mesh: RunningMesh, address: str) -> bool:
    try:
        status, _ = http_get(f"http://{address}/productpage")
    except OSError:  # the listener is not bound yet
        return False
    return status == 200


def test_ingress_gateway_http_https_and_mutual(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    (config / "https.yaml").write_text(HTTPS)
    server_ca, client_ca = CertAuthority("server CA"), CertAuthority("client CA")
    server_ca.write_credential(config / "credentials" / "bookinfo-cert", "bookinfo.example.com")
    server_ca.write_credential(
        config / "credentials" / "secure-cert", "secure.example.com", client_ca=client_ca
    )
    client = client_ca.issue("client.example.com", client=True)
    (tmp_path / "client.crt").write_text(client.cert_pem)
    (tmp_path / "client.key").write_text(client.key_pem)
    with xdscp_up(config, tmp_path) as mesh:
        gateway = mesh.workload("default/istio-ingressgateway")
        address = f"127.{octet}.4.1"
        assert sorted(gateway["call_through"]) == sorted(
            f"{address}:{p}" for p in (8080, 8443, 9443)
        )
        assert gateway["apps"] == []  # a gateway is an Envoy with no app
        entry = f"{address}:8080"
        assert wait_until(lambda: _served(mesh, entry), 30), mesh.log()

        status, body = http_get(f"http://{entry}/productpage")
        assert status == 200 and json.loads(body)["workload"] == "productpage-v1"
        # the header-based reviews routing, behind the gateway
        for _ in range(10):
            status, body = http_get(f"http://{entry}/reviews/1")
            assert (status, json.loads(body)["workload"]) == (200, "reviews-v1")
        for _ in range(10):
            status, body = get_with(f"http://{entry}/reviews/1", {"end-user": "jason"})
            assert (status, json.loads(body)["workload"]) == (200, "reviews-v2")
        # nothing routes /nope: the gateway answers 404 itself
        assert http_get(f"http://{entry}/nope")[0] == 404

        # HTTPS: terminated with the credential's certificate, by SNI
        assert wait_until(lambda: _https_ok(address, server_ca), 20), mesh.log()
        status, served = https_get(address, 8443, "bookinfo.example.com", server_ca)
        assert (status, served["workload"]) == (200, "productpage-v1")
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            https_get(address, 8443, "wrong.example.com", server_ca)
        # a Host with a port matches the virtual host without it (Istio's gateways:
        # ignore_port_in_host_matching) and reaches the upstream as sent
        with_port = "bookinfo.example.com:8443"
        status, served = https_get(address, 8443, "bookinfo.example.com", server_ca, host=with_port)
        assert (status, served["workload"], served["host"]) == (200, "productpage-v1", with_port)
        other = "other.example.com:8443"
        assert https_get(address, 8443, "bookinfo.example.com", server_ca, host=other)[0] == 404

        # MUTUAL: without a client certificate the handshake (or first read) fails
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            https_get(address, 9443, "secure.example.com", server_ca)
        keys = (tmp_path / "client.crt", tmp_path / "client.key")
        status, served = https_get(address, 9443, "secure.example.com", server_ca, client=keys)
        assert (status, served["workload"]) == (200, "productpage-v1")

        # rotation: tls.crt/tls.key replaced on disk (renamed over) reach Envoy, no restart
        directory = config / "credentials" / "bookinfo-cert"
        before = served_serial(address, 8443, "bookinfo.example.com", server_ca)
        assert (
            before
            == x509.load_pem_x509_certificate((directory / "tls.crt").read_bytes()).serial_number
        )
        rotated = server_ca.issue("bookinfo.example.com")
        for name, text in (("tls.key", rotated.key_pem), ("tls.crt", rotated.cert_pem)):
            (directory / f".{name}.new").write_text(text)
            os.replace(directory / f".{name}.new", directory / name)
        serial = x509.load_pem_x509_certificate(rotated.cert_pem.encode()).serial_number
        started = time.monotonic()
        assert wait_until(lambda: _serial_or_none(address, server_ca) == serial, 10), mesh.log()
        print(f"rotated certificate served after {time.monotonic() - started:.2f}s")
        status, served = https_get(address, 8443, "bookinfo.example.com", server_ca)
        assert (status, served["workload"]) == (200, "productpage-v1")


def served_serial(address: str, port: int, sni: str, ca: CertAuthority) -> int:
    """The serial number of the certificate a new TLS handshake is answered with."""
    context = ssl.create_default_context(cadata=ca.pem)
    context.check_hostname = False
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _serial_or_none(address: str, ca: CertAuthority) -> int | None:
    try:
        return served_serial(address, 8443, "bookinfo.example.com", ca)
    except (ssl.SSLError, OSError):
        return None


def _https_ok(address: str, ca: CertAuthority) -> bool:
    try:
        return https_get(address, 8443, "bookinfo.example.com", ca)[0] == 200
    except (ssl.SSLError, OSError):
        return False


def get_with(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
