"""VirtualService tcp `destinationSubnets` through the real `xdscp up` and real Envoy: the
client sidecar's TCP listener sends a connection by its destination address (in file
mode, the sidecar address the caller dialled), so a rule for 10.0.0.0/8 no longer catches
every connection and the rule for the sidecar's own address decides."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import MeshScenario, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

VIRTUAL_SERVICE = """
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
"""


def _mesh_dir(tmp_path: Path) -> tuple[Path, str]:
    mesh = MeshScenario(subnet=3)
    client = mesh.workload("client", 1, service_account="client")
    for host, name in ((2, "orders"), (3, "billing")):
        mesh.workload(name, host, service_account=name)
        mesh.service(name, [(8080, "HTTP")])
        mesh.server_sidecar(name, capture_none=True)
    mesh.service("db", [(7000, "TCP")], workloadSelector=None)
    mesh.add(VIRTUAL_SERVICE.replace("CLIENT", client))
    mesh.client_sidecar("client", [(7000, "TCP")], capture_none=True)
    return mesh.write(tmp_path), client


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
