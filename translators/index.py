"""Lookup tables over one MeshConfig, shared by every proxy's view, and updated in place
of being rebuilt: `updated` applies a generation's changed objects (O(change)).

Istio's scoping rules live here: which DestinationRule and VirtualService apply to
a host as seen from a namespace, which Sidecar applies to a workload, and which
services a namespace may see (exportTo).

Every lookup records what it looked at through `read` (the translator's
`PieceCache.read`), so a memoized piece knows which changes invalidate it; see
translators/memo.py for the dependency names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from translators.dr_merge import merge_rules, mergeable_rules, selector_entry
from translators.gateway.mesh_parents import applicable_routes, service_parent_hosts
from translators.hosts import host_matches, resolve_host
from translators.mesh import MeshConfig, Service, Workload
from translators.model.base import applies_to_mesh
from translators.model.delegation import with_delegation
from translators.model.networking import DestinationRuleSpec, SidecarSpec, VirtualServiceSpec
from translators.model.objects import MeshObject, age_order
from translators.security.index import SecurityIndex

Dep = tuple[str, ...]
ObjectChange = tuple[MeshObject[Any] | None, MeshObject[Any] | None]


def _ignore(dep: Dep) -> None:
    """Lookups outside a translation (analysis, describe) record nothing."""


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
    # where lookups record what they read (see translators/memo.py)
    read: Callable[[Dep], None] = field(default=_ignore, compare=False)
    # GAMMA: HTTPRoutes by the hostname of the Service they name as a parent
    mesh_routes: dict[str, list[MeshObject[Any]]] = field(default_factory=dict)
    # DestinationRules with a workloadSelector, by namespace
    dr_selectors: dict[str, list[MeshObject[DestinationRuleSpec]]] = field(default_factory=dict)
    # merged DestinationRules built by lookups, by the identities of the rules merged
    # (the rules are kept alive by the tables, so an id is not reused while cached)
    merged_rules: dict[tuple[int, ...], MeshObject[DestinationRuleSpec]] = field(
        default_factory=dict, compare=False
    )
    # per VirtualService (by identity, kept alive by its entry): the hosts it routes or
    # mirrors to and whether it routes by caller (translators/traffic/vhosts.py), worked
    # out once a generation; content of the object alone, so no memo piece of its own
    vs_destinations: dict[int, tuple[MeshObject[VirtualServiceSpec], tuple[str, ...], bool]] = (
        field(default_factory=dict, compare=False)
    )
    # `destination_rule` answers, by its arguments: a service's rule is asked for by its
    # clusters, its virtual host's key and its routes' hash policies (30,000 lookups for
    # 10,000 services, each recording its dependency all the same). This index's tables
    # never change (`updated` makes another index), so an answer stays true.
    dr_answers: dict[
        tuple[str, str, str, tuple[str, ...]], MeshObject[DestinationRuleSpec] | None
    ] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, mesh: MeshConfig, read: Callable[[Dep], None] = _ignore) -> MeshIndex:
        suffix = mesh.options.domain_suffix
        # Delegating root VirtualServices come with their delegates' rules merged in: the
        # objects as they are first (nearly every mesh has no such root, and telling costs
        # a walk of every rule), merged only when one turns up.
        tables = _tables(mesh.objects, suffix, roots_as_is=False)
        if tables is None:
            tables = _tables(with_delegation(mesh.objects, suffix), suffix, roots_as_is=True)
            assert tables is not None
        drs, vss, sidecars, mesh_routes, dr_selectors = tables
        for found in (drs, vss, sidecars, mesh_routes, dr_selectors):
            for objs in found.values():
                if len(objs) > 1:  # (a sort asks the key of a lone object too)
                    objs.sort(key=age_order)
        return cls(
            mesh,
            dict(drs),
            dict(vss),
            dict(sidecars),
            SecurityIndex(mesh),
            _wildcards(vss),
            read,
            dict(mesh_routes),
            dict(dr_selectors),
        )

    def updated(
        self,
        mesh: MeshConfig,
        changed: Iterable[ObjectChange],
        services: frozenset[str],
        workloads_changed: bool,
        read: Callable[[Dep], None] = _ignore,
    ) -> MeshIndex:
        """This index for `mesh`, which differs from ours by `changed` objects (old, new
        version), the `services` hostnames and, if `workloads_changed`, some workloads:
        only the touched entries are rewritten, the tables are shared otherwise."""
        suffix = mesh.options.domain_suffix
        tables: dict[str, dict[str, list[MeshObject[Any]]]] = {
            "dr": self.destination_rules,
            "vs": self.virtual_services,
            "sidecar": self.sidecars,
            "mesh-route": self.mesh_routes,
            "dr-selector": self.dr_selectors,
        }
        copied: set[str] = set()
        touched: set[tuple[str, str]] = set()
        security_kinds = False
        for old, new in changed:
            for obj, add in ((old, False), (new, True)):
                if obj is None:
                    continue
                security_kinds |= obj.kind in SecurityIndex.KINDS
                for name, key in _entries(obj, suffix):
                    if name not in copied:
                        tables[name] = dict(tables[name])
                        copied.add(name)
                    if (name, key) not in touched:
                        tables[name][key] = list(tables[name].get(key, ()))
                        touched.add((name, key))
                    entries = tables[name][key]
                    if add:
                        entries.append(obj)
                    else:  # by key: the index may hold an equal object of an older load
                        entries[:] = [o for o in entries if o.key != obj.key]
        for name, key in touched:
            if tables[name][key]:
                tables[name][key].sort(key=age_order)
            else:
                del tables[name][key]
        if security_kinds or workloads_changed:
            security = SecurityIndex(mesh)
        else:
            security = self.security.for_mesh(mesh, services)
        vss = tables["vs"]
        return MeshIndex(
            mesh,
            tables["dr"],
            vss,
            tables["sidecar"],
            security,
            # sorted again only when a wildcard host's entry changed (a walk of every
            # host, ~2 ms at 10,000 services, for each VirtualService edit otherwise)
            _wildcards(vss)
            if any(name == "vs" and key.startswith("*") for name, key in touched)
            else self.wildcard_vs_hosts,
            read,
            tables["mesh-route"],
            tables["dr-selector"],
        )

    def service(self, hostname: str) -> Service | None:
        self.read(("service", hostname))
        return self.mesh.services.get(hostname)

    def uses(self, obj: MeshObject[Any] | None) -> None:
        """Record that the piece being built reads `obj` (handed to it by its caller):
        for a merged DestinationRule, every rule it merges."""
        if obj is not None:
            self.read(("object", obj.ref))
            for ref in obj.merged_from:  # (`obj.refs` but the first, without its tuple)
                self.read(("object", ref))

    def destination_rule(
        self,
        host: str,
        service_namespace: str,
        proxy_namespace: str,
        selected: Collection[str] = (),
    ) -> MeshObject[DestinationRuleSpec] | None:
        """Istio's lookup order: the proxy's namespace, then the service's, then the root.
        A rule with a `workloadSelector` is private to its namespace and applies to the
        proxies it selects there (`selected`: their refs, see `selecting_rules`), ahead of
        the namespace's rule without one, merged as Istio does with the rules of equal
        selector and the namespace's rules exported to "." (translators/dr_merge.py).
        As Istio's SidecarScope.DestinationRule: once the proxy's namespace has any rule
        for `host`, the lookup ends there — a proxy its selector rules do not select gets
        that namespace's rule without selector, or none."""
        self.read(("dr-host", host))
        if type(selected) is not tuple:
            return self._destination_rule(host, service_namespace, proxy_namespace, selected)
        key = (host, service_namespace, proxy_namespace, selected)
        answers = self.dr_answers
        if key in answers:
            return answers[key]
        found = answers[key] = self._destination_rule(
            host, service_namespace, proxy_namespace, selected
        )
        return found

    def _destination_rule(
        self,
        host: str,
        service_namespace: str,
        proxy_namespace: str,
        selected: Collection[str],
    ) -> MeshObject[DestinationRuleSpec] | None:
        rules = self.destination_rules.get(host)
        if not rules:
            return None
        if len(rules) == 1:  # the common case, asked 40,000 times for a large mesh
            only = rules[0]
            spec = only.spec
            if spec.workload_selector is not None:
                here = only.meta.namespace == proxy_namespace
                return only if here and only.ref in selected else None
            visible = exported_to(spec.export_to, only.meta.namespace, proxy_namespace)
            return only if visible else None
        candidates = [
            dr
            for dr in rules
            if (
                dr.namespace == proxy_namespace
                if dr.spec.workload_selector is not None
                else exported_to(dr.spec.export_to, dr.namespace, proxy_namespace)
            )
        ]
        if not candidates:
            return None
        for dr in candidates:  # oldest first: the oldest selecting rule's entry wins
            if dr.spec.workload_selector is not None and dr.ref in selected:
                own = [c for c in candidates if c.namespace == proxy_namespace]
                return self._merged_exactly(selector_entry(dr, own))
        for namespace in (proxy_namespace, service_namespace, self.mesh.options.root_namespace):
            in_namespace = [dr for dr in candidates if dr.namespace == namespace]
            if in_namespace:
                plain = [dr for dr in in_namespace if dr.spec.workload_selector is None]
                return self._merged(plain) if plain else None
        return candidates[0]  # (a rule with a selector is in the proxy's namespace)

    def _merged(
        self, rules: list[MeshObject[DestinationRuleSpec]]
    ) -> MeshObject[DestinationRuleSpec]:
        """The oldest of `rules` (one namespace's rules without selector for one host,
        oldest first) with the later ones Istio merges into it (`mergeable_rules`), as
        one object; the same object for the same rules, so lookups compare by identity."""
        return self._merged_exactly(mergeable_rules(rules))

    def _merged_exactly(
        self, merged: list[MeshObject[DestinationRuleSpec]]
    ) -> MeshObject[DestinationRuleSpec]:
        """`merge_rules(merged)`, the same object for the same rules."""
        if len(merged) == 1:
            return merged[0]
        key = tuple(id(dr) for dr in merged)
        found = self.merged_rules.get(key)
        if found is None:
            found = merge_rules(merged)
            self.merged_rules[key] = found
        return found

    def selecting_rules(self, workload: Workload) -> tuple[str, ...]:
        """The refs of the DestinationRules with a `workloadSelector` that select
        `workload` (in its namespace), sorted: part of its outbound scope."""
        self.read(("kind", "DestinationRule"))
        rules = self.dr_selectors.get(workload.namespace)
        if not rules:
            return ()
        labels = dict(workload.labels)
        return tuple(
            sorted(
                dr.ref
                for dr in rules
                if dr.spec.workload_selector is not None
                and dr.spec.workload_selector.matches(labels)
            )
        )

    def virtual_service(
        self, host: str, proxy_namespace: str
    ) -> tuple[MeshObject[VirtualServiceSpec] | None, list[MeshObject[VirtualServiceSpec]]]:
        """The VirtualService for `host` (oldest wins, as Istio does for sidecars) and the
        ones it shadows, so they can be reported rather than silently ignored. Without one
        naming `host` itself, the one whose wildcard host covers it most specifically
        (Istio's mostSpecificWildcardVsIndex)."""
        self.read(("vs-host", host))
        candidates = self.virtual_services.get(host, ())
        if len(candidates) == 1:  # (the usual host: one VirtualService, seen by all)
            only = candidates[0]
            if exported_to(only.spec.export_to, only.meta.namespace, proxy_namespace):
                return only, []
        visible = self._exported(candidates, proxy_namespace)
        if not visible:
            self.read(("vs-wildcards",))
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

    def mesh_routes_for(
        self, host: str, port: int, proxy_namespace: str
    ) -> tuple[MeshObject[Any], ...]:
        """The GAMMA HTTPRoutes that route a caller in `proxy_namespace` to `host` on
        `port`, oldest first (see translators/gateway/mesh_parents.py)."""
        self.read(("mesh-route-host", host))
        routes = self.mesh_routes.get(host)
        if not routes:  # (nearly every host: then the answer reads nothing else)
            return ()
        service = self.service(host)
        service_port = service.port(port) if service is not None else None
        if service_port is None:
            return ()
        return applicable_routes(
            routes, host, port, service_port.name, proxy_namespace, self.mesh.options.domain_suffix
        )

    def sidecar_for(self, workload: Workload) -> MeshObject[SidecarSpec] | None:
        """Workload-selecting Sidecar in its namespace, else the namespace default, else the
        mesh-wide default in the root namespace."""
        self.read(("sidecars", workload.namespace))
        self.read(("sidecars", self.mesh.options.root_namespace))
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
        self.read(("services",))
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


