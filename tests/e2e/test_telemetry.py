"""Telemetry end to end through real Envoy and the real `xdscp up` CLI: JSON access log
lines on both sidecars of a call, Prometheus stats on the per-sidecar stats port, spans
at a (fake) Zipkin or OpenTelemetry collector with the request ID propagated, and a
Telemetry object switching client-side access logs off live."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import RunningMesh, http_get, relocate_example, wait_until, xdscp_up
from tests.telemetry.collector import fake_collector

pytestmark = pytest.mark.e2e

FQDN = "order-service.default.svc.cluster.local"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
SERVER_ID = "spiffe://cluster.local/ns/default/sa/order-service"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

NO_CLIENT_LOGS = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  accessLogging:
  - match:
      mode: CLIENT
    disabled: true
"""


def _call(mesh: RunningMesh, headers: dict[str, str] | None = None) -> dict[str, Any]:
    egress = mesh.workload("default/client")["call_through"][0]
    request = urllib.request.Request(
        f"http://{egress}/orders?id=1", headers={"Host": "order-service", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        body: dict[str, Any] = json.loads(response.read())
        return body


def _log_lines(mesh: RunningMesh, workload: str) -> list[dict[str, Any]]:
    path = Path(mesh.workload(workload)["access_log"])
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def _logged(mesh: RunningMesh, workloads: list[str], ids: set[str]) -> dict[str, dict[str, Any]]:
    """request ID -> its access log line, from the given sidecars' logs."""
    found: dict[str, dict[str, Any]] = {}
    for workload in workloads:
        for line in _log_lines(mesh, workload):
            if line.get("request_id") in ids:
                found[line["request_id"]] = line
    return found


def test_access_logs_stats_and_zipkin_traces(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with (
        fake_collector() as collector,
        xdscp_up(
            config,
            tmp_path,
            "--tracing",
            f"zipkin=127.0.0.1:{collector.port}",
            "--tracing-sampling",
            "100",
        ) as mesh,
    ):
        bodies = [_call(mesh) for _ in range(10)]

        # The client sidecar generated one request ID per call; the app received it with
        # B3 and W3C trace context for the same trace.
        ids = {b["request_id"] for b in bodies}
        assert len(ids) == 10 and all(UUID.match(i) for i in ids), ids
        trace_of = {b["request_id"]: b["trace"]["x-b3-traceid"] for b in bodies}
        for body in bodies:
            assert body["trace"]["x-b3-sampled"] == "1"
            assert body["trace"]["traceparent"].split("-")[1] == body["trace"]["x-b3-traceid"]

        # Access logs: one JSON line per call on the client (outbound) ...
        servers = ["default/order-v1", "default/order-v2"]
        assert wait_until(lambda: len(_logged(mesh, ["default/client"], ids)) == 10, 5.0)
        assert wait_until(lambda: len(_logged(mesh, servers, ids)) == 10, 5.0)
        for request_id, line in _logged(mesh, ["default/client"], ids).items():
            assert line["method"] == "GET" and line["path"] == "/orders?id=1"
            assert line["authority"] == "order-service"
            assert line["response_code"] == 200 and line["response_flags"] == "-"
            assert isinstance(line["duration"], int) and line["duration"] >= 0
            assert re.fullmatch(rf"outbound\|8080\|v[12]\|{FQDN}", line["upstream_cluster"])
            assert line["upstream_host"].endswith(":8080")
            assert line["upstream_peer_identity"] == SERVER_ID  # mesh mTLS to the server
            assert line["start_time"] and line["route_name"]
            assert line["trace_id"] == trace_of[request_id]
        # ... and one on the server (inbound), naming the caller's SPIFFE ID.
        for request_id, line in _logged(mesh, servers, ids).items():
            assert line["upstream_cluster"] == "inbound|8080||"
            assert line["downstream_peer_identity"] == CLIENT_ID
            assert line["response_code"] == 200
            assert line["trace_id"] == trace_of[request_id]

        # Spans: the client's (flushed every 5 spans) carry the request IDs; client and
        # server spans of one call share its trace.
        def spans_by_id() -> dict[str, list[dict[str, Any]]]:
            out: dict[str, list[dict[str, Any]]] = {}
            for span in collector.zipkin():
                out.setdefault(span.get("tags", {}).get("guid:x-request-id", ""), []).append(span)
            return out

        assert wait_until(lambda: ids <= set(spans_by_id()), 10.0), collector.zipkin()[:3]
        for request_id, spans in spans_by_id().items():
            if request_id in ids:
                assert {s["traceId"] for s in spans} == {trace_of[request_id]}
        assert wait_until(lambda: any(s.get("kind") == "SERVER" for s in collector.zipkin()), 10.0)
        services = {s["localEndpoint"]["serviceName"] for s in collector.zipkin()}
        assert "client.default" in services, services

        # Prometheus stats on each sidecar's stats port; nothing else is served there.
        status, text = http_get(mesh.workload("default/client")["stats"])
        assert status == 200
        assert (
            f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="outbound|8080|v1|{FQDN}"}}'
            in text
        )
        assert "# TYPE envoy_http_downstream_rq_total counter" in text
        stats_root = mesh.workload("default/client")["stats"].rsplit("/stats/", 1)[0]
        assert http_get(f"{stats_root}/config_dump")[0] == 404

        # A Telemetry object turns client-side access logs off, live.
        (config / "telemetry.yaml").write_text(NO_CLIENT_LOGS)

        def client_logs_off() -> bool:
            admin = mesh.workload("default/client")["admin"]
            status, dump = http_get(f"{admin}/config_dump?resource=dynamic_listeners")
            return status == 200 and "envoy.access_loggers.file" not in dump

        assert wait_until(client_logs_off, 5.0), mesh.log()[-2000:]
        late = _call(mesh)["request_id"]
        assert wait_until(lambda: late in _logged(mesh, servers, {late}), 5.0)
        time.sleep(1.2)  # past Envoy's 1 s access log flush
        assert late not in _logged(mesh, ["default/client"], {late})


def test_opentelemetry_traces(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with (
        fake_collector() as collector,
        xdscp_up(
            config,
            tmp_path,
            "--tracing",
            f"otel=127.0.0.1:{collector.port}",
            "--tracing-sampling",
            "100",
            "--access-log",
            "off",
        ) as mesh,
    ):
        given = "0d7bd0c1-2f5e-4f3a-9a64-5b0c8e1f6a21"
        bodies = [_call(mesh) for _ in range(9)] + [_call(mesh, {"x-request-id": given})]
        # A caller's request ID is kept (Envoy only encodes its sampling decision in it).
        kept = bodies[-1]["request_id"]
        assert kept[:14] == given[:14] and kept[15:] == given[15:], kept
        traceparents = [b["trace"]["traceparent"] for b in bodies]
        assert all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", t) for t in traceparents)

        ids = {b["request_id"] for b in bodies}

        def client_spans() -> dict[str, dict[str, Any]]:
            return {
                s["attributes"].get("guid:x-request-id", ""): s
                for s in collector.otlp()
                if s["service"] == "client.default"
            }

        assert wait_until(lambda: ids <= set(client_spans()), 10.0), collector.otlp()[:3]
        for body in bodies:
            span = client_spans()[body["request_id"]]
            assert span["trace_id"] == body["trace"]["traceparent"].split("-")[1]
        # --access-log off: no access log lines at all
        assert _log_lines(mesh, "default/client") == []
