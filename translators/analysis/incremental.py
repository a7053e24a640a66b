"""The analysis of the next mesh, worked out from the previous one's: work follows the
size of the change, not of the mesh.

Every check says what it reads (`Check.reads`: object kinds, SERVICES, WORKLOADS,
JWKS; the mesh options always). Between two meshes:

* what changed is found by identity (`MeshChange`): the objects, services and
  workloads that are not the same Python objects as before (the sources and
  `update_mesh` keep unchanged ones), so anything replaced counts as changed, even
  when equal;
* a check none of whose inputs changed keeps its findings;
* a per-object check (`Check.each`) whose other inputs did not change re-evaluates
  only the changed objects of its kinds and keeps the findings about the others;
* anything else is worked out again, as `analyze` does.

A per-object check that reads VirtualServices as sidecars apply them (delegating
roots merged with their delegates, `Check.delegation`) is per object only while no
VirtualService of the mesh delegates; otherwise it reads every VirtualService.

The lookups every check shares move along too: the MeshIndex is updated in place
(`MeshIndex.updated`, as the translator's) and the context's workload tables are
taken over while the workloads are the same. tests/analysis/test_incremental.py
proves, after random edit sequences over every kind, that the result equals a fresh
`analyze` of the same mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from translators.analysis.context import ANY_SERVICE, WILDCARD_SERVICES, AnalysisContext
from translators.analysis.message import Message
from translators.analysis.runner import (
    ALL_KINDS,
    JWKS,
    SERVICES,
    WORKLOADS,
    Analysis,
    Check,
    collect,
    failed,
    objects_of,
    run_check,
    schema_messages,
)
from translators.index import MeshIndex
from translators.mesh import MeshConfig, ObjectKey
from translators.mesh_diff import replaced_objects
from translators.model.delegation import merged_changes
from translators.model.objects import MeshObject

ObjectPair = tuple[MeshObject[Any] | None, MeshObject[Any] | None]
# called between pieces of work: the service blocks there while an edit is applied
Checkpoint = Callable[[], None]
# objects evaluated between two checkpoints of a per-object check built whole
_BATCH = 32


@dataclass(frozen=True, slots=True)
class MeshChange:
    """What differs between two meshes with equal options (by identity)."""

    objects: tuple[ObjectPair, ...]  # (old version or None, new version or None)
    inputs: frozenset[str]  # changed kinds, and SERVICES / WORKLOADS / JWKS
    services: frozenset[str]  # hostnames added, replaced or removed


def mesh_change(old: MeshConfig, new: MeshConfig) -> MeshChange | None:
    """None when nothing can be carried over (the options differ)."""
    if old.options != new.options:
        return None
    objects = replaced_objects(old, new)
    inputs = {obj.kind for pair in objects for obj in pair if obj is not None}
    services = _changed_keys(old.services, new.services)
    if services:
        inputs.add(SERVICES)
    if _changed_keys(old.workloads, new.workloads):
        inputs.add(WORKLOADS)
    if old.jwks != new.jwks or old.jwks_errors != new.jwks_errors:
        inputs.add(JWKS)
    return MeshChange(tuple(objects), frozenset(inputs), frozenset(services))


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    if old is new:
        return []
    found = [k for k, v in new.items() if old.get(k) is not v]
    return found + [k for k in old if k not in new]


@dataclass(frozen=True, slots=True)
class _Findings:
    """One check's findings: whole, or per object (key -> findings about it, only the
    objects with some)."""

    whole: tuple[Message, ...] = ()
    by_object: dict[ObjectKey, tuple[Message, ...]] | None = None
    # `Check.services_by_host`: key -> the services its findings read (every object
    # evaluated, with findings or not)
    services: dict[ObjectKey, frozenset[str]] | None = None

    def messages(self) -> Iterable[Message]:
        if self.by_object is None:
            return self.whole
        return (m for found in self.by_object.values() for m in found)


class _Spent:
    """Set once a later analysis took the state over (see IncrementalAnalysis)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


