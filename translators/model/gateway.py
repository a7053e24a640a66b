"""networking.istio.io `Gateway`: a load balancer at the edge of the mesh — which ports a
gateway proxy opens, for which hosts, and how it terminates (or passes through) TLS.

The rules are Istio's (pkg/config/validation: ValidateGateway, validateServer,
validateServerPort, validateTLSOptions; agent.ValidateNamespaceSlashWildcardHostname).
Where Istio only warns and then ignores a value Envoy would refuse (an unknown cipher
suite NACKs the listener), the value is an error here: a gateway must never be accepted
with a listener that no proxy will load.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from translators.model.base import IstioModel
from translators.model.checks import PortNumber, check_wildcard_domain, is_dns1123_label, is_ip


class ServerProtocol(StrEnum):
    """Istio's port protocols a gateway server may use (protocol.Parse; case-insensitive)."""

    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"
    GRPC_WEB = "GRPC-WEB"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    MONGO = "MONGO"
    REDIS = "REDIS"
    MYSQL = "MYSQL"

    @property
    def is_http(self) -> bool:
        return self in (
            ServerProtocol.HTTP,
            ServerProtocol.HTTP2,
            ServerProtocol.GRPC,
            ServerProtocol.GRPC_WEB,
        )

    @property
    def is_tls(self) -> bool:
        return self in (ServerProtocol.HTTPS, ServerProtocol.TLS)


class ServerTLSMode(StrEnum):
    PASSTHROUGH = "PASSTHROUGH"
    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    AUTO_PASSTHROUGH = "AUTO_PASSTHROUGH"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"
    OPTIONAL_MUTUAL = "OPTIONAL_MUTUAL"


class TLSProtocolVersion(StrEnum):
    TLS_AUTO = "TLS_AUTO"
    TLSV1_0 = "TLSV1_0"
    TLSV1_1 = "TLSV1_1"
    TLSV1_2 = "TLSV1_2"
    TLSV1_3 = "TLSV1_3"


# The order of the versions, for min <= max (TLS_AUTO is Envoy's default, unordered).
_VERSION_RANK = {
    TLSProtocolVersion.TLSV1_0: 0,
    TLSProtocolVersion.TLSV1_1: 1,
    TLSProtocolVersion.TLSV1_2: 2,
    TLSProtocolVersion.TLSV1_3: 3,
}

# Istio's ValidCipherSuites (pkg/config/security): the BoringSSL names a gateway accepts.
# Names starting with a non-alphanumeric character (`-X`, `+X`, `[A|B]`) are OpenSSL
# expressions Istio lets through unchecked, and so does this.
VALID_CIPHER_SUITES = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "AES256-SHA",
        "DES-CBC3-SHA",
    }
)


def check_cipher_suite(name: str) -> str:
    if name in ("", "ALL") or not name[0].isalnum() or name in VALID_CIPHER_SUITES:
        return name
    known = ", ".join(sorted(VALID_CIPHER_SUITES))
    raise ValueError(f"{name!r} is not a cipher suite Envoy knows (one of: {known})")


