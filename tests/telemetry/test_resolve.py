"""Which telemetry each listener gets: options, Telemetry levels and modes, warnings."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from tests.translators.helpers import mesh_of, workload
from translators.ir import Direction
from translators.ir.telemetry import CustomTagKind
from translators.mesh import MeshConfig, MeshOptions
from translators.model.objects import Origin, parse_object
from translators.telemetry.options import TelemetryOptions, TracingKind, TracingProvider
from translators.telemetry.resolve import TelemetryIndex
from translators.translate import MeshTranslator

ZIPKIN = TracingProvider(TracingKind.ZIPKIN, "127.0.0.1", 9411)
BASE = """
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web, namespace: shop}
spec: {address: 10.0.0.1, labels: {app: web, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db, namespace: shop}
spec: {address: 10.0.0.2, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: other}
spec: {address: 10.0.0.3}
"""


def telemetry(name: str, namespace: str, spec: str, created: str = "") -> str:
    stamp = f", creationTimestamp: '{created}'" if created else ""
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return (
        "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
        f"metadata: {{name: {name}, namespace: {namespace}{stamp}}}\nspec:\n{body}\n"
    )


def index(extra: str = "", **options: Any) -> tuple[TelemetryIndex, MeshConfig]:
    mesh = mesh_of(BASE + extra, MeshOptions(telemetry=TelemetryOptions(**options)))
    return TelemetryIndex(mesh), mesh


def test_nothing_configured_means_no_telemetry() -> None:
    idx, mesh = index()
    result = idx.for_workload(workload(mesh, "shop/web"))
    assert result.outbound is None and result.inbound is None and result.warnings == ()


def test_mesh_options_apply_to_both_directions() -> None:
    idx, mesh = index(access_log_path="/dev/stdout", tracing=ZIPKIN, sampling=5.0)
    result = idx.for_workload(workload(mesh, "shop/web"))
    for ir in (result.outbound, result.inbound):
        assert ir is not None and ir.access_log is not None and ir.tracing is not None
        assert ir.access_log.path == "/dev/stdout"
        assert ir.tracing.sampling == 5.0
        assert ir.tracing.collector == "tracing|zipkin"
        assert ir.tracing.service_name == ""  # Zipkin names spans after the node
        assert ir.provenance == ()
    assert result.collectors() == (ZIPKIN,)


def test_opentelemetry_names_the_workload_by_its_app_label() -> None:
    otel = TracingProvider(TracingKind.OPENTELEMETRY, "collector", 4318)
    idx, mesh = index(tracing=otel)
    names = {
        key: idx.for_workload(workload(mesh, key)).outbound
        for key in ("shop/web", "shop/db", "default/other")
    }
    assert {k: v.tracing.service_name for k, v in names.items() if v and v.tracing} == {
        "shop/web": "web.shop",
        "shop/db": "db.shop",
        "default/other": "other.default",  # no app label: the workload's name
    }


def test_levels_override_only_what_they_set() -> None:
    extra = (
        telemetry("mesh", "istio-system", "tracing: [{randomSamplingPercentage: 10}]")
        + telemetry("ns", "shop", "accessLogging: [{match: {mode: CLIENT}, disabled: true}]")
        + telemetry(
            "web",
            "shop",
            """
            selector: {matchLabels: {app: web}}
            tracing:
            - customTags:
                env: {environment: {name: POD_ENV, defaultValue: dev}}
                route: {formatter: {value: "%REQ(:PATH)%"}}
            """,
        )
    )
    idx, mesh = index(extra, access_log_path="/var/log/envoy.json", tracing=ZIPKIN)
    web = idx.for_workload(workload(mesh, "shop/web"))
    assert web.outbound is not None and web.inbound is not None
    assert web.outbound.access_log is None  # the namespace turned client logs off
    assert web.inbound.access_log is not None and web.inbound.access_log.path.endswith(".json")
    assert web.outbound.tracing is not None and web.outbound.tracing.sampling == 10.0
    assert [(t.tag, t.kind, t.value, t.default) for t in web.outbound.tracing.custom_tags] == [
        ("env", CustomTagKind.ENVIRONMENT, "POD_ENV", "dev"),
        # Istio 1.29+: an Envoy substitution format (CustomTag.value)
        ("route", CustomTagKind.FORMATTER, "%REQ(:PATH)%", ""),
    ]
    assert web.outbound.provenance == (
        "Telemetry/istio-system/mesh",
        "Telemetry/shop/ns",
        "Telemetry/shop/web",
    )
    db = idx.for_workload(workload(mesh, "shop/db"))
    assert db.outbound is not None and db.outbound.tracing is not None
    assert db.outbound.tracing.custom_tags == ()  # not selected by `web`
    other = idx.for_workload(workload(mesh, "default/other"))
    assert other.outbound is not None and other.outbound.access_log is not None


def test_server_mode_and_disabled_span_reporting() -> None:
    extra = telemetry(
        "web",
        "shop",
        """
        selector: {matchLabels: {app: web}}
        tracing: [{match: {mode: SERVER}, disableSpanReporting: true}]
        accessLogging: [{match: {mode: SERVER}, filter: {expression: "response.code >= 400"}}]
        """,
    )
    idx, mesh = index(extra, tracing=ZIPKIN)
    web = idx.for_workload(workload(mesh, "shop/web"))
    assert web.outbound is not None and web.outbound.tracing is not None
    assert web.outbound.access_log is None
    assert web.inbound is not None and web.inbound.tracing is None
    assert web.inbound.access_log is not None
    assert web.inbound.access_log.filter == "response.code >= 400"
    assert web.inbound.access_log.path == "/dev/stdout"  # enabled by Telemetry: stdout


def test_telemetry_can_pick_a_configured_provider_by_name_only() -> None:
    extra = telemetry("mesh", "istio-system", "tracing: [{providers: [{name: jaeger}]}]")
    idx, mesh = index(extra)
    web = idx.for_workload(workload(mesh, "shop/web"))
    assert web.outbound is None
    assert any("tracing provider 'jaeger' is not configured" in w for w in web.warnings)
    named = TracingProvider(TracingKind.ZIPKIN, "zipkin.example", 9411, name="jaeger")
    idx, mesh = index(extra, tracing=named, sampling=0.0)
    web = idx.for_workload(workload(mesh, "shop/web"))
    assert web.outbound is not None and web.outbound.tracing is not None
    assert web.outbound.tracing.collector == "tracing|jaeger"


def test_unknown_access_log_provider_is_reported_and_ignored() -> None:
    extra = telemetry("mesh", "istio-system", "accessLogging: [{providers: [{name: otel-als}]}]")
    idx, mesh = index(extra)
    web = idx.for_workload(workload(mesh, "shop/web"))
    assert web.outbound is None
    assert any("otel-als" in w for w in web.warnings)


def test_oldest_wins_within_a_level_and_the_rest_are_reported() -> None:
    extra = telemetry(
        "newer", "shop", "accessLogging: [{disabled: true}]", "2024-02-01T00:00:00Z"
    ) + telemetry("older", "shop", "accessLogging: [{disabled: false}]", "2024-01-01T00:00:00Z")
    idx, mesh = index(extra)
    web = idx.for_workload(workload(mesh, "shop/web"))
    assert web.outbound is not None and web.outbound.access_log is not None
    assert "Telemetry/shop/newer: ignored for shop/web; older Telemetry/shop/older applies" in (
        web.warnings
    )


def test_listeners_carry_their_direction_and_unchanged_ones_stay_identical() -> None:
    sidecar = """
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: web, namespace: shop}
spec:
  workloadSelector: {labels: {app: web}}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:18080
  egress:
  - port: {number: 9090, protocol: HTTP, name: http}
    hosts: ["./*"]
