"""Reading back what the translator wrote into generated resources: the provenance refs
(`Kind/namespace/name`) in their metadata, and the rule of a VirtualService a route
came from (routes are named by the rule, see translators/traffic/http.py)."""

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


def rule_of(mesh: MeshConfig, vs_ref: str, route_name: str) -> str:
    """`http[i]` (with `.match[j]` when the rule has several match blocks) of the route
    named `route_name`: the rule's own name, or `<namespace>.<name>.<i>` when unnamed."""
    vs = object_by_ref(mesh, vs_ref)
    if vs is None or vs.kind != "VirtualService":
        return ""
    for i, rule in enumerate(vs.spec.http):
        base = rule.name or f"{vs.namespace}.{vs.name}.{i}"
        if route_name == base:
            return f"http[{i}]"
        if route_name.startswith(base + ".") and len(rule.match) > 1:
            suffix = route_name[len(base) + 1 :]
            names = [m.name for m in rule.match]
            j = names.index(suffix) if suffix in names else int(suffix) if suffix.isdigit() else -1
            if 0 <= j < len(rule.match):
                return f"http[{i}].match[{j}]"
    return ""
