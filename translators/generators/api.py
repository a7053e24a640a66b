"""What a generator is: one function per xDS type, reading one proxy's build inputs.

A generator returns the groups of resources of its type for one proxy. Groups, not
single resources, because proxies with equal scope share a group object and the cache
serializes and versions it once. The `xdstypes` table names each type's generator; the
translator calls them in push order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from translators.ir.record import fast_init
from translators.resources import ResourceGroup

if TYPE_CHECKING:
    from translators.mesh import Workload
    from translators.translate import MeshTranslator, OutboundResources
    from translators.view import LocalView, OutboundView


@fast_init  # one per proxy and translation: the frozen dataclass __init__ costs ~1.5 us
@dataclass(frozen=True, slots=True)
class ProxyBuild:
    """Everything a generator may read for one proxy; built once per `translate` call."""

    translator: MeshTranslator  # the memo shared between proxies and generations
    workload: Workload
    outbound_view: OutboundView  # shared by every proxy of the same scope
    local: LocalView  # this proxy's own listeners and inbound clusters
    outbound: OutboundResources  # the outbound view's resources, built once per scope


Generator = Callable[[ProxyBuild], tuple[ResourceGroup, ...]]
