"""Locality failover through the real `xdscp up` and real Envoy: the client (us-east/a/1)
calls `orders`, which has one endpoint in its own locality and one in another region.
With outlier detection (Istio's condition for failover) every request goes to the local
one; once the local one stops, traffic fails over to the remote one."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import MeshScenario, http_get, wait_until, xdscp_up

pytestmark = pytest.mark.e2e


OUTLIER_DETECTION = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders}
spec:
  host: orders
  trafficPolicy:
    # Envoy ejects at most maxEjectionPercent of the hosts (10% by default): one of two
    # is 50%
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 60s
      maxEjectionPercent: 100
"""


def _mesh_dir(tmp_path: Path) -> Path:
    mesh = MeshScenario(subnet=7)
    for name, host, app, locality in (
        ("client", 1, "client", "us-east/a/1"),
        ("orders-local", 2, "orders", "us-east/a/1"),
        ("orders-remote", 3, "orders", "eu-west/b/1"),
    ):
        mesh.workload(name, host, {"app": app, "version": name}, locality=locality)
    mesh.service("orders", [(8080, "HTTP")])
    mesh.add(OUTLIER_DETECTION)
    mesh.client_sidecar("client", [(8080, "HTTP")])
    mesh.server_sidecar("orders")
    return mesh.write(tmp_path)


def _answer(url: str) -> str:
    """Which workload answered (or the failure)."""
    request = urllib.request.Request(url, headers={"Host": "orders"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            workload: str = json.loads(response.read())["workload"]
            return workload
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return f"error {exc}"


def test_local_endpoint_preferred_then_failover(tmp_path: Path) -> None:
    config = _mesh_dir(tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        assert wait_until(lambda: _answer(url) == "orders-local", 30), _answer(url)
        answers = [_answer(url) for _ in range(30)]
        # the remote endpoint is healthy, but at a lower priority: never chosen
        assert answers == ["orders-local"] * 30, answers

        local = mesh.workload("default/orders-local")["envoy_pid"]
        os.kill(local, signal.SIGTERM)  # the local orders' sidecar goes away
        admin = mesh.workload("default/client")["admin"]
        assert wait_until(lambda: _answer(url) == "orders-remote", 20), (
            _answer(url),
            [line for line in http_get(f"{admin}/clusters")[1].splitlines() if "orders" in line],
        )
        answers = [_answer(url) for _ in range(20)]
        assert answers == ["orders-remote"] * 20, answers