@dataclass(frozen=True, slots=True)
class IncrementalAnalysis:
    """The analysis of `mesh`, with what the next mesh's is worked out from. The next
    analysis takes some of its tables over and updates them in place (copying 10,000
    entries per edit would cost more than the edit's checks): a state is carried over
    once; given again, the analysis starts from nothing (`spent`)."""

    mesh: MeshConfig
    analysis: Analysis
    context: AnalysisContext
    findings: dict[str, _Findings]
    delegating: frozenset[ObjectKey]  # VirtualServices with a `delegate` rule
    # checks worked out again for this mesh (the others were carried over): a measure
    reran: tuple[str, ...] = ()
    spent: _Spent = field(default_factory=_Spent, compare=False)


def analyze_incrementally(
    mesh: MeshConfig,
    previous: IncrementalAnalysis | None = None,
    checks: Sequence[Check] | None = None,
    *,
    include_schema: bool = False,
    checkpoint: Checkpoint | None = None,
) -> IncrementalAnalysis:
    """`analyze(mesh, checks, include_schema=...)`, from `previous` (the analysis of an
    earlier mesh with the same checks) where it still holds. `checkpoint` is called
    between pieces of work (it may block, never raise)."""
    from translators.analysis.checks import CHECKS

    pause = checkpoint or _no_pause
    selected = CHECKS if checks is None else checks
    if previous is not None and previous.mesh is mesh:
        return previous
    if previous is not None and previous.spent.value:
        previous = None  # its tables moved on to a later analysis
    if previous is not None:
        previous.spent.value = True
    change = mesh_change(previous.mesh, mesh) if previous is not None else None
    if previous is None or change is None:
        index = MeshIndex.of(mesh)
        pause()
        context = AnalysisContext(mesh, index)
        delegating = frozenset(
            vs.key for vs in mesh.by_kind().get("VirtualService", ()) if vs.spec.delegates
        )
        carried: dict[str, _Findings] = {}
    else:
        context = _next_context(previous, mesh, change)
        delegating = _delegating(previous.delegating, change.objects)
        carried = previous.findings
    context.checkpoint = pause
    delegated = bool(delegating)
    was_delegated = previous is not None and bool(previous.delegating)
    findings: dict[str, _Findings] = {}
    reran: list[str] = []
    for check in selected:
        pause()
        before = carried.get(check.name)
        per_object = check.each is not None and not (check.delegation and delegated)
        if before is not None and change is not None:
            # per object or whole, as before: a regime change works everything out again
            same_form = (before.by_object is not None) == per_object
            same_regime = not check.delegation or was_delegated == delegated
            if same_form and same_regime:
                kept = _carried(check, context, before, change, per_object, delegated)
                if kept is not None:
                    findings[check.name] = kept
                    continue
        reran.append(check.name)
        if per_object:
            findings[check.name] = _each_whole(check, context, pause)
        else:
            findings[check.name] = _Findings(tuple(run_check(check, context)))
    found: list[Message] = schema_messages(mesh) if include_schema else []
    for check in selected:
        found.extend(findings[check.name].messages())
    context.release()
    return IncrementalAnalysis(mesh, collect(found), context, findings, delegating, tuple(reran))


def _no_pause() -> None:
    """No one to give way to."""


def _next_context(
    previous: IncrementalAnalysis, mesh: MeshConfig, change: MeshChange
) -> AnalysisContext:
    old = previous.context
    suffix = mesh.options.domain_suffix
    # a delegating root VirtualService changes with its delegates, as the index holds it
    pairs = merged_changes(old.mesh.objects, mesh.objects, list(change.objects), suffix)
    index = old.index.updated(mesh, pairs, change.services, WORKLOADS in change.inputs)
    return AnalysisContext(mesh, index, carry=old)


def _delegating(
    before: frozenset[ObjectKey], objects: Iterable[ObjectPair]
) -> frozenset[ObjectKey]:
    found = set(before)
    for old, new in objects:
        for obj in (old, new):
            if obj is not None and obj.kind == "VirtualService":
                found.discard(obj.key)
        if new is not None and new.kind == "VirtualService" and new.spec.delegates:
            found.add(new.key)
    return frozenset(found)


