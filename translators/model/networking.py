"""networking.istio.io specs: VirtualService, DestinationRule, ServiceEntry,
WorkloadEntry, Sidecar — the subset of Istio's API that xdscp translates.

A field that is not modelled here is rejected at load time rather than ignored,
so a user never believes a policy is in force when it is not.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator

from translators.model.base import (
    MESH_GATEWAY,
    IstioModel,
    PortSelector,
    StringMatch,
    WorkloadSelector,
    applies_to_mesh,
    check_gateway_names,
)
from translators.model.checks import (
    UNIX_PREFIX,
    FieldValueError,
    IntPercent,
    NonNegativeInt32,
    PortNumber,
    PositiveUInt32,
    UInt32,
    check_endpoint_address,
    check_export_to,
    check_export_to_namespace,
    check_fqdn,
    check_header_name,
    check_host,
    check_ip_or_cidr,
    check_unix_address,
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
    PositiveDuration,
    SourceMatch,
    TCPRoute,
    TLSRoute,
    check_pool,
    check_weight_sum,
    is_auto_sni,
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

    @field_validator("scheme", "method", "authority")
    @classmethod
    def _no_empty_prefix(cls, match: StringMatch | None) -> StringMatch | None:
        # Istio (and Envoy's StringMatcher): only a uri match may have an empty prefix
        if match is not None and match.prefix == "":
            raise ValueError("prefix string match should not be empty")
        return match

    @field_validator("query_params")
    @classmethod
    def _query_names(cls, params: dict[str, HeaderStringMatch]) -> dict[str, HeaderStringMatch]:
        if "" in params:
            raise ValueError("empty query parameter name")
        return params


class Delegate(IstioModel):
    """A root rule hands its matching requests to the http rules of another
    VirtualService (one without hosts)."""

    name: str = Field(min_length=1)
    namespace: str = ""

    @field_validator("name", "namespace")
    @classmethod
    def _dns(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value):
            raise ValueError(f"{value!r} is not an object name")
        return value


class HTTPRoute(IstioModel):
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    delegate: Delegate | None = None
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] = Field(default_factory=list)
    mirror_percentage: Percent | None = None
    # deprecated; Istio's JSON name is `mirror_percent` (older YAML says mirrorPercent)
    mirror_percent: IntPercent | None = Field(
        default=None, validation_alias=AliasChoices("mirrorPercent", "mirror_percent")
    )
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None
    # removed from Istio's API long ago, still in old YAML (and Istio's own test data):
    # Istio ignores it — WebSocket upgrades are allowed on every HTTP listener
    websocket_upgrade: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> HTTPRoute:
        """Istio's rules (pkg/config/validation/virtualservice.go validateHTTPRouteConflict)."""
        if self.delegate is not None:
            # a root rule: only delegation, whatever else it says happens in the delegate
            for name, present in (("route", bool(self.route)), ("redirect", self.redirect)):
                if present:
                    raise ValueError(f"a rule with delegate cannot also have {name}")
            return self
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
    # empty for a delegate: its rules are reached through a root's `delegate`
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)
    tcp: list[TCPRoute] = Field(default_factory=list)
    tls: list[TLSRoute] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)

    @field_validator("gateways")
    @classmethod
    def _gateway_names(cls, gateways: list[str]) -> list[str]:
        return check_gateway_names(gateways)

    @field_validator("export_to")
    @classmethod
    def _export_to(cls, export_to: list[str]) -> list[str]:
        return check_export_to(export_to)

    def check_in_namespace(self, namespace: str) -> None:
        check_export_to_namespace(self.export_to, namespace)

    @model_validator(mode="after")
    def _istio_rules(self) -> VirtualServiceSpec:
        """Istio's ValidateVirtualService (pkg/config/validation/validation.go)."""
        if not (self.http or self.tcp or self.tls):
            raise ValueError("http, tcp or tls must be provided")
        if self.is_delegate:
            for name, present in (
                ("gateways", self.gateways),
                ("tls", self.tls),
                ("tcp", self.tcp),
            ):
                if present:
                    raise FieldValueError(name, "a delegate VirtualService (no hosts) has none")
            for i, rule in enumerate(self.http):
                if rule.delegate is not None:
                    raise FieldValueError(
                        f"http[{i}].delegate", "a delegate's rules cannot delegate again"
                    )
        # `*` alone is refused for the mesh (every sidecar's every host) — but Istio lets
        # any VirtualService bound to a gateway have it, mesh listed or not
        star = self.binds_gateway
        sni = any(m.sni_hosts for rule in self.tls for m in rule.match)
        for i, host in enumerate(self.hosts):
            if star and sni and is_auto_sni(host):
                continue  # Istio's generated SNI names, on a gateway
            try:
                check_host(host, allow_star=star, allow_ip=True)
            except ValueError as exc:
                raise FieldValueError(f"hosts[{i}]", str(exc)) from None
        self._check_sni_hosts()
        for i, first in enumerate(self.hosts):
            for second in self.hosts[i + 1 :]:
                if hosts_overlap(first, second):
                    raise FieldValueError(
                        "hosts", f"duplicate hosts in virtual service: {first} & {second}"
                    )
        return self

    def _check_sni_hosts(self) -> None:
        """Istio's validateSniHost: generated SNI names only on gateways, and every SNI
        host within one of the VirtualService's hosts."""
        for i, rule in enumerate(self.tls):
            for j, match in enumerate(rule.match):
                for k, sni in enumerate(match.sni_hosts):
                    where = f"tls[{i}].match[{j}].sniHosts[{k}]"
                    if is_auto_sni(sni):
                        if not self.binds_gateway:
                            raise FieldValueError(where, f"{sni!r} is not a valid DNS name")
                        continue
                    if is_ip(sni):
                        continue
                    if not any(host_subset_of(sni, h) for h in self.hosts):
                        raise FieldValueError(
                            where,
                            f"SNI host {sni!r} is not within any of the hosts "
                            f"[{', '.join(self.hosts)}]",
                        )

    @property
    def is_delegate(self) -> bool:
        return not self.hosts

    @property
    def binds_gateway(self) -> bool:
        """Bound to a gateway other than `mesh` (Istio's isGateway)."""
        return any(g != MESH_GATEWAY for g in self.gateways)

    @property
    def applies_to_mesh(self) -> bool:
        return not self.is_delegate and applies_to_mesh(self.gateways)

    @property
    def delegates(self) -> bool:
        """Some rule hands requests to a delegate VirtualService."""
        # (a list, not a generator: asked per object when the index is built, for 1-2 rules)
        return any([rule.delegate is not None for rule in self.http])

    @property
    def for_sidecars(self) -> bool:
        """What sidecars translate: VirtualServices of the mesh; a delegating root only
        once its delegates are merged in (translators/model/delegation.py)."""
        return self.applies_to_mesh and not self.delegates


