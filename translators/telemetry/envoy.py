"""TelemetryIR -> the access log, tracing and request-ID pieces of an HTTP connection
manager (and a tcp_proxy's access log), plus the span collector's cluster.

The pieces depend only on the IR, which is the same for most listeners of a mesh:
they are built once (lru_cache) and copied into each listener, so telemetry adds
a copy, not a build, per proxy.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import http_uri_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.trace.v3 import http_tracer_pb2, opentelemetry_pb2, zipkin_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.filters.cel.v3 import cel_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.request_id.uuid.v3 import uuid_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.tracing.v3 import custom_tag_pb2
from google.protobuf import struct_pb2

from translators.envoy.common import duration, pack, socket_address
from translators.ir.telemetry import AccessLogIR, CustomTagKind, TelemetryIR, TracingIR
from translators.model.checks import is_ip
from translators.telemetry.options import TracingKind, TracingProvider

FILE_ACCESS_LOG = "envoy.access_loggers.file"
CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
ZIPKIN_TRACER = "envoy.tracers.zipkin"
OPENTELEMETRY_TRACER = "envoy.tracers.opentelemetry"
UUID_REQUEST_ID = "envoy.request_id.uuid"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

# One JSON object per request. Keys follow Istio's default JSON access log format, plus
# the peers' SPIFFE IDs (who called an inbound port, who answered an outbound call) and
# the trace ID, so a log line leads to its trace.
ACCESS_LOG_FIELDS: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "authority": "%REQ(:AUTHORITY)%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%TRACE_ID%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "upstream_peer_identity": "%UPSTREAM_PEER_URI_SAN%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "downstream_peer_identity": "%DOWNSTREAM_PEER_URI_SAN%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "route_name": "%ROUTE_NAME%",
}


@lru_cache(maxsize=256)
def access_log(ir: AccessLogIR) -> accesslog_pb2.AccessLog:
    fields = struct_pb2.Struct()
    fields.update(ACCESS_LOG_FIELDS)
    logger = file_pb2.FileAccessLog(path=ir.path)
    logger.log_format.json_format.CopyFrom(fields)
    built = accesslog_pb2.AccessLog(name=FILE_ACCESS_LOG, typed_config=pack(logger))
    if ir.filter:
        built.filter.extension_filter.name = CEL_FILTER
        built.filter.extension_filter.typed_config.CopyFrom(
            pack(cel_pb2.ExpressionFilter(expression=ir.filter))
        )
    return built


def _custom_tag(
    tag: str, kind: CustomTagKind, value: str, default: str
) -> custom_tag_pb2.CustomTag:
    built = custom_tag_pb2.CustomTag(tag=tag)
    if kind is CustomTagKind.LITERAL:
        built.literal.value = value
    elif kind is CustomTagKind.ENVIRONMENT:
        built.environment.name = value
        built.environment.default_value = default
    elif kind is CustomTagKind.FORMATTER:
        built.value = value  # Istio's buildCustomTagsFromProvider: CustomTag.value
    else:
        built.request_header.name = value
        built.request_header.default_value = default
    return built


def _provider(ir: TracingIR) -> http_tracer_pb2.Tracing.Http:
    provider = ir.provider
    if provider.kind is TracingKind.ZIPKIN:
        zipkin = zipkin_pb2.ZipkinConfig(
            collector_cluster=ir.collector,
            collector_endpoint=provider.span_path,
            collector_endpoint_version=zipkin_pb2.ZipkinConfig.HTTP_JSON,
            collector_hostname=provider.host,
            trace_id_128bit=True,
            # B3 headers for Zipkin-era apps and W3C traceparent for the rest.
            trace_context_option=zipkin_pb2.ZipkinConfig.USE_B3_WITH_W3C_PROPAGATION,
        )
        return http_tracer_pb2.Tracing.Http(name=ZIPKIN_TRACER, typed_config=pack(zipkin))
    otel = opentelemetry_pb2.OpenTelemetryConfig(service_name=ir.service_name)
    if provider.grpc:
        otel.grpc_service.envoy_grpc.cluster_name = ir.collector
        otel.grpc_service.timeout.CopyFrom(duration(1.0))
    else:
        otel.http_service.http_uri.CopyFrom(
            http_uri_pb2.HttpUri(
                uri=f"http://{provider.host}:{provider.port}{provider.span_path}",
                cluster=ir.collector,
                timeout=duration(1.0),
            )
        )
    return http_tracer_pb2.Tracing.Http(name=OPENTELEMETRY_TRACER, typed_config=pack(otel))


@lru_cache(maxsize=256)
def http_tracing(ir: TracingIR) -> hcm.HttpConnectionManager.Tracing:
    tracing = hcm.HttpConnectionManager.Tracing(provider=_provider(ir))
    tracing.random_sampling.value = ir.sampling
    tracing.custom_tags.extend(
        _custom_tag(t.tag, t.kind, t.value, t.default) for t in ir.custom_tags
    )
    return tracing


@lru_cache(maxsize=4)
def _request_id(use_for_sampling: bool) -> hcm.RequestIDExtension:
    config = uuid_pb2.UuidRequestIdConfig(
        pack_trace_reason={"value": True},
        use_request_id_for_trace_sampling={"value": use_for_sampling},
    )
    return hcm.RequestIDExtension(typed_config=pack(config))


def apply_http(manager: hcm.HttpConnectionManager, ir: TelemetryIR) -> None:
    """Add access logging and tracing to an HCM. Envoy generates an `x-request-id` when a
    request has none and keeps the caller's otherwise (sidecar traffic is internal), so
    one ID follows a request through every hop and its access log lines."""
    if ir.access_log is not None:
        manager.access_log.append(access_log(ir.access_log))
    if ir.tracing is not None:
        manager.tracing.CopyFrom(http_tracing(ir.tracing))
        manager.request_id_extension.CopyFrom(_request_id(ir.tracing.use_request_id_for_sampling))


def apply_tcp(proxy: tcp_proxy_pb2.TcpProxy, ir: TelemetryIR) -> None:
    """Opaque TCP has no requests: one line per connection (HTTP fields are null)."""
    if ir.access_log is not None:
        proxy.access_log.append(access_log(ir.access_log))


@lru_cache(maxsize=64)
def collector_cluster(name: str, provider: TracingProvider) -> cluster_pb2.Cluster:
    """Where spans go: the collector's address as a STATIC (IP) or STRICT_DNS cluster,
    HTTP/2 for OTLP/gRPC."""
    lb = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(
            address=socket_address(provider.host, provider.port)
        )
    )
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC if is_ip(provider.host) else cluster_pb2.Cluster.STRICT_DNS,
        connect_timeout=duration(1.0),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[lb])],
        ),
    )
    if provider.grpc:
        options = http_protocol_options_pb2.HttpProtocolOptions(
            explicit_http_config=http_protocol_options_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
            )
        )
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))
    return cluster
