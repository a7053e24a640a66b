"""Which EnvoyFilter patches apply to one proxy, in Istio's order.

An EnvoyFilter applies to a proxy when it is in the config root namespace or the proxy's
namespace and its `workloadSelector` labels are the proxy's (no selector: every proxy of
that namespace, and the root namespace's: every proxy), or its `targetRefs` name the
proxy's Gateway. Patch sets of the root namespace come first, then the proxy's namespace;
within each, by `priority`, then age (creation), then name (pilot's push context order).
Within a set, patches keep their `configPatches` order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from translators.mesh import MeshConfig, Workload
from translators.model.envoy_filter import (
    ApplyTo,
    ConfigPatch,
    EnvoyFilterSpec,
    Operation,
    PatchContext,
    patch_message,
)
from translators.model.objects import MeshObject, age_order

# Istio matches `proxyVersion` against this when a proxy reports no Istio version (ours do not)
UNKNOWN_PROXY_VERSION = "65536.65536.65536"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


@dataclass(frozen=True, slots=True)
class ActivePatch:
    """One config patch that applies to the proxy, with the EnvoyFilter it came from."""

    source: str  # `EnvoyFilter/<ns>/<name>`: what a changed resource is blamed on
    patch: ConfigPatch
    apply_to: ApplyTo
    operation: Operation
    context: PatchContext
    key: tuple[str, str, int]  # (EnvoyFilter, its content digest, patch index): memo keys

    def value(self) -> Message:
        """A fresh copy of the patch value as the Envoy message `applyTo` names."""
        assert self.patch.patch is not None and self.patch.patch.value is not None
        return patch_message(self.apply_to, self.patch.patch.value)

    def in_context(self, context: PatchContext) -> bool:
        return self.context is PatchContext.ANY or self.context is context


def filters_for(
    filters: Sequence[MeshObject[Any]], workload: Workload, root_namespace: str
) -> list[MeshObject[EnvoyFilterSpec]]:
    """The EnvoyFilters that apply to `workload`, in the order their patches apply."""
    root: list[MeshObject[EnvoyFilterSpec]] = []
    local: list[MeshObject[EnvoyFilterSpec]] = []
    for obj in filters:
        if obj.namespace not in (root_namespace, workload.namespace):
            continue
        if not _selects(obj.spec, workload):
            continue
        (root if obj.namespace == root_namespace else local).append(obj)
    order = _order_key
    return sorted(root, key=order) + sorted(local, key=order)


def _order_key(obj: MeshObject[EnvoyFilterSpec]) -> tuple[int, tuple[int, str, str, str]]:
    return (obj.spec.priority, age_order(obj))


def _selects(spec: EnvoyFilterSpec, workload: Workload) -> bool:
    if spec.target_refs:
        gateway = workload.labels.get(GATEWAY_NAME_LABEL)
        return any(ref.kind == "Gateway" and ref.name == gateway for ref in spec.target_refs)
    if spec.workload_selector is None:
        return True
    return all(workload.labels.get(k) == v for k, v in spec.workload_selector.labels.items())


def active_patches(
    filters: Sequence[MeshObject[EnvoyFilterSpec]], workload: Workload
) -> list[ActivePatch]:
    """The patches of `filters` whose proxy match (version, metadata) fits `workload`."""
    metadata = proxy_metadata(workload)
    found: list[ActivePatch] = []
    for obj in filters:
        for index, cp in enumerate(obj.spec.config_patches):
            if cp.patch is None:
                continue
            match = cp.match
            proxy = match.proxy if match is not None else None
            if proxy is not None:
                version = proxy.proxy_version
                if version and not re.search(version, UNKNOWN_PROXY_VERSION):
                    continue
                if any(metadata.get(k) != v for k, v in proxy.metadata.items()):
                    continue
            context = match.context if match is not None else PatchContext.ANY
            key = (obj.ref, obj.digest, index)
            found.append(ActivePatch(obj.ref, cp, cp.apply_to, cp.patch.operation, context, key))
    return found


def proxy_metadata(workload: Workload) -> Mapping[str, str]:
    """The node metadata keys (Istio's names) a `match.proxy.metadata` can compare with."""
    return {
        "NAMESPACE": workload.namespace,
        "WORKLOAD_NAME": workload.name,
        "SERVICE_ACCOUNT": workload.service_account,
    }


def envoy_filters_for(mesh: MeshConfig, workload: Workload) -> list[dict[str, Any]]:
    """The EnvoyFilters that apply to `workload`, in application order, for `describe`:
    each with its priority and its patches (`applyTo operation [context]`)."""
    found = filters_for(mesh.of_kind("EnvoyFilter"), workload, mesh.options.root_namespace)
    out: list[dict[str, Any]] = []
    for obj in found:
        patches = [
            f"{p.apply_to} {p.operation} [{p.context}]" for p in active_patches([obj], workload)
        ]
        out.append({"filter": obj.ref, "priority": obj.spec.priority, "patches": patches})
    return out
