"""Which outbound listeners need Envoy's dynamic forward proxy filter, and which TCP
chains cannot work without an original destination."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import compress, count
from operator import is_not

from translators.ir import DestinationIR, Resolution, RouteTableIR, TcpRouteIR, VirtualHostIR
from translators.view.ports import EgressIR


def forward_proxy_clusters(clusters: Iterable[DestinationIR]) -> frozenset[str]:
    return frozenset(c.name for c in clusters if c.resolution is Resolution.FORWARD_PROXY)


def _reaches(vhost: VirtualHostIR, dfp: frozenset[str]) -> bool:
    # (loops, not nested `any` generators: asked of every virtual host of a full build)
    for r in vhost.routes:
        for wc in r.destinations:
            if wc.destination in dfp:
                return True
        for m in r.mirrors:
            if m.destination in dfp:
                return True
    return False


def forward_proxy_count(
    raw: tuple[VirtualHostIR, ...],
    dfp: frozenset[str],
    old_raw: tuple[VirtualHostIR, ...] | None,
    old_count: int | None,
    changed: Iterable[int] | None = None,
) -> int:
    """How many of a route config's virtual hosts reach a dynamic forward proxy cluster:
    from the last generation's count where the same clusters and as many virtual hosts
    (then only the new virtual host objects are looked at: those at `changed`, when
    known)."""
    if not dfp:
        return 0  # no forward proxy cluster: none reaches one
    if old_raw is None or old_count is None or len(old_raw) != len(raw):
        return sum(1 for vh in raw if _reaches(vh, dfp))
    reaching = old_count
    if changed is None:  # the new virtual host objects, found at C speed
        changed = compress(count(), map(is_not, raw, old_raw))
    for i in changed:
        reaching += _reaches(raw[i], dfp) - _reaches(old_raw[i], dfp)
    return reaching


def with_forward_proxy(
    egress: list[EgressIR],
    configs: list[RouteTableIR],
    dfp: frozenset[str],
    counts: Mapping[str, int],
) -> list[EgressIR]:
    """Mark the HTTP listeners whose routes reach a dynamic forward proxy cluster (`counts`:
    per route config, its virtual hosts that do, but for the catch-all one)."""
    needs = {
        rc.name
        for rc in configs
        if counts.get(rc.name, 0) or (rc.virtual_hosts and _reaches(rc.virtual_hosts[-1], dfp))
    }
    return [
        e
        if e.forward_proxy == (e.route_config in needs)
        else replace(e, forward_proxy=e.route_config in needs)
        for e in egress
    ]


def reachable_chains(
    chains: tuple[TcpRouteIR, ...],
    clusters: Sequence[DestinationIR],
    local: bool,
    warnings: list[str],
) -> tuple[TcpRouteIR, ...]:
    """Without traffic capture (file mode) an ORIGINAL_DST cluster's "original destination"
    is the sidecar's own listener: such a chain would connect to itself, so it is left out."""
    if not local:
        return chains
    original = {c.name for c in clusters if c.resolution is Resolution.ORIGINAL_DESTINATION}
    kept = []
    for chain in chains:
        if all(wc.destination in original for wc in chain.destinations):
            warnings.append(
                f"{chain.provenance[0] if chain.provenance else chain.name}: "
                f"{chain.name} needs an original destination (resolution NONE / PASSTHROUGH"
                " over TCP), which file mode has not; skipped"
            )
            continue
        kept.append(chain)
    return tuple(kept)
