"""VirtualService tcp `destinationSubnets` through the real `xdscp up` and real Envoy: the
client sidecar's TCP listener sends a connection by its destination address (in file
mode, the sidecar address the caller dialled), so a rule for 10.0.0.0/8 no longer catches
every connection and the rule for the sidecar's own address decides."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import wait_until, xdscp_up

pytestmark = pytest.mark.e2e

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders}
spec:
  hosts: [orders]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: orders}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: billing}
spec:
  hosts: [billing]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: billing}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 7000, name: tcp, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - match: [{destinationSubnets: [10.0.0.0/8]}]
    route: [{destination: {host: billing, port: {number: 8080}}}]
  - match: [{destinationSubnets: [CLIENT/32]}]
    route: [{destination: {host: orders, port: {number: 8080}}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client}
spec: {address: CLIENT, serviceAccount: client, labels: {app: client}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: orders}
spec: {address: PREFIX.2, serviceAccount: orders, labels: {app: orders}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: billing}
spec: {address: PREFIX.3, serviceAccount: billing, labels: {app: billing}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
  - port: {number: 7000, protocol: TCP, name: tcp}
    captureMode: NONE
    hosts: ["./*"]
"""
SERVER_SIDECAR = """
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: NAME}
spec:
  workloadSelector: {labels: {app: NAME}}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:18080
"""


def _mesh_dir(tmp_path: Path) -> tuple[Path, str]:
    prefix = f"127.{random.randint(40, 250)}.3"
    client = f"{prefix}.1"
    text = MESH.replace("CLIENT", client).replace("PREFIX", prefix)
    text += "".join(SERVER_SIDECAR.replace("NAME", name) for name in ("orders", "billing"))
    target = tmp_path / "mesh"
    target.mkdir()
    (target / "mesh.yaml").write_text(text)
    return target, client


def _workload_behind(url: str) -> str:
    """Which app answers an HTTP request sent over the TCP port ("" if none does)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            workload: str = json.loads(response.read())["workload"]
            return workload
    except (OSError, urllib.error.HTTPError, ValueError, KeyError):
        return ""


def test_destination_subnets_choose_the_tcp_rule(tmp_path: Path) -> None:
    config, client = _mesh_dir(tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = f"http://{client}:7000/"
        assert wait_until(lambda: _workload_behind(url) != "", 30), mesh.log()
        # 10.0.0.0/8 does not hold the dialled address: the second rule applies
        assert {_workload_behind(url) for _ in range(5)} == {"orders"}
