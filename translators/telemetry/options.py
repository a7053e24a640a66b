"""Mesh-wide telemetry settings: what an operator configures once (Istio's MeshConfig
`accessLogFile`, `extensionProviders`, `defaultConfig.tracing.sampling`).

Plain frozen dataclasses, so they sit in `MeshOptions`, hash into translation memos
and never make the translators read the environment. `Telemetry` objects then turn
these on or off, or tune them, per namespace and workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Istio's name for the built-in access log provider (Envoy's file logger); Telemetry
# objects that say `providers: [{name: envoy}]` mean this one.
ACCESS_LOG_PROVIDER = "envoy"
STDOUT = "/dev/stdout"


class TracingKind(StrEnum):
    ZIPKIN = "zipkin"  # Zipkin v2 JSON over HTTP (Jaeger accepts it too)
    OPENTELEMETRY = "opentelemetry"  # OTLP, over HTTP (protobuf) or gRPC


# Where each kind's collector listens for spans unless told otherwise.
DEFAULT_PATHS = {TracingKind.ZIPKIN: "/api/v2/spans", TracingKind.OPENTELEMETRY: "/v1/traces"}


@dataclass(frozen=True, slots=True)
class TracingProvider:
    """A span collector reachable at `host:port` (an IP or a DNS name)."""

    kind: TracingKind
    host: str
    port: int
    # What Telemetry objects call it (`tracing[].providers[].name`).
    name: str = ""
    path: str = ""  # HTTP path spans are POSTed to; default per kind
    grpc: bool = False  # OpenTelemetry only: OTLP/gRPC instead of OTLP/HTTP

    @property
    def provider_name(self) -> str:
        return self.name or self.kind.value

    @property
    def span_path(self) -> str:
        return self.path or DEFAULT_PATHS[self.kind]

    @classmethod
    def parse(cls, text: str) -> TracingProvider:
        """`zipkin=HOST:PORT`, `otel=HOST:PORT[/path]` or `otel-grpc=HOST:PORT` (CLI form)."""
        kind_text, sep, rest = text.partition("=")
        if not sep:
            raise ValueError(f"{text!r}: expected KIND=HOST:PORT (kind: zipkin, otel, otel-grpc)")
        kinds = {
            "zipkin": (TracingKind.ZIPKIN, False),
            "otel": (TracingKind.OPENTELEMETRY, False),
            "opentelemetry": (TracingKind.OPENTELEMETRY, False),
            "otel-grpc": (TracingKind.OPENTELEMETRY, True),
        }
        if kind_text not in kinds:
            raise ValueError(f"{kind_text!r}: unknown tracing kind (zipkin, otel, otel-grpc)")
        kind, grpc = kinds[kind_text]
        address, slash, path = rest.partition("/")
        host, colon, port = address.rpartition(":")
        if not colon or not port.isdigit() or not host:
            raise ValueError(f"{rest!r}: expected HOST:PORT")
        return cls(kind, host.strip("[]"), int(port), path=f"/{path}" if slash else "", grpc=grpc)


@dataclass(frozen=True, slots=True)
class TelemetryOptions:
    """Defaults for every sidecar. The library default is all off (like Istio's default
    profile), so translating a mesh yields no telemetry unless asked; `xdscp serve` and
    `xdscp up` turn access logs on (to stdout) by default."""

    # Where sidecars write JSON access log lines; "" = off unless a Telemetry object
    # enables them (they then go to stdout).
    access_log_path: str = ""
    tracing: TracingProvider | None = None
    # Percentage of requests traced when a trace starts at a sidecar (Istio's 1% default).
    sampling: float = 1.0

    def provider(self, name: str) -> TracingProvider | None:
        found = self.tracing
        return found if found is not None and found.provider_name == name else None
