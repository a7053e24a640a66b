"""Traffic-management pieces of networking.istio.io: what a VirtualService rule does
besides choosing a destination (redirects, rewrites, retries, faults, mirrors, CORS,
header edits), its L4 (tcp) and SNI (tls) routes, and a DestinationRule's load
balancer, connection pool and outlier detection.

Field names and defaults follow Istio's API (istio/api networking/v1alpha3
virtual_service.proto, destination_rule.proto). As everywhere in the model, a field
xdscp does not translate is rejected at load time (extra="forbid"), never ignored.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from translators.model.base import (
    IstioModel,
    PortSelector,
    StringMatch,
    check_re2,
    mesh_gateways_only,
)

# --- durations and percentages -----------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: object) -> object:
    """Istio writes durations as Go does (`1h`, `1m30s`, `300ms`, `0.5s`): seconds as a
    float. Anything else (a bare number, `5 seconds`) is an error, not a guess."""
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"{value!r}: a duration needs a unit, e.g. '{value}s'")
        return value
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r}: not a duration (e.g. 1h, 1m30s, 300ms, 0.5s)")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


# In YAML (and so in the CRD schema the API server checks) a duration is a string.
_DURATION_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": r"^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+$"}
)
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0), _DURATION_SCHEMA]
# Istio requires >= 1ms where a zero duration would mean "never" or be rejected by Envoy.
PositiveDuration = Annotated[
    float, BeforeValidator(parse_duration), Field(ge=0.001), _DURATION_SCHEMA
]


class HeaderStringMatch(StringMatch):
    """A header or query parameter match: `regex: "*"` (not a valid RE2 regex) means "is
    present", as in Istio (pilot's canBeConvertedToPresentMatch)."""

    @field_validator("regex")
    @classmethod
    def _re2(cls, value: str | None) -> str | None:
        return value if value is None or value == "*" else check_re2(value)


class Percent(IstioModel):
    value: float = Field(ge=0, le=100)


# --- VirtualService: HTTP -------------------------------------------------------


