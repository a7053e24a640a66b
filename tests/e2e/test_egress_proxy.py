"""Sidecar `egressProxy` through the real `xdscp up` and real Envoy: a request for a host
the mesh does not know, sent to the client's sidecar, arrives at the egress proxy's
workload (with its original authority), not at the host itself."""

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
metadata: {name: relay}
spec:
  hosts: [relay]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: relay}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: relay}
spec: {address: PREFIX.2, serviceAccount: relay, labels: {app: relay}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client}
spec: {address: PREFIX.1, serviceAccount: client, labels: {app: client}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: relay}
spec:
  workloadSelector: {labels: {app: relay}}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:18080
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
  - port: {number: 8080, protocol: HTTP, name: http}
    captureMode: NONE
    hosts: ["./*"]
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: relay, port: {number: 8080}}
"""


def _answer(url: str, host: str) -> dict[str, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body: dict[str, str] = json.loads(response.read())
            return body
    except (OSError, urllib.error.HTTPError, ValueError):
        return {}


def test_unknown_hosts_reach_the_egress_proxy(tmp_path: Path) -> None:
    prefix = f"127.{random.randint(40, 250)}.3"
    config = tmp_path / "mesh"
    config.mkdir()
    (config / "mesh.yaml").write_text(MESH.replace("PREFIX", prefix))
    with xdscp_up(config, tmp_path) as mesh:
        url = f"http://{prefix}.1:8080/out"
        assert wait_until(lambda: _answer(url, "relay") != {}, 30), mesh.log()
        answer = _answer(url, "unknown.example.invalid")
        assert answer.get("workload") == "relay", answer
        assert answer.get("host") == "unknown.example.invalid"
