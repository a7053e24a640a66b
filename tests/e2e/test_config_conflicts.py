"""Valid-looking input must not break traffic, through `xdscp up` and real Envoy: a new
ServiceEntry named `aaa` claiming the established order-service host does not take it
(963/1000 requests failed when conflicts were decided by name), and a mistyped
`metadata.name` does not delete the canary VirtualService (90/10 became 50/50)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.harness import http_get, relocate_example, version_of, wait_until, xdscp_up
from tests.e2e.test_canary import _client_weights, _egress

pytestmark = pytest.mark.e2e

CLAIM = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: aaa}
spec:
  hosts: [order-service]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.%d.9.9}]
"""


def test_established_objects_stay_in_force(tmp_path: Path) -> None:
    config, octet = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        url = _egress(mesh)
        debug = mesh.state["debug"]

        def errors() -> list[dict[str, str]]:
            status, body = http_get(f"{debug}/debug/config")
            return list(json.loads(body)["errors"]) if status == 200 else []

        (config / "aaa.yaml").write_text(CLAIM % octet)
        assert wait_until(lambda: bool(errors()), timeout=5.0), mesh.log()[-2000:]
        (error,) = errors()
        assert error["name"] == "aaa" and error["field"] == "spec.hosts"
        assert "already defined by ServiceEntry/default/order-service" in error["message"]
        results = Counter(http_get(url, host="order-service", timeout=3)[0] for _ in range(300))
        assert results == Counter({200: 300}), results

        routing = config / "routing.yaml"
        routing.write_text(
            routing.read_text().replace("name: order-service-routing", "name: Bad_Name!", 1)
        )
        assert wait_until(lambda: len(errors()) == 2, timeout=5.0), errors()
        assert any(e["field"] == "metadata.name" for e in errors())
        assert _client_weights(mesh) == [90, 10]
        versions = Counter(version_of(http_get(url, host="order-service")[1]) for _ in range(300))
        assert versions["v1"] + versions["v2"] == 300, versions
        assert versions["v2"] < 75, versions  # 90/10 (30 expected), not 50/50 (150)