class Destination(IstioModel):
    host: str = Field(min_length=1)
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(IstioModel):
    """Header edits; `host`/`:authority` in `set`/`add` rewrites the authority (Istio)."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None

    @model_validator(mode="after")
    def _names(self) -> Headers:
        """Istio's rules: pseudo-headers and `host` cannot be edited, except that a request
        may set/add `host` or `:authority` (an authority rewrite)."""
        for where, ops in (("request", self.request), ("response", self.response)):
            if ops is None:
                continue
            for verb, names in (
                ("set", list(ops.set)),
                ("add", list(ops.add)),
                ("remove", ops.remove),
            ):
                for name in names:
                    internal = name.startswith(":") or name.lower() == "host"
                    authority = name.lower() in ("host", ":authority")
                    if not name or (
                        internal and not (authority and where == "request" and verb != "remove")
                    ):
                        raise ValueError(f"{where}.{verb}: {name!r} cannot be edited")
        return self


class RedirectPortSelection(StrEnum):
    FROM_PROTOCOL_DEFAULT = "FROM_PROTOCOL_DEFAULT"
    FROM_REQUEST_PORT = "FROM_REQUEST_PORT"


REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class HTTPRedirect(IstioModel):
    uri: str = ""
    authority: str = ""
    port: int | None = Field(default=None, ge=1, le=65535)
    derive_port: RedirectPortSelection | None = None
    scheme: str = ""
    redirect_code: int = 301
    prefix_rewrite: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> HTTPRedirect:
        if self.uri and self.prefix_rewrite:
            raise ValueError("uri and prefixRewrite are mutually exclusive")
        if self.port is not None and self.derive_port is not None:
            raise ValueError("port and derivePort are mutually exclusive")
        if self.redirect_code not in REDIRECT_CODES:
            raise ValueError(
                f"redirectCode: {self.redirect_code} is not one of "
                f"{', '.join(map(str, sorted(REDIRECT_CODES)))}"
            )
        return self


class HTTPBody(IstioModel):
    string: str | None = None
    bytes: str | None = None  # base64, as in Istio's YAML

    @model_validator(mode="after")
    def _one(self) -> HTTPBody:
        if (self.string is None) == (self.bytes is None):
            raise ValueError("set exactly one of string, bytes")
        return self


class HTTPDirectResponse(IstioModel):
    status: int = Field(ge=200, le=599)
    body: HTTPBody | None = None


class RegexRewrite(IstioModel):
    match: str = Field(min_length=1)
    rewrite: str

    @field_validator("match")
    @classmethod
    def _re2(cls, value: str) -> str:
        return check_re2(value)


class HTTPRewrite(IstioModel):
    uri: str = ""
    authority: str = ""
    uri_regex_rewrite: RegexRewrite | None = None

    @model_validator(mode="after")
    def _one_uri(self) -> HTTPRewrite:
        if self.uri and self.uri_regex_rewrite is not None:
            raise ValueError("uri and uriRegexRewrite are mutually exclusive")
        return self


class HTTPRetry(IstioModel):
    attempts: int = Field(default=0, ge=0)
    per_try_timeout: PositiveDuration | None = None
    retry_on: str = ""
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: PositiveDuration | None = None


class FaultDelay(IstioModel):
    fixed_delay: PositiveDuration
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)  # deprecated integer form


class FaultAbort(IstioModel):
    http_status: int | None = Field(default=None, ge=200, le=599)
    grpc_status: str | None = None
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _one(self) -> FaultAbort:
        if (self.http_status is None) == (self.grpc_status is None):
            raise ValueError("set exactly one of httpStatus, grpcStatus")
        if self.grpc_status is not None and self.grpc_status not in GRPC_STATUS:
            raise ValueError(f"grpcStatus: {self.grpc_status!r} is not a gRPC status name")
        return self


# gRPC status names (github.com/grpc/grpc doc/statuscodes.md) -> codes
GRPC_STATUS = {
    name: code
    for code, name in enumerate(
        [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ]
    )
}


class HTTPFaultInjection(IstioModel):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None

    @model_validator(mode="after")
    def _some(self) -> HTTPFaultInjection:
        if self.delay is None and self.abort is None:
            raise ValueError("a fault needs delay, abort or both")
        return self


class UnmatchedPreflights(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    FORWARD = "FORWARD"
    IGNORE = "IGNORE"


class CorsPolicy(IstioModel):
    allow_origins: list[StringMatch] = Field(default_factory=list)
    allow_origin: list[str] = Field(default_factory=list)  # deprecated: exact origins
    allow_methods: list[str] = Field(default_factory=list)
    allow_headers: list[str] = Field(default_factory=list)
    expose_headers: list[str] = Field(default_factory=list)
    max_age: Duration | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: UnmatchedPreflights = UnmatchedPreflights.UNSPECIFIED


class SourceMatch(IstioModel):
    """What a match block may ask of the caller (the proxy the config is for): its labels,
    its namespace, and the gateway it is (only `mesh`: xdscp has no gateways)."""

    source_labels: dict[str, str] = Field(default_factory=dict)
    source_namespace: str = ""
    gateways: list[str] = Field(default_factory=list)

    @field_validator("gateways")
    @classmethod
    def _mesh_only(cls, gateways: list[str]) -> list[str]:
        return mesh_gateways_only(gateways)


# --- VirtualService: TCP and TLS ------------------------------------------------


class RouteDestination(IstioModel):
    destination: Destination
    weight: int = Field(default=0, ge=0)


class L4MatchAttributes(SourceMatch):
    port: int | None = Field(default=None, ge=1, le=65535)


class TLSMatchAttributes(SourceMatch):
    sni_hosts: list[str] = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)


def _l4_weights(route: list[RouteDestination]) -> list[RouteDestination]:
    if len(route) > 1 and sum(d.weight for d in route) == 0:
        raise ValueError("several destinations need weights (all are 0)")
    return route


class TCPRoute(IstioModel):
    match: list[L4MatchAttributes] = Field(default_factory=list)
    route: list[RouteDestination] = Field(min_length=1)

    @field_validator("route")
    @classmethod
    def _weights(cls, route: list[RouteDestination]) -> list[RouteDestination]:
        return _l4_weights(route)


class TLSRoute(IstioModel):
    match: list[TLSMatchAttributes] = Field(min_length=1)
    route: list[RouteDestination] = Field(min_length=1)

    @field_validator("route")
    @classmethod
    def _weights(cls, route: list[RouteDestination]) -> list[RouteDestination]:
        return _l4_weights(route)


class HTTPMirrorPolicy(IstioModel):
    destination: Destination
    percentage: Percent | None = None


# --- DestinationRule: load balancer, connection pool, outlier detection ----------


class HTTPCookie(IstioModel):
    name: str = Field(min_length=1)
    path: str = ""
    ttl: Duration | None = None


class RingHash(IstioModel):
    minimum_ring_size: int = Field(default=0, ge=0)


class MagLev(IstioModel):
    table_size: int = Field(default=0, ge=0)


class ConsistentHashLB(IstioModel):
    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: int = Field(default=0, ge=0)  # deprecated: ringHash.minimumRingSize

    @model_validator(mode="after")
    def _one_key(self) -> ConsistentHashLB:
        keys = [
            k
            for k in (
                "http_header_name",
                "http_cookie",
                "use_source_ip",
                "http_query_parameter_name",
            )
            if getattr(self, k) not in (None, False)
        ]
        if len(keys) != 1:
            raise ValueError(
                "set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName"
            )
        if self.ring_hash is not None and self.maglev is not None:
            raise ValueError("ringHash and maglev are mutually exclusive")
        return self


class TcpKeepalive(IstioModel):
    probes: int | None = Field(default=None, ge=1)
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(IstioModel):
    max_connections: int = Field(default=0, ge=0)
    connect_timeout: PositiveDuration | None = None
    tcp_keepalive: TcpKeepalive | None = None
    max_connection_duration: PositiveDuration | None = None
    idle_timeout: Duration | None = None


class H2UpgradePolicy(StrEnum):
    DEFAULT = "DEFAULT"
    DO_NOT_UPGRADE = "DO_NOT_UPGRADE"
    UPGRADE = "UPGRADE"


class HTTPSettings(IstioModel):
    http1_max_pending_requests: int = Field(default=0, ge=0)
    http2_max_requests: int = Field(default=0, ge=0)
    max_requests_per_connection: int = Field(default=0, ge=0)
    max_retries: int = Field(default=0, ge=0)
    idle_timeout: Duration | None = None
    h2_upgrade_policy: H2UpgradePolicy = H2UpgradePolicy.DEFAULT
    use_client_protocol: bool = False
    max_concurrent_streams: int = Field(default=0, ge=0)


class ConnectionPoolSettings(IstioModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(IstioModel):
    consecutive_errors: int | None = Field(default=None, ge=0)  # deprecated
    consecutive_5xx_errors: int | None = Field(default=None, ge=0, alias="consecutive5xxErrors")
    consecutive_gateway_errors: int | None = Field(default=None, ge=0)
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failures: int | None = Field(default=None, ge=0)
    interval: PositiveDuration | None = None
    base_ejection_time: PositiveDuration | None = None
    max_ejection_percent: int = Field(default=0, ge=0, le=100)
    min_health_percent: int = Field(default=0, ge=0, le=100)
