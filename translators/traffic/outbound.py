"""Unknown outbound traffic: `Sidecar.outboundTrafficPolicy`.

Every outbound HTTP route configuration ends with a `*` virtual host that catches
authorities no service claims (Envoy prefers any exact or wildcard domain to `*`):

* REGISTRY_ONLY: Istio's `block_all` virtual host, a direct 502;
* ALLOW_ANY (the default): Istio forwards to `PassthroughCluster`, an ORIGINAL_DST
  cluster that reconnects to the destination iptables captured. An xdscp sidecar in
  file mode is called explicitly (captureMode NONE, no iptables), so there is no
  original destination — an ORIGINAL_DST cluster would connect back to the listener
  itself. What the application did say is the authority, so xdscp forwards by it
  through Envoy's dynamic forward proxy (resolving names with the system resolver,
  IP literals as they are), exactly as Istio's ALLOW_ANY_DYNAMIC_DNS mode does, with
  its names (`allow_any_dynamic_dns` -> `AllowAnyDynamicDNSCluster`).
* ALLOW_ANY with `egressProxy`: Istio's `allow_any` virtual host forwards to the egress
  proxy's cluster (`outbound|<port>|<subset>|<host>`) instead, and so does the capture
  listener's fallback for other traffic; a short host name is taken in the Sidecar's
  namespace (Istio uses it as written, which matches no cluster).
"""

from __future__ import annotations

from translators.hosts import resolve_host
from translators.ir import (
    DestinationIR,
    DirectResponseIR,
    LoadBalancing,
    Resolution,
    RetryIR,
    RouteIR,
    RouteMatchIR,
    VirtualHostIR,
    WeightedDestinationIR,
)
from translators.model.networking import OutboundMode, SidecarSpec
from translators.model.objects import MeshObject
from translators.naming import (
    ALLOW_ANY,
    ALLOW_ANY_DYNAMIC_DNS,
    ALLOW_ANY_DYNAMIC_DNS_CLUSTER,
    BLOCK_ALL,
    outbound_cluster,
)

BLOCKED_STATUS = 502  # what Istio's block_all route answers


def outbound_mode(sidecar: SidecarSpec | None) -> OutboundMode:
    policy = sidecar.outbound_traffic_policy if sidecar else None
    return policy.mode if policy else OutboundMode.ALLOW_ANY


def egress_proxy_cluster(sidecar: MeshObject[SidecarSpec] | None, domain_suffix: str) -> str:
    """The cluster ALLOW_ANY traffic goes to (Istio's GetDestinationCluster(egressProxy));
    "" without an egress proxy."""
    policy = sidecar.spec.outbound_traffic_policy if sidecar else None
    proxy = policy.egress_proxy if policy else None
    if sidecar is None or proxy is None or proxy.port is None:
        return ""
    host = resolve_host(proxy.host, sidecar.namespace, domain_suffix)
    return outbound_cluster(proxy.port.number, host, proxy.subset or "")


def catch_all_virtual_host(
    mode: OutboundMode, provenance: tuple[str, ...], egress_cluster: str = ""
) -> VirtualHostIR:
    if mode is OutboundMode.REGISTRY_ONLY:
        route = RouteIR(
            BLOCK_ALL,
            RouteMatchIR(),
            (),
            provenance,
            direct_response=DirectResponseIR(BLOCKED_STATUS),
        )
        return VirtualHostIR(BLOCK_ALL, ("*",), (route,), provenance)
    if egress_cluster:
        route = RouteIR(
            ALLOW_ANY,
            RouteMatchIR(),
            (WeightedDestinationIR(egress_cluster, 100),),
            provenance,
            retries=RetryIR(attempts=0, retry_on=""),
        )
        return VirtualHostIR(ALLOW_ANY, ("*",), (route,), provenance)
    route = RouteIR(
        ALLOW_ANY_DYNAMIC_DNS,
        RouteMatchIR(),
        (WeightedDestinationIR(ALLOW_ANY_DYNAMIC_DNS_CLUSTER, 100),),
        provenance,
        retries=RetryIR(attempts=0, retry_on=""),  # Istio's passthrough route has none
    )
    return VirtualHostIR(ALLOW_ANY_DYNAMIC_DNS, ("*",), (route,), provenance)


def allow_any_cluster() -> DestinationIR:
    return DestinationIR(
        ALLOW_ANY_DYNAMIC_DNS_CLUSTER, Resolution.FORWARD_PROXY, LoadBalancing.PASSTHROUGH
    )
