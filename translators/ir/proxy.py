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
    # where its traffic can go (one per service port and subset, plus the special ones)
    destinations: tuple[ClusterIR, ...] = ()
    # the endpoints of the destinations whose endpoints the control plane lists
    endpoint_sets: tuple[LoadAssignmentIR, ...] = ()
    listeners: tuple[ListenerIR, ...] = ()
    route_tables: tuple[RouteConfigIR, ...] = ()  # one per outbound HTTP port
    warnings: tuple[str, ...] = field(default=())
