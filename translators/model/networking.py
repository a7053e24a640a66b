"""networking.istio.io specs: VirtualService, DestinationRule, ServiceEntry,
WorkloadEntry, Sidecar — the subset of Istio's API that xdscp translates.

A field that is not modelled here is rejected at load time rather than ignored,
so a user never believes a policy is in force when it is not.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from translators.model.base import (
    IstioModel,
    PortSelector,
    StringMatch,
    WorkloadSelector,
    mesh_gateways_only,
)
from translators.model.checks import (
    UNIX_PREFIX,
    FieldValueError,
    IntPercent,
    NonNegativeInt32,
    PortNumber,
    PositiveUInt32,
    check_endpoint_address,
    check_header_name,
    check_host,
    check_ip_or_cidr,
    check_wildcard_domain,
    is_dns1123_label,
    is_ip,
)
from translators.model.traffic import (
    ConnectionPoolSettings,
    ConsistentHashLB,
    CorsPolicy,
    Destination,
    Duration,
    Headers,
    HeaderStringMatch,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPMirrorPolicy,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    OutlierDetection,
    Percent,
    SourceMatch,
    TCPRoute,
    TLSRoute,
    check_weight_sum,
)
from translators.naming import routing_claim

# --- VirtualService ----------------------------------------------------------


class HTTPRouteDestination(IstioModel):
    destination: Destination
    weight: NonNegativeInt32 = 0
    headers: Headers | None = None


class HTTPMatchRequest(SourceMatch):
    """One match block: every condition must hold (AND); a rule's blocks are ORed."""

    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, HeaderStringMatch] = Field(default_factory=dict)
    port: PortNumber | None = None
    query_params: dict[str, HeaderStringMatch] = Field(default_factory=dict)
    ignore_uri_case: bool = False
    without_headers: dict[str, HeaderStringMatch] = Field(default_factory=dict)
    stat_prefix: str = ""

    @field_validator("headers", "without_headers")
    @classmethod
    def _header_names(cls, headers: dict[str, HeaderStringMatch]) -> dict[str, HeaderStringMatch]:
        for name in headers:
            # `@request.auth.claims.<claim>`: a JWT claim (RequestAuthentication)
            if routing_claim(name) is None:
                check_header_name(name)
        return headers

    @field_validator("query_params")
    @classmethod
    def _query_names(cls, params: dict[str, HeaderStringMatch]) -> dict[str, HeaderStringMatch]:
        if "" in params:
            raise ValueError("empty query parameter name")
        return params


class HTTPRoute(IstioModel):
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] = Field(default_factory=list)
    mirror_percentage: Percent | None = None
    mirror_percent: IntPercent | None = None  # deprecated
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None

    @model_validator(mode="after")
    def _consistent(self) -> HTTPRoute:
        """Istio's rules (pkg/config/validation/virtualservice.go validateHTTPRouteConflict)."""
        if len(self.route) > 1 and sum(d.weight for d in self.route) == 0:
            raise ValueError("route: several destinations need weights (all are 0)")
        check_weight_sum(d.weight for d in self.route)
        actions = [
            name
            for name, present in (
                ("route", bool(self.route)),
                ("redirect", self.redirect is not None),
                ("directResponse", self.direct_response is not None),
            )
            if present
        ]
        if not actions:
            raise ValueError("route, redirect or directResponse is required")
        if len(actions) > 1:
            raise ValueError(f"{' and '.join(actions)} are mutually exclusive")
        if actions[0] != "route":
            for name, value in (("fault", self.fault), ("rewrite", self.rewrite)):
                if value is not None:
                    raise ValueError(f"{name} cannot be combined with {actions[0]}")
        if self.mirror is not None and self.mirrors:
            raise ValueError("mirror and mirrors are mutually exclusive")
        if (
            self.redirect is not None
            and self.redirect.prefix_rewrite
            and any(m.uri is not None and m.uri.prefix is None for m in self.match)
        ):
            raise ValueError("redirect.prefixRewrite needs every uri match to be a prefix")
        authorities = [
            v
            for ops in (self.headers.request if self.headers else None,)
            if ops is not None
            for k, v in (*ops.set.items(), *ops.add.items())
            if k.lower() in ("host", ":authority")
        ] + ([self.rewrite.authority] if self.rewrite and self.rewrite.authority else [])
        if len(authorities) > 1:
            raise ValueError("the authority can be rewritten in one place only")
        return self


