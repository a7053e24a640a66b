"""Istio's egress gateway with mutual TLS between sidecar and gateway, end to end with
real Envoy: the sidecar's call for the external host goes to the egress gateway's
subset over mesh mTLS (ISTIO_MUTUAL with the DestinationRule's `sni`), the gateway's
ISTIO_MUTUAL server terminates it with the mesh identity and forwards the request out
in plain HTTP to the external server (a local HTTP server standing in)."""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, http_get, wait_until, xdscp_up
from tests.gateway.test_e2e_egress import external_server

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: external}}
spec:
  hosts: [external.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: {external}, ports: {{http: {external_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: egressgateway}}
spec:
  hosts: [egressgateway]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 443, name: https, protocol: HTTPS}}]
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
  - port: {{number: 80, protocol: HTTP, name: http}}
    captureMode: NONE
    hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: egress}}
spec:
  selector: {{istio: egressgateway}}
  servers:
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [external.example.com]
    tls: {{mode: ISTIO_MUTUAL}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: egressgateway-for-external}}
spec:
  host: egressgateway
  subsets:
  - name: external
    trafficPolicy:
      portLevelSettings:
      - port: {{number: 443}}
        tls: {{mode: ISTIO_MUTUAL, sni: external.example.com}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: external-via-egress}}
spec:
  hosts: [external.example.com]
  gateways: [mesh, egress]
  http:
  - match: [{{gateways: [mesh], port: 80}}]
    route: [{{destination: {{host: egressgateway, subset: external, port: {{number: 443}}}}}}]
  - match: [{{gateways: [egress], port: 443}}]
    route: [{{destination: {{host: external.example.com, port: {{number: 80}}}}}}]
"""


def _stat(admin: str, name: str) -> int:
    status, body = http_get(f"{admin}/stats?filter=^{name}$")
    if status != 200 or ":" not in body:
        return 0
    return int(body.rsplit(":", 1)[1].strip() or 0)


def _plaintext_answered(address: str, port: int) -> bool:
    """Whether a plain-text HTTP request straight to the gateway gets an HTTP answer."""
    try:
        with socket.create_connection((address, port), timeout=3) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: external.example.com\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/")
    except OSError:  # reset by the TLS listener
        return False


def test_sidecar_reaches_the_external_host_over_mtls_to_the_egress_gateway(
    tmp_path: Path,
) -> None:
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
        url = f"http://{client}:80/"

        def through() -> bool:
            try:
                return http_get(url, host="external.example.com")[0] == 200
            except OSError:  # the listener is not bound yet
                return False

        assert wait_until(through, 30), mesh.log()
        handshakes = f"listener.{gateway}_443.ssl.handshake"
        for _ in range(3):
            status, body = http_get(url, host="external.example.com")
            assert (status, json.loads(body)) == (200, {"served_by": "external"})
        assert seen and seen[-1]["host"] == "external.example.com"
        # the hop to the gateway was TLS (only the sidecar calls it; its pooled connection
        # may carry every request, so: at least one handshake), and the gateway saw the
        # sidecar's certificate
        assert _stat(egress["admin"], handshakes) >= 1
        no_cert = f"listener.{gateway}_443.ssl.no_certificate"
        assert _stat(egress["admin"], no_cert) == 0
        # the sidecar asked for the DestinationRule's SNI
        cluster = "outbound|443|external|egressgateway"
        status, clusters = http_get(f"{mesh.workload('default/client')['admin']}/config_dump")
        assert status == 200 and '"sni": "external.example.com"' in clusters
        assert cluster in clusters
        # plain text straight to the gateway's ISTIO_MUTUAL server is refused
        assert not _plaintext_answered(gateway, 443)
