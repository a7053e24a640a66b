"""Running the checks over one MeshConfig.

A check is a plain function `(AnalysisContext) -> Iterable[Message]`, registered with
the codes it may emit and what it reads (`reads`: the inputs whose change can change
its findings, for `incremental.py`). A check whose findings are each about one object
of some kinds, read from that object and `reads` alone, is written per object
(`per_object`): the incremental analysis then re-evaluates only the edited objects.
A check that raises does not stop the others: it becomes one XDS0001 message (the
analysis runs inside the control plane's config loop, where nothing a user writes may
stop it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from translators.analysis.codes import INTERNAL_ERROR, SCHEMA_ERROR
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message, Severity
from translators.index import MeshIndex
from translators.mesh import MeshConfig
from translators.model.objects import MeshObject

CheckFn = Callable[[AnalysisContext], Iterable[Message]]
# the findings a per-object check makes about one object
EachFn = Callable[[AnalysisContext, MeshObject[Any]], Iterable[Message]]

# `Check.reads` names object kinds and these inputs beside them
SERVICES = "@services"  # MeshConfig.services (a service's ports, endpoints, ...)
WORKLOADS = "@workloads"  # MeshConfig.workloads (labels, namespaces, accounts)
JWKS = "@jwks"  # the fetched key sets (MeshConfig.jwks, jwks_errors)
ALL_KINDS = "*"  # `Check.kinds`: every object of the mesh


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: CheckFn
    codes: tuple[str, ...]
    # what the findings depend on: object kinds and SERVICES/WORKLOADS/JWKS (the mesh
    # options always). None: anything (worked out again for every mesh). A per-object
    # check names only what it reads beside the object it is about.
    reads: frozenset[str] | None = None
    # per-object form: the findings about one object of `kinds`; `run` is their union
    each: EachFn | None = None
    kinds: tuple[str, ...] = ()
    # `each` runs over VirtualServices as sidecars apply them (delegating roots merged
    # with their delegates: `mesh_virtual_services`), or reads other VirtualServices
    # when one delegates: per object only while no VirtualService of the mesh delegates
    delegation: bool = False
    # `each` sees the merged VirtualServices that apply to sidecars (`for_sidecars`)
    sidecar_vs: bool = False
    # `each` finds services only through the context's lookups (`service`,
    # `services_matching`, `service_names`), which note what one object's findings read:
    # after a service edit only the objects that looked at it are re-evaluated
    services_by_host: bool = False


def per_object(
    name: str,
    each: EachFn,
    kinds: tuple[str, ...],
    codes: tuple[str, ...],
    reads: frozenset[str] = frozenset(),
    *,
    delegation: bool = False,
    sidecar_vs: bool = False,
    services_by_host: bool = False,
) -> Check:
    """A check made of `each` over every object of `kinds` (see `Check`)."""

    def run(context: AnalysisContext) -> Iterator[Message]:
        for obj in objects_of(context, kinds, sidecar_vs):
            yield from each(context, obj)

    return Check(
        name, run, codes, reads, each, kinds, delegation or sidecar_vs, sidecar_vs, services_by_host
    )


def objects_of(
    context: AnalysisContext, kinds: tuple[str, ...], sidecar_vs: bool
) -> Iterable[MeshObject[Any]]:
    if sidecar_vs:
        return context.sidecar_virtual_services
    if kinds == (ALL_KINDS,):
        return context.mesh.objects
    return [obj for kind in kinds for obj in context.of_kind(kind)]


@dataclass(frozen=True, slots=True)
class Analysis:
    """The messages of one mesh, worst first."""

    messages: tuple[Message, ...]

    @property
    def worst(self) -> Severity | None:
        return max((m.severity for m in self.messages), default=None)

    def counts(self) -> Counter[tuple[str, Severity]]:
        return Counter((m.code, m.severity) for m in self.messages)

    def by_object(self) -> dict[str, list[Message]]:
        found: dict[str, list[Message]] = {}
        for message in self.messages:
            found.setdefault(message.ref, []).append(message)
        return found

    def as_json(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.messages]


def schema_messages(mesh: MeshConfig) -> list[Message]:
    """The mesh's load errors (objects rejected by validation) as XDS0002 messages."""
    return [
        Message(
            type=SCHEMA_ERROR,
            kind=error.kind,
            namespace=error.namespace,
            name=error.name,
            origin=error.origin,
            field=error.field,
            text=error.message,
            hint=(f"fix {error.field}" if error.field else "fix the document")
            + "; until then the last good version stays in force",
        )
        for error in mesh.errors
    ]


def analyze(
    mesh: MeshConfig,
    checks: Sequence[Check] | None = None,
    *,
    index: MeshIndex | None = None,
    include_schema: bool = False,
) -> Analysis:
    """Run `checks` (default: every registered check) over `mesh`. `index` reuses the
    translator's MeshIndex of this generation when there is one."""
    from translators.analysis.checks import CHECKS

    context = AnalysisContext(mesh, index)
    found: list[Message] = schema_messages(mesh) if include_schema else []
    for check in CHECKS if checks is None else checks:
        found.extend(run_check(check, context))
    return collect(found)


def run_check(check: Check, context: AnalysisContext) -> list[Message]:
    """`check`'s findings, or the one XDS0001 message saying it failed."""
    try:
        return list(check.run(context))
    except Exception as exc:  # a bug in one check must not hide the others' findings
        return [failed(check, exc)]


def failed(check: Check, exc: Exception) -> Message:
    return Message(
        type=INTERNAL_ERROR,
        kind="Check",
        namespace="",
        name=check.name,
        origin=None,
        field="",
        text=f"check {check.name} failed: {type(exc).__name__}: {exc}",
        hint="report this as a bug in xdscp; the other checks still ran",
    )


def collect(found: Iterable[Message]) -> Analysis:
    """The messages, each once (one object can be reached along several paths), in
    one order whatever order the checks ran in (`Message.total_key`)."""
    unique = dict.fromkeys(found)
    return Analysis(tuple(sorted(unique, key=Message.total_key)))
