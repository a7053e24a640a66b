"""Lookup tables over one MeshConfig, built once and shared by every proxy's view.

Istio's scoping rules live here: which DestinationRule and VirtualService apply to
a host as seen from a namespace, which Sidecar applies to a workload, and which
services a namespace may see (exportTo).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from translators.hosts import host_matches, resolve_host
from translators.mesh import MeshConfig, Service, Workload
from translators.model.networking import DestinationRuleSpec, SidecarSpec, VirtualServiceSpec
from translators.model.objects import MeshObject, age_order
from translators.security.index import SecurityIndex


def exported_to(export_to: list[str], owner_namespace: str, namespace: str) -> bool:
    if not export_to or "*" in export_to:
        return True
    if "~" in export_to:
        return False
    return namespace in export_to or ("." in export_to and owner_namespace == namespace)


@dataclass(frozen=True, slots=True)
class MeshIndex:
    mesh: MeshConfig
    destination_rules: dict[str, list[MeshObject[DestinationRuleSpec]]]
    virtual_services: dict[str, list[MeshObject[VirtualServiceSpec]]]
    sidecars: dict[str, list[MeshObject[SidecarSpec]]]
    # PeerAuthentication, auto-mTLS and AuthorizationPolicy lookups
    security: SecurityIndex
    # VirtualService hosts with a wildcard (`*.example.com`), most specific first
    wildcard_vs_hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, mesh: MeshConfig) -> MeshIndex:
        suffix = mesh.options.domain_suffix
        drs: dict[str, list[MeshObject[DestinationRuleSpec]]] = defaultdict(list)
        vss: dict[str, list[MeshObject[VirtualServiceSpec]]] = defaultdict(list)
        sidecars: dict[str, list[MeshObject[SidecarSpec]]] = defaultdict(list)
        for obj in mesh.objects:
            if obj.kind == "DestinationRule":
                drs[resolve_host(obj.spec.host, obj.namespace, suffix)].append(obj)
            elif obj.kind == "VirtualService" and obj.spec.for_sidecars:
                for host in obj.spec.hosts:
                    vss[resolve_host(host, obj.namespace, suffix)].append(obj)
            elif obj.kind == "Sidecar":
                sidecars[obj.namespace].append(obj)
        for table in (drs, vss, sidecars):
            for objs in table.values():
                objs.sort(key=age_order)
        wildcards = tuple(sorted((h for h in vss if h.startswith("*")), key=lambda h: -len(h)))
        return cls(mesh, dict(drs), dict(vss), dict(sidecars), SecurityIndex(mesh), wildcards)

    def destination_rule(
        self, host: str, service_namespace: str, proxy_namespace: str
    ) -> MeshObject[DestinationRuleSpec] | None:
        """Istio's lookup order: the proxy's namespace, then the service's, then the root."""
        rules = self.destination_rules.get(host)
        if not rules:
            return None
        if len(rules) == 1:  # the common case, asked 40,000 times for a large mesh
            only = rules[0]
            visible = exported_to(only.spec.export_to, only.namespace, proxy_namespace)
            return only if visible else None
        candidates = [
            dr for dr in rules if exported_to(dr.spec.export_to, dr.namespace, proxy_namespace)
        ]
        for namespace in (proxy_namespace, service_namespace, self.mesh.options.root_namespace):
            for dr in candidates:
                if dr.namespace == namespace:
                    return dr
        return candidates[0] if candidates else None

    def virtual_service(
        self, host: str, proxy_namespace: str
    ) -> tuple[MeshObject[VirtualServiceSpec] | None, list[MeshObject[VirtualServiceSpec]]]:
        """The VirtualService for `host` (oldest wins, as Istio does for sidecars) and the
        ones it shadows, so they can be reported rather than silently ignored. Without one
        naming `host` itself, the one whose wildcard host covers it most specifically
        (Istio's mostSpecificWildcardVsIndex)."""
        visible = self._exported(self.virtual_services.get(host, ()), proxy_namespace)
        for pattern in self.wildcard_vs_hosts if not visible else ():
            if pattern != host and host_matches(pattern, host):
                visible = self._exported(self.virtual_services[pattern], proxy_namespace)
                if visible:
                    break
        return (visible[0] if visible else None), visible[1:]

    @staticmethod
    def _exported(
        candidates: list[MeshObject[VirtualServiceSpec]] | tuple[()], namespace: str
    ) -> list[MeshObject[VirtualServiceSpec]]:
        return [vs for vs in candidates if exported_to(vs.spec.export_to, vs.namespace, namespace)]

    def sidecar_for(self, workload: Workload) -> MeshObject[SidecarSpec] | None:
        """Workload-selecting Sidecar in its namespace, else the namespace default, else the
        mesh-wide default in the root namespace."""
        own = self.sidecars.get(workload.namespace, [])
        labels = dict(workload.labels)
        for sidecar in own:
            selector = sidecar.spec.workload_selector
            if selector is not None and selector.effective() and selector.matches(labels):
                return sidecar
        for sidecar in own:
            selector = sidecar.spec.workload_selector
            if selector is None or not selector.effective():
                return sidecar
        for sidecar in self.sidecars.get(self.mesh.options.root_namespace, []):
            if sidecar.spec.workload_selector is None:
                return sidecar
        return None

    def visible_services(self, namespace: str, egress_hosts: list[str] | None) -> list[Service]:
        """Services a proxy in `namespace` may reach: exportTo, then Sidecar egress hosts
        (`ns/host`, with `.` = own namespace, `*` = any, `~` = none)."""
        selectors: list[tuple[str, str]] | None = None
        if egress_hosts is not None:
            selectors = [tuple(h.split("/", 1)) for h in egress_hosts]  # type: ignore[misc]
        out = []
        for service in self.mesh.services.values():
            if not exported_to(list(service.export_to), service.namespace, namespace):
                continue
            if selectors is not None and not any(
                (
                    ns == "*"
                    or (ns == "." and service.namespace == namespace)
                    or ns == service.namespace
                )
                and host_matches(host, service.hostname)
                for ns, host in selectors
                if ns != "~"
            ):
                continue
            out.append(service)
        return out
