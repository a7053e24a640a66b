"""Workload selectors: ones that select nothing (the object silently applies to no
workload), and several objects of one kind claiming one workload at one level (only
the oldest applies; the translators decide which, and the others are named here)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext, WorkloadGroup
from translators.analysis.message import Message
from translators.model.objects import MeshObject
from translators.security.peer_authn import age_key
from translators.telemetry.resolve import TelemetryIndex

# kind -> (field of the selector's labels, its labels)
_SELECTORS: dict[str, tuple[str, Any]] = {
    "Sidecar": (
        "spec.workloadSelector",
        lambda spec: spec.workload_selector.effective() if spec.workload_selector else None,
    ),
    "DestinationRule": (
        "spec.workloadSelector",
        lambda spec: spec.workload_selector.effective() if spec.workload_selector else None,
    ),
    "ServiceEntry": (
        "spec.workloadSelector",
        lambda spec: spec.workload_selector.effective() if spec.workload_selector else None,
    ),
    "PeerAuthentication": (
        "spec.selector.matchLabels",
        lambda spec: spec.selector.match_labels if spec.selector else None,
    ),
    "AuthorizationPolicy": (
        "spec.selector.matchLabels",
        lambda spec: spec.selector.match_labels if spec.selector else None,
    ),
    "Telemetry": (
        "spec.selector.matchLabels",
        lambda spec: spec.selector.match_labels if spec.selector else None,
    ),
    "RequestAuthentication": (
        "spec.selector.matchLabels",
        lambda spec: spec.selector.match_labels if spec.selector else None,
    ),
}


def _labels_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


SELECTING_KINDS = tuple(_SELECTORS)


def check_unmatched(ctx: AnalysisContext, obj: MeshObject[Any]) -> Iterable[Message]:
    """Per object of a kind with a selector (`SELECTING_KINDS`); reads the workloads."""
    kind = obj.kind
    field, labels_of = _SELECTORS[kind]
    labels: Mapping[str, str] | None = labels_of(obj.spec)
    if not labels:
        return  # no selector: the whole namespace (or mesh)
    if kind == "PeerAuthentication" and obj.namespace == ctx.root_namespace:
        return  # Istio ignores selecting policies in the root namespace
    mesh_wide = ("AuthorizationPolicy", "RequestAuthentication")
    if kind in mesh_wide and obj.namespace == ctx.root_namespace:
        scopes = list(ctx.groups_by_namespace)  # root policies select mesh-wide
    else:
        scopes = [obj.namespace]
    if any(ctx.selected(ns, labels) for ns in scopes):
        return
    where = "the mesh" if len(scopes) > 1 else f"namespace {obj.namespace}"
    yield codes.SELECTOR_MATCHES_NOTHING.at(
        obj,
        field,
        f"no workload in {where} has the labels {_labels_text(labels)}: "
        f"this {kind} applies to nothing",
        "fix the labels to those of the workloads it is meant for",
    )


def check_sidecar_conflicts(ctx: AnalysisContext) -> Iterable[Message]:
    reported: set[str] = set()
    for namespace, sidecars in sorted(ctx.index.sidecars.items()):
        defaults = [s for s in sidecars if not _selects(s)]
        for extra in defaults[1:]:  # `sidecars` is oldest first, as the index keeps it
            yield codes.MULTIPLE_DEFAULT_SIDECARS.at(
                extra,
                "spec.workloadSelector",
                f"namespace {namespace} already has the older default Sidecar "
                f"{defaults[0].ref}, which applies: this one is ignored",
                "merge it into the older one, or give it a workloadSelector",
                (defaults[0].ref,),
            )
    for group in ctx.groups:
        claims = ctx.sidecar_claims.get(id(group), [])
        if len(claims) < 2:
            continue
        winner = ctx.index.sidecar_for(group.first)  # the translator's choice
        for loser in claims:
            if winner is None or loser is winner or loser.ref in reported:
                continue
            reported.add(loser.ref)
            yield codes.CONFLICTING_SIDECARS.at(
                loser,
                "spec.workloadSelector",
                f"selects {_workloads(group)}, as does the older {winner.ref}, which "
                "applies there: this Sidecar is ignored for it",
                "make the selectors select disjoint workloads, or merge the Sidecars",
                (winner.ref,),
            )


def _selects(sidecar: MeshObject[Any]) -> bool:
    selector = sidecar.spec.workload_selector
    return selector is not None and bool(selector.effective())


def _workloads(group: WorkloadGroup) -> str:
    first = group.first.key
    more = len(group.workloads) - 1
    return f"workload {first}" + (f" (and {more} more like it)" if more else "")


def check_peer_authentication_conflicts(ctx: AnalysisContext) -> Iterable[Message]:
    """The translator composes the policies that claim a workload and names the winners
    (`EffectiveMTLS.sources`); every other claimant at a level is ignored."""
    peer_authn = ctx.index.security.peer_authn
    if not peer_authn:
        return
    reported: set[str] = set()
    policies = ctx.of_kind("PeerAuthentication")
    has_selector = lambda p: bool(p.spec.has_selector)  # noqa: E731
    for group in _contested(ctx, policies, has_selector, _pa_labels, root_selectors=False):
        claimants = sorted(peer_authn.applicable(group.namespace, group.labels), key=age_key)
        if len(claimants) < 2:
            continue
        chosen = set(peer_authn.effective(group.namespace, group.labels).sources)
        for loser in claimants:
            if loser.ref in chosen or loser.ref in reported:
                continue
            winner = next(
                c
                for c in claimants
                if c.ref in chosen and _pa_level(c, ctx) == _pa_level(loser, ctx)
            )
            reported.add(loser.ref)
            yield codes.CONFLICTING_PEER_AUTHENTICATIONS.at(
                loser,
                "spec.selector" if loser.spec.has_selector else "spec",
                f"a second {_pa_level(loser, ctx)} PeerAuthentication for {_workloads(group)}: "
                f"the older {winner.ref} applies, this one is ignored there",
                "keep one PeerAuthentication per level (mesh, namespace, workload)",
                (winner.ref,),
            )


def _pa_labels(policy: MeshObject[Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = policy.spec.selector.match_labels
    return labels


def _contested(
    ctx: AnalysisContext,
    objects: list[MeshObject[Any]],
    selects: Callable[[MeshObject[Any]], bool],
    labels_of: Callable[[MeshObject[Any]], Mapping[str, str]],
    root_selectors: bool = True,
) -> list[WorkloadGroup]:
    """The workload groups where two objects of a kind may meet at one level: selected by
    two selecting ones (found through the label index), the first group of a namespace
    with two namespace-wide ones, any group when the root has two mesh-wide ones. Only
    these are handed to the translator's own composition, so 10,000 policies are not
    10,000 x 10,000 selector matches. `root_selectors` False: selecting objects in the
    root namespace are ignored (PeerAuthentication)."""
    claims: dict[int, int] = defaultdict(int)
    wide: dict[str, int] = defaultdict(int)
    for obj in objects:
        if selects(obj):
            if root_selectors or obj.namespace != ctx.root_namespace:
                for group in ctx.selected(obj.namespace, labels_of(obj)):
                    claims[id(group)] += 1
        else:
            wide[obj.namespace] += 1
    found = {id(g): g for g in ctx.groups if claims.get(id(g), 0) > 1}
    for namespace, count in wide.items():
        if count < 2:
            continue
        scope = (
            ctx.groups
            if namespace == ctx.root_namespace
            else (ctx.groups_by_namespace.get(namespace, []))
        )
        if scope:
            found.setdefault(id(scope[0]), scope[0])
    return sorted(found.values(), key=lambda g: g.first.key)


def _pa_level(policy: MeshObject[Any], ctx: AnalysisContext) -> str:
    if policy.spec.has_selector:
        return "workload-level"
    return "mesh-wide" if policy.namespace == ctx.root_namespace else "namespace-wide"


def check_telemetry_conflicts(ctx: AnalysisContext) -> Iterable[Message]:
    if not ctx.of_kind("Telemetry"):
        return
    telemetry = TelemetryIndex(ctx.mesh)
    reported: set[str] = set()
    objects = ctx.of_kind("Telemetry")
    selecting = _contested(ctx, objects, lambda t: t.spec.selector is not None, _tel_labels)
    for group in selecting:
        for level in telemetry.candidates(group.first):
            yield from _telemetry_losers(level, group, reported)


def _tel_labels(telemetry: MeshObject[Any]) -> Mapping[str, str]:
    labels: Mapping[str, str] = telemetry.spec.selector.match_labels
    return labels


def _telemetry_losers(
    level: list[MeshObject[Any]], group: WorkloadGroup, reported: set[str]
) -> Iterator[Message]:
    for loser in level[1:]:  # oldest first: the first applies
        if loser.ref in reported:
            continue
        reported.add(loser.ref)
        yield codes.CONFLICTING_TELEMETRIES.at(
            loser,
            "spec.selector" if loser.spec.selector is not None else "spec",
            f"claims {_workloads(group)} at the same level as the older {level[0].ref}, "
            "which applies: this Telemetry is ignored there",
            "keep one Telemetry per level (mesh, namespace, workload selector)",
            (level[0].ref,),
        )
