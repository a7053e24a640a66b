"""Destinations in the IR: the upstreams a proxy can send to (one per service port
and subset), their endpoints and how the proxy talks TLS to them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from translators.ir.policies import DestinationPolicyIR
from translators.ir.record import fast_init


class Resolution(StrEnum):
    """How a destination's endpoints are found."""

    ENDPOINTS = "endpoints"  # listed by the control plane (the mesh registry), updated live
    STATIC = "static"  # fixed, written in the destination itself
    DNS = "dns"  # every address the endpoints' hostnames resolve to
    DNS_ROUND_ROBIN = "dns_round_robin"  # one address of one hostname at a time
    ORIGINAL_DESTINATION = "original_destination"  # where the caller connected
    # the request's authority, resolved on demand (where Istio would use the captured
    # original destination, see DestinationIR)
    FORWARD_PROXY = "forward_proxy"


class LoadBalancing(StrEnum):
    """How one endpoint is picked among a destination's endpoints."""

    ROUND_ROBIN = "round_robin"
    LEAST_REQUEST = "least_request"
    RANDOM = "random"
    PASSTHROUGH = "passthrough"  # none: the resolution names the one endpoint
    RING_HASH = "ring_hash"
    MAGLEV = "maglev"


@fast_init
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


@fast_init
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
    # SIMPLE / MUTUAL by `credentialName`: the credential (`namespace/name`) whose CA (and,
    # MUTUAL, certificate and key) reach the proxy over SDS instead of files
    credential: str = ""
    ca_crl: str = ""  # file: the revocation list checked with `ca_certificates`


@fast_init
@dataclass(frozen=True, slots=True)
class DestinationIR:
    name: str
    resolution: Resolution
    load_balancing: LoadBalancing = LoadBalancing.ROUND_ROBIN
    # Only for static / DNS destinations, whose endpoints are inline rather than listed
    # by the control plane.
    endpoints: tuple[EndpointIR, ...] = ()
    connect_timeout_s: float = 10.0
    provenance: tuple[str, ...] = ()
    tls: UpstreamTLSIR | None = None
    # DestinationRule connectionPool / outlierDetection / consistent-hash settings; None
    # for clusters no DestinationRule applies to (inbound, special clusters)
    policy: DestinationPolicyIR | None = None


@dataclass(frozen=True, slots=True)
class LocalityGroupIR:
    """Envoy's LocalityLbEndpoints: endpoints of one locality at one priority (0 first);
    `weight` is the group's share under locality-weighted balancing."""

    locality: str
    endpoints: tuple[EndpointIR, ...]
    priority: int = 0
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class LocalityLbIR:
    """The locality setting (localityLbSetting) one cluster applies per calling proxy
    (translators/traffic/locality.py). `labels[i]` are the values of the
    `failoverPriority` labels of the assignment's endpoint i."""

    distribute: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    failover: tuple[tuple[str, str], ...] = ()  # (from region, to region)
    failover_priority: tuple[str, ...] = ()
    enable_failover: bool = False
    labels: tuple[tuple[tuple[str, str], ...], ...] = ()
    # zoneAwareLbSetting: priorities by region only (the proxy's region first), always
    zone_aware: bool = False

    def label_names(self) -> tuple[str, ...]:
        return tuple(entry.partition("=")[0] for entry in self.failover_priority)


@fast_init
@dataclass(frozen=True, slots=True)
class EndpointSetIR:
    destination: str  # the DestinationIR's name
    endpoints: tuple[EndpointIR, ...]
    provenance: tuple[str, ...] = ()
    # Endpoints by locality; empty: one group without a locality, which is what a mesh
    # without localities gets
    groups: tuple[LocalityGroupIR, ...] = ()
    # set until applied for a calling proxy's locality (`locality.localize`)
    locality_lb: LocalityLbIR | None = None
