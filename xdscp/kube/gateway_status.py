"""Gateway API status on Kubernetes objects: the spec's shape (`status.conditions`,
`status.listeners`, `status.addresses` on a Gateway; `status.parents[]` on a route, one
entry per parent with our `controllerName`), computed by `translators.gateway.status`
and written here with timestamps and generations.

A route's `parents` list is shared with other controllers: only entries carrying our
controllerName are replaced, the others are written back as they were. A condition's
`lastTransitionTime` moves only when its status changes, and an object already saying
what it should is not written at all.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from translators.gateway.attach import (
    CONTROLLER_NAME,
    CONTROLLER_NAMES,
    ROUTE_KINDS,
    Condition,
    owns_class,
    resolve_gateway_api,
)
from translators.gateway.status import (
    ClassStatus,
    GatewayStatus,
    Status,
    gateway_api_status,
    invalid_route_status,
)
from translators.mesh import MeshConfig
from translators.model.gateway_api import KUBERNETES_GATEWAY

MAX_MESSAGE = 1024


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(
    conditions: tuple[Condition, ...], old: Any, generation: int | None
) -> list[dict[str, Any]]:
    previous = (
        {c.get("type"): c for c in old if isinstance(c, dict)} if isinstance(old, list) else {}
    )
    out = []
    for c in conditions:
        status = "True" if c.status else "False"
        before = previous.get(c.type) or {}
        transition = (
            str(before["lastTransitionTime"])
            if before.get("status") == status and before.get("lastTransitionTime")
            else _now()
        )
        entry: dict[str, Any] = {
            "type": c.type,
            "status": status,
            "reason": c.reason,
            "message": c.message[:MAX_MESSAGE],
            "lastTransitionTime": transition,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        out.append(entry)
    return out


# (namespace, gateway name, class) -> the addresses its Service has, if any
GatewayAddresses = Callable[[str, str, str], list[dict[str, str]]]


def desired_status(
    obj: Mapping[str, Any], status: Status, addresses: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The status fields xdscp sets on `obj` (as the API server holds it); a Gateway's
    `addresses` are its proxies' unless given (its Service's load balancer)."""
    generation = (obj.get("metadata") or {}).get("generation")
    current = obj.get("status") or {}
    if isinstance(status, ClassStatus):
        return {"conditions": _conditions(status.conditions, current.get("conditions"), generation)}
    if isinstance(status, GatewayStatus):
        old_listeners = {
            lst.get("name"): lst for lst in current.get("listeners") or [] if isinstance(lst, dict)
        }
        return {
            "conditions": _conditions(status.conditions, current.get("conditions"), generation),
            "addresses": addresses or [{"type": "IPAddress", "value": a} for a in status.addresses],
            "listeners": [
                {
                    "name": lst.name,
                    "supportedKinds": [
                        {"group": "gateway.networking.k8s.io", "kind": k}
                        for k in lst.supported_kinds
                    ],
                    "attachedRoutes": lst.attached_routes,
                    "conditions": _conditions(
                        lst.conditions,
                        (old_listeners.get(lst.name) or {}).get("conditions"),
                        generation,
                    ),
                }
                for lst in status.listeners
            ],
        }
    old_parents = [p for p in current.get("parents") or [] if isinstance(p, dict)]
    ours = []
    for parent in status.parents:
        before = next(
            (
                p
                for p in old_parents
                if p.get("controllerName") == CONTROLLER_NAME
                and p.get("parentRef") == dict(parent.parent_ref)
            ),
            {},
        )
        ours.append(
            {
                "parentRef": dict(parent.parent_ref),
                "controllerName": CONTROLLER_NAME,
                "conditions": _conditions(parent.conditions, before.get("conditions"), generation),
            }
        )
    others = [p for p in old_parents if p.get("controllerName") != CONTROLLER_NAME]
    return {"parents": others + ours}


def gateway_status_patch(
    obj: Mapping[str, Any], status: Status, addresses: list[dict[str, str]] | None = None
) -> dict[str, Any] | None:
    """The merge patch making `obj` carry `status`, or None when it already does."""
    wanted = desired_status(obj, status, addresses)
    current = obj.get("status") or {}
    if all(current.get(k) == v for k, v in wanted.items()):
        return None
    return {"status": wanted}


def invalid_status(
    mesh: MeshConfig, kind: str, raw: Mapping[str, Any], message: str
) -> Status | None:
    """The status of a Gateway API object the model refused, or None when it is not ours
    (a class naming another controller, a Gateway of another class)."""
    raw_spec = raw.get("spec")
    spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    if kind in ROUTE_KINDS:
        return invalid_route_status(spec.get("parentRefs"), message)
    if kind == "GatewayClass":
        if spec.get("controllerName") not in CONTROLLER_NAMES:
            return None
        return ClassStatus((Condition("Accepted", False, "InvalidParameters", message),))
    if not owns_class(mesh, str(spec.get("gatewayClassName") or "")):
        return None
    invalid = Condition("Accepted", False, "Invalid", message)
    programmed = Condition("Programmed", False, "Invalid", "gateway is not accepted")
    return GatewayStatus((invalid, programmed), (), ())


class GatewayAPIStatuses:
    """The Gateway API status of one mesh, computed once per status reconcile."""

    def __init__(
        self,
        mesh: MeshConfig,
        errors: Mapping[str, list[str]],
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
        gateway_addresses: GatewayAddresses | None = None,
    ) -> None:
        self.mesh = mesh
        self.errors = errors
        self.gateway_addresses = gateway_addresses
        self.statuses = gateway_api_status(resolve_gateway_api(mesh, namespace_labels))

    def patch(self, kind: str, ref: str, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        problems = self.errors.get(ref)
        status = (
            invalid_status(self.mesh, kind, raw, "; ".join(problems))
            if problems
            else self.statuses.get(ref)
        )
        if status is None:
            return None
        addresses = None
        if kind == KUBERNETES_GATEWAY and not problems and self.gateway_addresses is not None:
            meta = raw.get("metadata") or {}
            addresses = self.gateway_addresses(
                str(meta.get("namespace") or "default"),
                str(meta.get("name")),
                str((raw.get("spec") or {}).get("gatewayClassName")),
            )
        return gateway_status_patch(raw, status, addresses)


def has_gateway_api_status(kind: str) -> bool:
    """Kinds whose status has the Gateway API's shape instead of xdscp's generic one."""
    return kind in ("GatewayClass", KUBERNETES_GATEWAY, *ROUTE_KINDS)


__all__ = [
    "GatewayAPIStatuses",
    "desired_status",
    "gateway_status_patch",
    "has_gateway_api_status",
    "invalid_status",
]
