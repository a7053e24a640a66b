"""The translator entry points: (MeshConfig, proxy) -> Envoy resources.

`translate` is the plain pure function. `MeshTranslator` is the same function with
a memo: built once per MeshConfig (optionally from the previous generation's
translator) and asked for many proxies, it reuses every piece whose inputs did
not change — the same Envoy message object for identical content, so callers can
serialize each piece once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from google.protobuf.message import Message

from translators.envoy.clusters import build_cluster, load_assignment
from translators.envoy.listeners import build_listener
from translators.envoy.routes import build_route_config
from translators.index import MeshIndex
from translators.ir import ProxyView
from translators.mesh import MeshConfig, Workload
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.view import Memo, build_view


@dataclass(frozen=True, slots=True, eq=False)
class EnvoyResource:
    """One Envoy resource with the mesh objects it came from. Compared by identity: the
    translator returns the very same object for the same content."""

    type_url: str
    name: str
    message: Message
    provenance: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxyResources:
    proxy: str
    view: ProxyView
    resources: tuple[EnvoyResource, ...]

    def of_type(self, type_url: str) -> list[EnvoyResource]:
        return [r for r in self.resources if r.type_url == type_url]


class MeshTranslator:
    """Translate many proxies of one MeshConfig, sharing work between them."""

    def __init__(self, mesh: MeshConfig, previous: MeshTranslator | None = None) -> None:
        self.mesh = mesh
        self.index = MeshIndex.of(mesh)
        self._memo: Memo = previous._memo.next_generation() if previous else Memo()

    def view(self, workload: Workload) -> ProxyView:
        return build_view(self.index, workload, self._memo)

    def translate(self, workload: Workload) -> ProxyResources:
        view = self.view(workload)
        memo = self._memo
        out: list[EnvoyResource] = []
        for cluster in view.clusters:
            out.append(
                memo.get(
                    ("cds", cluster),
                    lambda c=cluster: EnvoyResource(  # type: ignore[misc]
                        CLUSTER_TYPE, c.name, build_cluster(c), c.provenance
                    ),
                )
            )
        for assignment in view.load_assignments:
            out.append(
                memo.get(
                    ("eds", assignment),
                    lambda a=assignment: EnvoyResource(  # type: ignore[misc]
                        ENDPOINT_TYPE,
                        a.cluster,
                        load_assignment(a.cluster, a.endpoints),
                        a.provenance,
                    ),
                )
            )
        for listener in view.listeners:
            out.append(
                memo.get(
                    ("lds", listener),
                    lambda li=listener: EnvoyResource(  # type: ignore[misc]
                        LISTENER_TYPE, li.name, build_listener(li), li.provenance
                    ),
                )
            )
        for config in view.route_configs:
            key: Hashable = ("rds", config)
            out.append(
                memo.get(
                    key,
                    lambda rc=config: EnvoyResource(  # type: ignore[misc]
                        ROUTE_TYPE,
                        rc.name,
                        build_route_config(rc),
                        tuple(sorted({s for v in rc.virtual_hosts for s in v.provenance})),
                    ),
                )
            )
        return ProxyResources(workload.key, view, tuple(out))


def translate(mesh: MeshConfig, workload: Workload) -> ProxyResources:
    """Every Envoy resource `workload`'s sidecar needs, from `mesh` alone."""
    return MeshTranslator(mesh).translate(workload)