def host_subset_of(host: str, other: str) -> bool:
    """Istio's host.Name.SubsetOf: `host` is covered by `other`."""
    if other.startswith("*"):
        if host.startswith("*"):
            return len(host) >= len(other) and host[1:].endswith(other[1:])
        return host.endswith(other[1:])
    return not host.startswith("*") and host == other


def hosts_overlap(first: str, second: str) -> bool:
    """Istio's host.Name.Matches both ways: equal, or one wildcard covering the other."""
    if first == second or "*" in (first, second):
        return True
    for wild, other in ((first, second), (second, first)):
        if wild.startswith("*") and other.endswith(wild[1:]):
            return True
    return False


# --- DestinationRule ---------------------------------------------------------


class SimpleLB(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    LEAST_CONN = "LEAST_CONN"
    LEAST_REQUEST = "LEAST_REQUEST"
    ROUND_ROBIN = "ROUND_ROBIN"
    RANDOM = "RANDOM"
    PASSTHROUGH = "PASSTHROUGH"


class LocalityDistribute(IstioModel):
    from_: str = Field(alias="from")
    to: dict[str, Annotated[int, Field(ge=1, le=100)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _total(self) -> LocalityDistribute:
        total = sum(self.to.values())
        if total != 100:
            raise ValueError(f"total locality weight {total} != 100")
        return self


class LocalityFailover(IstioModel):
    from_: str = Field(alias="from")
    to: str

    @model_validator(mode="after")
    def _regions(self) -> LocalityFailover:
        if self.from_ == self.to:
            raise ValueError("locality failover settings must specify different regions")
        if "/" in self.from_ or "/" in self.to:
            raise ValueError("locality failover: give regions only")
        if "*" in self.from_ or "*" in self.to:
            raise ValueError("locality failover regions cannot contain '*'")
        return self


_TOPOLOGY_LABELS = (
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
)


def _check_locality(locality: str) -> str:
    """Istio's validateLocalities: `region[/zone[/subzone]]`, `*` only as the last part."""
    parts = locality.split("/")
    if not locality or len(parts) > 3 or any(not p for p in parts):
        raise ValueError(f"{locality!r} is not region[/zone[/subzone]]")
    if any("*" in p for p in parts[:-1]) or ("*" in parts[-1] and parts[-1] != "*"):
        raise ValueError(f"{locality!r}: '*' is only allowed as the whole last part")
    return locality


class LocalityLoadBalancerSetting(IstioModel):
    enabled: bool | None = None
    distribute: list[LocalityDistribute] = Field(default_factory=list)
    failover: list[LocalityFailover] = Field(default_factory=list)
    failover_priority: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> LocalityLoadBalancerSetting:
        if self.distribute and self.failover:
            raise ValueError("distribute and failover cannot both be set")
        if self.failover and any(p in _TOPOLOGY_LABELS for p in self.failover_priority):
            raise ValueError("failover cannot be set with topology labels in failoverPriority")
        for entry in self.distribute:
            _check_locality(entry.from_)
            for locality in entry.to:
                _check_locality(locality)
        return self


class ZoneAwareLoadBalancerSetting(IstioModel):
    enabled: bool | None = None
    failover: list[LocalityFailover] = Field(default_factory=list)
    failover_priority: list[str] = Field(default_factory=list)
    min_cluster_size: PositiveUInt32 | None = None

    @field_validator("failover_priority")
    @classmethod
    def _no_topology(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if label in _TOPOLOGY_LABELS:
                raise ValueError(f"{label!r}: topology labels are implicit in zone-aware LB")
        return labels


class WarmupConfiguration(IstioModel):
    duration: PositiveDuration
    minimum_percent: float | None = Field(default=None, ge=0, le=100)
    aggression: float | None = Field(default=None, ge=1)


class BackendUtilization(IstioModel):
    error_utilization_penalty_percent: UInt32 | None = None
    metric_names_for_computing_utilization: list[str] = Field(default_factory=list)
    weight_expiration_period: Duration | None = None
    weight_stabilization_period: Duration | None = None
    weight_update_period: Duration | None = None


class LoadBalancerSettings(IstioModel):
    simple: SimpleLB = SimpleLB.UNSPECIFIED
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None
    warmup: WarmupConfiguration | None = None
    warmup_duration_secs: PositiveDuration | None = None  # deprecated: warmup.duration
    backend_utilization: BackendUtilization | None = None

    @model_validator(mode="after")
    def _one_policy(self) -> LoadBalancerSettings:
        if self.consistent_hash is not None and self.simple is not SimpleLB.UNSPECIFIED:
            raise ValueError("simple and consistentHash are mutually exclusive")
        if self.backend_utilization is not None and (
            self.consistent_hash is not None or self.simple is not SimpleLB.UNSPECIFIED
        ):
            # Istio: one of simple, consistentHash and backendUtilization
            raise ValueError("backendUtilization excludes simple and consistentHash")
        if self.warmup is not None and self.warmup_duration_secs is not None:
            raise ValueError("warmup and warmupDurationSecs are mutually exclusive")
        if self.locality_lb_setting is not None and self.zone_aware_lb_setting is not None:
            raise ValueError("localityLbSetting and zoneAwareLbSetting are mutually exclusive")
        return self


class ClientTLSMode(StrEnum):
    DISABLE = "DISABLE"
    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"


class ClientTLSSettings(IstioModel):
    """`trafficPolicy.tls`: how a client sidecar originates TLS to the destination.
    Certificates are files on the sidecar's host, or a credential (`credentialName`: a
    Kubernetes Secret, in file mode `<config>/credentials/<name>/`) the control plane
    delivers over SDS."""

    mode: ClientTLSMode = ClientTLSMode.DISABLE
    client_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    credential_name: str = ""
    ca_crl: str = ""
    subject_alt_names: list[str] = Field(default_factory=list)
    sni: str = ""
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ClientTLSSettings:
        # Istio's validation rules for ClientTLSSettings (agent.ValidateTLS).
        files = self.client_certificate or self.private_key or self.ca_certificates
        if self.mode is ClientTLSMode.ISTIO_MUTUAL and (files or self.credential_name):
            raise ValueError(
                "ISTIO_MUTUAL uses the mesh certificates: clientCertificate, privateKey, "
                "caCertificates and credentialName cannot be set"
            )
        if self.insecure_skip_verify and self.mode is ClientTLSMode.SIMPLE and self.credential_name:
            raise ValueError("insecureSkipVerify: cannot be combined with credentialName")
        if self.credential_name and self.mode in (ClientTLSMode.SIMPLE, ClientTLSMode.MUTUAL):
            if files or self.ca_crl:
                raise ValueError(
                    "credentialName: client certificates, CA certificates and CA CRL cannot "
                    "be set beside it"
                )
            # the certificates come from the credential (over SDS)
            return self
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

    @model_validator(mode="after")
    def _some(self) -> PortTrafficPolicy:
        if not (self.load_balancer or self.connection_pool or self.outlier_detection or self.tls):
            raise ValueError("port traffic policy must have at least one field")
        check_pool(self.connection_pool)
        return self


class ProxyProtocolVersion(StrEnum):
    V1 = "V1"
    V2 = "V2"


class ProxyProtocol(IstioModel):
    version: ProxyProtocolVersion = ProxyProtocolVersion.V1


class TunnelSettings(IstioModel):
    protocol: str = "CONNECT"
    target_host: str = Field(min_length=1)
    target_port: PortNumber

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, protocol: str) -> str:
        if protocol.upper() not in ("CONNECT", "POST"):
            raise ValueError(f"{protocol!r}: the tunnel protocol is CONNECT or POST")
        return protocol

    @field_validator("target_host")
    @classmethod
    def _host(cls, host: str) -> str:
        return host if is_ip(host) else check_fqdn(host)


class RetryBudget(IstioModel):
    percent: float | None = Field(default=None, ge=0, le=100)
    min_retry_concurrency: UInt32 | None = None
    budget_interval: PositiveDuration | None = None


class TrafficPolicy(IstioModel):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)
    tls: ClientTLSSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    tunnel: TunnelSettings | None = None
    retry_budget: RetryBudget | None = None

    @model_validator(mode="after")
    def _some(self) -> TrafficPolicy:
        if not self.model_fields_set - {"port_level_settings"} and not self.port_level_settings:
            raise ValueError("traffic policy must have at least one field")
        if self.tunnel is not None and self.proxy_protocol is not None:
            raise ValueError("tunnel and proxyProtocol must not be set together")
        check_pool(self.connection_pool)
        return self


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

    @field_validator("export_to")
    @classmethod
    def _export_to(cls, export_to: list[str]) -> list[str]:
        return check_export_to(export_to)

    def check_in_namespace(self, namespace: str) -> None:
        check_export_to_namespace(self.export_to, namespace)
        if self.workload_selector is not None and self.export_to:
            # Istio: a DestinationRule with a workload selector applies in its namespace
            exported = {namespace if e == "." else e for e in self.export_to}
            if exported != {namespace}:
                raise FieldValueError(
                    "exportTo",
                    "a DestinationRule with a workload selector cannot be exported beyond "
                    "its own namespace",
                )

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
    """Istio's port protocols (pkg/config/protocol), written in any case."""

    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    HTTPS = "HTTPS"
    GRPC = "GRPC"
    GRPC_WEB = "GRPC-WEB"
    HTTP_PROXY = "HTTP_PROXY"
    TCP = "TCP"
    TLS = "TLS"
    UDP = "UDP"
    MONGO = "MONGO"
    REDIS = "REDIS"
    MYSQL = "MYSQL"


HTTP_PROTOCOLS = frozenset(
    {Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB, Protocol.HTTP_PROXY}
)
GRPC_PROTOCOLS = frozenset({Protocol.GRPC, Protocol.GRPC_WEB})  # Istio's IsGRPC


def _protocol_upper(value: object) -> object:
    """Istio parses protocol names ignoring case (`http`, `Mongo`, `GRPC-Web`); an empty
    one asks Istio to sniff the protocol, which xdscp does not: the port is TCP."""
    if value == "":
        return Protocol.TCP.value
    return value.upper() if isinstance(value, str) else value


class ServicePort(IstioModel):
    number: PortNumber
    protocol: Protocol = Protocol.TCP
    name: str = Field(min_length=1)
    target_port: PortNumber | None = None

    @field_validator("name")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        if not is_dns1123_label(name):
            raise ValueError(f"invalid port name: {name!r} (a DNS label)")
        return name

    @field_validator("protocol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return _protocol_upper(value)


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
        # A ServiceEntry's STATIC endpoints are further restricted to IPs (below); an
        # empty address is allowed with a network (Istio: reached through its gateway).
        return value if value == "" else check_endpoint_address(value, allow_fqdn=True)

    @model_validator(mode="after")
    def _unix_ports(self) -> WorkloadEntrySpec:
        if not self.address and not self.network:
            raise FieldValueError("address", "an address is required (unless network is set)")
        if self.address.startswith(UNIX_PREFIX) and self.ports:
            raise ValueError("ports: a unix socket endpoint has no ports")
        return self

    @property
    def dns_named(self) -> bool:
        """Its address is a DNS name (neither an IP nor a unix socket)."""
        return (
            bool(self.address)
            and not is_ip(self.address)
            and not self.address.startswith(UNIX_PREFIX)
        )

    @property
    def proxied(self) -> bool:
        """Whether xdscp can treat it as a workload with a sidecar, or an EDS endpoint: it
        has an IP address. (A DNS name, a unix socket or no address is accepted, as in
        Istio, and reported as not translated: XDS0807.)"""
        return is_ip(self.address)

    @field_validator("ports")
    @classmethod
    def _port_range(cls, ports: dict[str, int]) -> dict[str, int]:
        for name, number in ports.items():
            if not is_dns1123_label(name):
                raise ValueError(f"invalid port name: {name!r} (a DNS label)")
            if not 1 <= number <= 65535:
                raise ValueError(f"port {name!r}: {number} is not in 1..65535")
        return ports


class WorkloadEntryObjectSpec(WorkloadEntrySpec):
    """A WorkloadEntry object. In xdscp a WorkloadEntry with an IP address is a workload
    with a sidecar: Envoy binds that sidecar's listeners to the address and other proxies'
    EDS endpoints point at it. Istio also accepts a DNS name, a unix socket or (with a
    network) no address, for workloads reached otherwise: those are accepted and left
    out of the registry (`proxied`), reported by the analysis (XDS0807)."""


class Location(StrEnum):
    MESH_EXTERNAL = "MESH_EXTERNAL"
    MESH_INTERNAL = "MESH_INTERNAL"


class Resolution(StrEnum):
    NONE = "NONE"
    STATIC = "STATIC"
    DNS = "DNS"
    DNS_ROUND_ROBIN = "DNS_ROUND_ROBIN"
    # wildcard hosts resolved per request (a dynamic forward proxy)
    DYNAMIC_DNS = "DYNAMIC_DNS"


class ServiceEntrySpec(IstioModel):
    hosts: list[str] = Field(min_length=1)
    addresses: list[str] = Field(default_factory=list)
    # Istio allows none (the service is then reached on no port by sidecars)
    ports: list[ServicePort] = Field(default_factory=list)
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

    @field_validator("export_to")
    @classmethod
    def _export_to(cls, export_to: list[str]) -> list[str]:
        return check_export_to(export_to, service_entry=True)

    def check_in_namespace(self, namespace: str) -> None:
        check_export_to_namespace(self.export_to, namespace)

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
                if endpoint.address and not _is_ip_or_unix(endpoint.address):
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
        if self.resolution is Resolution.NONE and self.endpoints:
            raise FieldValueError(
                "endpoints", "no endpoints should be provided for resolution NONE"
            )
        if any("/" in a for a in self.addresses) and self.resolution not in (
            Resolution.NONE,
            Resolution.STATIC,
        ):
            raise FieldValueError(
                "addresses", "CIDR addresses are allowed only for resolution NONE or STATIC"
            )
        port_names = {p.name for p in self.ports}
        for i, endpoint in enumerate(self.endpoints):
            for port_name in endpoint.ports:
                if port_name not in port_names:
                    raise FieldValueError(
                        f"endpoints[{i}].ports.{port_name}",
                        f"endpoint port {port_name!r} is not a port of the service entry",
                    )
        if self.resolution is Resolution.DYNAMIC_DNS:
            _check_dynamic_dns(self)
        if self.resolution is not Resolution.NONE and len(self.hosts) > 1:
            for port in self.ports:
                if port.protocol not in HTTP_PROTOCOLS | {Protocol.HTTPS, Protocol.TLS}:
                    raise FieldValueError(
                        "ports", "multiple hosts provided with non-HTTP, non-TLS ports"
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


def _check_dynamic_dns(entry: ServiceEntrySpec) -> None:
    """Istio's rules for resolution DYNAMIC_DNS."""
    for i, host in enumerate(entry.hosts):
        if not host.startswith("*"):
            raise FieldValueError(f"hosts[{i}]", "hosts must be wildcards for DYNAMIC_DNS")
    if entry.addresses:
        raise FieldValueError("addresses", "addresses cannot be set for DYNAMIC_DNS")
    if entry.endpoints:
        raise FieldValueError("endpoints", "endpoints cannot be set for DYNAMIC_DNS")
    allowed = {Protocol.HTTP, Protocol.TLS, Protocol.GRPC, Protocol.HTTP2}
    for i, port in enumerate(entry.ports):
        if port.protocol not in allowed:
            raise FieldValueError(
                f"ports[{i}].protocol", "DYNAMIC_DNS supports HTTP, TLS, GRPC and HTTP2 only"
            )


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

    @field_validator("protocol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return _protocol_upper(value)


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
    connection_pool: ConnectionPoolSettings | None = None
    # Istio's ServerTLSSettings (TLS terminated by the sidecar for this port)
    tls: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _tls(self) -> IngressListener:
        """Istio's rules for a sidecar's ingress TLS (ValidateSidecar)."""
        if self.tls is None:
            return self
        for field, what in (
            ("subjectAltNames", "subjectAltNames"),
            ("httpsRedirect", "httpsRedirect"),
            ("credentialName", "credentialName"),
            ("credentialNames", "credentialNames"),
            ("tlsCertificates", "tlsCertificates"),
        ):
            if self.tls.get(field):
                raise FieldValueError(f"tls.{field}", f"{what} is not supported in ingress tls")
        if self.tls.get("mode") in ("ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
            raise FieldValueError("tls.mode", f"{self.tls['mode']} is not allowed in ingress tls")
        if self.port.protocol not in (Protocol.HTTPS, Protocol.TLS):
            raise FieldValueError("tls", "TLS settings need an HTTPS or TLS port")
        return self

    @field_validator("default_endpoint")
    @classmethod
    def _loopback(cls, value: str) -> str:
        """Istio allows 127.0.0.1/0.0.0.0/unix; xdscp also allows any 127.0.0.0/8 address,
        so local workloads can each have their own loopback IP."""
        if not value:
            return value
        if value.startswith(UNIX_PREFIX):
            check_unix_address(value)
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


class EgressPort(SidecarPort):
    # 0: the listener is a unix domain socket (its `bind`), as Istio allows
    number: int = Field(ge=0, le=65535)


class EgressListener(IstioModel):
    port: EgressPort | None = None
    bind: str | None = None
    capture_mode: CaptureMode = CaptureMode.DEFAULT
    hosts: list[str] = Field(min_length=1)

    @property
    def unix_socket(self) -> bool:
        """Istio's unix-domain-socket egress listener (port 0, `bind: unix://...`), which
        xdscp accepts but does not translate (reported by the analysis)."""
        return self.bind is not None and self.bind.startswith(UNIX_PREFIX)

    @model_validator(mode="after")
    def _bind(self) -> EgressListener:
        """Istio's validateSidecarEgressPortBindAndCaptureMode."""
        if self.port is not None and self.port.number == 0:
            if not self.unix_socket:
                raise FieldValueError(
                    "bind", "a port of 0 needs a unix domain socket bind address (unix://...)"
                )
            assert self.bind is not None
            check_unix_address(self.bind)
            if self.capture_mode not in (CaptureMode.DEFAULT, CaptureMode.NONE):
                raise FieldValueError(
                    "captureMode", "a unix domain socket listener has captureMode DEFAULT or NONE"
                )
            return self
        if self.bind is not None and not is_ip(self.bind):
            raise FieldValueError(
                "bind", f"{self.bind!r} is not an IP address (a unix://... one needs port 0)"
            )
        return self

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
    # Istio's enum: REGISTRY_ONLY is 0, the value of a policy that names no mode
    mode: OutboundMode = OutboundMode.REGISTRY_ONLY
    # where ALLOW_ANY traffic to unknown hosts goes instead of straight out
    egress_proxy: Destination | None = None

    @model_validator(mode="after")
    def _egress_proxy(self) -> OutboundTrafficPolicy:
        if self.egress_proxy is not None:
            if self.mode is not OutboundMode.ALLOW_ANY:
                raise ValueError("egressProxy must be set only with mode ALLOW_ANY")
            if self.egress_proxy.port is None:
                raise FieldValueError("egressProxy.port", "egressProxy needs a port")
        return self


class SidecarSpec(IstioModel):
    workload_selector: WorkloadSelector | None = None
    ingress: list[IngressListener] = Field(default_factory=list)
    egress: list[EgressListener] = Field(default_factory=list)
    outbound_traffic_policy: OutboundTrafficPolicy | None = None
    inbound_connection_pool: ConnectionPoolSettings | None = None

    @model_validator(mode="after")
    def _pools(self) -> SidecarSpec:
        if not (
            self.egress
            or self.ingress
            or self.outbound_traffic_policy is not None
            or self.inbound_connection_pool is not None
        ):
            raise ValueError("empty configuration provided")
        check_pool(self.inbound_connection_pool, "inboundConnectionPool")
        for i, listener in enumerate(self.ingress):
            check_pool(listener.connection_pool, f"ingress[{i}].connectionPool")
        for i, egress in enumerate(self.egress[:-1]):
            if egress.port is None:
                raise FieldValueError(
                    f"egress[{i}]", "the egress listener without a port must be the last one"
                )
        return self

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
