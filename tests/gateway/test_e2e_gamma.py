"""GAMMA mesh routing end to end, through the real `xdscp up` CLI and real Envoy: an
HTTPRoute whose parent is the order-service Service splits the client sidecar's calls
80/20 between two backend Services (within a binomial bound) and sends a request with a
header to one of them; `xdscp proxy-config` names it; it takes over from the example's
90/10 VirtualService of the same host, which applies again when the route is deleted."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.hygiene import run_xdscp
from tests.e2e.harness import http_get, relocate_example, version_of, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

BACKENDS = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: order-v1}
spec:
  hosts: [order-v1]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: order-service, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: order-v2}
spec:
  hosts: [order-v2]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: order-service, version: v2}}
"""

ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: order-split}
spec:
  parentRefs: [{group: "", kind: Service, name: order-service, port: 8080}]
  rules:
  - matches: [{headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: order-v2, port: 8080}]
  - backendRefs:
    - {name: order-v1, port: 8080, weight: 80}
    - {name: order-v2, port: 8080, weight: 20}
"""


def get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_gamma_httproute_splits_and_matches_sidecar_traffic(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    (config / "backends.yaml").write_text(BACKENDS)
    (config / "gamma.yaml").write_text(ROUTE)
    with xdscp_up(config, tmp_path) as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        canary = {"Host": "order-service", "x-canary": "yes"}

        def routed() -> bool:
            try:
                status, body = get(url, canary)
            except OSError:
                return False
            return status == 200 and version_of(body) == "v2"

        assert wait_until(routed, 30), mesh.log()[-3000:]
        # the header match: every request with it reaches order-v2
        assert {version_of(get(url, canary)[1]) for _ in range(30)} == {"v2"}

        # the split: 80/20 within 4 sigma of the binomial (the VirtualService says 90/10)
        n = 600
        served = Counter(version_of(http_get(url, host="order-service")[1]) for _ in range(n))
        assert set(served) <= {"v1", "v2"}, served
        sigma = math.sqrt(n * 0.8 * 0.2)
        assert abs(served["v1"] - 0.8 * n) <= 4 * sigma, served

        # proxy-config names the HTTPRoute as the source of the client's routes to it
        listed = run_xdscp(
            "proxy-config", "routes", "default/client", "--server", mesh.state["debug"]
        )
        assert listed.returncode == 0, listed.stderr
        rows = [r for r in listed.stdout.splitlines() if "HTTPRoute/default/order-split" in r]
        assert len(rows) == 2, listed.stdout

        # without the route, the VirtualService routes again: no header routing
        (config / "gamma.yaml").unlink()

        def back_to_the_virtual_service() -> bool:
            versions = {version_of(get(url, canary)[1]) for _ in range(20)}
            return "v1" in versions

        assert wait_until(back_to_the_virtual_service, 10), mesh.log()[-3000:]
