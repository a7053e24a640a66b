"""Traffic policies in the IR: a DestinationRule's effective connection pool, outlier
detection and load-balancer settings for one destination."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DestinationPolicyIR:
    """A DestinationRule's effective connection pool, outlier detection and hash-ring
    settings for one cluster. None: Istio's default — for the circuit breakers that is
    "unlimited", not Envoy's 1024 (Istio raises them so rollouts do not 503)."""

    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_retries: int | None = None
    tcp_keepalive: TcpKeepaliveIR | None = None
    idle_timeout_s: float | None = None
    max_requests_per_connection: int | None = None
    max_connection_duration_s: float | None = None
    http2: bool = False  # speak HTTP/2 upstream (gRPC/HTTP2 ports, h2UpgradePolicy UPGRADE)
    use_client_protocol: bool = False
    max_concurrent_streams: int | None = None
    outlier: OutlierIR | None = None
    ring_hash_min_size: int | None = None
    maglev_table_size: int | None = None
    slow_start: SlowStartIR | None = None
    http2_keepalive: Http2KeepaliveIR | None = None
    retry_budget: RetryBudgetIR | None = None
    # HTTP statuses outlier detection counts as errors (empty: Envoy's 5xx)
    outlier_error_codes: tuple[int, ...] = ()
    # PROXY protocol header on every upstream connection: 1 or 2 (None: no header)
    proxy_protocol_version: int | None = None
    # True: Envoy's locality-weighted balancing (localityLbSetting distribute / failover);
    # None rather than False otherwise, so the goldens of every other cluster stay as is
    locality_weighted: bool | None = None
    # `loadBalancer.backendUtilization`: weights from the endpoints' ORCA load reports
    backend_utilization: BackendUtilizationIR | None = None
    # zoneAwareLbSetting: Envoy's zone-aware config (False: `enabled: false`, routing 0%)
    zone_aware: bool | None = None
    zone_aware_min_cluster_size: int | None = None


@dataclass(frozen=True, slots=True)
class TcpKeepaliveIR:
    probes: int | None = None
    time_s: float | None = None
    interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class OutlierIR:
    consecutive_5xx: int | None = None
    consecutive_gateway: int | None = None
    split_local_origin: bool = False
    consecutive_local_origin: int | None = None
    interval_s: float | None = None
    base_ejection_s: float | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int = 0  # Envoy's healthy panic threshold (Istio: 0 = no panic)


@dataclass(frozen=True, slots=True)
class SlowStartIR:
    """Endpoint warmup: a new endpoint's weight ramps up over `window_s`. None for
    `aggression` / `min_weight_percent`: left to Envoy (the deprecated warmupDurationSecs)."""

    window_s: float
    aggression: float | None = None
    min_weight_percent: float | None = None


@dataclass(frozen=True, slots=True)
class BackendUtilizationIR:
    """Utilization-based balancing (Envoy's client_side_weighted_round_robin): each
    endpoint weighted by the load it reports in its responses (ORCA). None: Envoy's
    default."""

    error_penalty: float | None = None  # multiplier of the error rate (1.0 = 100%)
    metric_names: tuple[str, ...] = ()
    expiration_s: float | None = None
    blackout_s: float | None = None  # Istio's weightStabilizationPeriod
    update_s: float | None = None


@dataclass(frozen=True, slots=True)
class Http2KeepaliveIR:
    """HTTP/2 PINGs on idle upstream connections: every `interval_s`, closed when one is
    not answered within `timeout_s`."""

    interval_s: float
    timeout_s: float


@dataclass(frozen=True, slots=True)
class RetryBudgetIR:
    """Concurrent retries limited to a share of active requests (replaces max_retries)."""

    percent: float
    min_concurrency: int
