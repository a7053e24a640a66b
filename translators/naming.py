"""Every name xdscp generates, in one place.

Names are part of the API: Envoy stats, dashboards, `/config_dump` readers and
operators used to Istio all key on them, so they follow Istio's conventions and
are never built ad hoc elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import xdstypes

# SPIFFE naming is defined in `ca.spiffe` (standard library only) so the CA names
# identities exactly as the translators do without importing them; re-exported here
# because every generated name is part of this module's API.
from ca.spiffe import DEFAULT_TRUST_DOMAIN as DEFAULT_TRUST_DOMAIN
from ca.spiffe import SPIFFE_PREFIX as SPIFFE_PREFIX
from ca.spiffe import spiffe_id as spiffe_id

# --- xDS type URLs -----------------------------------------------------------
# The table of types (order, dependencies, generators) is `xdstypes`; these are its
# type URLs under the names the translators use.
CLUSTER_TYPE: Final = xdstypes.CDS.type_url
ENDPOINT_TYPE: Final = xdstypes.EDS.type_url
LISTENER_TYPE: Final = xdstypes.LDS.type_url
ROUTE_TYPE: Final = xdstypes.RDS.type_url
SECRET_TYPE: Final = xdstypes.SDS.type_url

# Make-before-break order within one ADS stream (DESIGN §5).
PUSH_ORDER: Final = xdstypes.PUSH_ORDER
# SotW types whose response is the full state (absence means delete).
FULL_STATE_TYPES: Final = xdstypes.FULL_STATE_TYPES
SHORT_TYPE_NAMES: Final = xdstypes.SHORT_TYPE_NAMES

# --- special clusters and listeners -----------------------------------------
PASSTHROUGH_CLUSTER: Final = "PassthroughCluster"
BLACKHOLE_CLUSTER: Final = "BlackHoleCluster"
INBOUND_PASSTHROUGH_CLUSTER: Final = "InboundPassthroughCluster"
XDS_CLUSTER: Final = "xds-grpc"
VIRTUAL_OUTBOUND_LISTENER: Final = "virtualOutbound"
VIRTUAL_INBOUND_LISTENER: Final = "virtualInbound"
VIRTUAL_OUTBOUND_PORT: Final = 15001
VIRTUAL_INBOUND_PORT: Final = 15006
ADMIN_PORT: Final = 15000

# --- SDS --------------------------------------------------------------------
WORKLOAD_SECRET: Final = "default"
ROOT_CA_SECRET: Final = "ROOTCA"

# --- identity ---------------------------------------------------------------
# DEFAULT_TRUST_DOMAIN, SPIFFE_PREFIX and spiffe_id(): imported above from `ca.spiffe`.

# --- mTLS and authorization (Istio's names) ---------------------------------
# A workload without this annotation set to "false" has a sidecar (file mode).
SIDECAR_INJECT_ANNOTATION: Final = "sidecar.istio.io/inject"
# What an injector leaves on a Pod it gave a sidecar (xdscp's, and Istio's).
INJECTED_ANNOTATIONS: Final = ("xdscp.io/injected", "sidecar.istio.io/status")
# Endpoint label saying whether the endpoint's sidecar speaks mesh mTLS ("istio").
TLS_MODE_LABEL: Final = "security.istio.io/tlsMode"
TLS_MODE_ISTIO: Final = "istio"
# Endpoint metadata namespace Envoy's transport_socket_matches look at.
TRANSPORT_SOCKET_MATCH_KEY: Final = "envoy.transport_socket_match"
TLS_MODE_METADATA_KEY: Final = "tlsMode"
# An AuthorizationPolicy annotated with this is evaluated but not enforced.
DRY_RUN_ANNOTATION: Final = "istio.io/dry-run"
TLS_TRANSPORT_SOCKET: Final = "envoy.transport_sockets.tls"
DEFAULT_DOMAIN_SUFFIX: Final = "svc.cluster.local"

# Metadata filter namespace under which every resource names its source objects.
PROVENANCE_KEY: Final = "xdscp"


def outbound_cluster(port: int, fqdn: str, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{fqdn}"


def parse_outbound_cluster(name: str) -> tuple[int, str, str] | None:
    """(port, subset, fqdn) of an outbound cluster name, or None."""
    parts = name.split("|")
    if len(parts) != 4 or parts[0] != "outbound" or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2], parts[3]


def inbound_cluster(target_port: int) -> str:
    return f"inbound|{target_port}||"


def port_listener(port: int, bind: str = "0.0.0.0") -> str:
    return f"{bind}_{port}"


def listener_stat_prefix(direction: str, address: str, port: int) -> str:
    """The stat prefix of a per-port listener's HTTP connection manager / tcp_proxy
    (`outbound_10.0.0.1_8080`): Envoy's counters for that port carry it."""
    return f"{direction}_{address}_{port}"


