"""The intermediate representation: what one proxy should do, in mesh terms, with no
protobuf. Golden tests of the IR read like the mesh; the Envoy builders turn each
of these into exactly one kind of Envoy resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from translators.telemetry.ir import TelemetryIR


class Discovery(StrEnum):
    EDS = "EDS"
    STATIC = "STATIC"
    STRICT_DNS = "STRICT_DNS"
    LOGICAL_DNS = "LOGICAL_DNS"
    ORIGINAL_DST = "ORIGINAL_DST"


class LbPolicy(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_REQUEST = "LEAST_REQUEST"
    RANDOM = "RANDOM"
    CLUSTER_PROVIDED = "CLUSTER_PROVIDED"


@dataclass(frozen=True, slots=True)
class EndpointIR:
    address: str
    port: int
    weight: int = 1
    workload: str = ""
    # "istio" when the endpoint speaks mesh mTLS and its cluster mixes such endpoints with
    # others (Istio's `tlsMode` endpoint metadata, matched by transport_socket_matches).
    tls_mode: str = ""


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


@dataclass(frozen=True, slots=True)
class LoadAssignmentIR:
    cluster: str
    endpoints: tuple[EndpointIR, ...]
    provenance: tuple[str, ...] = ()


class MatchKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class StringMatchIR:
    kind: MatchKind
    value: str


@dataclass(frozen=True, slots=True)
class HeaderMatchIR:
    name: str
    match: StringMatchIR


@dataclass(frozen=True, slots=True)
class RouteMatchIR:
    path: StringMatchIR = StringMatchIR(MatchKind.PREFIX, "/")
    headers: tuple[HeaderMatchIR, ...] = ()


@dataclass(frozen=True, slots=True)
class WeightedClusterIR:
    cluster: str
    weight: int


@dataclass(frozen=True, slots=True)
class RouteIR:
    name: str
    match: RouteMatchIR
    clusters: tuple[WeightedClusterIR, ...]
    provenance: tuple[str, ...] = ()


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
    # access log and tracing for this listener's traffic (None: neither)
    telemetry: TelemetryIR | None = None


@dataclass(frozen=True, slots=True)
class ProxyView:
    """Everything one proxy gets, before it becomes Envoy protos."""

    proxy: str
    clusters: tuple[ClusterIR, ...] = ()
    load_assignments: tuple[LoadAssignmentIR, ...] = ()
    listeners: tuple[ListenerIR, ...] = ()
    route_configs: tuple[RouteConfigIR, ...] = ()
    warnings: tuple[str, ...] = field(default=())