_Tables = tuple[
    dict[str, list[MeshObject[DestinationRuleSpec]]],
    dict[str, list[MeshObject[VirtualServiceSpec]]],
    dict[str, list[MeshObject[SidecarSpec]]],
    dict[str, list[MeshObject[Any]]],
    dict[str, list[MeshObject[DestinationRuleSpec]]],
]


def _tables(objects: Iterable[MeshObject[Any]], suffix: str, roots_as_is: bool) -> _Tables | None:
    """The index's tables of `objects` (DestinationRules, VirtualServices, Sidecars,
    GAMMA routes, DestinationRules with a selector), in their order: `_entries`, inline
    for speed. None when a delegating root turns up and not `roots_as_is` (the caller
    then indexes the objects with every root merged, `with_delegation`)."""
    drs: dict[str, list[MeshObject[DestinationRuleSpec]]] = defaultdict(list)
    vss: dict[str, list[MeshObject[VirtualServiceSpec]]] = defaultdict(list)
    sidecars: dict[str, list[MeshObject[SidecarSpec]]] = defaultdict(list)
    mesh_routes: dict[str, list[MeshObject[Any]]] = defaultdict(list)
    dr_selectors: dict[str, list[MeshObject[DestinationRuleSpec]]] = defaultdict(list)
    # (model properties read as their fields: a property call per object of 50,000 was
    # most of this walk)
    for obj in objects:
        kind = obj.kind
        if kind == "DestinationRule":
            spec = obj.spec
            namespace = obj.meta.namespace
            drs[resolve_host(spec.host, namespace, suffix)].append(obj)
            if spec.workload_selector is not None:
                dr_selectors[namespace].append(obj)
        elif kind == "VirtualService":
            spec = obj.spec
            # `for_sidecars`, with the delegation asked once
            if any([rule.delegate is not None for rule in spec.http]):  # `delegates`
                if not roots_as_is:
                    return None
                continue
            hosts = spec.hosts
            if not hosts or not applies_to_mesh(spec.gateways):  # `applies_to_mesh`
                continue
            namespace = obj.meta.namespace
            if len(hosts) == 1:
                vss[resolve_host(hosts[0], namespace, suffix)].append(obj)
                continue
            for host in dict.fromkeys(resolve_host(h, namespace, suffix) for h in hosts):
                vss[host].append(obj)
        elif kind == "Sidecar":
            sidecars[obj.namespace].append(obj)
        elif kind == "HTTPRoute":
            for host in service_parent_hosts(obj, suffix):
                mesh_routes[host].append(obj)
    return drs, vss, sidecars, mesh_routes, dr_selectors


def _entries(obj: MeshObject[Any], suffix: str) -> Iterable[tuple[str, str]]:
    """The (table, key) entries `obj` has in the index."""
    if obj.kind == "DestinationRule":
        yield "dr", resolve_host(obj.spec.host, obj.namespace, suffix)
        if obj.spec.workload_selector is not None:
            yield "dr-selector", obj.namespace
    elif obj.kind == "VirtualService" and obj.spec.for_sidecars:
        for host in dict.fromkeys(resolve_host(h, obj.namespace, suffix) for h in obj.spec.hosts):
            yield "vs", host
    elif obj.kind == "Sidecar":
        yield "sidecar", obj.namespace
    elif obj.kind == "HTTPRoute":
        for host in service_parent_hosts(obj, suffix):
            yield "mesh-route", host


def _wildcards(vss: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted((h for h in vss if h.startswith("*")), key=lambda h: -len(h)))
