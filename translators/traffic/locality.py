"""Locality load balancing: `localityLbSetting` with Istio's semantics.

Istio (pilot/pkg/networking/core/loadbalancer) groups a cluster's endpoints by their
locality (`region/zone/subzone`) and then, *relative to the calling proxy's locality*,
either reweights the groups (`distribute`) or gives them priorities (failover): same
subzone 0, same zone 1, same region 2, elsewhere 3 (4 for a region that `failover`
does not name for the proxy's region), `failoverPriority` labels first. Envoy sends to
the best priority that has healthy endpoints — which is why failover needs outlier
detection: without it no endpoint is ever unhealthy and Istio applies no priorities.

The settings are the DestinationRule's (after Istio's port/subset merge), else the
mesh default — enabled, without distribute/failover — unless the rule says
`enabled: false`. What does not depend on the proxy (the grouping, which setting
applies) is worked out once per cluster (`assignment`); `localize` applies it for one
proxy's locality and labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from operator import attrgetter

from translators.ir import EndpointIR, EndpointSetIR, LocalityGroupIR, LocalityLbIR
from translators.mesh import Endpoint, Workload
from translators.model.networking import (
    LoadBalancerSettings,
    LocalityLoadBalancerSetting,
    ZoneAwareLoadBalancerSetting,
)

# Istio's topology labels: an endpoint's and a proxy's locality are visible to
# `failoverPriority` under these names (Istio's AugmentLabels)
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"
NETWORK_LABEL = "topology.istio.io/network"
# Istio's priority spread per failover level (0..4), see _failover
_LEVELS = 5


def split_locality(locality: str) -> tuple[str, str, str]:
    region, _, rest = locality.partition("/")
    zone, _, subzone = rest.partition("/")
    return region, zone, subzone


def topology_labels(locality: str, network: str = "") -> dict[str, str]:
    """Istio's AugmentLabels: the locality (and network) as labels, for failoverPriority."""
    region, zone, subzone = split_locality(locality)
    out = {}
    for name, value in (
        (REGION_LABEL, region),
        (ZONE_LABEL, zone),
        (SUBZONE_LABEL, subzone),
        (NETWORK_LABEL, network),
    ):
        if value:
            out[name] = value
    return out


def endpoint_labels(endpoint: Endpoint | Workload) -> dict[str, str]:
    """The labels `failoverPriority` compares: its own and its topology (AugmentLabels)."""
    return {**endpoint.labels, **topology_labels(endpoint.locality, endpoint.network)}


# The mesh default (a frozen model, shared: validating a new one per cluster was a
# twentieth of a 10,000-service translation)
_MESH_DEFAULT = LocalityLoadBalancerSetting(enabled=True)


def effective_setting(lb: LoadBalancerSettings | None) -> LocalityLoadBalancerSetting | None:
    """Istio's GetLocalityLbSetting with the default mesh config (locality LB enabled)."""
    setting = lb.locality_lb_setting if lb is not None else None
    if setting is None:
        return _MESH_DEFAULT
    if setting.enabled is False:
        return None
    return setting


def locality_weighted(lb: LoadBalancerSettings | None, outlier: bool) -> bool:
    """Whether the cluster needs Envoy's locality-weighted balancing (Istio's
    applyLocalityLoadBalancer): for `distribute`, or failover with explicit settings."""
    setting = effective_setting(lb)
    if setting is None:
        return False
    explicit = bool(setting.failover or setting.failover_priority)
    return bool(setting.distribute) or (outlier and explicit)


def assignment(
    cluster: str,
    endpoints: tuple[EndpointIR, ...],
    sources: Sequence[Endpoint],
    provenance: tuple[str, ...],
    lb: LoadBalancerSettings | None,
    outlier: bool,
) -> EndpointSetIR:
    """The cluster's load assignment: endpoints grouped by locality when any has one, and
    the locality setting to apply per proxy when it can change anything."""
    zone_aware = lb.zone_aware_lb_setting if lb is not None else None
    if zone_aware is not None:
        return _zone_aware_assignment(cluster, endpoints, sources, provenance, zone_aware)
    setting = effective_setting(lb)
    applied: LocalityLbIR | None = None
    if (
        setting is not None
        and (setting.distribute or outlier)
        and (setting.distribute or setting.failover_priority or _any_locality(endpoints))
    ):
        applied = LocalityLbIR(
            distribute=tuple(
                (d.from_, tuple((k, v) for k, v in d.to.items())) for d in setting.distribute
            ),
            failover=tuple((f.from_, f.to) for f in setting.failover),
            failover_priority=tuple(setting.failover_priority),
            enable_failover=outlier,
            labels=_priority_labels(setting.failover_priority, sources),
        )
    groups = _groups(endpoints) if applied is not None or _any_locality(endpoints) else ()
    return EndpointSetIR(cluster, endpoints, provenance, groups=groups, locality_lb=applied)


