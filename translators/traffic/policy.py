"""DestinationRule traffic policy -> cluster settings and route hash policies.

Merge order is Istio's (pilot/pkg/networking/util/util.go `MergeSubsetTrafficPolicy`,
`GetPortLevelTrafficPolicy`):

1. a `portLevelSettings` entry for the cluster's port *replaces* its level's
   loadBalancer, connectionPool and outlierDetection wholesale — a field it omits
   falls back to the default, not to the level above;
2. a subset's policy (itself resolved for the port as in 1) overrides the top-level
   one field by field: each of loadBalancer, connectionPool, outlierDetection the
   subset sets replaces the top-level one entirely (no deep merge); a subset
   port-level entry replaces all of them.

Translation follows pilot/pkg/networking/core/cluster_traffic_policy.go: circuit
breakers always set (unset limits are "unlimited", Istio's defaults rather than
Envoy's 1024), outlier detection only when configured (success-rate ejection off,
enforcement 100% for the consecutive-error detectors, the panic threshold from
minHealthPercent, 0 by default), LEAST_REQUEST when no load balancer is chosen,
RING_HASH (1024 entries) for consistent hashing unless maglev is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from translators.ir import (
    BackendUtilizationIR,
    DestinationPolicyIR,
    HashPolicyIR,
    Http2KeepaliveIR,
    LoadBalancing,
    OutlierIR,
    RetryBudgetIR,
    SlowStartIR,
    TcpKeepaliveIR,
)
from translators.model.networking import (
    HTTP_PROTOCOLS,
    LoadBalancerSettings,
    Protocol,
    ProxyProtocol,
    ProxyProtocolVersion,
    RetryBudget,
    SimpleLB,
    TrafficPolicy,
)
from translators.model.traffic import (
    ConnectionPoolSettings,
    H2UpgradePolicy,
    OutlierDetection,
)
from translators.traffic.locality import locality_weighted

_SIMPLE = {
    SimpleLB.UNSPECIFIED: LoadBalancing.LEAST_REQUEST,
    SimpleLB.LEAST_CONN: LoadBalancing.LEAST_REQUEST,
    SimpleLB.LEAST_REQUEST: LoadBalancing.LEAST_REQUEST,
    SimpleLB.ROUND_ROBIN: LoadBalancing.ROUND_ROBIN,
    SimpleLB.RANDOM: LoadBalancing.RANDOM,
    SimpleLB.PASSTHROUGH: LoadBalancing.PASSTHROUGH,
}
_DEFAULT_RING_SIZE = 1024
DEFAULT_CONNECT_TIMEOUT_S = 10.0  # Istio's meshConfig.connectTimeout default


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The policy one cluster (service port x subset) gets, after Istio's merge."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


def _at_port(policy: TrafficPolicy | None, port: int) -> tuple[EffectivePolicy | None, bool]:
    if policy is None:
        return None, False
    for level in policy.port_level_settings:
        if level.port.number == port:
            return (
                EffectivePolicy(
                    level.load_balancer, level.connection_pool, level.outlier_detection
                ),
                True,
            )
    return (
        EffectivePolicy(
            policy.load_balancer,
            policy.connection_pool,
            policy.outlier_detection,
            policy.proxy_protocol,
            policy.retry_budget,
        ),
        False,
    )


def effective_policy(
    top: TrafficPolicy | None, subset: TrafficPolicy | None, port: int
) -> EffectivePolicy:
    base, _ = _at_port(top, port)
    base = base or _NO_POLICY
    own, port_level = _at_port(subset, port)
    if own is None:
        return base
    if port_level:
        # a port-level entry has no proxyProtocol / retryBudget: the level above's stay
        return EffectivePolicy(
            own.load_balancer,
            own.connection_pool,
            own.outlier_detection,
            base.proxy_protocol,
            base.retry_budget,
        )
    return EffectivePolicy(
        own.load_balancer or base.load_balancer,
        own.connection_pool or base.connection_pool,
        own.outlier_detection or base.outlier_detection,
        own.proxy_protocol or base.proxy_protocol,
        own.retry_budget or base.retry_budget,
    )


def load_balancing(lb: LoadBalancerSettings | None) -> LoadBalancing:
    if lb is None:
        return LoadBalancing.LEAST_REQUEST
    consistent = lb.consistent_hash
    if consistent is not None:
        return LoadBalancing.MAGLEV if consistent.maglev is not None else LoadBalancing.RING_HASH
    return _SIMPLE[lb.simple]


def is_passthrough(lb: LoadBalancerSettings | None) -> bool:
    """Istio turns a PASSTHROUGH load balancer into an ORIGINAL_DST cluster."""
    return lb is not None and lb.simple is SimpleLB.PASSTHROUGH


def hash_policy(lb: LoadBalancerSettings | None) -> HashPolicyIR | None:
    """What routes to a consistent-hash cluster hash on (Istio's ConsistentHashToHashPolicy)."""
    consistent = lb.consistent_hash if lb else None
    if consistent is None:
        return None
    if consistent.http_header_name:
        return HashPolicyIR(header=consistent.http_header_name)
    if consistent.http_cookie is not None:
        cookie = consistent.http_cookie
        return HashPolicyIR(
            cookie=cookie.name,
            cookie_path=cookie.path,
            cookie_ttl_s=cookie.ttl,
            cookie_attributes=tuple((a.name, a.value) for a in cookie.attributes),
        )
    if consistent.use_source_ip:
        return HashPolicyIR(source_ip=True)
    return HashPolicyIR(query_parameter=consistent.http_query_parameter_name or "")


def _positive(value: int) -> int | None:
    """Istio cannot tell 0 from unset in these integer fields: 0 means the default."""
    return value if value > 0 else None


def _outlier(spec: OutlierDetection | None) -> OutlierIR | None:
    if spec is None:
        return None
    five_xx = spec.consecutive_5xx_errors
    if five_xx is None:
        five_xx = spec.consecutive_errors  # deprecated alias
    return OutlierIR(
        consecutive_5xx=five_xx,
        consecutive_gateway=spec.consecutive_gateway_errors,
        split_local_origin=spec.split_external_local_origin_errors,
        consecutive_local_origin=spec.consecutive_local_origin_failures
        if spec.split_external_local_origin_errors
        else None,
        interval_s=spec.interval,
        base_ejection_s=spec.base_ejection_time,
        max_ejection_percent=_positive(spec.max_ejection_percent),
        min_health_percent=spec.min_health_percent,
    )


# Istio's setWarmup defaults: a linear ramp from 10% of the weight (Envoy's own minimum)
_DEFAULT_AGGRESSION = 1.0
_DEFAULT_MIN_WEIGHT_PERCENT = 10.0
# Istio's applyRetryBudget defaults
_DEFAULT_BUDGET_PERCENT = 20.0
_DEFAULT_MIN_RETRY_CONCURRENCY = 3
_PROXY_PROTOCOL_VERSIONS = {ProxyProtocolVersion.V1: 1, ProxyProtocolVersion.V2: 2}


def _slow_start(lb: LoadBalancerSettings | None) -> SlowStartIR | None:
    """Istio's applyRoundRobinLoadBalancer / applyLeastRequestLoadBalancer: warmup is an
    option of those two balancers only (consistent hashing and RANDOM have no slow start)."""
    if lb is None or load_balancing(lb) not in (
        LoadBalancing.ROUND_ROBIN,
        LoadBalancing.LEAST_REQUEST,
    ):
        return None
    if lb.warmup is not None:
        warmup = lb.warmup
        return SlowStartIR(
            window_s=warmup.duration,
            aggression=_DEFAULT_AGGRESSION if warmup.aggression is None else warmup.aggression,
            min_weight_percent=_DEFAULT_MIN_WEIGHT_PERCENT
            if warmup.minimum_percent is None
            else warmup.minimum_percent,
        )
    if lb.warmup_duration_secs is not None:
        return SlowStartIR(window_s=lb.warmup_duration_secs)
    return None


def _backend_utilization(lb: LoadBalancerSettings | None) -> BackendUtilizationIR | None:
    """`backendUtilization` (Istio's API: weights from the endpoints' ORCA reports) as
    Envoy's client_side_weighted_round_robin; unset fields keep Envoy's defaults."""
    found = lb.backend_utilization if lb is not None else None
    if found is None:
        return None
    penalty = found.error_utilization_penalty_percent
    return BackendUtilizationIR(
        error_penalty=None if penalty is None else penalty / 100,
        metric_names=tuple(found.metric_names_for_computing_utilization),
        expiration_s=found.weight_expiration_period,
        blackout_s=found.weight_stabilization_period,
        update_s=found.weight_update_period,
    )


def _retry_budget(budget: RetryBudget | None) -> RetryBudgetIR | None:
    if budget is None:
        return None
    return RetryBudgetIR(
        percent=_DEFAULT_BUDGET_PERCENT if budget.percent is None else budget.percent,
        min_concurrency=budget.min_retry_concurrency or _DEFAULT_MIN_RETRY_CONCURRENCY,
    )


_NO_POLICY = EffectivePolicy()
# Most clusters have no DestinationRule policy at all: one shared IR per protocol.
_DEFAULTS: dict[Protocol, DestinationPolicyIR] = {}


def cluster_policy(effective: EffectivePolicy, protocol: Protocol) -> DestinationPolicyIR:
    if effective == _NO_POLICY:
        found = _DEFAULTS.get(protocol)
        if found is None:
            found = _DEFAULTS[protocol] = _cluster_policy(effective, protocol)
        return found
    return _cluster_policy(effective, protocol)


def _cluster_policy(effective: EffectivePolicy, protocol: Protocol) -> DestinationPolicyIR:
    pool = effective.connection_pool or ConnectionPoolSettings()
    tcp, http = pool.tcp, pool.http
    keepalive = tcp.tcp_keepalive if tcp else None
    upgrade = http.h2_upgrade_policy if http else H2UpgradePolicy.DEFAULT
    use_client = bool(http and http.use_client_protocol)
    http2 = not use_client and (
        protocol in (Protocol.HTTP2, Protocol.GRPC)
        or (upgrade is H2UpgradePolicy.UPGRADE and protocol in HTTP_PROTOCOLS)
    )
    idle = http.idle_timeout if http and http.idle_timeout is not None else None
    if idle is None and tcp is not None:
        idle = tcp.idle_timeout
    consistent = effective.load_balancer.consistent_hash if effective.load_balancer else None
    ring_size = None
    table_size = None
    if consistent is not None:
        if consistent.maglev is not None:
            table_size = _positive(consistent.maglev.table_size)
        elif consistent.ring_hash is not None:
            ring_size = _positive(consistent.ring_hash.minimum_ring_size)
        else:
            ring_size = _positive(consistent.minimum_ring_size) or _DEFAULT_RING_SIZE
    h2_keepalive = http.http2_keep_alive if http and http2 else None
    outlier = effective.outlier_detection
    proxy = effective.proxy_protocol
    lb = effective.load_balancer
    zone_aware = lb.zone_aware_lb_setting if lb is not None else None
    return DestinationPolicyIR(
        max_connections=_positive(tcp.max_connections) if tcp else None,
        max_pending_requests=_positive(http.http1_max_pending_requests) if http else None,
        max_requests=_positive(http.http2_max_requests) if http else None,
        max_retries=_positive(http.max_retries) if http else None,
        tcp_keepalive=TcpKeepaliveIR(keepalive.probes, keepalive.time, keepalive.interval)
        if keepalive
        else None,
        idle_timeout_s=idle,
        max_requests_per_connection=_positive(http.max_requests_per_connection) if http else None,
        max_connection_duration_s=tcp.max_connection_duration if tcp else None,
        http2=http2,
        use_client_protocol=use_client,
        max_concurrent_streams=_positive(http.max_concurrent_streams) if http and http2 else None,
        outlier=_outlier(effective.outlier_detection),
        ring_hash_min_size=ring_size,
        maglev_table_size=table_size,
        slow_start=_slow_start(effective.load_balancer),
        # Istio sets the PINGs only on clusters that speak HTTP/2 upstream
        http2_keepalive=Http2KeepaliveIR(h2_keepalive.interval, h2_keepalive.timeout)
        if h2_keepalive
        else None,
        retry_budget=_retry_budget(effective.retry_budget),
        outlier_error_codes=tuple(outlier.outlier_detection_http_error_codes) if outlier else (),
        proxy_protocol_version=_PROXY_PROTOCOL_VERSIONS[proxy.version] if proxy else None,
        locality_weighted=locality_weighted(effective.load_balancer, outlier is not None) or None,
        backend_utilization=_backend_utilization(effective.load_balancer),
        zone_aware=zone_aware.enabled is not False if zone_aware else None,
        zone_aware_min_cluster_size=zone_aware.min_cluster_size if zone_aware else None,
    )


def connect_timeout(effective: EffectivePolicy) -> float:
    pool = effective.connection_pool
    if pool is not None and pool.tcp is not None and pool.tcp.connect_timeout is not None:
        return pool.tcp.connect_timeout
    return DEFAULT_CONNECT_TIMEOUT_S