def _reads(check: Check, per_object: bool, delegated: bool) -> frozenset[str] | None:
    """What `check` reads in the form it runs in (None: anything)."""
    if check.reads is None:
        return None
    if per_object:
        return check.reads
    # whole: its findings are about its own kinds too, and with delegation, every
    # VirtualService is an input of the roots
    extra = set(check.kinds)
    if check.delegation and delegated:
        extra.add("VirtualService")
    if ALL_KINDS in extra:
        return None
    return check.reads | extra


def _carried(
    check: Check,
    context: AnalysisContext,
    before: _Findings,
    change: MeshChange,
    per_object: bool,
    delegated: bool,
) -> _Findings | None:
    """`before` brought up to date, or None when the check must run whole."""
    reads = _reads(check, per_object, delegated)
    if reads is not None and per_object and check.services_by_host:
        reads = reads - {SERVICES}  # per object, below
    if reads is None or reads & change.inputs:
        return None
    if not per_object:
        return before
    assert before.by_object is not None
    every_kind = check.kinds == (ALL_KINDS,)
    touched = [
        (old, new) for old, new in change.objects if every_kind or _kind(old, new) in check.kinds
    ]
    stale = _stale(before, change) if check.services_by_host else []
    if not touched and not stale:
        return before
    by_object = dict(before.by_object)
    services = before.services  # updated in place: the state is spent after this
    redo: dict[ObjectKey, MeshObject[Any]] = {}
    for old, new in touched:
        if old is not None:
            by_object.pop(old.key, None)
            if services is not None:
                services.pop(old.key, None)
        if new is not None:
            redo[new.key] = new
    if stale:
        current = {o.key: o for kind in check.kinds for o in context.mesh.by_kind().get(kind, ())}
        for key in stale:
            by_object.pop(key, None)
            if services is not None:
                services.pop(key, None)
            obj = current.get(key)
            if obj is not None:
                redo.setdefault(key, obj)
    try:
        for obj in redo.values():
            if _applies(check, obj):
                _evaluate(check, context, obj, by_object, services)
    except Exception:
        return None  # run whole, so the XDS0001 message is the one `analyze` gives
    return _Findings(by_object=by_object, services=services)


def _stale(before: _Findings, change: MeshChange) -> list[ObjectKey]:
    """The objects whose findings read a service that changed."""
    if SERVICES not in change.inputs or before.services is None:
        return []
    changed = set(change.services) | {ANY_SERVICE}
    if any("*" in host for host in change.services):
        changed.add(WILDCARD_SERVICES)
    return [key for key, read in before.services.items() if not changed.isdisjoint(read)]


def _evaluate(
    check: Check,
    context: AnalysisContext,
    obj: MeshObject[Any],
    by_object: dict[ObjectKey, tuple[Message, ...]],
    services: dict[ObjectKey, frozenset[str]] | None,
) -> None:
    """`check.each` on `obj`, its findings (and the services they read) stored."""
    assert check.each is not None
    if services is None:
        found = tuple(check.each(context, obj))
    else:
        read = context.recording()
        try:
            found = tuple(check.each(context, obj))
        finally:
            context.stop_recording()
        services[obj.key] = frozenset(read)
    if found:
        by_object[obj.key] = by_object.get(obj.key, ()) + found


def _kind(old: MeshObject[Any] | None, new: MeshObject[Any] | None) -> str:
    obj = new if new is not None else old
    assert obj is not None
    return obj.kind


def _applies(check: Check, obj: MeshObject[Any]) -> bool:
    """`obj` is one `check.each` runs over (sidecar VirtualServices: no delegation here,
    so the merged VirtualServices are the objects themselves)."""
    return not check.sidecar_vs or bool(obj.spec.for_sidecars)


def _each_whole(check: Check, context: AnalysisContext, pause: Checkpoint) -> _Findings:
    """A per-object check over every object of its kinds, kept per object."""
    by_object: dict[ObjectKey, tuple[Message, ...]] = {}
    services: dict[ObjectKey, frozenset[str]] | None = {} if check.services_by_host else None
    try:
        objects = objects_of(context, check.kinds, check.sidecar_vs)
        for n, obj in enumerate(objects):
            if n % _BATCH == _BATCH - 1:
                pause()
            _evaluate(check, context, obj, by_object, services)
    except Exception as exc:
        return _Findings((failed(check, exc),))
    return _Findings(by_object=by_object, services=services)
