"""TLS passthrough and TCP through the ingress gateway with real Envoy: a PASSTHROUGH
server routes by SNI to a TLS server the gateway never decrypts (the client sees the
backend's own certificate), a wrong SNI is refused, and a TCP server proxies the same
bytes on another port — with Istio's Gateway and VirtualService, and with the Gateway
API's TLSRoute and TCPRoute."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, relocate_example, wait_until, xdscp_up
from tests.gateway.certs import CertAuthority

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: tls-backend-service}}
spec:
  hosts: [tls-backend]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  endpoints: [{{address: {address}, ports: {{tls: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: api-gateway}}
spec:
  address: {api_gateway}
  labels: {{gateway.networking.k8s.io/gateway-name: tls-api}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: tls-api}}
spec:
  gatewayClassName: xdscp
  listeners:
  - {{name: tls, port: 9443, protocol: TLS, hostname: tls.example.com, tls: {{mode: Passthrough}}}}
  - {{name: tcp, port: 9000, protocol: TCP}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {{name: tls-backend}}
spec:
  parentRefs: [{{name: tls-api, sectionName: tls}}]
  hostnames: [tls.example.com]
  rules: [{{backendRefs: [{{name: tls-backend, port: 443}}]}}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {{name: tls-backend}}
spec:
  parentRefs: [{{name: tls-api, sectionName: tcp}}]
  rules: [{{backendRefs: [{{name: tls-backend, port: 443}}]}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: tls-backend}}
spec:
  hosts: [tls.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 443, name: tls, protocol: TLS}}]
  endpoints: [{{address: {address}, ports: {{tls: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: tls-gateway}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 9443, name: tls, protocol: TLS}}
    hosts: [tls.example.com]
    tls: {{mode: PASSTHROUGH}}
  - port: {{number: 9000, name: tcp, protocol: TCP}}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: tls-backend}}
spec:
  hosts: [tls.example.com]
  gateways: [tls-gateway]
  tls:
  - match: [{{sniHosts: [tls.example.com]}}]
    route: [{{destination: {{host: tls.example.com, port: {{number: 443}}}}}}]
  tcp:
  - match: [{{port: 9000}}]
    route: [{{destination: {{host: tls.example.com, port: {{number: 443}}}}}}]
"""


@contextmanager
def tls_server(address: str, port: int, ca: CertAuthority, tmp: Path) -> Iterator[None]:
    """A TLS server answering every connection with one line, until the test ends."""
    issued = ca.issue("tls.example.com")
    (tmp / "backend.crt").write_text(issued.cert_pem)
    (tmp / "backend.key").write_text(issued.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp / "backend.crt"), str(tmp / "backend.key"))
    listener = socket.create_server((address, port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                raw.settimeout(5)
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.sendall(b"hello from the backend\n")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def read_through(
    address: str, port: int, sni: str, ca: CertAuthority, check_name: bool = True
) -> str:
    context = ssl.create_default_context(cadata=ca.pem)
    context.check_hostname = check_name
    with (
        socket.create_connection((address, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as conn,
    ):
        return conn.recv(1024).decode()


def _ok(address: str, port: int, ca: CertAuthority) -> bool:
    try:
        return read_through(address, port, "tls.example.com", ca).startswith("hello")
    except (ssl.SSLError, OSError):
        return False


def test_passthrough_by_sni_and_tcp(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    backend_address, backend_port = f"127.{octet}.5.1", free_port(f"127.{octet}.5.1")
    api_gateway = f"127.{octet}.4.3"
    (config / "tls.yaml").write_text(
        CONFIG.format(address=backend_address, port=backend_port, api_gateway=api_gateway)
    )
    ca = CertAuthority("backend CA")
    with (
        tls_server(backend_address, backend_port, ca, tmp_path),
        xdscp_up(config, tmp_path) as mesh,
    ):
        gateway = f"127.{octet}.4.1"
        assert wait_until(lambda: _ok(gateway, 9443, ca), 30), mesh.log()
        # the client verified the backend's certificate: the gateway did not terminate
        assert read_through(gateway, 9443, "tls.example.com", ca) == "hello from the backend\n"
        # a wrong SNI matches no filter chain: the gateway closes the connection (the name
        # is not checked here, so only the gateway can be what refuses it)
        with pytest.raises((ssl.SSLError, OSError)):
            read_through(gateway, 9443, "other.example.com", ca, check_name=False)
        assert wait_until(lambda: _ok(gateway, 9000, ca), 20), mesh.log()
        # the same with the Gateway API: TLSRoute by SNI on a Passthrough listener, TCPRoute
        assert wait_until(lambda: _ok(api_gateway, 9443, ca), 20), mesh.log()
        with pytest.raises((ssl.SSLError, OSError)):
            read_through(api_gateway, 9443, "other.example.com", ca, check_name=False)
        assert wait_until(lambda: _ok(api_gateway, 9000, ca), 20), mesh.log()
