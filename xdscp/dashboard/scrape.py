"""Reading the sidecars' own counters: each sidecar's Prometheus port (15090).

The dashboard and the run-time checks need a handful of counters per sidecar, on
demand, without ever holding up xDS: so a scrape asks Envoy to filter its stats
(`usedonly`, `filter=` regex on stat names), has a short timeout, runs a bounded
number of requests at once, is shared by concurrent callers, and its result is
reused for a few seconds. A sidecar that does not answer is reported, not retried.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from translators.naming import STATS_PATH

_log = structlog.get_logger(__name__)

# Envoy stat names (before tag extraction) of the counters read here.
STATS_FILTER = (
    r"^(cluster\.(inbound|outbound)\|.*\.(upstream_rq_total|upstream_rq_5xx"
    r"|upstream_cx_protocol_error)"
    r"|http\.(inbound|outbound)_.*\.downstream_cx_protocol_error)$"
)


@dataclass(frozen=True, slots=True)
class SidecarStats:
    """The counters of one sidecar at one moment, keyed by cluster / HCM stat prefix."""

    workload: str
    time: float
    requests: Mapping[str, float] = field(default_factory=dict)  # cluster -> upstream_rq_total
    errors_5xx: Mapping[str, float] = field(default_factory=dict)  # cluster -> 5xx responses
    # cluster -> connections whose response was not the declared protocol
    upstream_protocol_errors: Mapping[str, float] = field(default_factory=dict)
    # HCM stat prefix (`outbound_<ip>_<port>`) -> connections that were not HTTP
    downstream_protocol_errors: Mapping[str, float] = field(default_factory=dict)
    error: str = ""  # why the scrape failed ("" when it did not)


# One sample of Prometheus' text format: `name{label="value",...} value`. Read exactly
# (the sample names as Envoy writes them), not through a parser that renames counters.
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = _SAMPLE.match(line)
        if found is None:
            raise ValueError(f"not a Prometheus sample: {line[:120]!r}")
        labels = {k: v.replace('\\"', '"') for k, v in _LABEL.findall(found.group(2) or "")}
        samples.append((found.group(1), labels, float(found.group(3))))
    return samples


def parse_stats(workload: str, text: str, now: float) -> SidecarStats:
    requests: dict[str, float] = {}
    errors: dict[str, float] = {}
    upstream: dict[str, float] = {}
    downstream: dict[str, float] = {}
    for name, labels, value in parse_samples(text):
        cluster = labels.get("envoy_cluster_name", "")
        if name == "envoy_cluster_upstream_rq_total" and cluster:
            requests[cluster] = value
        elif (
            name == "envoy_cluster_upstream_rq_xx"
            and cluster
            and labels.get("envoy_response_code_class") == "5"
        ):
            errors[cluster] = value
        elif name == "envoy_cluster_upstream_cx_protocol_error" and cluster:
            upstream[cluster] = value
        elif name == "envoy_http_downstream_cx_protocol_error":
            prefix = labels.get("envoy_http_conn_manager_prefix", "")
            if prefix:
                downstream[prefix] = value
    return SidecarStats(workload, now, requests, errors, upstream, downstream)


class SidecarScraper:
    """Scrapes `targets` (workload key -> `host:port` of its stats listener)."""

    def __init__(self, timeout: float = 1.0, concurrency: int = 16, max_age: float = 3.0) -> None:
        self.timeout = timeout
        self.max_age = max_age
        self._limit = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._latest: dict[str, SidecarStats] = {}
        self._previous: dict[str, SidecarStats] = {}
        self._at = 0.0
        self._running: asyncio.Task[dict[str, SidecarStats]] | None = None

    async def scrape(self, targets: Mapping[str, str]) -> dict[str, SidecarStats]:
        """The latest stats of every target, scraping only when older than `max_age`."""
        fresh = time.monotonic() - self._at < self.max_age
        if fresh and set(targets) <= set(self._latest):
            return {k: self._latest[k] for k in targets}
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._scrape_all(dict(targets)))
        # shield: one caller giving up (client disconnect) must not cancel the others' scrape
        result = await asyncio.shield(self._running)
        return {k: result[k] for k in targets if k in result}

    def previous(self, workload: str) -> SidecarStats | None:
        """The sample before the latest one (for rates)."""
        return self._previous.get(workload)

    async def _scrape_all(self, targets: dict[str, str]) -> dict[str, SidecarStats]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        results = await asyncio.gather(*(self._one(w, t) for w, t in sorted(targets.items())))
        for sample in results:
            old = self._latest.get(sample.workload)
            if old is not None and not old.error:
                self._previous[sample.workload] = old
        self._latest = {s.workload: s for s in results}
        self._at = time.monotonic()
        return dict(self._latest)

    async def _one(self, workload: str, target: str) -> SidecarStats:
        assert self._session is not None
        url = f"http://{target}{STATS_PATH}"
        params: dict[str, Any] = {"usedonly": "", "filter": STATS_FILTER}
        async with self._limit:
            try:
                async with self._session.get(url, params=params) as response:
                    if response.status != 200:
                        return SidecarStats(workload, time.time(), error=f"HTTP {response.status}")
                    text = await response.text()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return SidecarStats(workload, time.time(), error=_describe(exc))
        try:
            # parsing is CPU: off the event loop, next to the xDS streams
            return await asyncio.to_thread(parse_stats, workload, text, time.time())
        except ValueError as exc:
            _log.warning("dashboard.stats_unreadable", workload=workload, error=str(exc))
            return SidecarStats(workload, time.time(), error=f"unreadable stats: {exc}")

    async def close(self) -> None:
        if self._running is not None and not self._running.done():
            self._running.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
