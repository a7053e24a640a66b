"""Sidecar inbound connection pools through the real `xdscp up` and real Envoy: the
receiving sidecar's inbound cluster enforces `ingress[].connectionPool` (which replaces
the sidecar-wide `inboundConnectionPool`, as in Istio), so concurrent slow calls beyond
one connection and one pending request overflow there with a 503."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import REPO, http_get, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

INBOUND = "inbound|8080||"
ORDERS_POOLS = """
  inboundConnectionPool:
    tcp: {maxConnections: 100}
    http: {http1MaxPendingRequests: 100}
"""
PORT_POOL = "    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}\n"


def _mesh_dir(tmp_path: Path) -> Path:
    """The extension example's mesh (client -> orders, without its custom kind) on a random
    127.N.3.x, the orders Sidecar given both pools."""
    octet = random.randint(40, 250)
    target = tmp_path / "mesh"
    target.mkdir()
    docs: list[dict[str, Any]] = [
        d
        for d in yaml.safe_load_all((REPO / "examples" / "extension" / "mesh.yaml").read_text())
        if d and d.get("kind") != "LocalRateLimit"
    ]
    orders = next(d for d in docs if d["kind"] == "Sidecar" and d["metadata"]["name"] == "orders")
    orders["spec"].update(yaml.safe_load(ORDERS_POOLS))
    orders["spec"]["ingress"][0].update(yaml.safe_load(PORT_POOL))
    text = yaml.safe_dump_all(docs).replace("127.0.3.", f"127.{octet}.3.")
    (target / "mesh.yaml").write_text(text)
    return target


def _status(url: str) -> int:
    request = urllib.request.Request(url, headers={"Host": "orders"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _inbound_cluster(admin: str) -> dict[str, Any] | None:
    status, body = http_get(f"{admin}/config_dump?resource=dynamic_active_clusters")
    assert status == 200, body
    for config in json.loads(body)["configs"]:
        cluster: dict[str, Any] = config["cluster"]
        if cluster["name"] == INBOUND:
            return cluster
    return None


def _overflows(admin: str) -> int:
    status, body = http_get(f"{admin}/stats?filter=upstream_rq_pending_overflow")
    assert status == 200, body
    for line in body.splitlines():
        name, _, value = line.partition(": ")
        if name == f"cluster.{INBOUND}.upstream_rq_pending_overflow":
            return int(value)
    return 0


def test_port_connection_pool_overflows_at_the_receiving_sidecar(tmp_path: Path) -> None:
    with xdscp_up(_mesh_dir(tmp_path), tmp_path) as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        assert wait_until(lambda: _status(url) == 200, 20), _status(url)
        admin = mesh.workload("default/orders")["admin"]
        cluster = _inbound_cluster(admin)
        assert cluster is not None
        (thresholds,) = cluster["circuit_breakers"]["thresholds"]
        # the port's pool, not the sidecar-wide 100
        assert thresholds["max_connections"] == 1
        assert thresholds["max_pending_requests"] == 1
        assert _overflows(admin) == 0

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(_status, [url + "?delay=1"] * 6))
        assert statuses.count(200) >= 1, statuses
        assert statuses.count(503) >= 1, statuses  # over one connection + one pending
        assert set(statuses) <= {200, 503}, statuses
        assert _overflows(admin) == statuses.count(503)
        assert [_status(url) for _ in range(3)] == [200] * 3  # capacity back once idle
