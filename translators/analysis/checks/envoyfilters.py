"""EnvoyFilter patches that will not do what they say: a BOOTSTRAP patch (not applied
here) and an HTTP filter ADDed after the router (Envoy rejects the listener: the NACK
would be blamed on this EnvoyFilter; the analysis says so before it is sent)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.model.envoy_filter import ApplyTo, EnvoyFilterSpec, Operation
from translators.model.objects import MeshObject


def check_patches(ctx: AnalysisContext, obj: MeshObject[Any]) -> Iterable[Message]:
    """Per EnvoyFilter; reads nothing else."""
    spec: EnvoyFilterSpec = obj.spec
    for i, patch in enumerate(spec.config_patches):
        field = f"spec.configPatches[{i}]"
        operation = patch.patch.operation if patch.patch is not None else None
        if patch.apply_to is ApplyTo.BOOTSTRAP:
            yield codes.ENVOY_FILTER_PATCH_NOT_APPLIED.at(
                obj,
                f"{field}.applyTo",
                "BOOTSTRAP patches are not applied: xdscp writes the bootstrap",
                "set bootstrap options through `xdscp bootstrap` instead",
            )
        elif patch.apply_to is ApplyTo.HTTP_FILTER and operation is Operation.ADD:
            yield codes.ENVOY_FILTER_AFTER_ROUTER.at(
                obj,
                f"{field}.patch.operation",
                "ADD appends the HTTP filter after envoy.filters.http.router: Envoy "
                "rejects such a listener",
                "use INSERT_BEFORE with subFilter envoy.filters.http.router",
            )