def outbound_route_config(port: int) -> str:
    return str(port)


def inbound_route_config(port: int) -> str:
    return f"inbound|{port}||"


def virtual_host(fqdn: str, port: int) -> str:
    return f"{fqdn}:{port}"


MAX_SNI_BYTES = 255  # TLS (and Envoy's UpstreamTlsContext.sni) allow no longer name


def mtls_sni(port: int, fqdn: str, subset: str = "") -> str:
    """Istio's mTLS SNI; none when it would be longer than TLS allows (Envoy would NACK
    the cluster; xdscp's sidecars do not route inbound mTLS by SNI)."""
    sni = f"outbound_.{port}_.{subset}_.{fqdn}"
    return sni if len(sni.encode()) <= MAX_SNI_BYTES else ""


def service_fqdn(name: str, namespace: str, suffix: str = DEFAULT_DOMAIN_SUFFIX) -> str:
    return f"{name}.{namespace}.{suffix}"


def proxy_node_id(address: str, workload: str, namespace: str) -> str:
    """Istio's `sidecar~<ip>~<name>.<ns>~<ns>.svc.cluster.local` node id format."""
    return f"sidecar~{address}~{workload}.{namespace}~{namespace}.{DEFAULT_DOMAIN_SUFFIX}"


def object_ref(kind: str, namespace: str, name: str) -> str:
    """How provenance and errors name a mesh object: `Kind/namespace/name`."""
    return f"{kind}/{namespace}/{name}"


def rbac_policy_name(namespace: str, name: str, rule: int) -> str:
    """Istio's name for the Envoy RBAC policy made from one AuthorizationPolicy rule."""
    return f"ns[{namespace}]-policy[{name}]-rule[{rule}]"


# Istio's names for the RBAC policies of a CUSTOM policy whose provider is not defined
# (pilot/pkg/security/authz/builder: extAuthzMatchPrefix, badCustomActionSuffix)
EXT_AUTHZ_PREFIX: Final = "istio-ext-authz"
BAD_CUSTOM_SUFFIX: Final = "-deny-due-to-bad-CUSTOM-action"


def custom_deny_policy_name(namespace: str, name: str, rule: int, provider: str) -> str:
    """The DENY policy standing for one rule of a CUSTOM policy with an undefined provider."""
    prefix = f"{EXT_AUTHZ_PREFIX}-{provider}-" if provider else f"{EXT_AUTHZ_PREFIX}-"
    return f"{prefix}{rbac_policy_name(namespace, name, rule)}{BAD_CUSTOM_SUFFIX}"


def parse_rbac_policy_name(name: str) -> tuple[str, str, int] | None:
    """(namespace, AuthorizationPolicy name, rule index) of an RBAC policy name, or None."""
    found = re.fullmatch(
        rf"(?:{EXT_AUTHZ_PREFIX}-.*?)?ns\[(.*)\]-policy\[(.*)\]-rule\[(\d+)\]"
        rf"(?:{BAD_CUSTOM_SUFFIX})?",
        name,
    )
    if found is None:
        return None
    return found.group(1), found.group(2), int(found.group(3))


# --- JWT (RequestAuthentication) -------------------------------------------
JWT_AUTHN_FILTER: Final = "envoy.filters.http.jwt_authn"
# Where jwt_authn puts a verified token's payload in the request's dynamic metadata
# (Istio's `EnvoyJwtFilterPayload`); RBAC and claim-based routes match under it.
JWT_PAYLOAD_METADATA_KEY: Final = "payload"
# VirtualService header matches on JWT claims: `@request.auth.claims.<a>.<b>` or
# `@request.auth.claims[<a>][<b>]` (Istio's `HeaderJWTClaim`).
JWT_CLAIM_HEADER_PREFIX: Final = "@request.auth.claims"


def jwt_provider(index: int) -> str:
    """Istio's jwt_authn provider name for the index-th JWT rule of a workload."""
    return f"origins-{index}"


