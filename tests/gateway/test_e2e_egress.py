"""An egress gateway end to end with real Envoy (Istio's "route via the egress gateway"
pattern): a VirtualService bound to `mesh` and to the egress Gateway sends a client's
calls for a MESH_EXTERNAL ServiceEntry to the egress gateway, which forwards them out to
the external server (a local HTTP server standing in for the outside)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, http_get, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: external}}
spec:
  hosts: [external.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  endpoints: [{{address: {external}, ports: {{http: {external_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: egressgateway}}
spec:
  hosts: [egressgateway]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  workloadSelector: {{labels: {{istio: egressgateway}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: egressgateway}}
spec:
  address: {gateway}
  serviceAccount: egressgateway
  labels: {{istio: egressgateway}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: client}}
spec:
  address: {client}
  serviceAccount: client
  labels: {{app: client}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: client}}
spec:
  workloadSelector: {{labels: {{app: client}}}}
  egress:
  - port: {{number: 8080, protocol: HTTP, name: http}}
    captureMode: NONE
    hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: egress}}
spec:
  selector: {{istio: egressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: HTTP}}
    hosts: [external.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: external-via-egress}}
spec:
  hosts: [external.example.com]
  gateways: [mesh, egress]
  http:
  - match: [{{gateways: [mesh], port: 8080}}]
    route: [{{destination: {{host: egressgateway, port: {{number: 8080}}}}}}]
  - match: [{{gateways: [egress], port: 8080}}]
    route: [{{destination: {{host: external.example.com, port: {{number: 8080}}}}}}]
"""


@contextmanager
def external_server(address: str, port: int) -> Iterator[list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps({"served_by": "external"}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _gateway_requests(admin: str, address: str) -> int:
    status, body = http_get(f"{admin}/stats?filter=gateway_{address}_8080.downstream_rq_total")
    if status != 200 or ":" not in body:
        return 0
    return int(body.rsplit(":", 1)[1].strip() or 0)


def test_egress_gateway_carries_calls_to_an_external_service(tmp_path: Path) -> None:
    import random

    octet = random.randint(40, 250)
    external, gateway, client = (f"127.{octet}.6.1", f"127.{octet}.4.5", f"127.{octet}.1.1")
    external_port = free_port(external)
    config = tmp_path / "mesh"
    config.mkdir()
    (config / "egress.yaml").write_text(
        CONFIG.format(
            external=external, external_port=external_port, gateway=gateway, client=client
        )
    )
    with external_server(external, external_port) as seen, xdscp_up(config, tmp_path) as mesh:
        egress = mesh.workload("default/egressgateway")
        assert egress["call_through"] == [f"{gateway}:8080"]
        url = f"http://{client}:8080/"

        def through() -> bool:
            try:
                return http_get(url, host="external.example.com")[0] == 200
            except OSError:  # the listener is not bound yet
                return False

        assert wait_until(through, 30), mesh.log()
        before = _gateway_requests(egress["admin"], gateway)
        for _ in range(5):
            status, body = http_get(url, host="external.example.com")
            assert (status, json.loads(body)) == (200, {"served_by": "external"})
        # every call went through the egress gateway's listener
        assert wait_until(lambda: _gateway_requests(egress["admin"], gateway) >= before + 5, 5)
        assert seen and seen[-1]["host"] == "external.example.com"
