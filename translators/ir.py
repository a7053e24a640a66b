"""The intermediate representation: what one proxy should do, in mesh terms, with no
protobuf. Golden tests of the IR read like the mesh; the Envoy builders turn each
of these into exactly one kind of Envoy resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from translators.security.jwt_ir import JwtRuleIR
from translators.telemetry.ir import TelemetryIR
from translators.traffic.locality_ir import LocalityLbIR


class Discovery(StrEnum):
    EDS = "EDS"
    STATIC = "STATIC"
    STRICT_DNS = "STRICT_DNS"
    LOGICAL_DNS = "LOGICAL_DNS"
    ORIGINAL_DST = "ORIGINAL_DST"
    # Envoy's dynamic forward proxy: the upstream is the request's authority, resolved on
    # demand (where Istio would use the captured original destination, see ClusterIR)
    DYNAMIC_FORWARD_PROXY = "DYNAMIC_FORWARD_PROXY"


class LbPolicy(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_REQUEST = "LEAST_REQUEST"
    RANDOM = "RANDOM"
    CLUSTER_PROVIDED = "CLUSTER_PROVIDED"
    RING_HASH = "RING_HASH"
    MAGLEV = "MAGLEV"


@dataclass(frozen=True, slots=True)
class EndpointIR:
    address: str
    port: int
    weight: int = 1
    workload: str = ""
    # "istio" when the endpoint speaks mesh mTLS and its cluster mixes such endpoints with
    # others (Istio's `tlsMode` endpoint metadata, matched by transport_socket_matches).
    tls_mode: str = ""
    locality: str = ""  # `region/zone/subzone` (empty: unknown)


class UpstreamTLSMode(StrEnum):
    ISTIO_MUTUAL = "ISTIO_MUTUAL"  # the mesh's certificates (SDS), peer's SPIFFE ID checked
    SIMPLE = "SIMPLE"  # TLS origination, server verified against files / system roots
    MUTUAL = "MUTUAL"  # TLS origination with a client certificate from files


@dataclass(frozen=True, slots=True)
class UpstreamTLSIR:
    """How a cluster talks TLS to its endpoints (absent: plaintext)."""

    mode: UpstreamTLSMode
    sni: str = ""
    # ISTIO_MUTUAL: SPIFFE IDs the server may present; else DNS/URI names checked.
    subject_alt_names: tuple[str, ...] = ()
    ca_certificates: str = ""  # file; SIMPLE/MUTUAL without it use the system roots
    client_certificate: str = ""
    private_key: str = ""
    insecure_skip_verify: bool = False
    # Auto-mTLS with some endpoints lacking a mesh sidecar: only endpoints whose
    # `tls_mode` is "istio" use TLS, the others plaintext.
    mesh_endpoints_only: bool = False


@dataclass(frozen=True, slots=True)
class ClusterIR:
    name: str
    discovery: Discovery
    lb_policy: LbPolicy = LbPolicy.ROUND_ROBIN
    # Only for STATIC / DNS clusters, whose endpoints are inline rather than EDS.
    endpoints: tuple[EndpointIR, ...] = ()
    connect_timeout_s: float = 10.0
    provenance: tuple[str, ...] = ()
    tls: UpstreamTLSIR | None = None
    # DestinationRule connectionPool / outlierDetection / consistent-hash settings; None
    # for clusters no DestinationRule applies to (inbound, special clusters)
    policy: ClusterPolicyIR | None = None


@dataclass(frozen=True, slots=True)
class LocalityGroupIR:
    """Envoy's LocalityLbEndpoints: endpoints of one locality at one priority (0 first);
    `weight` is the group's share under locality-weighted balancing."""

    locality: str
    endpoints: tuple[EndpointIR, ...]
    priority: int = 0
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class LoadAssignmentIR:
    cluster: str
    endpoints: tuple[EndpointIR, ...]
    provenance: tuple[str, ...] = ()
    # Endpoints by locality (translators/traffic/locality.py); empty: one group without a
    # locality, which is what a mesh without localities gets
    groups: tuple[LocalityGroupIR, ...] = ()
    # set until applied for a calling proxy's locality (`locality.localize`)
    locality_lb: LocalityLbIR | None = None


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