"""
    extra = telemetry("ns", "shop", "accessLogging: [{match: {mode: SERVER}}]")
    mesh = mesh_of(BASE + sidecar + extra)
    view = MeshTranslator(mesh).view(workload(mesh, "shop/web"))
    by_direction = {li.direction: li.telemetry for li in view.listeners}
    assert by_direction[Direction.OUTBOUND] is None
    inbound = by_direction[Direction.INBOUND]
    assert inbound is not None and inbound.access_log is not None


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("tracing: [{sampling: 5}]", "spec.tracing[0].sampling", "unknown field"),
        (
            "tracing: [{randomSamplingPercentage: 101}]",
            "spec.tracing[0].randomSamplingPercentage",
            "less than or equal to 100",
        ),
        (
            "tracing: [{customTags: {a: {literal: {value: x}, header: {name: y}}}}]",
            "spec.tracing[0].customTags.a",
            "exactly one of literal, environment, header",
        ),
        (
            "selector: {matchLabels: {a: b}}\ntargetRef: {kind: Service, name: s}",
            "spec",
            "at most one of selector, targetRef, targetRefs",
        ),
        ("accessLogging: [{match: {mode: BOTH}}]", "spec.accessLogging[0].match.mode", "Input"),
    ],
)
def test_telemetry_model_rejects_what_istio_would(spec: str, field: str, message: str) -> None:
    doc = {
        "apiVersion": "telemetry.istio.io/v1alpha1",
        "kind": "Telemetry",
        "metadata": {"name": "t", "namespace": "default"},
        "spec": yaml.safe_load(spec),
    }
    errors = parse_object(doc, Origin("t.yaml"))
    assert isinstance(errors, list)
    assert any(e.field == field and message in e.message for e in errors), [str(e) for e in errors]


def test_tracing_provider_parse() -> None:
    assert TracingProvider.parse("zipkin=127.0.0.1:9411") == ZIPKIN
    otel = TracingProvider.parse("otel=collector:4318/custom/path")
    assert (otel.kind, otel.host, otel.port, otel.span_path, otel.grpc) == (
        TracingKind.OPENTELEMETRY,
        "collector",
        4318,
        "/custom/path",
        False,
    )
    assert TracingProvider.parse("otel-grpc=[::1]:4317").host == "::1"
    assert TracingProvider.parse("otel-grpc=[::1]:4317").grpc
    for bad in ("zipkin", "jaeger=a:1", "zipkin=host", "zipkin=:9411", "otel=a:b"):
        with pytest.raises(ValueError):
            TracingProvider.parse(bad)
