"""DestinationRules for hosts that do not exist, and subsets that select no endpoint."""

from __future__ import annotations

from collections.abc import Iterable

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.dr_merge import dropped_parts, mergeable_rules, selector_entries
from translators.ir import Resolution
from translators.model.networking import DestinationRuleSpec
from translators.model.networking import Resolution as ServiceResolution
from translators.model.objects import MeshObject
from translators.naming import outbound_cluster

DR = MeshObject[DestinationRuleSpec]

_NO_ENDPOINT_LIST = (Resolution.ORIGINAL_DESTINATION, Resolution.FORWARD_PROXY)


def check_hosts(ctx: AnalysisContext, dr: DR) -> Iterable[Message]:
    """Per DestinationRule; reads the services."""
    host = ctx.resolve(dr.spec.host, dr.namespace)
    if ctx.services_matching(host):
        return
    yield codes.DESTINATION_RULE_HOST_NOT_FOUND.at(
        dr,
        "spec.host",
        f"host {host} matches no service: this DestinationRule applies to nothing",
        "name the service's host as its ServiceEntry / Kubernetes Service spells it",
    )


def check_subsets(ctx: AnalysisContext, dr: DR) -> Iterable[Message]:
    """A subset is its service's endpoints filtered by the subset's labels: read from the
    translator's clusters for the subset (every port), not re-derived. Per
    DestinationRule; reads the services (their endpoints)."""
    if not dr.spec.subsets:
        return
    host = ctx.resolve(dr.spec.host, dr.namespace)
    service = ctx.service(host)
    # without known endpoints (resolution NONE, none declared) there is nothing to select
    if service is None or not service.endpoints or service.resolution is ServiceResolution.NONE:
        return
    clusters = ctx.clusters(service, dr, tls=False)
    for k, subset in enumerate(dr.spec.subsets):
        names = [outbound_cluster(p.number, host, subset.name) for p in service.ports]
        built = [clusters[n] for n in names if n in clusters]
        # PASSTHROUGH: the caller's own destination, no endpoint list to select from
        if any(c.resolution in _NO_ENDPOINT_LIST for c, _ in built):
            continue
        if any(members for _, members in built):
            continue
        labels = ", ".join(f"{key}={v}" for key, v in sorted(subset.labels.items()))
        yield codes.SUBSET_SELECTS_NOTHING.at(
            dr,
            f"spec.subsets[{k}].labels",
            f"subset {subset.name!r} ({labels or 'no labels'}) selects none of the "
            f"{len(service.endpoints)} endpoint(s) of {host}: requests routed to it get 503",
            "fix the labels to those of the service's workloads",
            (service.source,),
        )


def check_merged(ctx: AnalysisContext) -> Iterable[Message]:
    """Istio merges the rules without workloadSelector for one host in one namespace, and
    those with equal workloadSelectors (see translators/dr_merge.py): say which parts of
    the later ones the merge leaves out. (A selector rule overriding the namespace's rule
    merged into it is what the selector is for: not reported.)"""
    for host, rules in sorted(ctx.index.destination_rules.items()):
        by_namespace: dict[str, list[DR]] = {}
        for dr in rules:  # oldest first
            by_namespace.setdefault(dr.namespace, []).append(dr)
        for group in by_namespace.values():
            if len(group) < 2:
                continue
            plain = [dr for dr in group if dr.spec.workload_selector is None]
            if len(plain) > 1:
                yield from _dropped(host, mergeable_rules(plain), "")
            for entry in selector_entries(group):
                selecting = [dr for dr in entry if dr.spec.workload_selector is not None]
                if len(selecting) > 1:
                    yield from _dropped(
                        host, selecting, " for the workloads its equal workloadSelector selects"
                    )


def _dropped(host: str, merged: list[DR], scope: str) -> Iterable[Message]:
    for part in dropped_parts(merged):
        yield codes.MERGED_RULE_PART_IGNORED.at(
            part.rule,
            part.field,
            f"{part.what} is ignored{scope}: this DestinationRule is merged with the "
            f"older {part.winner.ref} for {host}, whose {part.what} applies",
            f"rename the subset or move the policy into {part.winner.ref}, or delete it",
            (part.winner.ref,),
        )
