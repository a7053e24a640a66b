"""Reading back what the translator wrote into generated resources: the provenance refs
(`Kind/namespace/name`) in their metadata (the rule a route came from:
translators/explain/rules.py)."""

from __future__ import annotations

from typing import Any

from envoy.config.core.v3 import base_pb2

from translators.mesh import MeshConfig
from translators.model.objects import MeshObject
from translators.naming import PROVENANCE_KEY


def sources_of(metadata: base_pb2.Metadata) -> tuple[str, ...]:
    entry = metadata.filter_metadata.get(PROVENANCE_KEY)
    if entry is None or "sources" not in entry.fields:
        return ()
    return tuple(v.string_value for v in entry.fields["sources"].list_value.values)


def object_by_ref(mesh: MeshConfig, ref: str) -> MeshObject[Any] | None:
    return next((o for o in mesh.objects if o.ref == ref), None)


def first_of_kind(sources: tuple[str, ...], kind: str) -> str:
    return next((s for s in sources if s.startswith(f"{kind}/")), "")
