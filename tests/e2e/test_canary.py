"""The canary scenario end to end, through the real `xdscp up` CLI and real Envoy."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import (
    RunningMesh,
    http_get,
    relocate_example,
    version_of,
    wait_until,
    xdscp_up,
)

pytestmark = pytest.mark.e2e

ROUTING_5050 = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: order-service-routing
spec:
  hosts:
  - order-service
  http:
  - route:
    - destination:
        host: order-service
        subset: v1
      weight: 50
    - destination:
        host: order-service
        subset: v2
      weight: 50
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: order-service-subsets
spec:
  host: order-service
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
"""


def _within_sigma(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def _egress(mesh: RunningMesh) -> str:
    call_through: list[str] = mesh.workload("default/client")["call_through"]
    return f"http://{call_through[0]}/"


def _client_weights(mesh: RunningMesh) -> list[int]:
    """The weights Envoy is running now, read from the client sidecar's /config_dump."""
    admin = mesh.workload("default/client")["admin"]
    status, body = http_get(f"{admin}/config_dump?resource=dynamic_route_configs")
    if status != 200:
        return []
    dump = json.loads(body)
    weights: list[int] = []
    for config in dump.get("configs", []):
        for vhost in config.get("route_config", {}).get("virtual_hosts", []):
            for route in vhost.get("routes", []):
                for cluster in (
                    route.get("route", {}).get("weighted_clusters", {}).get("clusters", [])
                ):
                    weights.append(int(cluster["weight"]))
    return weights


def test_split_90_10_and_live_change_without_failures(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = _egress(mesh)
        # (a) >= 1000 requests through the client's sidecar split 90/10 within 4 sigma.
        versions = Counter(version_of(http_get(url, host="order-service")[1]) for _ in range(1000))
        assert set(versions) <= {"v1", "v2"}, versions
        assert _within_sigma(versions["v2"], 1000, 0.10), versions
        assert _client_weights(mesh) == [90, 10]
        # The sidecars authenticated to xDS with their own SPIFFE IDs (mutual TLS).
        proxies = json.loads(http_get(f"{mesh.state['debug']}/debug/proxies")[1])
        assert proxies["default/client"]["peer_identity"] == (
            "spiffe://cluster.local/ns/default/sa/client"
        )

        # (b) while a request loop runs, switch to 50/50: applied within 2 s, nothing fails.
        failures: list[str] = []
        seen: Counter[str] = Counter()
        stop = threading.Event()

        def loop() -> None:
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    status, body = http_get(url, host="order-service", timeout=3)
                except OSError as exc:
                    failures.append(repr(exc))
                    continue
                if status != 200:
                    failures.append(f"{status} {body[:200]}")
                seen[version_of(body)] += 1

        worker = threading.Thread(target=loop)
        worker.start()
        try:
            time.sleep(0.5)
            (config / "routing.yaml").write_text(ROUTING_5050)
            changed_at = time.monotonic()
            assert wait_until(lambda: _client_weights(mesh) == [50, 50], timeout=2.0), (
                _client_weights(mesh),
                mesh.log()[-3000:],
            )
            applied_after = time.monotonic() - changed_at
            seen.clear()
            time.sleep(1.5)
        finally:
            stop.set()
            worker.join(10)
        assert not failures, failures[:5]
        assert applied_after < 2.0
        total = seen["v1"] + seen["v2"]
        assert total > 100, seen
        assert _within_sigma(seen["v2"], total, 0.5), seen


def test_invalid_object_is_reported_and_the_rest_keeps_serving(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = _egress(mesh)
        broken = ROUTING_5050.replace(
            "weight: 50\n    - destination", "weight: fifty\n    - destination", 1
        )
        (config / "routing.yaml").write_text(broken)
        debug = mesh.state["debug"]

        def reported() -> bool:
            status, body = http_get(f"{debug}/debug/config")
            return status == 200 and bool(json.loads(body)["errors"])

        assert wait_until(reported, timeout=5.0), mesh.log()[-2000:]
        errors = json.loads(http_get(f"{debug}/debug/config")[1])["errors"]
        text = errors[0]["text"]
        assert "routing.yaml[doc 0]" in text
        assert "VirtualService default/order-service-routing" in text
        assert "spec.http[0].route[0].weight" in text
        # The VirtualService keeps its last good version: still 90/10, still serving.
        assert _client_weights(mesh) == [90, 10]
        versions = Counter(version_of(http_get(url, host="order-service")[1]) for _ in range(50))
        assert versions["v1"] + versions["v2"] == 50
        # Fixing the file applies the fix.
        (config / "routing.yaml").write_text(ROUTING_5050)
        assert wait_until(lambda: _client_weights(mesh) == [50, 50], timeout=3.0)
