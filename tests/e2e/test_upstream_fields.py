"""DestinationRule upstream fields through the real `xdscp up` and real Envoy: warmup,
retryBudget and outlierDetectionHttpErrorCodes are in the client Envoy's config_dump
as Istio puts them (slow_start_config, the circuit breaker's retry_budget, the HTTP
protocol options' error_matcher), and requests still flow."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import REPO, http_get, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

ORDERS_CLUSTER = "outbound|8080||orders.default.svc.cluster.local"
OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

RULE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: default}
spec:
  host: orders
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      warmup: {duration: 45s, aggression: 1.5, minimumPercent: 20}
    outlierDetection:
      consecutive5xxErrors: 4
      outlierDetectionHttpErrorCodes: [502, 504]
    retryBudget: {percent: 30, minRetryConcurrency: 2}
"""


def _mesh_dir(tmp_path: Path) -> Path:
    """The extension example's mesh (client -> orders) without its custom kind, moved to a
    random 127.N.3.x so parallel runs do not collide."""
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
    (target / "rules.yaml").write_text(RULE)
    return target


def _status(url: str) -> int:
    request = urllib.request.Request(url, headers={"Host": "orders"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _dynamic_cluster(admin: str, name: str) -> dict[str, Any] | None:
    status, body = http_get(f"{admin}/config_dump?resource=dynamic_active_clusters")
    assert status == 200, body
    for config in json.loads(body)["configs"]:
        cluster: dict[str, Any] = config["cluster"]
        if cluster["name"] == name:
            return cluster
    return None


def test_upstream_fields_in_real_envoy(tmp_path: Path) -> None:
    with xdscp_up(_mesh_dir(tmp_path), tmp_path) as mesh:
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        assert wait_until(lambda: _status(url) == 200, 20), _status(url)

        admin = mesh.workload("default/client")["admin"]
        cluster = _dynamic_cluster(admin, ORDERS_CLUSTER)
        assert cluster is not None
        assert "lb_policy" not in cluster  # ROUND_ROBIN, the enum's default: not dumped
        slow = cluster["round_robin_lb_config"]["slow_start_config"]
        assert slow["slow_start_window"] == "45s"
        assert slow["aggression"]["default_value"] == 1.5
        assert slow["min_weight_percent"] == {"value": 20.0}

        (thresholds,) = cluster["circuit_breakers"]["thresholds"]
        assert thresholds["retry_budget"] == {
            "budget_percent": {"value": 30.0},
            "min_retry_concurrency": 2,
        }

        options = cluster["typed_extension_protocol_options"][OPTIONS]
        rules = options["outlier_detection"]["error_matcher"]["or_match"]["rules"]
        statuses = [
            r["http_response_headers_match"]["headers"][0]["string_match"]["exact"] for r in rules
        ]
        assert statuses == ["502", "504"]
        assert cluster["outlier_detection"]["consecutive_5xx"] == 4

        assert [_status(url) for _ in range(5)] == [200] * 5
