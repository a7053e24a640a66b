"""DestinationRule `tls.credentialName` on a sidecar, end to end with real Envoy through the
real `xdscp up`: the client's sidecar originates mutual TLS to an external server with
the client certificate, key and CA of the credential directory
(`<config>/credentials/<name>/`), delivered over SDS — the server, which requires a
client certificate from its CA, answers 200 and names it. Then a `ca.crl` revoking the
server's certificate is added to the credential: the new CA Secret reaches the sidecar
with no restart and the server is refused."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.e2e.harness import MeshScenario, free_port, wait_until, xdscp_up
from tests.gateway.certs import CertAuthority

pytestmark = pytest.mark.e2e

HOST = "bank.example.com"

BANK = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: bank}}
spec:
  hosts: [{host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {server}, ports: {{http: {server_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: bank}}
spec:
  host: {host}
  workloadSelector: {{matchLabels: {{app: client}}}}
  trafficPolicy:
    tls: {{mode: MUTUAL, credentialName: bank-client}}
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one connection per request: each one is verified anew

    def do_GET(self) -> None:
        peer = self.connection.getpeercert()
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        body = json.dumps({"client": subject.get("commonName", "")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def _mtls_server(address: str, directory: Path, ca: CertAuthority) -> Iterator[int]:
    """An HTTPS server for HOST that requires a client certificate issued by `ca`."""
    issued = ca.issue(HOST)
    (directory / "server.crt").write_text(issued.cert_pem)
    (directory / "server.key").write_text(issued.key_pem)
    (directory / "clients.crt").write_text(ca.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    context.load_verify_locations(directory / "clients.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    port = free_port(address)
    server = ThreadingHTTPServer((address, port), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _revoking(ca: CertAuthority, cert_pem: str) -> str:
    """A CRL of `ca` that revokes `cert_pem`."""
    serial = x509.load_pem_x509_certificate(cert_pem.encode()).serial_number
    now = datetime.datetime.now(datetime.UTC)
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(serial)
        .revocation_date(now - datetime.timedelta(minutes=1))
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - datetime.timedelta(minutes=1))
        .next_update(now + datetime.timedelta(days=1))
        .add_revoked_certificate(revoked)
        .sign(ca.key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM).decode()


def _call(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": HOST})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), str(json.loads(response.read())["client"])
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, str(exc)


def test_sidecar_originates_mutual_tls_with_the_credential(tmp_path: Path) -> None:
    scenario = MeshScenario(subnet=9)
    scenario.workload("client", 1)
    scenario.client_sidecar("client", [(80, "HTTP")], hosts=("*/*",))
    server = scenario.address(2)
    ca = CertAuthority("bank CA")
    with _mtls_server(server, tmp_path, ca) as server_port:
        config = tmp_path / "mesh"
        credential = config / "credentials" / "bank-client"
        credential.mkdir(parents=True)
        issued = ca.issue("client.bank.example.com", client=True)
        (credential / "tls.crt").write_text(issued.cert_pem)
        (credential / "tls.key").write_text(issued.key_pem)
        (credential / "ca.crt").write_text(ca.pem)
        scenario.add(BANK.format(host=HOST, server=server, server_port=server_port))
        assert scenario.write(tmp_path) == config
        (tmp_path / "work").mkdir()
        with xdscp_up(config, tmp_path / "work") as mesh:
            url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
            assert wait_until(lambda: _call(url)[0] == 200, 30), _call(url)
            assert _call(url) == (200, "client.bank.example.com")

            # the server's certificate revoked in the credential: refused, no restart
            server_cert = (tmp_path / "server.crt").read_text()
            (credential / "ca.crl").write_text(_revoking(ca, server_cert))
            assert wait_until(lambda: _call(url)[0] == 503, 30), _call(url)
