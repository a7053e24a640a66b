"""Running the checks over one MeshConfig.

A check is a plain function `(AnalysisContext) -> Iterable[Message]`, registered with
the codes it may emit. A check that raises does not stop the others: it becomes one
XDS0001 message (the analysis runs inside the control plane's config loop, where
nothing a user writes may stop it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from translators.analysis.codes import INTERNAL_ERROR, SCHEMA_ERROR
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message, Severity
from translators.index import MeshIndex
from translators.mesh import MeshConfig

CheckFn = Callable[[AnalysisContext], Iterable[Message]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: CheckFn
    codes: tuple[str, ...]


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
        try:
            found.extend(check.run(context))
        except Exception as exc:  # a bug in one check must not hide the others' findings
            found.append(
                Message(
                    type=INTERNAL_ERROR,
                    kind="Check",
                    namespace="",
                    name=check.name,
                    origin=None,
                    field="",
                    text=f"check {check.name} failed: {type(exc).__name__}: {exc}",
                    hint="report this as a bug in xdscp; the other checks still ran",
                )
            )
    unique = dict.fromkeys(found)  # one object can be reached along several paths
    return Analysis(tuple(sorted(unique, key=Message.sort_key)))
