"""What a gateway proxy does, in mesh terms: listeners per port whose filter chains
(chosen by SNI) terminate TLS or not and then route HTTP (by RDS) or proxy TCP. The HTTP
routes and TCP destinations are the sidecars' IR (`RouteTableIR`, `TcpRouteIR`), so a
VirtualService or HTTPRoute means the same on a gateway as on a sidecar."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translators.ir import AuthzPolicyIR, RouteTableIR, TcpRouteIR
from translators.ir.jwt import JwtRuleIR


class DownstreamTLSMode(StrEnum):
    SIMPLE = "SIMPLE"  # server certificate only
    MUTUAL = "MUTUAL"  # a client certificate signed by the credential's CA is required
    ISTIO_MUTUAL = "ISTIO_MUTUAL"  # the mesh's own certificates, a mesh client required


@dataclass(frozen=True, slots=True)
class DownstreamTLSIR:
    """How a gateway filter chain terminates TLS. The certificate comes over SDS
    (`certificate_secret`, `ca_secret`) or from files on the gateway's host."""

    mode: DownstreamTLSMode
    certificate_secret: str = ""
    ca_secret: str = ""
    certificate_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    min_version: str = ""  # TLSV1_2 ...; "" is Envoy's default
    max_version: str = ""
    cipher_suites: tuple[str, ...] = ()
    subject_alt_names: tuple[str, ...] = ()  # client certificate names accepted (MUTUAL)
    http: bool = True  # negotiate h2 / http/1.1 by ALPN


@dataclass(frozen=True, slots=True)
class GatewayChainIR:
    """Connections whose SNI is one of `server_names` (any, when empty): TLS terminated
    by `tls` (or not), then HTTP routed by `route_config` or proxied as `tcp`."""

    name: str
    server_names: tuple[str, ...] = ()
    tls: DownstreamTLSIR | None = None
    route_config: str = ""
    tcp: TcpRouteIR | None = None
    provenance: tuple[str, ...] = ()
    # AUTO_PASSTHROUGH: the server's hosts (`ns/host`, `*/host`); the chain takes the mesh
    # mTLS SNI of every cluster of those hosts and proxies the still-encrypted connection
    # to that cluster's endpoints (resolved against the proxy's clusters, `sni_dnat`)
    auto_passthrough: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GatewayListenerIR:
    name: str
    address: str
    port: int
    chains: tuple[GatewayChainIR, ...]
    provenance: tuple[str, ...] = ()
    # the gateway workload's RequestAuthentication rules: jwt_authn on its HTTP chains
    jwt: tuple[JwtRuleIR, ...] = ()
    # the AuthorizationPolicies selecting the gateway workload: RBAC on every chain (HTTP
    # after jwt_authn, network RBAC before TCP proxying), as on a sidecar's inbound
    authz: tuple[AuthzPolicyIR, ...] = ()


@dataclass(frozen=True, slots=True)
class Credential:
    """A `credentialName` a gateway serves: the Secret (file mode: directory) `name` in
    `namespace`; `with_ca` when its client CA is needed too (MUTUAL)."""

    namespace: str
    name: str
    with_ca: bool = False
    # False: only the CA is served (a sidecar's SIMPLE TLS origination by credentialName)
    with_key: bool = True


@dataclass(frozen=True, slots=True)
class GatewayProxyIR:
    listeners: tuple[GatewayListenerIR, ...]
    route_configs: tuple[RouteTableIR, ...]
    credentials: tuple[Credential, ...] = ()
    warnings: tuple[str, ...] = ()