def routing_claim(header: str) -> tuple[str, ...] | None:
    """The claim path of a `@request.auth.claims...` route header match, else None
    (Istio's `jwt.ToRoutingClaim`)."""
    if not header.lower().startswith(JWT_CLAIM_HEADER_PREFIX):
        return None
    rest = header[len(JWT_CLAIM_HEADER_PREFIX) :]
    if rest.startswith(".") and len(rest) > 1:
        return tuple(rest[1:].split("."))
    if rest.startswith("[") and rest.endswith("]") and len(rest) > 2:
        return tuple(rest[1:-1].split("]["))
    return None


def inbound_filter_chain(port: int, tls: bool) -> str:
    return f"inbound|{port}|{'mtls' if tls else 'plaintext'}"


def inbound_tls_filter_chain(port: int) -> str:
    """An inbound port whose TLS the sidecar terminates with the user's certificates."""
    return f"inbound|{port}|tls"


# --- telemetry ----------------------------------------------------------------
# Istio's Prometheus scrape port: a bootstrap listener that serves only the admin's
# /stats/prometheus, so the admin API itself never has to be reachable.
STATS_PORT: Final = 15090
STATS_PATH: Final = "/stats/prometheus"
STATS_LISTENER: Final = "prometheus_stats"
STATS_CLUSTER: Final = "prometheus_stats"
# An injected Pod's readiness probe: a bootstrap listener proxying the admin's /ready.
READY_LISTENER: Final = "xdscp_ready"
READY_ADMIN_CLUSTER: Final = "xdscp-admin"
TELEMETRY_KIND: Final = "Telemetry"


def tracing_cluster(provider: str) -> str:
    """The cluster a sidecar sends spans to for one tracing provider."""
    return f"tracing|{provider}"


# --- traffic management --------------------------------------------------------
# Istio's names for unknown outbound traffic (pilot/pkg/networking/util/util.go):
# REGISTRY_ONLY answers 502 from the `block_all` virtual host; ALLOW_ANY forwards by the
# request's authority through a dynamic forward proxy — Istio's ALLOW_ANY_DYNAMIC_DNS
# names, since xdscp sidecars have no captured original destination to pass through to.
BLOCK_ALL: Final = "block_all"
ALLOW_ANY: Final = "allow_any"  # Istio's passthrough virtual host (to an egressProxy here)
ALLOW_ANY_DYNAMIC_DNS: Final = "allow_any_dynamic_dns"
ALLOW_ANY_DYNAMIC_DNS_CLUSTER: Final = "AllowAnyDynamicDNSCluster"
# The one DNS cache every dynamic forward proxy cluster and filter shares (Envoy requires
# a filter and the clusters it serves to name the same cache with the same settings).
DFP_DNS_CACHE: Final = "xdscp_dfp_dns_cache"


def tcp_filter_chain(port: int, name: str, subnets: Sequence[str] = ()) -> str:
    """An outbound TCP/TLS listener's filter chain for one destination (host or SNI),
    and, when a VirtualService match gives them, the destination subnets it is for."""
    if subnets:
        return f"outbound|{port}||{name}|{','.join(subnets)}"
    return f"outbound|{port}||{name}"


# --- gateways ------------------------------------------------------------------
# Istio's names (pilot/pkg/networking/core/gateway.go, credentials/kube): a gateway's
# plain-text HTTP routes per port, its TLS-terminated routes per server, and the SDS
# names of a `credentialName` (the key/chain, and `-cacert` the client CA of MUTUAL).
CREDENTIAL_PREFIX: Final = "kubernetes://"


def gateway_http_route_config(port: int) -> str:
    return f"http.{port}"


def gateway_https_route_config(port: int, port_name: str, gateway: str, namespace: str) -> str:
    return f"https.{port}.{port_name}.{gateway}.{namespace}"


def gateway_filter_chain(port: int, server: str) -> str:
    return f"{port}|{server}"


def credential_secret(namespace: str, name: str) -> str:
    return f"{CREDENTIAL_PREFIX}{namespace}/{name}"


def credential_ca_secret(namespace: str, name: str) -> str:
    return f"{credential_secret(namespace, name)}-cacert"


def gateway_deployment(gateway: str, gateway_class: str) -> str:
    """The ServiceAccount, Deployment and Service run for a Gateway API Gateway
    (Istio's automated deployment names them `<gateway>-<class>`)."""
    return f"{gateway}-{gateway_class}"
