"""Traffic on the graph's edges, from the sidecars' counters.

A call edge (caller -> service) counts what the caller's sidecar sent to the service's
outbound clusters (every subset and port); a serve edge (service -> workload) counts
what the workload's sidecar handed to its app on the ports behind the service. Rates
come from the two latest samples of a sidecar; counts are since the sidecar started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from translators.naming import inbound_cluster, parse_outbound_cluster
from xdscp.dashboard.graph import CallEdge, MeshGraph
from xdscp.dashboard.scrape import SidecarStats


def _sum(counters: Mapping[str, float], wanted: Callable[[str], bool]) -> float:
    return sum(v for name, v in counters.items() if wanted(name))


def _outbound_to(host: str) -> Callable[[str], bool]:
    def wanted(cluster: str) -> bool:
        parsed = parse_outbound_cluster(cluster)
        return parsed is not None and parsed[2] == host

    return wanted


def _counts(
    latest: SidecarStats | None, previous: SidecarStats | None, wanted: Callable[[str], bool]
) -> dict[str, Any] | None:
    if latest is None or latest.error:
        return None
    requests = _sum(latest.requests, wanted)
    rate: float | None = None
    if previous is not None and latest.time > previous.time:
        delta = requests - _sum(previous.requests, wanted)
        rate = round(max(delta, 0.0) / (latest.time - previous.time), 2)
    return {
        "requests": int(requests),
        "errors_5xx": int(_sum(latest.errors_5xx, wanted)),
        "rps": rate,
    }


def active_calls(graph: MeshGraph, latest: Mapping[str, SidecarStats]) -> set[tuple[str, str]]:
    """(caller, host) pairs the callers' sidecars sent requests on."""
    active: set[tuple[str, str]] = set()
    for caller, sample in latest.items():
        for cluster, requests in sample.requests.items():
            parsed = parse_outbound_cluster(cluster)
            if parsed is not None and requests > 0 and graph.call(caller, parsed[2]):
                active.add((caller, parsed[2]))
    return active


def edge_traffic(
    graph: MeshGraph,
    calls: Iterable[CallEdge],
    latest: Mapping[str, SidecarStats],
    previous: Callable[[str], SidecarStats | None],
) -> dict[str, dict[str, Any]]:
    """Edge id -> {requests, errors_5xx, rps}, for the edges whose sidecar answered."""
    traffic: dict[str, dict[str, Any]] = {}
    for call in calls:
        counts = _counts(latest.get(call.caller), previous(call.caller), _outbound_to(call.host))
        if counts is not None:
            traffic[call.id] = counts
    for serve in graph.serves.values():
        clusters = {inbound_cluster(p) for p in serve.target_ports}
        counts = _counts(
            latest.get(serve.workload), previous(serve.workload), clusters.__contains__
        )
        if counts is not None:
            traffic[serve.id] = counts
    return traffic
