"""Security in the IR: a workload port's peer authentication (mTLS mode) and
authorization policies."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    # a gRPC port: Istio's default inbound retry (reset-before-request) is left off
    grpc: bool = False
    # Sidecar `ingress[].tls`: the sidecar terminates TLS with these files (only where
    # the port's mTLS mode is DISABLE, as in Istio)
    tls: InboundTLSIR | None = None


@dataclass(frozen=True, slots=True)
class InboundTLSIR:
    """TLS a sidecar terminates on an inbound port with the user's certificate files."""

    certificate_file: str
    key_file: str
    ca_file: str = ""  # client certificates are verified against it
    require_client_certificate: bool = False  # MUTUAL (OPTIONAL_MUTUAL: verified if sent)
    min_version: str = ""  # TLSV1_2 ...; "" is Envoy's default
    max_version: str = ""
    cipher_suites: tuple[str, ...] = ()
