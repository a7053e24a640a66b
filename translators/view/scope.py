"""A proxy's scope: who it is as VirtualService matches see it, and the object
references memo keys are made of."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from translators.index import MeshIndex
from translators.memo import PieceCache
from translators.mesh import Workload
from translators.model.objects import MeshObject
from translators.traffic.source import SourceIR, source_label_keys
from translators.traffic.source import proxy_source as make_source


def ref_of(obj: MeshObject[Any] | None) -> str:
    """The object's name as a memo key: a merged DestinationRule names all its rules."""
    if obj is None:
        return ""
    return "+".join(obj.refs) if obj.merged_from else obj.ref


def proxy_source(
    index: MeshIndex, workload: Workload, memo: PieceCache, gateway: bool = False
) -> SourceIR:
    """The caller as VirtualService matches and DestinationRule workload selectors see
    it (see translators/traffic/source.py)."""

    def keys() -> frozenset[str]:
        index.read(("source-labels",))
        return source_label_keys(index.mesh.of_kind("VirtualService"))

    source = make_source(
        workload.namespace,
        workload.labels,
        memo.get(("source-label-keys",), keys),
        index.selecting_rules(workload),
    )
    return replace(source, gateway_namespace=workload.namespace) if gateway else source
