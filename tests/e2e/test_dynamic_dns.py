"""ServiceEntry `resolution: DYNAMIC_DNS` end to end with real Envoy through `xdscp up`: a
wildcard host's HTTP requests go to the host each request names, resolved by Envoy's
dynamic forward proxy (Istio's translation). `*.localhost` is the wildcard: names under
`localhost` resolve to the loopback (RFC 6761) with no DNS server and no /etc/hosts
entry, so the test runs offline. Under REGISTRY_ONLY, only the ServiceEntry's cluster
can reach it: before this translation the host's cluster had no endpoints (503)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.harness import MeshScenario, Port, free_port, wait_until, xdscp_up
from tests.gateway.certs import CertAuthority

pytestmark = pytest.mark.e2e

WILDCARD_HTTP = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: local-apps}
spec:
  hosts: ["*.localhost"]
  location: MESH_EXTERNAL
  resolution: DYNAMIC_DNS
  ports: [{number: 8080, name: http, protocol: HTTP}]
"""


def _client_only(subnet: int, port: Port) -> tuple[MeshScenario, str]:
    """A mesh of one client whose sidecar opens `port` for every host, REGISTRY_ONLY:
    only what a ServiceEntry covers goes out. The scenario and the client's address."""
    mesh = MeshScenario(subnet=subnet)
    client = mesh.workload("client", 1)
    mesh.client_sidecar(
        "client", [port], hosts=("*/*",), outboundTrafficPolicy={"mode": "REGISTRY_ONLY"}
    )
    return mesh, client


class _Named(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"host": self.headers.get("host", "")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def _backend() -> Iterator[int]:
    port = free_port("127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", port), _Named)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(url: str, host: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), str(json.loads(response.read())["host"])
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, str(exc)


def test_wildcard_host_resolved_per_request(tmp_path: Path) -> None:
    scenario, _ = _client_only(12, (8080, "HTTP"))
    scenario.add(WILDCARD_HTTP)
    config = scenario.write(tmp_path)
    with _backend() as port, xdscp_up(config, tmp_path) as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        host = f"orders.localhost:{port}"
        assert wait_until(lambda: _get(url, host)[0] == 200, 30), _get(url, host)
        assert _get(url, host) == (200, host)
        assert _get(url, f"billing.localhost:{port}") == (200, f"billing.localhost:{port}")
        # REGISTRY_ONLY: a host no ServiceEntry covers is still refused
        assert _get(url, f"127.0.0.1:{port}")[0] == 502


DNS_ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: legacy}}
spec:
  hosts: [legacy.internal]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{app: legacy}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: vm}}
spec: {{address: vm.localhost, labels: {{app: legacy}}, ports: {{http: {port}}}}}
"""


def test_workload_entry_named_by_dns_is_resolved(tmp_path: Path) -> None:
    """A WorkloadEntry whose address is a DNS name, selected by a DNS ServiceEntry: Envoy
    resolves the name (Istio's STRICT_DNS endpoint)."""
    scenario, _ = _client_only(13, (8080, "HTTP"))
    scenario.add(WILDCARD_HTTP)
    with _backend() as port:
        scenario.add(DNS_ENTRY.format(port=port))
        config = scenario.write(tmp_path)
        with xdscp_up(config, tmp_path) as mesh:
            url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
            assert wait_until(lambda: _get(url, "legacy.internal")[0] == 200, 30), _get(
                url, "legacy.internal"
            )


WILDCARD_TLS = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: local-tls}}
spec:
  hosts: ["*.localhost"]
  location: MESH_EXTERNAL
  resolution: DYNAMIC_DNS
  ports: [{{number: {port}, name: tls, protocol: TLS}}]
"""


def _tls_call(address: str, port: int, sni: str, ca: CertAuthority) -> str:
    """The TLS server's answer through the sidecar, the SNI naming the upstream."""
    context = ssl.create_default_context(cadata=ca.pem)
    try:
        with (
            socket.create_connection((address, port), timeout=3) as raw,
            context.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            tls.sendall(f"GET / HTTP/1.0\r\nHost: {sni}\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
        return data.decode().partition("\r\n\r\n")[2]
    except (OSError, ssl.SSLError) as exc:
        return f"error {exc}"


def test_wildcard_tls_host_forwarded_by_sni(tmp_path: Path) -> None:
    """On a TLS port the upstream is the host the connection's SNI names (Envoy's SNI
    dynamic forward proxy): the client's TLS reaches the server end to end."""
    ca = CertAuthority("local CA")
    issued = ca.issue("shop.localhost")
    (tmp_path / "server.crt").write_text(issued.cert_pem)
    (tmp_path / "server.key").write_text(issued.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    port = free_port("127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", port), _Named)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        scenario, client = _client_only(14, (port, "TLS"))
        scenario.add(WILDCARD_TLS.format(port=port))
        config = scenario.write(tmp_path)
        with xdscp_up(config, tmp_path):
            expected = json.dumps({"host": "shop.localhost"})
            assert wait_until(
                lambda: _tls_call(client, port, "shop.localhost", ca) == expected, 30
            ), _tls_call(client, port, "shop.localhost", ca)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
