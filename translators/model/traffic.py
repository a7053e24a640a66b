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
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator, model_validator

from translators.model.base import (
    IstioModel,
    PortSelector,
    StringMatch,
    applies_to_mesh,
    check_gateway_names,
    check_re2,
)
from translators.model.checks import (
    UINT32_MAX,
    FieldValueError,
    IntPercent,
    NonNegativeInt32,
    PortNumber,
    PositiveUInt32,
    UInt32,
    check_header_name,
    check_header_value,
    check_host,
    check_ip_or_cidr,
    check_no_control,
    is_dns1123_label,
)

# --- durations and percentages -----------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NANOS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
# Envoy refuses a duration whose nanoseconds do not fit an int64 (~292 years; measured on
# Envoy 1.40: 9223372035s accepted, 9223372036s refused), well below protobuf's 10,000 years.
MAX_DURATION_SECONDS = 9_223_372_035


def parse_duration(value: object) -> object:
    """Istio writes durations as Go does (`1h`, `1m30s`, `300ms`, `0.5s`): seconds as a
    float. Anything else (a bare number, `5 seconds`) is an error, not a guess. As in
    Istio, durations have millisecond precision (`1.5ms` is refused, not rounded)."""
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"{value!r}: a duration needs a unit, e.g. '{value}s'")
        return value
    text = value.strip()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r}: not a duration (e.g. 1h, 1m30s, 300ms, 0.5s)")
    nanos = sum(Decimal(number) * _UNIT_NANOS[unit] for number, unit in parts)
    if nanos % 1_000_000:
        raise ValueError(f"{value!r}: durations have millisecond precision at most")
    if nanos > MAX_DURATION_SECONDS * 1_000_000_000:
        raise ValueError(f"{value!r}: longer than {MAX_DURATION_SECONDS}s (about 292 years)")
    return int(nanos // 1_000_000) / 1000


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
    present", as in Istio (pilot's canBeConvertedToPresentMatch) — and so does an empty
    match, `x-user: {}` (Istio's idiom for presence), read here as `regex: "*"`."""

    @model_validator(mode="before")
    @classmethod
    def _presence(cls, value: object) -> object:
        return {"regex": "*"} if value == {} else value

    @field_validator("regex")
    @classmethod
    def _re2(cls, value: str | None) -> str | None:
        if value == "":
            raise ValueError("regex string match should not be empty")
        return value if value is None or value == "*" else check_re2(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        # Istio: only a uri match may have an empty prefix
        if value == "":
            raise ValueError("prefix string match should not be empty")
        return value


class Percent(IstioModel):
    value: float = Field(ge=0, le=100)

    @field_validator("value")
    @classmethod
    def _resolution(cls, value: float) -> float:
        # Istio: 0, or 0.0001..100 (what Envoy's fractional percent can express)
        if 0 < value < 0.0001:
            raise ValueError(f"{value}: neither 0 nor in 0.0001..100")
        return value


# --- VirtualService: HTTP -------------------------------------------------------


class Destination(IstioModel):
    host: str = Field(min_length=1)
    subset: str | None = None
    port: PortSelector | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        return check_host(host, allow_star=False)


class HeaderOperations(IstioModel):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)

    @field_validator("set", "add")
    @classmethod
    def _values(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            check_no_control(name, "header name")
            try:
                check_header_value(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return headers

    @field_validator("remove")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return [check_no_control(name, "header name") for name in names]


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
    port: PortNumber | None = None
    derive_port: RedirectPortSelection | None = None
    scheme: str = ""
    redirect_code: int = 301
    prefix_rewrite: str = ""

    @field_validator("redirect_code", mode="before")
    @classmethod
    def _default_code(cls, value: object) -> object:
        # Istio: 0 (the protobuf default) means 301
        return 301 if value == 0 and not isinstance(value, bool) else value

    @field_validator("uri", "authority", "prefix_rewrite", "scheme")
    @classmethod
    def _text(cls, value: str) -> str:
        return check_no_control(value, "value")

    @model_validator(mode="after")
    def _consistent(self) -> HTTPRedirect:
        if self.uri and self.prefix_rewrite:
            raise ValueError("uri and prefixRewrite are mutually exclusive")
        if self.port is not None and self.derive_port is not None:
            raise ValueError("port and derivePort are mutually exclusive")
        if not (self.uri or self.prefix_rewrite or self.authority or self.scheme) and (
            self.port is None and self.derive_port is None
        ):
            raise ValueError("redirect must specify uri, authority, scheme or port")
        if self.scheme not in ("", "http", "https"):
            raise ValueError(f"scheme: {self.scheme!r} is not http or https")
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

    @field_validator("uri", "authority")
    @classmethod
    def _text(cls, value: str) -> str:
        return check_no_control(value, "value")

    @model_validator(mode="after")
    def _one_uri(self) -> HTTPRewrite:
        if self.uri and self.uri_regex_rewrite is not None:
            raise ValueError("uri and uriRegexRewrite are mutually exclusive")
        if not (self.uri or self.authority or self.uri_regex_rewrite is not None):
            raise ValueError("rewrite must specify uri, uriRegexRewrite or authority")
        return self


class HTTPRetry(IstioModel):
    attempts: NonNegativeInt32 = 0
    per_try_timeout: PositiveDuration | None = None
    retry_on: str = ""
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: PositiveDuration | None = None

    @model_validator(mode="after")
    def _enabled(self) -> HTTPRetry:
        if self.attempts == 0 and (
            self.per_try_timeout is not None
            or self.retry_on
            or self.retry_remote_localities is not None
        ):
            raise ValueError("a retry policy is configured while attempts is 0 (disabled)")
        return self

    @field_validator("retry_on")
    @classmethod
    def _retry_on(cls, value: str) -> str:
        for policy in value.split(",") if value else []:
            if policy not in RETRY_ON and not (policy.isdigit() and 100 <= int(policy) <= 599):
                raise ValueError(f"{policy!r} is not a retryOn policy or HTTP status code")
        return value


# What Envoy's router can retry on (x-envoy-retry-on and x-envoy-retry-grpc-on), as Istio
# lists them; an HTTP status code is also allowed.
RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)


class FaultDelay(IstioModel):
    """`fixedDelay` (Istio also has `exponentialDelay`, which its own validation refuses
    as not supported yet); `percentage`, or the deprecated integer `percent`."""

    fixed_delay: PositiveDuration | None = None
    exponential_delay: Duration | None = None
    percentage: Percent | None = None
    percent: IntPercent | None = None  # deprecated integer form

    @model_validator(mode="after")
    def _one_delay(self) -> FaultDelay:
        # Istio: without a delay type nothing is delayed (accepted, as there)
        if self.exponential_delay is not None:
            raise ValueError("exponentialDelay is not supported (Istio refuses it too)")
        return self


class FaultAbort(IstioModel):
    http_status: int | None = Field(default=None, ge=200, le=599)
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _one(self) -> FaultAbort:
        if self.http2_error is not None:
            raise ValueError("http2Error is not supported (Istio refuses it too)")
        # Istio only warns about an abort without an error type (it aborts nothing)
        if self.http_status is not None and self.grpc_status is not None:
            raise ValueError("set one of httpStatus, grpcStatus")
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

    @field_validator("allow_headers", "expose_headers")
    @classmethod
    def _header_names(cls, names: list[str]) -> list[str]:
        return [name if name == "*" else check_header_name(name) for name in names]

    @field_validator("allow_methods")
    @classmethod
    def _methods(cls, methods: list[str]) -> list[str]:
        for method in methods:
            if method not in CORS_METHODS:
                raise ValueError(f"{method!r} is not a supported HTTP method")
        return methods

    @field_validator("allow_origins")
    @classmethod
    def _origins(cls, origins: list[StringMatch]) -> list[StringMatch]:
        for origin in origins:
            if not (origin.exact or origin.prefix or origin.regex):
                raise ValueError("an empty string is not a valid CORS allow origin")
        return origins


CORS_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"}
)


class SourceMatch(IstioModel):
    """What a match block may ask of the caller (the proxy the config is for): its labels,
    its namespace, and the gateway it is. A sidecar is the `mesh` gateway: a block whose
    `gateways` leave it out never matches on a sidecar (`for_mesh`)."""

    source_labels: dict[str, str] = Field(default_factory=dict)
    source_namespace: str = ""
    gateways: list[str] = Field(default_factory=list)

    @field_validator("gateways")
    @classmethod
    def _gateway_names(cls, gateways: list[str]) -> list[str]:
        return check_gateway_names(gateways)

    @field_validator("source_namespace")
    @classmethod
    def _namespace(cls, namespace: str) -> str:
        if namespace and not is_dns1123_label(namespace):
            raise ValueError(f"{namespace!r} is not a namespace name")
        return namespace

    @property
    def for_mesh(self) -> bool:
        return applies_to_mesh(self.gateways)


# --- VirtualService: TCP and TLS ------------------------------------------------


class RouteDestination(IstioModel):
    destination: Destination
    weight: NonNegativeInt32 = 0


class L4MatchAttributes(SourceMatch):
    port: PortNumber | None = None
    destination_subnets: list[str] = Field(default_factory=list)
    source_subnet: str = ""

    @field_validator("destination_subnets")
    @classmethod
    def _subnets(cls, subnets: list[str]) -> list[str]:
        return [check_ip_or_cidr(s) for s in subnets]

    @field_validator("source_subnet")
    @classmethod
    def _subnet(cls, subnet: str) -> str:
        return check_ip_or_cidr(subnet) if subnet else subnet


class TLSMatchAttributes(SourceMatch):
    sni_hosts: list[str] = Field(min_length=1)
    port: PortNumber | None = None
    destination_subnets: list[str] = Field(default_factory=list)

    @field_validator("destination_subnets")
    @classmethod
    def _subnets(cls, subnets: list[str]) -> list[str]:
        return [check_ip_or_cidr(s) for s in subnets]

    @field_validator("sni_hosts")
    @classmethod
    def _sni(cls, hosts: list[str]) -> list[str]:
        return [check_sni_host(h) for h in hosts]


def _l4_weights(route: list[RouteDestination]) -> list[RouteDestination]:
    if len(route) > 1 and sum(d.weight for d in route) == 0:
        raise ValueError("several destinations need weights (all are 0)")
    check_weight_sum(d.weight for d in route)
    return route


def check_weight_sum(weights: Iterable[int]) -> None:
    """Envoy refuses weighted clusters whose weights add up to more than 2^32-1."""
    total = sum(weights)
    if total > UINT32_MAX:
        raise FieldValueError("route", f"weights add up to {total}, more than {UINT32_MAX}")


_AUTO_SNI = re.compile(r"outbound_\.[0-9][^_]*_\.[^_]*_\.[a-zA-Z].*")


def is_auto_sni(host: str) -> bool:
    """Istio's generated SNI names, `outbound_.<port>_.<subset>_.<host>` (AUTO_PASSTHROUGH),
    which only a VirtualService bound to a gateway may match (checked there)."""
    return _AUTO_SNI.fullmatch(host) is not None


def check_sni_host(host: str) -> str:
    """A TLS match's SNI name (Istio: a wildcard domain, or an IP address)."""
    if is_auto_sni(host):
        return host
    return check_host(host, allow_star=True, allow_ip=True)


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

# Envoy's limits: a ring of at most 8M entries; a Maglev table below 5,000,011, prime.
MAX_RING_SIZE = 8_388_608
MAGLEV_TABLE_LIMIT = 5_000_011


def _is_prime(n: int) -> bool:
    if n < 4:
        return n > 1
    if n % 2 == 0:
        return False
    return all(n % f for f in range(3, int(n**0.5) + 1, 2))


class CookieAttribute(IstioModel):
    name: str = Field(min_length=1)
    value: str = ""


class HTTPCookie(IstioModel):
    name: str = Field(min_length=1)
    path: str = ""
    ttl: Duration | None = None
    attributes: list[CookieAttribute] = Field(default_factory=list)

    @field_validator("attributes")
    @classmethod
    def _unique(cls, attributes: list[CookieAttribute]) -> list[CookieAttribute]:
        names = [a.name for a in attributes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate cookie attribute name(s): {', '.join(dupes)}")
        return attributes


class RingHash(IstioModel):
    minimum_ring_size: int = Field(default=0, ge=0, le=MAX_RING_SIZE)


class MagLev(IstioModel):
    table_size: int = Field(default=0, ge=0, le=MAGLEV_TABLE_LIMIT - 1)

    @field_validator("table_size")
    @classmethod
    def _prime(cls, size: int) -> int:
        # Envoy refuses a Maglev table whose size is not prime (Istio checks the same)
        if size and not _is_prime(size):
            raise ValueError(f"{size} is not a prime number")
        return size


class ConsistentHashLB(IstioModel):
    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    # deprecated: ringHash.minimumRingSize
    minimum_ring_size: int = Field(default=0, ge=0, le=MAX_RING_SIZE)

    @field_validator("http_header_name")
    @classmethod
    def _header(cls, name: str | None) -> str | None:
        return None if name is None else check_header_name(name)

    @field_validator("http_query_parameter_name")
    @classmethod
    def _query(cls, name: str | None) -> str | None:
        if name is not None and not name:
            raise ValueError("empty query parameter name")
        return name

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
    probes: PositiveUInt32 | None = None
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(IstioModel):
    max_connections: NonNegativeInt32 = 0
    connect_timeout: PositiveDuration | None = None
    tcp_keepalive: TcpKeepalive | None = None
    max_connection_duration: PositiveDuration | None = None
    idle_timeout: Duration | None = None


class H2UpgradePolicy(StrEnum):
    DEFAULT = "DEFAULT"
    DO_NOT_UPGRADE = "DO_NOT_UPGRADE"
    UPGRADE = "UPGRADE"


class HTTP2KeepAlive(IstioModel):
    """HTTP/2 PING keepalive on upstream connections (Istio requires both durations)."""

    interval: PositiveDuration
    timeout: PositiveDuration


class HTTPSettings(IstioModel):
    http1_max_pending_requests: NonNegativeInt32 = 0
    http2_max_requests: NonNegativeInt32 = 0
    max_requests_per_connection: NonNegativeInt32 = 0
    max_retries: NonNegativeInt32 = 0
    idle_timeout: Duration | None = None
    h2_upgrade_policy: H2UpgradePolicy = H2UpgradePolicy.DEFAULT
    use_client_protocol: bool = False
    max_concurrent_streams: NonNegativeInt32 = 0
    http2_keep_alive: HTTP2KeepAlive | None = None

    @model_validator(mode="after")
    def _upgrade(self) -> HTTPSettings:
        if self.h2_upgrade_policy is H2UpgradePolicy.UPGRADE and self.use_client_protocol:
            raise ValueError("useClientProtocol must not be true when h2UpgradePolicy is UPGRADE")
        return self


class ConnectionPoolSettings(IstioModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None

    @property
    def empty(self) -> bool:
        """Istio refuses a connection pool with neither field (checked where it is used:
        the translator builds an empty one as the default)."""
        return self.tcp is None and self.http is None


def check_pool(pool: ConnectionPoolSettings | None, field: str = "connectionPool") -> None:
    if pool is not None and pool.empty:
        raise FieldValueError(field, "connection pool must have at least one field")


class OutlierDetection(IstioModel):
    consecutive_errors: NonNegativeInt32 | None = None  # deprecated
    consecutive_5xx_errors: UInt32 | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_gateway_errors: UInt32 | None = None
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failures: UInt32 | None = None
    interval: PositiveDuration | None = None
    base_ejection_time: PositiveDuration | None = None
    max_ejection_percent: IntPercent = 0
    min_health_percent: IntPercent = 0
    outlier_detection_http_error_codes: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _local_origin(self) -> OutlierDetection:
        if self.consecutive_local_origin_failures and not self.split_external_local_origin_errors:
            raise ValueError(
                "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true"
            )
        return self
