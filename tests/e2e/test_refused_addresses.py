"""WorkloadEntry addresses Envoy cannot use as an endpoint, written into a running mesh:
before, `10.0.2.1inf` validated, joined order-service's EDS and every proxy NACKed. Now
an empty address is refused at load with its field named; `10.0.2.1inf` is a valid DNS
name, which Istio accepts, so it is accepted but kept out of the registry (XDS0807):
Envoy receives nothing it rejects, and traffic and a good change go on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import http_get, relocate_example, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

BAD_ENTRIES = """\
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: order-v3
spec:
  address: 10.0.2.1inf
  serviceAccount: order-service
  labels: {app: order-service, version: v2}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: order-v4
spec:
  address: ""
  serviceAccount: order-service
  labels: {app: order-service, version: v2}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata:
  name: order-big-weight
spec:
  address: 127.0.9.9
  weight: 1099511627776
  labels: {app: order-service, version: v2}
"""


def _config(debug: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(http_get(f"{debug}/debug/config")[1])
    return found


def test_bad_workload_addresses_are_refused_and_never_reach_envoy(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        debug = mesh.state["debug"]
        url = f"http://{mesh.workload('default/client')['call_through'][0]}/"
        assert http_get(url, host="order-service")[0] == 200
        (config / "bad-entries.yaml").write_text(BAD_ENTRIES)

        def refused() -> bool:
            fields = {(e["name"], e["field"]) for e in _config(debug)["errors"]}
            return {
                ("order-v4", "spec.address"),
                ("order-big-weight", "spec.weight"),
            } <= fields

        assert wait_until(refused, 15), _config(debug)["errors"]
        objects = _config(debug)["objects"]
        assert not any("order-v4" in o for o in objects)
        assert ("order-v3", "spec.address") not in {
            (e["name"], e["field"]) for e in _config(debug)["errors"]
        }

        statuses = [http_get(url, host="order-service", timeout=10)[0] for _ in range(50)]
        assert statuses == [200] * 50
        # Every proxy acked everything it was sent (a NACK would show within a push).
        assert json.loads(http_get(f"{debug}/debug/nacks")[1]) in ({}, [])
        assert "10.0.2.1inf" not in http_get(f"{debug}/debug/proxies")[1]
