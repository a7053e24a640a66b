"""A workload's inbound clusters' connection pool: Sidecar `ingress[].connectionPool` for
its port, else the Sidecar's `inboundConnectionPool` (Istio's
SidecarScope.InboundConnectionPoolForPort).

As in Istio's buildInboundCluster + applyTrafficPolicy, every inbound cluster gets
circuit breakers — with no pool configured they are Istio's "unlimited" defaults, not
Envoy's 1024, so the receiving side never caps what its callers are allowed to send —
and only the connection pool applies inbound: no outlier detection, load balancer, TLS
or HTTP/2 upgrade (the local app is one endpoint, reached in plaintext).
"""

from __future__ import annotations

from dataclasses import dataclass

from translators.ir import DestinationPolicyIR
from translators.model.networking import Protocol, SidecarSpec
from translators.model.traffic import ConnectionPoolSettings
from translators.traffic.policy import EffectivePolicy, cluster_policy, connect_timeout


@dataclass(frozen=True, slots=True)
class InboundPool:
    connect_timeout_s: float
    policy: DestinationPolicyIR
    configured: bool  # a Sidecar sets the pool (else Istio's defaults)


def inbound_pool_settings(sidecar: SidecarSpec | None, port: int) -> ConnectionPoolSettings | None:
    """The pool for inbound `port`: a per-port pool replaces the sidecar-wide one entirely."""
    if sidecar is None:
        return None
    for listener in sidecar.ingress:
        if listener.port.number == port and listener.connection_pool is not None:
            return listener.connection_pool
    return sidecar.inbound_connection_pool


def inbound_pool(sidecar: SidecarSpec | None, port: int) -> InboundPool:
    settings = inbound_pool_settings(sidecar, port)
    effective = EffectivePolicy(connection_pool=settings)
    # TCP: Istio applies no h2UpgradePolicy inbound (useClientProtocol still applies)
    return InboundPool(
        connect_timeout(effective), cluster_policy(effective, Protocol.TCP), settings is not None
    )