def _zone_aware_assignment(
    cluster: str,
    endpoints: tuple[EndpointIR, ...],
    sources: Sequence[Endpoint],
    provenance: tuple[str, ...],
    setting: ZoneAwareLoadBalancerSetting,
) -> EndpointSetIR:
    """Istio's ZoneAwareLBSettings.ApplyToLoadAssignment: unless `enabled: false`, the
    endpoints of the proxy's region at priority 0, the `failover` region next, the rest
    last (after `failoverPriority`'s split), with or without outlier detection."""
    groups = _groups(endpoints) if _any_locality(endpoints) else ()
    if setting.enabled is False:
        return EndpointSetIR(cluster, endpoints, provenance, groups=groups)
    applied = LocalityLbIR(
        failover=tuple((f.from_, f.to) for f in setting.failover),
        failover_priority=tuple(setting.failover_priority),
        enable_failover=True,
        labels=_priority_labels(setting.failover_priority, sources),
        zone_aware=True,
    )
    return EndpointSetIR(cluster, endpoints, provenance, groups=groups, locality_lb=applied)


def _priority_labels(
    failover_priority: Sequence[str], sources: Sequence[Endpoint]
) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each endpoint's values of the labels `failoverPriority` ranks by (`name` or
    `name=value`), in its order; empty when it ranks by none."""
    names = tuple(e.partition("=")[0] for e in failover_priority)
    if not names:
        return ()
    return tuple(
        tuple((n, own.get(n, "")) for n in names) for own in (endpoint_labels(e) for e in sources)
    )


_LOCALITY = attrgetter("locality")


def _any_locality(endpoints: Sequence[EndpointIR]) -> bool:
    # (no generator: asked for each of a large mesh's 30,000 clusters)
    return any(map(_LOCALITY, endpoints))


def _groups(endpoints: Sequence[EndpointIR]) -> tuple[LocalityGroupIR, ...]:
    """Endpoints by locality, in locality order, each group weighing its endpoints' sum."""
    by_locality: dict[str, list[EndpointIR]] = {}
    for endpoint in endpoints:
        by_locality.setdefault(endpoint.locality, []).append(endpoint)
    return tuple(
        LocalityGroupIR(locality, tuple(members), weight=sum(e.weight for e in members))
        for locality, members in sorted(by_locality.items())
    )


def localize(
    assignment: EndpointSetIR, locality: str, proxy_labels: Mapping[str, str]
) -> EndpointSetIR:
    """`assignment` as the proxy at `locality` (with `proxy_labels`, topology included)
    gets it: Istio's ApplyLocalityLoadBalancer."""
    setting = assignment.locality_lb
    if setting is None:
        return assignment
    groups = list(assignment.groups)
    if setting.zone_aware:
        if setting.failover_priority:
            groups = _failover_priority(assignment, groups, proxy_labels, setting)
        groups = _regions(groups, locality, setting.failover)
    elif setting.distribute:
        groups = _distribute(groups, locality, setting.distribute)
    elif setting.enable_failover:
        if setting.failover_priority:
            groups = _failover_priority(assignment, groups, proxy_labels, setting)
            if setting.failover:
                groups = _failover(groups, locality, setting.failover)
        else:
            groups = _failover(groups, locality, setting.failover)
    out = tuple(groups)
    if out == assignment.groups:
        return replace(assignment, locality_lb=None)
    return replace(assignment, groups=out, locality_lb=None)


def localized_assignments(
    workload: Workload, localized: tuple[EndpointSetIR, ...]
) -> tuple[EndpointSetIR, ...]:
    """The locality-dependent load assignments as `workload`'s sidecar gets them."""
    labels = endpoint_labels(workload)
    return tuple(localize(a, workload.locality, labels) for a in localized)


def for_proxy(
    workload: Workload,
    assignments: tuple[EndpointSetIR, ...],
    localized: tuple[EndpointSetIR, ...],
) -> tuple[EndpointSetIR, ...]:
    """`assignments` with the locality-dependent ones (`localized`) as `workload`'s."""
    if not localized:
        return assignments
    mine = {a.destination: a for a in localized_assignments(workload, localized)}
    return tuple(mine.get(a.destination, a) for a in assignments)


def locality_match(locality: str, rule: str) -> bool:
    """Istio's LocalityMatch: `rule` is `region[/zone[/subzone]]`, `*` matching anything."""
    region, zone, subzone = split_locality(locality)
    rule_region, rule_zone, rule_subzone = split_locality(rule)
    return (
        rule_region in ("*", region)
        and rule_zone in ("*", "", zone)
        and rule_subzone in ("*", "", subzone)
    )


