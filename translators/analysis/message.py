"""What an analysis finds: a message with a stable code, a severity, the object and the
field it is about, and a one-line fix.

Codes are ours (`XDS0101`) and never change meaning; where Istio's analyzer reports the
same problem its code rides alongside (`IST0101`), so people who know `istioctl analyze`
recognise it. Every consumer (the CLI table, `/debug/analysis`, metrics, Kubernetes
status, `describe`, the dashboard) shows these same objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from translators.model.objects import MeshObject, Origin
from translators.naming import object_ref


class Severity(IntEnum):
    """Ordered: a larger value is worse (exit codes and `--fail-on` compare them)."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"{text!r}: expected error, warning or info") from None


@dataclass(frozen=True, slots=True)
class MessageType:
    """One kind of finding: its codes, name and severity (see `codes.py`)."""

    code: str
    name: str
    severity: Severity
    summary: str  # what it means, one line (the README's table)
    istio_code: str = ""

    def at(
        self,
        obj: MeshObject[Any],
        field: str,
        text: str,
        hint: str,
        related: tuple[str, ...] = (),
    ) -> Message:
        return Message(
            type=self,
            kind=obj.kind,
            namespace=obj.namespace,
            name=obj.name,
            origin=obj.origin,
            field=field,
            text=text,
            hint=hint,
            related=related,
        )


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    kind: str
    namespace: str
    name: str
    origin: Origin | None
    field: str
    text: str
    hint: str
    # other objects involved (the VirtualService that shadows this one, ...)
    related: tuple[str, ...] = ()

    @property
    def code(self) -> str:
        return self.type.code

    @property
    def severity(self) -> Severity:
        return self.type.severity

    @property
    def ref(self) -> str:
        """`Kind/namespace/name`; empty for a document that is no object (bad YAML)."""
        return object_ref(self.kind, self.namespace, self.name) if self.kind else ""

    def sort_key(self) -> tuple[int, str, str, str, str]:
        return (-self.severity, self.ref, self.code, self.field, self.text)

    def total_key(self) -> tuple[Any, ...]:
        """`sort_key`, then every other field: two analyses with the same messages list
        them in one order, however the checks reached them (incremental.py)."""
        source = self.origin.source if self.origin is not None else ""
        document = self.origin.document if self.origin is not None else None
        where = (source, -1 if document is None else document)
        return (*self.sort_key(), self.hint, self.related, self.kind, self.name, where)

    def __str__(self) -> str:
        where = f" {self.field}" if self.field else ""
        istio = f" ({self.type.istio_code})" if self.type.istio_code else ""
        return f"{self.code}{istio} {self.severity.label} {self.ref}{where}: {self.text}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "istio_code": self.type.istio_code or None,
            "type": self.type.name,
            "severity": self.severity.label,
            "object": self.ref,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "source": self.origin.source if self.origin else None,
            "document": self.origin.document if self.origin else None,
            "field": self.field,
            "message": self.text,
            "hint": self.hint,
            "related": list(self.related),
        }
