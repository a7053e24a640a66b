"""A proxy's whole IR."""

from __future__ import annotations

from dataclasses import dataclass, field

from translators.ir.destinations import DestinationIR, EndpointSetIR
from translators.ir.listeners import ListenerIR
from translators.ir.routes import RouteTableIR


@dataclass(frozen=True, slots=True)
class ProxyView:
    """Everything one proxy gets, before it becomes Envoy protos."""

    proxy: str
    # where its traffic can go (one per service port and subset, plus the special ones)
    destinations: tuple[DestinationIR, ...] = ()
    # the endpoints of the destinations whose endpoints the control plane lists
    endpoint_sets: tuple[EndpointSetIR, ...] = ()
    listeners: tuple[ListenerIR, ...] = ()
    route_tables: tuple[RouteTableIR, ...] = ()  # one per outbound HTTP port
    warnings: tuple[str, ...] = field(default=())