def lb_priority(proxy: str, endpoints: str) -> int:
    """Istio's LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere."""
    own = split_locality(proxy)
    other = split_locality(endpoints)
    if own[0] != other[0]:
        return 3
    if own[1] != other[1]:
        return 2
    return 0 if own[2] == other[2] else 1


def _distribute(
    groups: list[LocalityGroupIR],
    locality: str,
    distribute: tuple[tuple[str, tuple[tuple[str, int], ...]], ...],
) -> list[LocalityGroupIR]:
    """Istio's applyLocalityWeights: the first rule whose `from` matches the proxy sets
    each destination locality's share; groups no `to` names get no traffic (emptied)."""
    for origin, targets in distribute:
        if not locality_match(locality, origin):
            continue
        unmatched = set(range(len(groups)))
        out = list(groups)
        for target, weight in targets:
            chosen = {
                i: groups[i].weight or 1
                for i in sorted(unmatched)
                if locality_match(groups[i].locality, target)
            }
            unmatched -= chosen.keys()
            total = sum(chosen.values())
            for i, original in chosen.items():
                share = original * weight / total
                if share > 0:
                    out[i] = replace(out[i], weight=math.ceil(share))
        for i in unmatched:
            out[i] = replace(out[i], endpoints=())
        return out
    return groups


def _normalized(groups: list[LocalityGroupIR]) -> list[LocalityGroupIR]:
    """Priorities renumbered 0..N without gaps (Envoy requires it), order kept."""
    rank = {p: i for i, p in enumerate(sorted({g.priority for g in groups}))}
    return [
        g if g.priority == rank[g.priority] else replace(g, priority=rank[g.priority])
        for g in groups
    ]


def _failover(
    groups: list[LocalityGroupIR], locality: str, failover: tuple[tuple[str, str], ...]
) -> list[LocalityGroupIR]:
    """Istio's applyLocalityFailover: priority by locality distance from the proxy; a
    region other than the one `failover` names for the proxy's region comes last."""
    region = split_locality(locality)[0]
    out = []
    for group in groups:
        priority = lb_priority(locality, group.locality)
        if priority == 3:
            for origin, target in failover:
                if origin == region:
                    if split_locality(group.locality)[0] != target:
                        priority = 4
                    break
        out.append(replace(group, priority=group.priority * _LEVELS + priority))
    return _normalized(out)


def _regions(
    groups: list[LocalityGroupIR], locality: str, failover: tuple[tuple[str, str], ...]
) -> list[LocalityGroupIR]:
    """Istio's applyZoneAwareRegionalFailover: 0 the proxy's region, 1 the region
    `failover` names for it, 2 any other (composed with earlier priorities)."""
    region = split_locality(locality)[0]
    target = next((to for origin, to in failover if origin == region), None)
    out = []
    for group in groups:
        own = split_locality(group.locality)[0]
        bucket = 0 if own == region else 1 if own == target else 2
        out.append(replace(group, priority=group.priority * 3 + bucket))
    return _normalized(out)


def _failover_priority(
    assignment: EndpointSetIR,
    groups: list[LocalityGroupIR],
    proxy_labels: Mapping[str, str],
    setting: LocalityLbIR,
) -> list[LocalityGroupIR]:
    """Istio's applyFailoverPriorities: each locality group split by how many of the
    `failoverPriority` labels (in order; `label=value` fixes the proxy's value) its
    endpoints share with the proxy — all of them first."""
    if not proxy_labels or not groups:
        return groups
    names = setting.label_names()
    fixed = dict(e.split("=", 1) for e in setting.failover_priority if e.count("=") == 1)
    wanted = [fixed.get(n, proxy_labels.get(n, "")) for n in names]
    labels_of = {
        id(endpoint): dict(values)
        for endpoint, values in zip(assignment.endpoints, setting.labels, strict=True)
    }
    lowest = len(names)
    out: list[LocalityGroupIR] = []
    for group in groups:
        by_priority: dict[int, list[EndpointIR]] = {}
        for endpoint in group.endpoints:
            own = labels_of.get(id(endpoint), {})
            priority = 0
            for j, (name, value) in enumerate(zip(names, wanted, strict=True)):
                if own.get(name, "") != value:
                    priority = lowest - j
                    break
            by_priority.setdefault(priority, []).append(endpoint)
        for priority in sorted(by_priority):
            members = by_priority[priority]
            out.append(
                LocalityGroupIR(
                    group.locality,
                    tuple(members),
                    priority=priority,
                    weight=sum(e.weight for e in members),
                )
            )
    return _normalized(out)
