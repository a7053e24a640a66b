"""Routes in the IR: route tables per port, virtual hosts per service, route rules with
their matches and actions (VirtualService / HTTPRoute semantics), TCP/TLS chains."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translators.ir.record import fast_init


class MatchKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"
    PRESENT = "present"  # the header / query parameter is there, any value


@dataclass(frozen=True, slots=True)
class StringMatchIR:
    kind: MatchKind
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMatchIR:
    """A header (pseudo-headers `:method`, `:authority`, `:scheme` included) or query
    parameter test; `invert` is Istio's `withoutHeaders`."""

    name: str
    match: StringMatchIR
    invert: bool = False


@dataclass(frozen=True, slots=True)
class RouteMatchIR:
    path: StringMatchIR = StringMatchIR(MatchKind.PREFIX, "/")
    headers: tuple[HeaderMatchIR, ...] = ()
    query_params: tuple[HeaderMatchIR, ...] = ()
    ignore_case: bool = False  # the path only (Istio's ignoreUriCase)


# The match of every request (one shared object: the Envoy layer tells it by identity)
MATCH_ALL = RouteMatchIR()


@fast_init
@dataclass(frozen=True, slots=True)
class WeightedDestinationIR:
    destination: str
    weight: int
    headers: HeaderOpsIR | None = None  # per-destination header edits


@fast_init
@dataclass(frozen=True, slots=True)
class RouteIR:
    """One route rule. It forwards to `destinations` unless it redirects or answers directly
    (then `destinations` is empty). None / empty fields mean Istio's defaults: no timeout,
    the mesh's default retry policy, nothing rewritten, mirrored or injected."""

    name: str
    match: RouteMatchIR
    destinations: tuple[WeightedDestinationIR, ...]
    provenance: tuple[str, ...] = ()
    redirect: RedirectIR | None = None
    direct_response: DirectResponseIR | None = None
    timeout_s: float | None = None
    retries: RetryIR | None = None
    rewrite: RewriteIR | None = None
    headers: HeaderOpsIR | None = None
    mirrors: tuple[MirrorIR, ...] = ()
    hash_policies: tuple[HashPolicyIR, ...] = ()
    fault: FaultIR | None = None
    cors: CorsIR | None = None
    stat_prefix: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class VirtualHostIR:
    name: str
    domains: tuple[str, ...]
    routes: tuple[RouteIR, ...]
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteTableIR:
    name: str
    virtual_hosts: tuple[VirtualHostIR, ...]


@dataclass(frozen=True, slots=True)
class HeaderValueIR:
    name: str
    value: str
    append: bool = False  # add (keep existing values) rather than set (overwrite)


@dataclass(frozen=True, slots=True)
class HeaderOpsIR:
    """Istio `headers`: edits of the request (before forwarding) and of the response;
    a request `host`/`:authority` edit becomes `authority` (Envoy's host rewrite)."""

    request_add: tuple[HeaderValueIR, ...] = ()
    request_remove: tuple[str, ...] = ()
    response_add: tuple[HeaderValueIR, ...] = ()
    response_remove: tuple[str, ...] = ()
    authority: str = ""


@dataclass(frozen=True, slots=True)
class RedirectIR:
    path: str = ""
    prefix_rewrite: str = ""
    authority: str = ""
    port: int = 0  # 0: keep Envoy's default (the scheme's)
    scheme: str = ""
    code: int = 301


@dataclass(frozen=True, slots=True)
class DirectResponseIR:
    status: int
    body: str | None = None
    body_base64: str | None = None


@dataclass(frozen=True, slots=True)
class RetryIR:
    """An explicit retry policy (`attempts` 0 disables retries)."""

    attempts: int
    retry_on: str
    retriable_status_codes: tuple[int, ...] = ()
    per_try_timeout_s: float | None = None
    previous_hosts: bool = True  # retry on another host (Istio's default)
    remote_localities: bool = False
    backoff_s: float | None = None


@dataclass(frozen=True, slots=True)
class RewriteIR:
    prefix: str = ""
    regex: str = ""
    substitution: str = ""
    authority: str = ""


@dataclass(frozen=True, slots=True)
class MirrorIR:
    destination: str
    percent: float = 100.0


@dataclass(frozen=True, slots=True)
class HashPolicyIR:
    """What a consistent-hash load balancer hashes (exactly one is set)."""

    header: str = ""
    cookie: str = ""
    cookie_path: str = ""
    cookie_ttl_s: float | None = None
    source_ip: bool = False
    query_parameter: str = ""
    # (name, value) attributes of the cookie Envoy generates (`SameSite`, `Secure`, ...)
    cookie_attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FaultIR:
    delay_s: float | None = None
    delay_percent: float = 0.0
    abort_http_status: int | None = None
    abort_grpc_status: int | None = None
    abort_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class CorsIR:
    allow_origins: tuple[StringMatchIR, ...] = ()
    allow_methods: str = ""
    allow_headers: str = ""
    expose_headers: str = ""
    max_age: str = ""
    allow_credentials: bool | None = None
    forward_not_matching_preflights: bool = True


@dataclass(frozen=True, slots=True)
class TcpRouteIR:
    """One filter chain of an outbound TCP/TLS listener: connections whose SNI is one of
    `server_names` (any connection, when empty) and whose destination address is in one
    of `destination_prefixes` (IPs or CIDRs; any, when empty) are proxied to `destinations`."""

    name: str
    destinations: tuple[WeightedDestinationIR, ...]
    server_names: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()
    destination_prefixes: tuple[str, ...] = ()
    # DestinationRule `tunnel`: the connection goes through the (proxy) cluster inside an
    # HTTP CONNECT (or POST) tunnel to this target
    tunnel: TunnelIR | None = None
    # A dynamic forward proxy destination (ServiceEntry DYNAMIC_DNS on a TLS port): the
    # upstream is the connection's SNI, on this port (0: not one)
    sni_forward_proxy_port: int = 0


@dataclass(frozen=True, slots=True)
class TunnelIR:
    """Envoy's tcp_proxy tunneling_config: `host:port` the proxy is asked to connect to."""

    hostname: str
    use_post: bool = False