class ServerTLSSettings(IstioModel):
    https_redirect: bool = False
    mode: ServerTLSMode = ServerTLSMode.PASSTHROUGH
    # File paths on the gateway's host (Istio's pre-SDS way) or, preferred, credentialName:
    # a Kubernetes Secret, or in file mode a directory of PEM files (see translators/gateway).
    server_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    ca_crl: str = ""
    credential_name: str = ""
    subject_alt_names: list[str] = Field(default_factory=list)
    verify_certificate_spki: list[str] = Field(default_factory=list)
    verify_certificate_hash: list[str] = Field(default_factory=list)
    min_protocol_version: TLSProtocolVersion = TLSProtocolVersion.TLS_AUTO
    max_protocol_version: TLSProtocolVersion = TLSProtocolVersion.TLS_AUTO
    cipher_suites: list[str] = Field(default_factory=list)

    @field_validator("cipher_suites")
    @classmethod
    def _ciphers(cls, suites: list[str]) -> list[str]:
        duplicates = sorted({s for s in suites if suites.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate cipher suite(s): {', '.join(duplicates)}")
        return [check_cipher_suite(s) for s in suites]

    @field_validator("verify_certificate_spki", "verify_certificate_hash", "ca_crl")
    @classmethod
    def _not_translated(cls, value: list[str] | str) -> list[str] | str:
        if value:
            raise ValueError("not supported by xdscp (check client certificates by CA and names)")
        return value

    @field_validator("credential_name")
    @classmethod
    def _credential(cls, name: str) -> str:
        # it names a Secret (or a directory): a path separator would escape the store
        if name and (("/" in name and not name.startswith("kubernetes://")) or ".." in name):
            raise ValueError(f"{name!r}: a credentialName is a Secret name, not a path")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ServerTLSSettings:
        files = {
            "serverCertificate": self.server_certificate,
            "privateKey": self.private_key,
            "caCertificates": self.ca_certificates,
            "credentialName": self.credential_name,
        }
        if self.mode is ServerTLSMode.ISTIO_MUTUAL:
            for name, value in files.items():
                if value:
                    raise ValueError(
                        f"ISTIO_MUTUAL uses the mesh certificates: {name} cannot be set"
                    )
            return self
        low = _VERSION_RANK.get(self.min_protocol_version)
        high = _VERSION_RANK.get(self.max_protocol_version)
        if low is not None and high is not None and low > high:
            raise ValueError("minProtocolVersion is higher than maxProtocolVersion")
        if self.credential_name and (self.server_certificate or self.private_key):
            raise ValueError(
                "only one of credentialName and serverCertificate/privateKey can be set"
            )
        if self.mode in (ServerTLSMode.SIMPLE, ServerTLSMode.MUTUAL, ServerTLSMode.OPTIONAL_MUTUAL):
            if self.credential_name:
                return self  # the Secret carries key, chain and (MUTUAL) the client CA
            label = "SIMPLE TLS" if self.mode is ServerTLSMode.SIMPLE else "MUTUAL TLS"
            if not self.server_certificate:
                raise ValueError(f"{label} requires a server certificate (or credentialName)")
            if not self.private_key:
                raise ValueError(f"{label} requires a private key (or credentialName)")
            if self.mode is not ServerTLSMode.SIMPLE and not self.ca_certificates:
                raise ValueError(f"{label} requires a client CA bundle (caCertificates)")
        if self.ca_crl and self.credential_name:
            raise ValueError("caCrl is not supported with credentialName (put it in the Secret)")
        if self.ca_crl and self.mode is ServerTLSMode.SIMPLE:
            raise ValueError("caCrl is not supported with SIMPLE TLS")
        return self


class GatewayPort(IstioModel):
    number: PortNumber
    protocol: ServerProtocol
    name: str = Field(min_length=1)
    target_port: int | None = None

    @field_validator("protocol", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("target_port")
    @classmethod
    def _no_target(cls, value: int | None) -> int | None:
        if value:
            raise ValueError("targetPort has no effect on gateways")
        return value


def check_gateway_host(host: str) -> str:
    """`[namespace/]dnsName` (Istio's ValidateNamespaceSlashWildcardHostname with
    isGateway): the namespace `*`, `.` or a DNS label; the name `*`, `*.domain`, an FQDN
    or an IP address — never a short name, never a partial wildcard."""
    namespace, slash, name = host.rpartition("/")
    if slash:
        if not namespace or not name:
            raise ValueError(f"{host!r}: namespace and host in 'namespace/host' cannot be empty")
        if namespace not in ("*", ".") and not is_dns1123_label(namespace):
            raise ValueError(f"{host!r}: invalid namespace {namespace!r}")
    if name == "*" or is_ip(name):
        return host
    if "." not in name:
        raise ValueError(f"{host!r}: short names (not fully qualified) are not allowed")
    if "*" in name and not name.startswith("*."):
        raise ValueError(f"{host!r}: partial wildcard not allowed")
    check_wildcard_domain(name)
    return host


class Server(IstioModel):
    port: GatewayPort
    bind: str = ""
    hosts: list[str] = Field(min_length=1)
    tls: ServerTLSSettings | None = None
    default_endpoint: str = ""
    name: str = ""

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [check_gateway_host(h) for h in hosts]

    @field_validator("bind")
    @classmethod
    def _bind(cls, bind: str) -> str:
        if bind:
            raise ValueError("not supported by xdscp: a gateway listens on its workload's address")
        return bind

    @model_validator(mode="after")
    def _tls_matches_protocol(self) -> Server:
        protocol = self.port.protocol
        if protocol.is_tls and self.tls is None:
            raise ValueError("tls: required for HTTPS and TLS servers")
        if not protocol.is_tls and self.tls is not None:
            if not protocol.is_http:
                raise ValueError("tls: not allowed on a non HTTPS/TLS server")
            only_redirect = (
                self.tls.mode is ServerTLSMode.PASSTHROUGH
                and not self.tls.ca_certificates
                and not self.tls.private_key
                and not self.tls.server_certificate
            )
            if not only_redirect:
                raise ValueError("tls: a plain-text HTTP server can only set httpsRedirect")
        if self.tls is not None and self.tls.https_redirect and not protocol.is_http:
            raise ValueError("tls.httpsRedirect: only HTTP servers can redirect to HTTPS")
        if self.tls is not None and self.tls.mode is ServerTLSMode.OPTIONAL_MUTUAL:
            raise ValueError("tls.mode: OPTIONAL_MUTUAL is not supported (use MUTUAL)")
        if self.default_endpoint:
            raise ValueError("defaultEndpoint: not supported on gateways")
        return self


def _listener_kind(protocol: ServerProtocol) -> str:
    """Servers on one port share one listener: all HTTP, all TLS-based, or one protocol."""
    return "http" if protocol.is_http else "tls" if protocol.is_tls else str(protocol)


class GatewaySpec(IstioModel):
    """`selector` picks the gateway workloads (by their labels, in any namespace unless the
    mesh restricts it, as in Istio); `servers` are what they listen on."""

    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[Server] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_port_names(self) -> GatewaySpec:
        names = [s.port.name for s in self.servers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"servers: port names must be unique (duplicate: {', '.join(duplicates)})"
            )
        by_number: dict[int, ServerProtocol] = {}
        for server in self.servers:
            known = by_number.setdefault(server.port.number, server.port.protocol)
            if _listener_kind(known) != _listener_kind(server.port.protocol):
                raise ValueError(
                    f"servers: port {server.port.number} is used with incompatible protocols "
                    f"{known} and {server.port.protocol}"
                )
        return self
