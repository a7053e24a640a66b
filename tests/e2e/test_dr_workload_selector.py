"""DestinationRule `workloadSelector` through the real `xdscp up` and real Envoy: two
clients call `orders` through the same VirtualService subset `pick`. The rule without a
selector makes `pick` version v1; a rule selecting the client `fast` makes it v2 — for
that client only (Istio's SidecarScope.DestinationRule). A younger rule with the same
selector is merged into it (Istio's mergeDestinationRule): its subset `other` (v1) is
there for `fast`, and for `slow` there is no such subset (503)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import MeshScenario, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

RULES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders}
spec:
  hosts: [orders]
  http:
  - match: [{headers: {x-pick: {exact: other}}}]
    route: [{destination: {host: orders, subset: other}}]
  - route: [{destination: {host: orders, subset: pick}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders}
spec:
  host: orders
  subsets: [{name: pick, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders-for-fast}
spec:
  host: orders
  workloadSelector: {matchLabels: {app: fast}}
  subsets: [{name: pick, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders-for-fast-more, creationTimestamp: "2030-01-01T00:00:00Z"}
spec:
  host: orders
  workloadSelector: {matchLabels: {app: fast}}
  subsets: [{name: pick, labels: {version: v1}}, {name: other, labels: {version: v1}}]
"""


def _mesh_dir(tmp_path: Path) -> Path:
    mesh = MeshScenario(subnet=9)
    mesh.workload("fast", 1, {"role": "client", "app": "fast"})
    mesh.workload("slow", 2, {"role": "client", "app": "slow"})
    mesh.workload("orders-v1", 3, {"app": "orders", "version": "v1"})
    mesh.workload("orders-v2", 4, {"app": "orders", "version": "v2"})
    mesh.service("orders", [(8080, "HTTP")])
    mesh.add(RULES)
    mesh.client_sidecar("clients", [(8080, "HTTP")], selector={"role": "client"})
    mesh.server_sidecar("orders")
    return mesh.write(tmp_path)


def _answer(url: str, pick: str = "") -> str:
    """Which workload answered (or the failure)."""
    headers = {"Host": "orders", **({"x-pick": pick} if pick else {})}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            workload: str = json.loads(response.read())["workload"]
            return workload
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except OSError as exc:
        return f"error {exc}"


def test_the_selecting_rule_changes_the_subset_for_the_selected_client_only(
    tmp_path: Path,
) -> None:
    config = _mesh_dir(tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        fast = f"http://{mesh.workload('default/fast')['call_through'][0]}/"
        slow = f"http://{mesh.workload('default/slow')['call_through'][0]}/"
        assert wait_until(lambda: _answer(fast) == "orders-v2", 30), _answer(fast)
        assert wait_until(lambda: _answer(slow) == "orders-v1", 30), _answer(slow)
        assert [_answer(fast) for _ in range(10)] == ["orders-v2"] * 10
        assert [_answer(slow) for _ in range(10)] == ["orders-v1"] * 10
        # the merged rule's subset `other` exists for `fast` only; its `pick` (v1) is
        # dropped, the older rule's stays
        assert [_answer(fast, "other") for _ in range(5)] == ["orders-v1"] * 5
        assert _answer(slow, "other") == "HTTP 503"
