"""Istio's merge of the DestinationRules for one host (pilot/pkg/model/destination_rule.go,
mergeDestinationRule): several rules without workloadSelector for one host in one
namespace act as one. A later rule is merged into the oldest when its exportTo is the
same or wider; its subsets are appended unless one of that name exists (first wins), and
its top-level trafficPolicy applies only when no earlier rule has one. Everything else
(exportTo, host) is the oldest rule's.

Rules with a workloadSelector (Istio sorts them ahead of the others, then by age): those
of one namespace with equal matchLabels merge the same way, oldest first, and a rule
without selector of that namespace whose exportTo includes "." is merged into each of
them after their own rules (its exportTo equals or contains the selector rules' "."),
so a selected proxy still gets the namespace rule's other subsets and, if its own rules
set none, its trafficPolicy. Istio (ENABLE_ENHANCED_DESTINATIONRULE_MERGE, the default)
then also drops that rule for the proxies no selector selects when its exportTo is
exactly ["."] (istio/istio#58322, open); xdscp keeps it for them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from translators.model.networking import DestinationRuleSpec, Subset, TrafficPolicy
from translators.model.objects import MeshObject

DR = MeshObject[DestinationRuleSpec]


def _export_set(dr: DR) -> frozenset[str]:
    # no exportTo: Istio's default set, which exports everywhere
    return frozenset(dr.spec.export_to) or frozenset({"*"})


def mergeable_rules(rules: list[DR]) -> list[DR]:
    """The oldest of `rules` (oldest first, one namespace, none with a workloadSelector)
    and the later ones Istio merges into it: those whose exportTo equals or contains the
    oldest's (a wider one also stays visible alone where the oldest is not)."""
    first = rules[0]
    if len(rules) == 1:
        return rules
    exported = _export_set(first)
    return [first, *(dr for dr in rules[1:] if _export_set(dr) >= exported)]


def selector_labels(dr: DR) -> dict[str, str] | None:
    """The matchLabels of a rule's workloadSelector (None: no selector)."""
    selector = dr.spec.workload_selector
    return None if selector is None else selector.effective()


def selector_entry(first: DR, rules: list[DR]) -> list[DR]:
    """The rules Istio merges into the entry of the selector rule `first` (one of
    `rules`: one namespace's rules for one host, oldest first): `first`, the younger
    rules with equal matchLabels, then the rules without selector exported to "."."""
    labels = selector_labels(first)
    same = [dr for dr in rules if selector_labels(dr) == labels and dr is not first]
    plain = [dr for dr in rules if dr.spec.workload_selector is None and "." in dr.spec.export_to]
    return [first, *same, *plain]


def selector_entries(rules: list[DR]) -> list[list[DR]]:
    """Every selector entry of `rules` (one namespace's rules for one host, oldest first)
    as `selector_entry` gives it, in the order a proxy's lookup tries them."""
    entries: list[list[DR]] = []
    seen: list[dict[str, str]] = []
    for dr in rules:
        labels = selector_labels(dr)
        if labels is not None and labels not in seen:
            seen.append(labels)
            entries.append(selector_entry(dr, rules))
    return entries


def merge_rules(rules: list[DR]) -> DR:
    """One DestinationRule with the content of `rules` (as `mergeable_rules` gives them),
    named as the oldest and listing the others in `merged_from`."""
    first = rules[0]
    subsets: list[Subset] = []
    names: set[str] = set()
    policy: TrafficPolicy | None = None
    for dr in rules:
        for subset in dr.spec.subsets:
            if subset.name not in names:
                names.add(subset.name)
                subsets.append(subset)
        if policy is None:
            policy = dr.spec.traffic_policy
    spec = first.spec.model_copy(update={"subsets": subsets, "traffic_policy": policy})
    digest = hashlib.blake2b("+".join(dr.digest for dr in rules).encode(), digest_size=8)
    return replace(
        first,
        spec=spec,
        digest=digest.hexdigest(),
        merged_from=tuple(dr.ref for dr in rules[1:]),
    )


@dataclass(frozen=True, slots=True)
class Dropped:
    """A part of a later rule the merge leaves out, and the rule whose part wins."""

    rule: DR
    field: str
    what: str
    winner: DR


def dropped_parts(rules: list[DR]) -> list[Dropped]:
    """What `merge_rules(rules)` leaves out: subsets of a name an earlier rule defines,
    and top-level traffic policies after the first."""
    dropped: list[Dropped] = []
    owners: dict[str, DR] = {}
    policy_owner: DR | None = None
    for dr in rules:
        for k, subset in enumerate(dr.spec.subsets):
            owner = owners.setdefault(subset.name, dr)
            if owner is not dr:
                dropped.append(Dropped(dr, f"spec.subsets[{k}]", f"subset {subset.name!r}", owner))
        if dr.spec.traffic_policy is not None:
            if policy_owner is None:
                policy_owner = dr
            else:
                dropped.append(Dropped(dr, "spec.trafficPolicy", "trafficPolicy", policy_owner))
    return dropped
