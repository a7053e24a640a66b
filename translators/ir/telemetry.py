"""What one listener's telemetry is, in mesh terms (no protobuf): part of `ListenerIR`,
so it shows in IR golden files and keys the listener memo."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translators.telemetry.options import TracingProvider


@dataclass(frozen=True, slots=True)
class AccessLogIR:
    path: str
    filter: str = ""  # CEL expression; only matching requests are logged


class CustomTagKind(StrEnum):
    LITERAL = "literal"
    ENVIRONMENT = "environment"
    HEADER = "header"
    FORMATTER = "formatter"  # an Envoy substitution format string (`%REQ(x-id)%`)


@dataclass(frozen=True, slots=True)
class CustomTagIR:
    tag: str
    kind: CustomTagKind
    value: str  # the literal, the environment variable / header name, or the format
    default: str = ""


@dataclass(frozen=True, slots=True)
class TracingIR:
    provider: TracingProvider
    collector: str  # the collector's destination name
    service_name: str  # how the workload appears in traces (OpenTelemetry; Zipkin: "")
    sampling: float  # percent
    custom_tags: tuple[CustomTagIR, ...] = ()
    use_request_id_for_sampling: bool = True


@dataclass(frozen=True, slots=True)
class TelemetryIR:
    access_log: AccessLogIR | None = None
    tracing: TracingIR | None = None
    provenance: tuple[str, ...] = ()  # the Telemetry objects that decided it
