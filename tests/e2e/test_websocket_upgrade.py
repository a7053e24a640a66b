"""WebSocket upgrades through the real `xdscp up` and real Envoy: as on Istio's sidecars,
an `Upgrade: websocket` request passes both sidecars to the app (Envoy refuses an upgrade
its connection manager does not allow with 403). `websocketUpgrade: true` (removed from
Istio's API, ignored by Istio) is accepted."""

from __future__ import annotations

import http.client
import random
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import REPO, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

ROUTE = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders}
spec:
  hosts: [orders]
  http:
  - websocketUpgrade: true
    route: [{destination: {host: orders}}]
"""


def _mesh_dir(tmp_path: Path) -> tuple[Path, str]:
    octet = random.randint(40, 250)
    target = tmp_path / "mesh"
    target.mkdir()
    docs = [
        d
        for d in yaml.safe_load_all((REPO / "examples" / "extension" / "mesh.yaml").read_text())
        if d and d.get("kind") != "LocalRateLimit"
    ]
    text = yaml.safe_dump_all(docs).replace("127.0.3.", f"127.{octet}.3.")
    (target / "mesh.yaml").write_text(text)
    (target / "route.yaml").write_text(ROUTE)
    return target, f"127.{octet}.3.1"


def _status(host: str, upgrade: bool) -> int:
    headers = {"Host": "orders"}
    if upgrade:
        headers |= {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        }
    connection = http.client.HTTPConnection(host, 8080, timeout=5)
    try:
        connection.request("GET", "/", headers=headers)
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


def test_websocket_upgrade_requests_reach_the_app(tmp_path: Path) -> None:
    config, client = _mesh_dir(tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        assert wait_until(lambda: _status(client, upgrade=False) == 200, 20), mesh.log()
        # the app answers 200 (it speaks no WebSocket); Envoy alone would have said 403
        assert _status(client, upgrade=True) == 200
