"""A service's outbound virtual host for one port, from its VirtualService (or the
default route when it has none), as seen by one caller.

Several VirtualServices for one host: for sidecars Istio does not merge them (merging
is for gateways only) — the oldest applies and the others are reported as conflicting
(Istio's analyzer IST0109, ConflictingMeshGatewayVirtualServiceHosts). `MeshIndex`
picks the oldest; `build_outbound` warns about the rest.

A VirtualService none of whose rules yields a route for this port and caller (every
match block names another port or another source) is as good as absent: the service
keeps its default route, as Istio's `buildSidecarVirtualHostsForVirtualService` does.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from translators.gateway.mesh import mesh_route_irs
from translators.hosts import resolve_host, short_aliases
from translators.index import MeshIndex
from translators.ir import (
    MATCH_ALL,
    HashPolicyIR,
    RouteIR,
    RouteMatchIR,
    VirtualHostIR,
    WeightedDestinationIR,
)
from translators.mesh import Service
from translators.model.delegation import provenance_of
from translators.model.networking import DestinationRuleSpec, VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.model.traffic import Destination
from translators.naming import outbound_cluster, virtual_host
from translators.traffic.http import http_routes
from translators.traffic.policy import effective_policy, hash_policy
from translators.traffic.source import SourceIR, depends_on_source


def _destinations(spec: VirtualServiceSpec) -> list[Destination]:
    found = [d.destination for rule in spec.http for d in rule.route]
    for rule in spec.http:
        if rule.mirror is not None:
            found.append(rule.mirror)
        found += [m.destination for m in rule.mirrors]
    return found


def destination_port(dest: Destination, target: Service | None, listener_port: int) -> int:
    """A destination without a port takes its service's only port, else the listener's."""
    if dest.port is not None:
        return dest.port.number
    if target is not None and len(target.ports) == 1:
        return target.ports[0].number
    return listener_port


def service_hash(
    service: Service, port: int, subset: str, source: SourceIR, index: MeshIndex
) -> HashPolicyIR | None:
    """The consistent-hash policy of the DestinationRule the caller sees for `service`."""
    dr = index.destination_rule(service.hostname, service.namespace, source.namespace, source.rules)
    return rule_hash(dr, port, subset)


def rule_hash(
    dr: MeshObject[DestinationRuleSpec] | None, port: int, subset: str
) -> HashPolicyIR | None:
    """The consistent-hash policy of `dr` for `port` and `subset` (None: none)."""
    if dr is None:
        return None
    subset_policy = None
    for candidate in dr.spec.subsets if subset else ():
        if candidate.name == subset:
            subset_policy = candidate.traffic_policy
            break
    top = dr.spec.traffic_policy
    if top is None and subset_policy is None:
        return None  # no load balancer anywhere: nothing to hash on (most rules)
    return hash_policy(effective_policy(top, subset_policy, port).load_balancer)


def _domains(service: Service, same_namespace: bool, suffix: str) -> list[str]:
    domains = short_aliases(service.hostname, suffix)
    if not same_namespace and service.hostname.endswith("." + suffix):
        name = service.hostname.split(".", 1)[0]
        domains = [d for d in domains if d != name]
    return domains


def mesh_route_virtual_host(
    service: Service,
    port: int,
    routes: tuple[MeshObject[Any], ...],
    same_namespace: bool,
    index: MeshIndex,
) -> VirtualHostIR:
    """`service`'s virtual host on `port` from the GAMMA HTTPRoutes naming it as parent
    (translators/gateway/mesh.py)."""
    domains = _domains(service, same_namespace, index.mesh.options.domain_suffix)
    provenance = (service.source, *(r.ref for r in routes))
    return VirtualHostIR(
        virtual_host(service.hostname, port),
        tuple(domains),
        mesh_route_irs(routes, index),
        provenance,
    )


def virtual_host_for(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    index: MeshIndex,
    source: SourceIR,
) -> VirtualHostIR:
    if vs is not None:
        plain = _plain_virtual_host(service, port, vs, same_namespace, index, source)
        if plain is not None:
            return plain
    return general_virtual_host(service, port, vs, same_namespace, index, source)


def _plain_virtual_host(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec],
    same_namespace: bool,
    index: MeshIndex,
    source: SourceIR,
) -> VirtualHostIR | None:
    """`virtual_host_for` for the usual VirtualService: a first rule without match blocks
    (a catch-all: the rules after it are unreachable) that only routes, to destinations
    without header edits (a timeout allowed). The same IR, with the same lookups (so the
    same dependencies), as the general path builds (`general_virtual_host`;
    tests/translators/test_plain_vhosts.py), in a straight line: the 10,000 virtual hosts
    of a large mesh go this way. None: not that plain."""
    rules = vs.spec.http
    if not rules:
        return None
    rule = rules[0]
    route = rule.route
    if (
        rule.match
        or not route
        or rule.redirect is not None
        or rule.direct_response is not None
        or rule.retries is not None
        or rule.rewrite is not None
        or rule.headers is not None
        or rule.fault is not None
        or rule.cors_policy is not None
        or rule.mirror is not None
        or rule.mirrors
        or any(d.headers is not None for d in route)
    ):
        return None
    suffix = index.mesh.options.domain_suffix
    several = len(route) > 1
    # destination host -> its FQDN, its service and the DestinationRule the caller sees
    # for it (looked up once per host, as the general path does)
    targets: dict[str, tuple[str, Service | None, MeshObject[DestinationRuleSpec] | None]] = {}
    destinations: list[WeightedDestinationIR] = []
    hashes: list[HashPolicyIR] = []
    for weighted in route:
        weight = weighted.weight
        if several and not weight:  # (Istio drops zero-weight destinations of several)
            continue
        dest = weighted.destination
        found = targets.get(dest.host)
        if found is None:
            host = resolve_host(dest.host, vs.meta.namespace, suffix)
            target = index.service(host)
            dr = (
                index.destination_rule(
                    target.hostname, target.namespace, source.namespace, source.rules
                )
                if target is not None
                else None
            )
            found = targets[dest.host] = (host, target, dr)
        host, target, dr = found
        number = destination_port(dest, target, port)
        subset = dest.subset or ""
        if target is not None:
            policy = rule_hash(dr, number, subset)
            if policy is not None and policy not in hashes:
                hashes.append(policy)
        destinations.append(
            WeightedDestinationIR(
                outbound_cluster(number, host, subset), weight if several else 100
            )
        )
    routes_from = provenance_of(vs)
    return VirtualHostIR(
        virtual_host(service.hostname, port),
        tuple(_domains(service, same_namespace, suffix)),
        (
            RouteIR(
                rule.name or f"{vs.meta.namespace}.{vs.meta.name}.0",
                MATCH_ALL,
                tuple(destinations),
                routes_from,
                timeout_s=rule.timeout or None,
                hash_policies=tuple(hashes),
            ),
        ),
        (service.source, *routes_from),
    )


def general_virtual_host(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    index: MeshIndex,
    source: SourceIR,
) -> VirtualHostIR:
    """`virtual_host_for` by the general rule translation, for every VirtualService (the
    reference `_plain_virtual_host` must equal)."""
    suffix = index.mesh.options.domain_suffix
    domains = _domains(service, same_namespace, suffix)
    routes: list[RouteIR] = []
    provenance: tuple[str, ...] = (service.source,)
    if vs is not None:
        # destination host -> (its FQDN, its service): every rule names a few hosts, each
        # asked for its cluster names and hash policies
        targets: dict[str, tuple[str, Service | None]] = {}
        # destination FQDN -> the DestinationRule the caller sees for it (a route's subsets
        # name one host: looked up once, not once per destination)
        rules: dict[str, MeshObject[DestinationRuleSpec] | None] = {}

        def target_of(dest: Destination) -> tuple[str, Service | None]:
            found = targets.get(dest.host)
            if found is None:
                host = resolve_host(dest.host, vs.namespace, suffix)
                found = targets[dest.host] = (host, index.service(host))
            return found

        def cluster_of(dest: Destination) -> str:
            host, target = target_of(dest)
            return outbound_cluster(destination_port(dest, target, port), host, dest.subset or "")

        def hash_of(dest: Destination) -> HashPolicyIR | None:
            host, target = target_of(dest)
            if target is None:
                return None
            if host in rules:
                dr = rules[host]
            else:
                dr = rules[host] = index.destination_rule(
                    target.hostname, target.namespace, source.namespace, source.rules
                )
            return rule_hash(dr, destination_port(dest, target, port), dest.subset or "")

        routes_from = provenance_of(vs)
        routes = http_routes(
            vs.spec.http,
            f"{vs.namespace}.{vs.name}",
            routes_from,
            port,
            source,
            cluster_of,
            hash_of,
        )
        if routes:
            provenance += routes_from
    if not routes:
        default = WeightedDestinationIR(outbound_cluster(port, service.hostname), 100)
        hashed = service_hash(service, port, "", source, index)
        routes.append(
            RouteIR(
                "default",
                RouteMatchIR(),
                (default,),
                (service.source,),
                hash_policies=(hashed,) if hashed else (),
            )
        )
    return VirtualHostIR(
        virtual_host(service.hostname, port), tuple(domains), tuple(routes), provenance
    )


def _destination_hosts(
    vs: MeshObject[VirtualServiceSpec], index: MeshIndex
) -> tuple[tuple[str, ...], bool]:
    """The hosts `vs` routes or mirrors to, and whether it routes by caller: read from
    `vs` alone (recorded as such), worked out once per generation and VirtualService."""
    index.uses(vs)
    found = index.vs_destinations.get(id(vs))
    if found is None or found[0] is not vs:
        suffix = index.mesh.options.domain_suffix
        namespace = vs.meta.namespace
        # each host once, in the order first named (a split names one twice), resolved;
        # in plain loops (once per VirtualService of the mesh)
        named: set[str] = set()
        resolved: dict[str, None] = {}
        for dest in _destinations(vs.spec):
            if dest.host not in named:
                named.add(dest.host)
                resolved[resolve_host(dest.host, namespace, suffix)] = None
        found = index.vs_destinations[id(vs)] = (vs, tuple(resolved), depends_on_source(vs.spec))
    return found[1], found[2]


def vhost_scope(
    service: Service,
    vs: MeshObject[VirtualServiceSpec] | None,
    index: MeshIndex,
    source: SourceIR,
) -> Hashable:
    """What of the caller's scope a virtual host depends on (part of its memo key):
    the DestinationRules the caller's namespace sees for the service and the hosts its
    VirtualService routes to (consistent hashing puts a hash policy on the route), and
    the caller itself when the VirtualService matches on it. Proxies of namespaces that
    see the same rules share the piece."""
    hosts: tuple[str, ...] = (service.hostname,)
    by_caller = False
    if vs is not None:
        targets, by_caller = _destination_hosts(vs, index)
        if targets != hosts:  # (usually itself alone)
            hosts += tuple(t for t in targets if t != service.hostname)
    rules: list[str] = []
    for host in hosts:
        target = service if host == service.hostname else index.service(host)
        dr = (
            index.destination_rule(host, target.namespace, source.namespace, source.rules)
            if target is not None
            else None
        )
        if dr is None:
            rules.append("")
        else:  # (a merged rule names every rule it merges)
            rules.append("+".join(dr.refs) if dr.merged_from else dr.ref)
    return (tuple(rules), source if by_caller else None)
