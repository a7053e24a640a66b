"""A proxy's whole IR."""

from __future__ import annotations

from dataclasses import dataclass, field

from translators.ir.destinations import ClusterIR, LoadAssignmentIR
from translators.ir.listeners import ListenerIR
from translators.ir.routes import RouteConfigIR


@dataclass(frozen=True, slots=True)
class ProxyView:
    """Everything one proxy gets, before it becomes Envoy protos."""

    proxy: str
    clusters: tuple[ClusterIR, ...] = ()
    load_assignments: tuple[LoadAssignmentIR, ...] = ()
    listeners: tuple[ListenerIR, ...] = ()
    route_configs: tuple[RouteConfigIR, ...] = ()
    warnings: tuple[str, ...] = field(default=())
