"""Sidecar `egressProxy` through the real `xdscp up` and real Envoy: a request for a host
the mesh does not know, sent to the client's sidecar, arrives at the egress proxy's
workload (with its original authority), not at the host itself."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import MeshScenario, wait_until, xdscp_up

pytestmark = pytest.mark.e2e


def _mesh_dir(tmp_path: Path) -> tuple[Path, str]:
    mesh = MeshScenario(subnet=3)
    client = mesh.workload("client", 1, service_account="client")
    mesh.workload("relay", 2, service_account="relay")
    mesh.service("relay", [(8080, "HTTP")])
    mesh.server_sidecar("relay", capture_none=True)
    mesh.client_sidecar(
        "client",
        [(8080, "HTTP")],
        capture_none=True,
        outboundTrafficPolicy={
            "mode": "ALLOW_ANY",
            "egressProxy": {"host": "relay", "port": {"number": 8080}},
        },
    )
    return mesh.write(tmp_path), client


def _answer(url: str, host: str) -> dict[str, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body: dict[str, str] = json.loads(response.read())
            return body
    except (OSError, urllib.error.HTTPError, ValueError):
        return {}


def test_unknown_hosts_reach_the_egress_proxy(tmp_path: Path) -> None:
    config, client = _mesh_dir(tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = f"http://{client}:8080/out"
        assert wait_until(lambda: _answer(url, "relay") != {}, 30), mesh.log()
        answer = _answer(url, "unknown.example.invalid")
        assert answer.get("workload") == "relay", answer
        assert answer.get("host") == "unknown.example.invalid"