@dataclass(frozen=True, slots=True)
class WeightedClusterIR:
    cluster: str
    weight: int
    headers: HeaderOpsIR | None = None  # per-destination header edits


@dataclass(frozen=True, slots=True)
class RouteIR:
    """One Envoy route. It forwards to `clusters` unless it redirects or answers directly
    (then `clusters` is empty). None / empty fields mean Istio's defaults: no timeout,
    the mesh's default retry policy, nothing rewritten, mirrored or injected."""

    name: str
    match: RouteMatchIR
    clusters: tuple[WeightedClusterIR, ...]
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


@dataclass(frozen=True, slots=True)
class VirtualHostIR:
    name: str
    domains: tuple[str, ...]
    routes: tuple[RouteIR, ...]
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteConfigIR:
    name: str
    virtual_hosts: tuple[VirtualHostIR, ...]


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class InboundMTLS(StrEnum):
    """A workload port's effective PeerAuthentication mode (UNSET already resolved)."""

    STRICT = "STRICT"  # mutual TLS with a client certificate from the mesh root only
    PERMISSIVE = "PERMISSIVE"  # mutual TLS and plaintext on the same port
    DISABLE = "DISABLE"  # plaintext only


class AuthzAction(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    AUDIT = "AUDIT"
    CUSTOM = "CUSTOM"  # external authorization; xdscp has no providers: denies (as Istio)


@dataclass(frozen=True, slots=True)
class ConditionIR:
    """One attribute test of an authorization rule, with Istio's attribute names:
    `source.principal`, `source.namespace`, `source.serviceAccount` (`ns/sa`),
    `source.ip`, `remote.ip`, `request.headers[<name>]`, `request.host`,
    `request.method`, `request.path`, `destination.port`, `destination.ip`,
    `connection.sni`. Matches if any value matches and no not-value does."""

    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthzRuleIR:
    """Matches when one source (all its conditions), one operation (all its
    conditions) and every `when` condition match; no sources / operations = any."""

    sources: tuple[tuple[ConditionIR, ...], ...] = ()
    operations: tuple[tuple[ConditionIR, ...], ...] = ()
    when: tuple[ConditionIR, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthzPolicyIR:
    """One AuthorizationPolicy applying to the workload. Without rules it matches
    nothing — so an ALLOW policy without rules denies every request."""

    namespace: str
    name: str
    action: AuthzAction
    rules: tuple[AuthzRuleIR, ...] = ()
    dry_run: bool = False
    provenance: tuple[str, ...] = ()
    provider: str = ""  # CUSTOM: the extension provider's name


@dataclass(frozen=True, slots=True)
class InboundIR:
    """What protects an inbound port: peer authentication and authorization."""

    mtls: InboundMTLS
    tcp: bool = False  # opaque TCP (tcp_proxy, network RBAC) rather than HTTP
    authz: tuple[AuthzPolicyIR, ...] = ()
    provenance: tuple[str, ...] = ()  # the PeerAuthentications that decided `mtls`


@dataclass(frozen=True, slots=True)
class ListenerIR:
    """A listener bound to `address:port`: outbound ones are HTTP and use RDS, inbound
    ones forward everything to the local app's inbound cluster, behind `inbound`."""

    name: str
    direction: Direction
    address: str
    port: int
    route_config: str = ""
    inbound_cluster: str = ""
    provenance: tuple[str, ...] = ()
    inbound: InboundIR | None = None
    # Outbound TCP/TLS port: tcp_proxy filter chains (by SNI for TLS) instead of HTTP.
    tcp_chains: tuple[TcpChainIR, ...] = ()
    # Outbound HTTP port whose routes reach a dynamic forward proxy cluster: the HCM needs
    # Envoy's DFP filter to resolve the authority.
    dynamic_forward_proxy: bool = False
    # access log and tracing for this listener's traffic (None: neither)
    telemetry: TelemetryIR | None = None
    # Traffic capture (iptables): this per-port listener is not bound itself; the
    # virtual listeners hand it connections by original destination.
    captured: bool = False
    # "" for an ordinary listener; else the cluster a virtual capture listener
    # (virtualOutbound / virtualInbound) sends connections no port listener takes.
    capture_fallback: str = ""
    # RequestAuthentication JWT rules of the workload (HTTP listeners): inbound, Envoy's
    # jwt_authn rejects invalid tokens before RBAC; outbound, it only reads valid tokens'
    # claims for `@request.auth.claims` route matches.
    jwt: tuple[JwtRuleIR, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxyView:
    """Everything one proxy gets, before it becomes Envoy protos."""

    proxy: str
    clusters: tuple[ClusterIR, ...] = ()
    load_assignments: tuple[LoadAssignmentIR, ...] = ()
    listeners: tuple[ListenerIR, ...] = ()
    route_configs: tuple[RouteConfigIR, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# --- traffic management (VirtualService actions, DestinationRule policies) ----------


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
    cluster: str
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
class TcpKeepaliveIR:
    probes: int | None = None
    time_s: float | None = None
    interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class OutlierIR:
    consecutive_5xx: int | None = None
    consecutive_gateway: int | None = None
    split_local_origin: bool = False
    consecutive_local_origin: int | None = None
    interval_s: float | None = None
    base_ejection_s: float | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int = 0  # Envoy's healthy panic threshold (Istio: 0 = no panic)


@dataclass(frozen=True, slots=True)
class ClusterPolicyIR:
    """A DestinationRule's effective connection pool, outlier detection and hash-ring
    settings for one cluster. None: Istio's default — for the circuit breakers that is
    "unlimited", not Envoy's 1024 (Istio raises them so rollouts do not 503)."""

    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_retries: int | None = None
    tcp_keepalive: TcpKeepaliveIR | None = None
    idle_timeout_s: float | None = None
    max_requests_per_connection: int | None = None
    max_connection_duration_s: float | None = None
    http2: bool = False  # speak HTTP/2 upstream (gRPC/HTTP2 ports, h2UpgradePolicy UPGRADE)
    use_client_protocol: bool = False
    max_concurrent_streams: int | None = None
    outlier: OutlierIR | None = None
    ring_hash_min_size: int | None = None
    maglev_table_size: int | None = None
    slow_start: SlowStartIR | None = None
    http2_keepalive: Http2KeepaliveIR | None = None
    retry_budget: RetryBudgetIR | None = None
    # HTTP statuses outlier detection counts as errors (empty: Envoy's 5xx)
    outlier_error_codes: tuple[int, ...] = ()
    # PROXY protocol header on every upstream connection: 1 or 2 (None: no header)
    proxy_protocol_version: int | None = None
    # True: Envoy's locality-weighted balancing (localityLbSetting distribute / failover);
    # None rather than False otherwise, so the goldens of every other cluster stay as is
    locality_weighted: bool | None = None


@dataclass(frozen=True, slots=True)
class SlowStartIR:
    """Endpoint warmup: a new endpoint's weight ramps up over `window_s`. None for
    `aggression` / `min_weight_percent`: left to Envoy (the deprecated warmupDurationSecs)."""

    window_s: float
    aggression: float | None = None
    min_weight_percent: float | None = None


@dataclass(frozen=True, slots=True)
class Http2KeepaliveIR:
    """HTTP/2 PINGs on idle upstream connections: every `interval_s`, closed when one is
    not answered within `timeout_s`."""

    interval_s: float
    timeout_s: float


@dataclass(frozen=True, slots=True)
class RetryBudgetIR:
    """Concurrent retries limited to a share of active requests (replaces max_retries)."""

    percent: float
    min_concurrency: int


@dataclass(frozen=True, slots=True)
class TcpChainIR:
    """One filter chain of an outbound TCP/TLS listener: connections whose SNI is one of
    `server_names` (any connection, when empty) are proxied to `clusters`."""

    name: str
    clusters: tuple[WeightedClusterIR, ...]
    server_names: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()
