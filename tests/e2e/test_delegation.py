"""Delegate VirtualServices end to end: `xdscp up` on the canary example with a root
VirtualService handing `/orders` to a delegate that routes by header; real Envoy sends
each request to the right subset, and editing only the delegate re-routes live."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import RunningMesh, relocate_example, version_of, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

SUBSETS = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order-service-subsets}
spec:
  host: order-service
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order-service-root}
spec:
  hosts: [order-service]
  http:
  - match: [{uri: {prefix: /orders}}]
    delegate: {name: orders-routes}
  - route: [{destination: {host: order-service, subset: v2}}]
"""
DELEGATE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders-routes}
spec:
  http:
  - match: [{headers: {x-user: {exact: tester}}}]
    route: [{destination: {host: order-service, subset: v2}}]
  - route: [{destination: {host: order-service, subset: REST}}]
"""


def _version(mesh: RunningMesh, path: str, headers: dict[str, str]) -> str:
    egress = mesh.workload("default/client")["call_through"][0]
    request = urllib.request.Request(
        f"http://{egress}{path}", headers={"Host": "order-service", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return version_of(response.read().decode())
    except (urllib.error.URLError, OSError) as exc:
        return f"error {exc}"


def _versions(mesh: RunningMesh, path: str, headers: dict[str, str], n: int = 20) -> Counter[str]:
    return Counter(_version(mesh, path, headers) for _ in range(n))


def test_root_delegates_orders_to_a_header_routing_delegate(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    (config / "routing.yaml").write_text(SUBSETS)
    (config / "delegate.yaml").write_text(DELEGATE.replace("REST", "v1"))
    with xdscp_up(config, tmp_path) as mesh:
        tester = {"x-user": "tester"}
        assert wait_until(lambda: _version(mesh, "/orders/1", {}) == "v1", 10), mesh.log()[-3000:]
        assert _versions(mesh, "/orders/1", {}) == Counter({"v1": 20})
        assert _versions(mesh, "/orders/1", tester) == Counter({"v2": 20})
        # outside the root rule's /orders: the root's own route
        assert _versions(mesh, "/other", tester) == Counter({"v2": 20})
        # editing only the delegate changes what the root's /orders does
        (config / "delegate.yaml").write_text(DELEGATE.replace("REST", "v2"))
        assert wait_until(lambda: _version(mesh, "/orders/1", {}) == "v2", 10), mesh.log()[-3000:]
        assert _versions(mesh, "/orders/1", {}) == Counter({"v2": 20})
        # the delegate gone: its rule is dropped, /orders falls to the root's next rule
        (config / "delegate.yaml").write_text(DELEGATE.replace("REST", "v1"))
        assert wait_until(lambda: _version(mesh, "/orders/1", {}) == "v1", 10)
        (config / "delegate.yaml").unlink()
        assert wait_until(lambda: _versions(mesh, "/orders/1", {}, 5) == Counter({"v2": 5}), 10)
