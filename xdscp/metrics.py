"""Prometheus metrics of the xDS server.

Metrics live on a dedicated `CollectorRegistry` (never the process-global one)
so that tests, benchmarks and embedders can run several servers side by side
without "duplicated timeseries" errors. Labelled children are resolved once per
type URL and kept, because `.labels()` costs a lock and a dict walk and is on
the per-push hot path.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from xdscp.cache import PUSH_ORDER, SHORT_TYPE_NAMES

# Push-to-ACK latency spans sub-millisecond (local, tiny configs) to seconds
# (cluster warming, thousands of proxies); finer buckets below 100 ms matter most.
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)  # fmt: skip


# Config change -> all affected proxies ACKed: translation of the whole mesh plus one
# push/ACK round trip, from milliseconds (small local mesh) to tens of seconds.
_PROPAGATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0
)  # fmt: skip

_created_disabled = False


def _disable_created_series() -> None:
    """`*_created` series double the output and nobody reads them; prometheus_client
    switches them off process-wide, so do it once, before the first metric exists."""
    global _created_disabled
    if not _created_disabled:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        _created_disabled = True


def type_label(type_url: str) -> str:
    """Short, stable label for a type URL (`CDS`, `EDS`, ...).

    Type URLs come from clients, so unknown ones collapse into `other`: a proxy
    must not be able to grow the label set (and our memory) without bound.
    """
    return SHORT_TYPE_NAMES.get(type_url, "other")


class XdsMetrics:
    """The server's metrics; one instance per registry."""

    __slots__ = (
        "_ack_latency",
        "_nacks",
        "_other",
        "_propagation",
        "_propagation_timeouts",
        "_pushes",
        "certificate_expiry",
        "connected_proxies",
        "generation",
        "registry",
        "rejected_connections",
        "streams",
    )

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        _disable_created_series()
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.connected_proxies = Gauge(
            "xdscp_connected_proxies",
            "Distinct proxies with at least one open xDS stream.",
            registry=self.registry,
        )
        self.streams = Gauge(
            "xdscp_xds_streams",
            "Open xDS streams by protocol variant.",
            ["api"],
            registry=self.registry,
        )
        self.rejected_connections = Counter(
            "xdscp_xds_rejected_connections",
            "Streams refused because the proxy could not be admitted.",
            ["code"],
            registry=self.registry,
        )
        pushes = Counter(
            "xdscp_xds_pushes",
            "Discovery responses sent, by resource type.",
            ["type"],
            registry=self.registry,
        )
        nacks = Counter(
            "xdscp_xds_nacks",
            "Discovery responses rejected by proxies (NACKs), by resource type.",
            ["type"],
            registry=self.registry,
        )
        latency = Histogram(
            "xdscp_xds_push_ack_seconds",
            "Time from sending a discovery response to receiving its ACK, by resource type.",
            ["type"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._propagation = Histogram(
            "xdscp_config_propagation_seconds",
            "Time from applying a new mesh configuration until every proxy it changed has "
            "acknowledged it (or the timeout passed, see the timeouts counter).",
            buckets=_PROPAGATION_BUCKETS,
            registry=self.registry,
        )
        self._propagation_timeouts = Counter(
            "xdscp_config_propagation_timeouts",
            "Mesh generations some changed proxy did not acknowledge within the timeout.",
            registry=self.registry,
        )
        self.generation = Gauge(
            "xdscp_config_generation",
            "The mesh configuration generation currently applied.",
            registry=self.registry,
        )
        self.certificate_expiry = Gauge(
            "xdscp_certificate_expiry_seconds",
            "Seconds until the earliest certificate of the kind expires (svid: workload "
            "certificates issued so far; root: the CA signing them).",
            ["kind"],
            registry=self.registry,
        )
        # Children per known type URL, plus one shared "other" child for anything else.
        self._pushes = {t: pushes.labels(type=type_label(t)) for t in PUSH_ORDER}
        self._nacks = {t: nacks.labels(type=type_label(t)) for t in PUSH_ORDER}
        self._ack_latency = {t: latency.labels(type=type_label(t)) for t in PUSH_ORDER}
        self._other = (
            pushes.labels(type="other"),
            nacks.labels(type="other"),
            latency.labels(type="other"),
        )

    def pushed(self, type_url: str) -> None:
        child = self._pushes.get(type_url)
        (child if child is not None else self._other[0]).inc()

    def nacked(self, type_url: str) -> None:
        child = self._nacks.get(type_url)
        (child if child is not None else self._other[1]).inc()

    def acked(self, type_url: str, latency_seconds: float) -> None:
        child = self._ack_latency.get(type_url)
        (child if child is not None else self._other[2]).observe(latency_seconds)

    def config_propagated(self, seconds: float, timed_out: bool) -> None:
        self._propagation.observe(seconds)
        if timed_out:
            self._propagation_timeouts.inc()

    def watch_certificate_expiry(self, kind: str, seconds_left: Callable[[], float | None]) -> None:
        """Evaluate `seconds_left` on every scrape (None: no certificate of that kind yet,
        reported as +Inf so `< threshold` alerts stay quiet)."""

        def read() -> float:
            value = seconds_left()
            return float("inf") if value is None else value

        self.certificate_expiry.labels(kind=kind).set_function(read)