class VirtualServiceSpec(IstioModel):
    hosts: list[str] = Field(min_length=1)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)
    tcp: list[TCPRoute] = Field(default_factory=list)
    tls: list[TLSRoute] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)

    @field_validator("gateways")
    @classmethod
    def _mesh_only(cls, gateways: list[str]) -> list[str]:
        return mesh_gateways_only(gateways)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        # Istio: `*` alone is not allowed for the mesh (every sidecar's every host)
        return [check_host(h, allow_star=False, allow_ip=True) for h in hosts]


# --- DestinationRule ---------------------------------------------------------


class SimpleLB(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    LEAST_CONN = "LEAST_CONN"
    LEAST_REQUEST = "LEAST_REQUEST"
    ROUND_ROBIN = "ROUND_ROBIN"
    RANDOM = "RANDOM"
    PASSTHROUGH = "PASSTHROUGH"


class LoadBalancerSettings(IstioModel):
    simple: SimpleLB = SimpleLB.UNSPECIFIED
    consistent_hash: ConsistentHashLB | None = None

    @model_validator(mode="after")
    def _one_policy(self) -> LoadBalancerSettings:
        if self.consistent_hash is not None and self.simple is not SimpleLB.UNSPECIFIED:
            raise ValueError("simple and consistentHash are mutually exclusive")
        return self


class ClientTLSMode(StrEnum):
    DISABLE = "DISABLE"
    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"


class ClientTLSSettings(IstioModel):
    """`trafficPolicy.tls`: how a client sidecar originates TLS to the destination.
    Certificates are files on the sidecar's host (`credentialName`, a Kubernetes
    Secret fetched by the sidecar's agent, has no equivalent for a stock Envoy)."""

    mode: ClientTLSMode = ClientTLSMode.DISABLE
    client_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    subject_alt_names: list[str] = Field(default_factory=list)
    sni: str = ""
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ClientTLSSettings:
        # Istio's validation rules for ClientTLSSettings.
        files = self.client_certificate or self.private_key or self.ca_certificates
        if self.mode is ClientTLSMode.ISTIO_MUTUAL and files:
            raise ValueError(
                "ISTIO_MUTUAL uses the mesh certificates: clientCertificate, privateKey and "
                "caCertificates cannot be set"
            )
        if self.mode is ClientTLSMode.MUTUAL:
            if not self.client_certificate:
                raise ValueError("clientCertificate: required for MUTUAL")
            if not self.private_key:
                raise ValueError("privateKey: required for MUTUAL")
        if self.insecure_skip_verify and (self.ca_certificates or self.subject_alt_names):
            raise ValueError(
                "insecureSkipVerify: cannot be combined with caCertificates or subjectAltNames"
            )
        if (
            self.mode in (ClientTLSMode.SIMPLE, ClientTLSMode.MUTUAL)
            and self.subject_alt_names
            and not self.ca_certificates
        ):
            # Envoy refuses to check names against the system roots (it would NACK).
            raise ValueError(
                "subjectAltNames: needs caCertificates (Envoy verifies server names only "
                "against an explicit CA file)"
            )
        return self


class PortTrafficPolicy(IstioModel):
    port: PortSelector
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(IstioModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)
    tls: ClientTLSSettings | None = None


class Subset(IstioModel):
    # Istio: a DNS label, at most 63 characters (it is part of cluster names and SNI)
    name: str = Field(
        min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
    )
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    host: str = Field(min_length=1)
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)
    workload_selector: WorkloadSelector | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        return check_wildcard_domain(host)

    @field_validator("subsets")
    @classmethod
    def _unique_subsets(cls, subsets: list[Subset]) -> list[Subset]:
        names = [s.name for s in subsets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate subset name(s): {', '.join(dupes)}")
        return subsets


# --- ServiceEntry / WorkloadEntry --------------------------------------------


class Protocol(StrEnum):
    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    HTTPS = "HTTPS"
    GRPC = "GRPC"
    TCP = "TCP"
    TLS = "TLS"
    MONGO = "MONGO"
    REDIS = "REDIS"
    MYSQL = "MYSQL"


HTTP_PROTOCOLS = frozenset({Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC})


class ServicePort(IstioModel):
    number: PortNumber
    protocol: Protocol = Protocol.TCP
    name: str = Field(min_length=1)
    target_port: PortNumber | None = None

    @field_validator("protocol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class WorkloadEntrySpec(IstioModel):
    address: str = Field(default="", validate_default=True)
    ports: dict[str, int] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    network: str | None = None
    locality: str | None = None
    weight: PositiveUInt32 | None = None
    service_account: str | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        # A ServiceEntry's STATIC endpoints are further restricted to IPs (below).
        return check_endpoint_address(value, allow_fqdn=True)

    @model_validator(mode="after")
    def _unix_ports(self) -> WorkloadEntrySpec:
        if self.address.startswith(UNIX_PREFIX) and self.ports:
            raise ValueError("ports: a unix socket endpoint has no ports")
        return self

    @field_validator("ports")
    @classmethod
    def _port_range(cls, ports: dict[str, int]) -> dict[str, int]:
        for name, number in ports.items():
            if not 1 <= number <= 65535:
                raise ValueError(f"port {name!r}: {number} is not in 1..65535")
        return ports


class WorkloadEntryObjectSpec(WorkloadEntrySpec):
    """A WorkloadEntry object. In xdscp every WorkloadEntry is a workload with a sidecar:
    Envoy binds that sidecar's listeners to the address and other proxies' EDS endpoints
    point at it, and both need an IP address. (Istio also accepts a DNS name or a unix
    socket here, for workloads without a sidecar; a ServiceEntry's `endpoints` still may.)"""

    @field_validator("address")
    @classmethod
    def _ip_only(cls, value: str) -> str:
        if not is_ip(value):
            raise ValueError(
                f"{value!r} is not an IP address (a WorkloadEntry is a proxied workload; "
                "for a DNS name use a ServiceEntry with resolution DNS and endpoints)"
            )
        return value


class Location(StrEnum):
    MESH_EXTERNAL = "MESH_EXTERNAL"
    MESH_INTERNAL = "MESH_INTERNAL"


class Resolution(StrEnum):
    NONE = "NONE"
    STATIC = "STATIC"
    DNS = "DNS"
    DNS_ROUND_ROBIN = "DNS_ROUND_ROBIN"


class ServiceEntrySpec(IstioModel):
    hosts: list[str] = Field(min_length=1)
    addresses: list[str] = Field(default_factory=list)
    ports: list[ServicePort] = Field(min_length=1)
    location: Location = Location.MESH_EXTERNAL
    resolution: Resolution = Resolution.NONE
    endpoints: list[WorkloadEntrySpec] = Field(default_factory=list)
    workload_selector: WorkloadSelector | None = None
    export_to: list[str] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [check_host(h, allow_star=False) for h in hosts]

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        return [check_ip_or_cidr(a) for a in addresses]

    @model_validator(mode="after")
    def _endpoint_source(self) -> ServiceEntrySpec:
        if self.endpoints and self.workload_selector is not None:
            raise ValueError("endpoints and workloadSelector are mutually exclusive")
        names = [p.name for p in self.ports]
        if len(set(names)) != len(names):
            raise ValueError("ports: port names must be unique")
        numbers = [p.number for p in self.ports]
        if len(set(numbers)) != len(numbers):
            raise ValueError("ports: port numbers must be unique")
        if any(e.address.startswith(UNIX_PREFIX) for e in self.endpoints) and len(self.ports) != 1:
            raise ValueError("ports: unix socket endpoints need exactly one service port")
        # What Envoy would refuse (NACK) or could never route, rejected here as Istio does.
        if self.resolution is Resolution.STATIC:
            for i, endpoint in enumerate(self.endpoints):
                if not _is_ip_or_unix(endpoint.address):
                    raise FieldValueError(
                        f"endpoints[{i}].address",
                        f"{endpoint.address!r} is not an IP address "
                        "(resolution STATIC; use DNS for host names)",
                    )
        if self.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
            for i, endpoint in enumerate(self.endpoints):
                if endpoint.address.startswith(UNIX_PREFIX):
                    raise FieldValueError(
                        f"endpoints[{i}].address",
                        f"{endpoint.address!r}: a unix socket cannot be resolved by DNS "
                        "(use resolution STATIC)",
                    )
        if self.resolution is Resolution.DNS_ROUND_ROBIN and len(self.endpoints) > 1:
            raise ValueError("endpoints: resolution DNS_ROUND_ROBIN allows at most one endpoint")
        if (
            self.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN)
            and not self.endpoints
            and self.workload_selector is None
        ):
            wildcards = [h for h in self.hosts if "*" in h]
            if wildcards:
                raise ValueError(
                    f"hosts: {wildcards[0]!r}: a wildcard host cannot be resolved by DNS "
                    "(give endpoints)"
                )
        return self


def _is_ip_or_unix(address: str) -> bool:
    if address.startswith("unix://"):
        return True
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


# --- Sidecar -----------------------------------------------------------------


class CaptureMode(StrEnum):
    DEFAULT = "DEFAULT"
    IPTABLES = "IPTABLES"
    NONE = "NONE"


class SidecarPort(IstioModel):
    number: PortNumber
    protocol: Protocol = Protocol.HTTP
    name: str = ""
    target_port: PortNumber | None = None


def _check_bind(bind: str | None) -> str | None:
    # Envoy binds the listener to it: an IP address (Istio also allows unix://, which
    # xdscp's listeners do not support).
    if bind is not None and not is_ip(bind):
        raise ValueError(f"{bind!r} is not an IP address")
    return bind


class IngressListener(IstioModel):
    port: SidecarPort
    bind: str | None = None
    capture_mode: CaptureMode = CaptureMode.DEFAULT
    default_endpoint: str = ""

    @field_validator("default_endpoint")
    @classmethod
    def _loopback(cls, value: str) -> str:
        """Istio allows 127.0.0.1/0.0.0.0/unix; xdscp also allows any 127.0.0.0/8 address,
        so local workloads can each have their own loopback IP."""
        if not value or value.startswith("unix://"):
            return value
        host, _, port = value.rpartition(":")
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            raise ValueError(f"{value!r}: expected <loopback-ip>:<port> or unix://path") from None
        if not (ip.is_loopback or ip.is_unspecified) or not port.isdigit():
            raise ValueError(f"{value!r}: expected <loopback-ip>:<port> or unix://path")
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"{value!r}: port {port} is not in 1..65535")
        return value

    @field_validator("bind")
    @classmethod
    def _bind(cls, bind: str | None) -> str | None:
        return _check_bind(bind)


