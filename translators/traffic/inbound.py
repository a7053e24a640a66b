"""A workload's inbound clusters' connection pool: Sidecar `ingress[].connectionPool` for
its port, else the Sidecar's `inboundConnectionPool` (Istio's
SidecarScope.InboundConnectionPoolForPort), else — for a port a service declares — the
connectionPool of the DestinationRule the proxy sees for that service, at the service
port (top level or portLevelSettings; a rule with a workloadSelector does not apply
inbound, as in Istio's SidecarScope.DestinationRule).

As in Istio's buildInboundCluster + applyTrafficPolicy, every inbound cluster gets
circuit breakers — with no pool configured they are Istio's "unlimited" defaults, not
Envoy's 1024, so the receiving side never caps what its callers are allowed to send —
and only the connection pool applies inbound: no outlier detection, load balancer, TLS
or HTTP/2 upgrade (the local app is one endpoint, reached in plaintext).
"""

from __future__ import annotations

from dataclasses import dataclass

from translators.ir import DestinationPolicyIR
from translators.model.networking import DestinationRuleSpec, Protocol, SidecarSpec
from translators.model.objects import MeshObject
from translators.model.traffic import ConnectionPoolSettings
from translators.traffic.policy import EffectivePolicy, cluster_policy, connect_timeout


@dataclass(frozen=True, slots=True)
class InboundPool:
    connect_timeout_s: float
    policy: DestinationPolicyIR
    provenance: tuple[str, ...]  # the object whose pool applies (none: Istio's defaults)


def inbound_pool_settings(sidecar: SidecarSpec | None, port: int) -> ConnectionPoolSettings | None:
    """The Sidecar's pool for inbound `port`: a per-port one replaces the sidecar-wide one."""
    if sidecar is None:
        return None
    for listener in sidecar.ingress:
        if listener.port.number == port and listener.connection_pool is not None:
            return listener.connection_pool
    return sidecar.inbound_connection_pool


def _rule_pool(
    rule: MeshObject[DestinationRuleSpec] | None, service_port: int
) -> ConnectionPoolSettings | None:
    if rule is None or rule.spec.workload_selector is not None:
        return None
    policy = rule.spec.traffic_policy
    if policy is None:
        return None
    for level in policy.port_level_settings:
        if level.port.number == service_port:
            return level.connection_pool
    return policy.connection_pool


def inbound_pool(
    sidecar_obj: MeshObject[SidecarSpec] | None,
    port: int,
    rule: MeshObject[DestinationRuleSpec] | None = None,
    service_port: int = 0,
) -> InboundPool:
    sidecar = sidecar_obj.spec if sidecar_obj else None
    settings = inbound_pool_settings(sidecar, port)
    source: tuple[str, ...] = (sidecar_obj.ref,) if settings is not None and sidecar_obj else ()
    if settings is None:
        settings = _rule_pool(rule, service_port)
        source = rule.refs if settings is not None and rule is not None else ()
    effective = EffectivePolicy(connection_pool=settings)
    # TCP: Istio applies no h2UpgradePolicy inbound (useClientProtocol still applies)
    return InboundPool(connect_timeout(effective), cluster_policy(effective, Protocol.TCP), source)
