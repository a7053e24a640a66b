"""Telemetry Envoy pieces: what the HCM gets, the collector cluster, sharing, and the
bootstrap's stats listener — each checked by meaning and by real Envoy."""

from __future__ import annotations

import json
import re

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.request_id.uuid.v3 import uuid_pb2
from google.protobuf import json_format

from tests.envoy_validate import find_envoy, run_envoy_validate
from tests.translators.helpers import mesh_of, workload
from translators.mesh import MeshOptions, Workload
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE, STATS_PATH
from translators.telemetry.envoy import ACCESS_LOG_FIELDS, collector_cluster
from translators.telemetry.options import TelemetryOptions, TracingKind, TracingProvider
from translators.translate import MeshTranslator
from xdscp.bootstrap import bootstrap_config
from xdscp.stats import stats_config, stats_tags

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1}
spec: {address: 10.0.0.1, labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-2}
spec: {address: 10.0.0.2, labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: api}
spec:
  workloadSelector: {labels: {app: api}}
  ingress:
  - port: {number: 8080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:18080
"""
ZIPKIN = TracingProvider(TracingKind.ZIPKIN, "zipkin.observability", 9411)


def managers(listener: listener_pb2.Listener) -> list[hcm.HttpConnectionManager]:
    out = []
    for chain in listener.filter_chains:
        for network_filter in chain.filters:
            manager = hcm.HttpConnectionManager()
            if network_filter.typed_config.Unpack(manager):
                out.append(manager)
    return out


def translated(options: TelemetryOptions) -> tuple[MeshTranslator, list[Workload]]:
    mesh = mesh_of(MESH, MeshOptions(telemetry=options))
    return MeshTranslator(mesh), [workload(mesh, "default/api-1"), workload(mesh, "default/api-2")]


def test_every_http_manager_logs_json_and_traces() -> None:
    translator, (api, _) = translated(TelemetryOptions("/dev/stdout", ZIPKIN, sampling=25.0))
    result = translator.translate(api)
    listeners = [r.message for r in result.of_type(LISTENER_TYPE)]
    assert listeners
    for listener in listeners:
        assert isinstance(listener, listener_pb2.Listener)
        for manager in managers(listener):
            (log,) = manager.access_log
            config = file_pb2.FileAccessLog()
            assert log.typed_config.Unpack(config)
            assert config.path == "/dev/stdout"
            fields = json_format.MessageToDict(config.log_format.json_format)
            assert fields == ACCESS_LOG_FIELDS
            assert manager.tracing.random_sampling.value == 25.0
            assert manager.tracing.provider.name == "envoy.tracers.zipkin"
            rid = uuid_pb2.UuidRequestIdConfig()
            assert manager.request_id_extension.typed_config.Unpack(rid)
            assert rid.use_request_id_for_trace_sampling.value


def test_access_log_has_the_fields_operators_need() -> None:
    wanted = {
        "start_time": "%START_TIME%",
        "method": "%REQ(:METHOD)%",
        "authority": "%REQ(:AUTHORITY)%",
        "response_code": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%",
        "duration": "%DURATION%",
        "upstream_cluster": "%UPSTREAM_CLUSTER%",
        "upstream_host": "%UPSTREAM_HOST%",
        "downstream_peer_identity": "%DOWNSTREAM_PEER_URI_SAN%",
        "request_id": "%REQ(X-REQUEST-ID)%",
    }
    assert wanted.items() <= ACCESS_LOG_FIELDS.items()
    assert "PATH" in ACCESS_LOG_FIELDS["path"]


def test_collector_cluster_is_shared_by_every_proxy_and_generation() -> None:
    options = TelemetryOptions(tracing=ZIPKIN)
    translator, (one, two) = translated(options)
    first, second = translator.translate(one), translator.translate(two)
    collectors = [
        g for g in first.groups[CLUSTER_TYPE] if any(r.name == "tracing|zipkin" for r in g)
    ]
    assert len(collectors) == 1
    assert any(g is collectors[0] for g in second.groups[CLUSTER_TYPE])
    again = MeshTranslator(translator.mesh, translator).translate(one)
    assert any(g is collectors[0] for g in again.groups[CLUSTER_TYPE])
    cluster = collectors[0][0].message
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert cluster.type == cluster_pb2.Cluster.STRICT_DNS  # a DNS name


def test_no_tracing_means_no_collector_cluster() -> None:
    translator, (one, _) = translated(TelemetryOptions("/dev/stdout"))
    names = {r.name for r in translator.translate(one).of_type(CLUSTER_TYPE)}
    assert not any(n.startswith("tracing|") for n in names)


def test_otlp_grpc_collector_speaks_http2() -> None:
    grpc = TracingProvider(TracingKind.OPENTELEMETRY, "10.9.9.9", 4317, grpc=True)
    cluster = collector_cluster("tracing|opentelemetry", grpc)
    assert cluster.type == cluster_pb2.Cluster.STATIC
    assert "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" in (
        cluster.typed_extension_protocol_options
    )


def _bootstrap_workload() -> Workload:
    mesh = mesh_of(MESH)
    return workload(mesh, "default/api-1")


def test_bootstrap_serves_prometheus_stats_only() -> None:
    config = bootstrap_config(_bootstrap_workload(), "127.0.0.1", 15010)
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "10.0.0.1", "port_value": 15090}
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[0]["match"] == {"path": STATS_PATH}
    assert routes[-1]["direct_response"] == {"status": 404}
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    admin = clusters["prometheus_stats"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert admin["endpoint"]["address"]["socket_address"]["port_value"] == 15000
    assert config["stats_config"]["use_all_default_tags"] is False
    bare = bootstrap_config(_bootstrap_workload(), stats_port=None)
    assert "listeners" not in bare["static_resources"] and "stats_config" not in bare


def test_envoy_accepts_the_bootstrap() -> None:
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    config = bootstrap_config(_bootstrap_workload(), "127.0.0.1", 15010)
    verdict = run_envoy_validate(json.dumps(config))
    assert verdict.ok, verdict


@pytest.mark.parametrize(
    ("stat", "tag", "value", "rest"),
    [
        (
            "cluster.outbound|8080|v1|api.default.svc.cluster.local.upstream_rq_total",
            "envoy.cluster_name",
            "outbound|8080|v1|api.default.svc.cluster.local",
            "cluster.upstream_rq_total",
        ),
        ("cluster.inbound|8080||.upstream_cx_total", "envoy.cluster_name", "inbound|8080||", None),
        (
            "http.outbound_10.0.0.1_8080.downstream_rq_total",
            "envoy.http_conn_manager_prefix",
            "outbound_10.0.0.1_8080",
            "http.downstream_rq_total",
        ),
        (
            "listener.10.0.0.1_8080.http.inbound_10.0.0.1_8080.downstream_rq_2xx",
            "envoy.listener_address",
            "10.0.0.1_8080",
            None,
        ),
        ("tcp.inbound_10.0.0.1_9000.cx_total", "envoy.tcp_prefix", "inbound_10.0.0.1_9000", None),
        (
            "local_rate_limit_x.http_local_rate_limit.rate_limited",
            "envoy.local_http_ratelimit_prefix",
            "local_rate_limit_x",
            "http_local_rate_limit.rate_limited",
        ),
    ],
)
def test_stats_tags_keep_mesh_names_whole(
    stat: str, tag: str, value: str, rest: str | None
) -> None:
    """Python's `re` agrees with Envoy's regex engines on these patterns: group 2 is the
    tag's value, group 1 what is cut from the name."""
    patterns = dict(stats_tags("svc.cluster.local"))
    found = re.search(patterns[tag], stat)
    assert found is not None and found.group(2) == value
    if rest is not None:
        assert stat[: found.start(1)] + stat[found.end(1) :] == rest
    assert {t["tag_name"] for t in stats_config()["stats_tags"]} == set(patterns)