class EgressListener(IstioModel):
    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: CaptureMode = CaptureMode.DEFAULT
    hosts: list[str] = Field(min_length=1)

    @field_validator("bind")
    @classmethod
    def _bind(cls, bind: str | None) -> str | None:
        return _check_bind(bind)

    @field_validator("hosts")
    @classmethod
    def _ns_slash_host(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            _check_egress_host(host)
        return hosts


def _check_egress_host(host: str) -> None:
    """Istio's `<namespace>/<dnsName>`: namespace `*`, `.`, `~`-prefixed or a DNS label;
    dnsName `*` or a (prefix-wildcard) domain name."""
    namespace, slash, name = host.partition("/")
    if not slash:
        raise ValueError(f"{host!r}: egress hosts must be <namespace>/<dnsName>")
    bare = namespace.removeprefix("~")
    if not namespace or not name:
        raise ValueError(f"{host!r}: namespace and dnsName cannot be empty")
    if bare not in ("", "*", ".") and not is_dns1123_label(bare):
        raise ValueError(f"{host!r}: {namespace!r} is not a namespace")
    if name != "*":
        check_wildcard_domain(name)
        if "*" in name and not name.startswith("*."):
            raise ValueError(f"{host!r}: partial wildcards are not allowed")


class OutboundMode(StrEnum):
    REGISTRY_ONLY = "REGISTRY_ONLY"
    ALLOW_ANY = "ALLOW_ANY"


class OutboundTrafficPolicy(IstioModel):
    mode: OutboundMode = OutboundMode.ALLOW_ANY


class SidecarSpec(IstioModel):
    workload_selector: WorkloadSelector | None = None
    ingress: list[IngressListener] = Field(default_factory=list)
    egress: list[EgressListener] = Field(default_factory=list)
    outbound_traffic_policy: OutboundTrafficPolicy | None = None

    @model_validator(mode="after")
    def _egress_catch_all(self) -> SidecarSpec:
        portless = [e for e in self.egress if e.port is None]
        if len(portless) > 1:
            raise ValueError("egress: at most one listener may omit its port")
        # Istio: one listener per port (two would be one Envoy listener / cluster twice)
        for where, ports in (
            ("ingress", [i.port.number for i in self.ingress]),
            ("egress", [e.port.number for e in self.egress if e.port is not None]),
        ):
            if len(set(ports)) != len(ports):
                raise FieldValueError(where, "ports of the listeners must be unique")
        return self
