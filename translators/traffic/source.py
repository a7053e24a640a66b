"""Who is asking: the parts of a proxy that VirtualService match blocks may test
(`sourceLabels`, `sourceNamespace`).

Outbound config is shared by every proxy of a namespace and Sidecar. A rule with
`sourceLabels` breaks that sharing only as far as it must: the proxy's labels are
projected onto the label keys some VirtualService actually tests, and the projection
joins the key of the shared outbound view. Proxies that look alike to every
VirtualService still share one config; with no `sourceLabels` anywhere (the common
case) nothing changes. (Filtering routes per proxy in `build_local` instead would
need a route configuration per proxy — what the sharing exists to avoid.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from translators.model.networking import VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.model.traffic import SourceMatch


@dataclass(frozen=True, slots=True)
class SourceIR:
    """The caller as far as routing can tell: hashable, so it keys memos."""

    namespace: str
    # the proxy's labels on the keys some sourceLabels match tests, sorted
    labels: tuple[tuple[str, str], ...] = ()
    # the DestinationRules with a workloadSelector that select the proxy (refs, sorted):
    # proxies they select see other rules, so other clusters and hash policies
    rules: tuple[str, ...] = ()
    # a gateway proxy's namespace ("" for a sidecar): where the gateway reads the
    # `credentialName` of a DestinationRule without selector (Istio: sidecars ignore it)
    gateway_namespace: str = ""

    def matches(self, match: SourceMatch | None) -> bool:
        """Istio's `sourceMatchHTTP`: every source label present with its value, and the
        namespace equal when one is asked for, and `mesh` among its gateways if any."""
        if match is None:
            return True
        if not match.for_mesh:  # bound to other gateways: never a sidecar's block
            return False
        labels = dict(self.labels)
        if any(labels.get(k) != v for k, v in match.source_labels.items()):
            return False
        return not match.source_namespace or match.source_namespace == self.namespace


def source_label_keys(virtual_services: Iterable[MeshObject[VirtualServiceSpec]]) -> frozenset[str]:
    """Every label key a `sourceLabels` match tests, across the mesh."""
    # (every rule kind's match blocks, in plain loops: a walk of every VirtualService)
    keys: set[str] = set()
    for vs in virtual_services:
        spec = vs.spec
        for rules in (spec.http, spec.tcp, spec.tls):
            for rule in rules:
                for m in rule.match:
                    if m.source_labels:
                        keys.update(m.source_labels)
    return frozenset(keys)


def proxy_source(
    namespace: str, labels: Mapping[str, str], keys: frozenset[str], rules: tuple[str, ...] = ()
) -> SourceIR:
    return SourceIR(namespace, tuple(sorted((k, v) for k, v in labels.items() if k in keys)), rules)


def depends_on_source(spec: VirtualServiceSpec | None) -> bool:
    """Does this VirtualService route differently by caller? (Then its virtual host is
    memoized per caller, not shared.)"""
    if spec is None:
        return False
    # (every rule kind's match blocks, in plain loops: asked for every VirtualService)
    for rules in (spec.http, spec.tcp, spec.tls):
        for rule in rules:
            for m in rule.match:
                if m.source_labels or m.source_namespace:
                    return True
    return False
