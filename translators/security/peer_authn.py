"""The effective PeerAuthentication of a workload, port by port (Istio's semantics).

Istio (pilot/pkg/security/authn `ComposePeerAuthentication`, and the
PeerAuthentication reference at istio.io/latest/docs/reference/config/security/
peer_authentication/):

* a policy in the root namespace without a selector is mesh-wide; a policy in a
  workload's namespace without a selector (or with empty `matchLabels`) is
  namespace-wide; one whose selector matches the workload's labels is
  workload-specific. Policies with a selector in the root namespace are ignored;
* the most specific scope wins; within a scope the oldest policy
  (creationTimestamp, then name) wins;
* a mode of UNSET (or no `mtls`) inherits from the next wider scope, and with
  nothing set the mode is PERMISSIVE;
* `portLevelMtls` (workload policies only) overrides per port, keyed by the
  workload's own (target) port; an UNSET port inherits the workload's mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from translators.ir import InboundMTLS
from translators.model.objects import MeshObject, age_order
from translators.model.security import MTLSMode, PeerAuthenticationSpec

_EFFECTIVE = {
    MTLSMode.STRICT: InboundMTLS.STRICT,
    MTLSMode.PERMISSIVE: InboundMTLS.PERMISSIVE,
    MTLSMode.DISABLE: InboundMTLS.DISABLE,
}
MESH_DEFAULT = InboundMTLS.PERMISSIVE


# Istio's order among policies of one scope: oldest first, then namespace/name
age_key = age_order


@dataclass(frozen=True, slots=True)
class EffectiveMTLS:
    """A workload's peer-authentication outcome: a mode, per-port overrides, and the
    policies that decided them (for provenance)."""

    mode: InboundMTLS = MESH_DEFAULT
    ports: Mapping[int, InboundMTLS] = field(default_factory=lambda: MappingProxyType({}))
    sources: tuple[str, ...] = ()

    def at(self, port: int) -> InboundMTLS:
        return self.ports.get(port, self.mode)


def compose(
    root_namespace: str, policies: Iterable[MeshObject[PeerAuthenticationSpec]]
) -> EffectiveMTLS:
    """Combine the policies applicable to one workload (the caller selects them: the
    root namespace's, and the workload namespace's whose selector matches or is empty)."""
    mesh: MeshObject[PeerAuthenticationSpec] | None = None
    namespace: MeshObject[PeerAuthenticationSpec] | None = None
    workload: MeshObject[PeerAuthenticationSpec] | None = None
    for policy in sorted(policies, key=age_key):
        if not policy.spec.has_selector:
            if policy.namespace == root_namespace:
                mesh = mesh or policy
            else:
                namespace = namespace or policy
        elif policy.namespace != root_namespace:
            workload = workload or policy
    mode = MESH_DEFAULT
    for chosen in (mesh, namespace, workload):
        if chosen is not None and chosen.spec.mode is not MTLSMode.UNSET:
            mode = _EFFECTIVE[chosen.spec.mode]
    ports: dict[int, InboundMTLS] = {}
    if workload is not None:
        for port, setting in sorted((workload.spec.port_level_mtls or {}).items()):
            ports[port] = mode if setting.mode is MTLSMode.UNSET else _EFFECTIVE[setting.mode]
    sources = tuple(p.ref for p in (mesh, namespace, workload) if p is not None)
    return EffectiveMTLS(mode, MappingProxyType(ports), sources)


class PeerAuthentications:
    """PeerAuthentication lookups for one MeshConfig; results cached per (namespace,
    labels), so 1,000 replicas of one deployment compose once."""

    def __init__(
        self, policies: Iterable[MeshObject[PeerAuthenticationSpec]], root_namespace: str
    ) -> None:
        self.root_namespace = root_namespace
        self._by_namespace: dict[str, list[MeshObject[PeerAuthenticationSpec]]] = {}
        for policy in policies:
            self._by_namespace.setdefault(policy.namespace, []).append(policy)
        self._cache: dict[tuple[str, frozenset[tuple[str, str]]], EffectiveMTLS] = {}

    def __bool__(self) -> bool:
        return bool(self._by_namespace)

    def applicable(
        self, namespace: str, labels: Mapping[str, str]
    ) -> list[MeshObject[PeerAuthenticationSpec]]:
        found = [
            p for p in self._by_namespace.get(self.root_namespace, []) if not p.spec.has_selector
        ]
        if namespace != self.root_namespace:
            for policy in self._by_namespace.get(namespace, []):
                selector = policy.spec.selector
                if not policy.spec.has_selector or (
                    selector is not None and selector.matches(labels)
                ):
                    found.append(policy)
        return found

    def effective(self, namespace: str, labels: Mapping[str, str]) -> EffectiveMTLS:
        if not self._by_namespace:
            return _NOTHING_SET
        key = (namespace, frozenset(labels.items()))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = compose(
                self.root_namespace, self.applicable(namespace, labels)
            )
        return cached


_NOTHING_SET = EffectiveMTLS()
