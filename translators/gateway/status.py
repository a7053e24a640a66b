"""The Gateway API status xdscp writes, as the spec describes it: GatewayClass
`Accepted`; Gateway `Accepted`/`Programmed`, its addresses and per listener
`Accepted`/`Programmed`/`ResolvedRefs`/`Conflicted`, supported kinds and attached route
count; per route and per parent that is ours, `Accepted` and `ResolvedRefs`.

Pure: the Kubernetes writer (`xdscp/kube/gateway_status.py`) adds timestamps and
generations and merges with other controllers' entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from translators.gateway.attach import (
    CONTROLLER_NAME,
    Condition,
    GatewayAPIState,
    resolved_refs,
)
from translators.gateway.mesh_parents import SERVICE_GROUPS
from translators.model.gateway_api import GATEWAY_API
from translators.naming import object_ref


@dataclass(frozen=True, slots=True)
class ListenerStatus:
    name: str
    supported_kinds: tuple[str, ...]
    attached_routes: int
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    conditions: tuple[Condition, ...]
    listeners: tuple[ListenerStatus, ...]
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParentStatus:
    """`parent_ref` is the reference as the route wrote it (defaults filled in)."""

    parent_ref: Mapping[str, Any]
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class RouteStatus:
    parents: tuple[ParentStatus, ...]


@dataclass(frozen=True, slots=True)
class ClassStatus:
    conditions: tuple[Condition, ...]


Status = GatewayStatus | RouteStatus | ClassStatus


def gateway_api_status(state: GatewayAPIState) -> dict[str, Status]:
    """Object ref -> the status xdscp owns on it. Objects of other controllers are absent."""
    out: dict[str, Status] = {}
    for name, (_obj, condition) in state.classes.items():
        out[object_ref("GatewayClass", "default", name)] = ClassStatus((condition,))
    attached: dict[tuple[tuple[str, str], str], int] = {}
    for route in state.routes.values():
        for attachment in {(a.gateway, a.listener) for a in route.attachments}:
            attached[attachment] = attached.get(attachment, 0) + 1
    for key, gateway in state.gateways.items():
        listeners = tuple(
            ListenerStatus(
                s.listener.name,
                s.supported_kinds,
                attached.get((key, s.listener.name), 0),
                s.conditions,
            )
            for s in gateway.listeners
        )
        addresses = tuple(w.address for w in gateway.workloads)
        out[gateway.obj.ref] = GatewayStatus(gateway.conditions, listeners, addresses)
    for ref, route in state.routes.items():
        resolved = resolved_refs(route.backends)
        parents = tuple(
            ParentStatus(
                parent_ref_dict(p.parent_ref.model_dump(by_alias=True, exclude_none=True)),
                (*p.conditions, resolved),
            )
            for p in route.parents
        )
        out[ref] = RouteStatus(parents)
    return out


def parent_ref_dict(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A parentRef as it is echoed in status: defaults filled, empty fields left out."""
    out = {"group": GATEWAY_API, "kind": "Gateway", **raw}
    return {k: v for k, v in out.items() if v is not None}


def invalid_route_status(raw_parent_refs: Any, message: str) -> RouteStatus:
    """A route the model refused (a value the spec allows but xdscp does not support, or
    one the CRD schema would have refused): `Accepted: False, UnsupportedValue` on every
    parent it names, so its author sees why in `kubectl get httproute -o yaml`."""
    parents = []
    for raw in raw_parent_refs if isinstance(raw_parent_refs, list) else []:
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            ref = parent_ref_dict(raw)
            ours = (ref["group"], ref["kind"]) == (GATEWAY_API, "Gateway") or (
                ref["kind"] == "Service" and ref["group"] in SERVICE_GROUPS
            )
            if ours:
                parents.append(
                    ParentStatus(ref, (Condition("Accepted", False, "UnsupportedValue", message),))
                )
    return RouteStatus(tuple(parents))


__all__ = [
    "CONTROLLER_NAME",
    "ClassStatus",
    "GatewayStatus",
    "ListenerStatus",
    "ParentStatus",
    "RouteStatus",
    "Status",
    "gateway_api_status",
    "invalid_route_status",
]
