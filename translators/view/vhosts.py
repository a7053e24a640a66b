"""Outbound virtual hosts: one memo piece per service, port and caller, and the domain
de-duplication Envoy requires of a route configuration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from translators.gateway.mesh_parents import routes_win
from translators.index import MeshIndex
from translators.ir import VirtualHostIR
from translators.memo import PieceCache
from translators.mesh import Service
from translators.model.networking import HTTP_PROTOCOLS, VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.traffic import vhosts as traffic_vhosts
from translators.traffic.source import SourceIR
from translators.view.scope import ref_of


def vhost_entry(
    service: Service, port: int, index: MeshIndex, source: SourceIR, memo: PieceCache
) -> tuple[VirtualHostIR | None, tuple[str, ...]]:
    """`service`'s virtual host on `port` for `source` (None: not an HTTP port of it), and
    the VirtualServices its own shadows (reported, not merged)."""
    index.read(("service", service.hostname))  # its ports and namespace decide
    for service_port in service.ports:  # (`service.port`, without its generator)
        if service_port.number == port:
            if service_port.protocol not in HTTP_PROTOCOLS:
                return None, ()
            break
    else:
        return None, ()
    vs, shadowed = index.virtual_service(service.hostname, source.namespace)
    warnings = (
        tuple(
            f"{other.ref}: shadowed by older {vs and vs.ref} for {service.hostname}"
            for other in shadowed
        )
        if shadowed
        else ()
    )
    # GAMMA: HTTPRoutes naming the Service as parent take its routing over, against a
    # VirtualService as Istio orders them (translators/gateway/mesh_parents.py)
    gamma = index.mesh_routes_for(service.hostname, port, source.namespace)
    if gamma and vs is not None:
        if routes_win(gamma, vs, source.namespace):
            warnings = tuple(
                f"{other.ref}: overridden by {gamma[0].ref} for {service.hostname}"
                for other in (vs, *shadowed)
            )
            vs = None
        else:
            warnings += tuple(
                f"{route.ref}: shadowed by older {vs.ref} for {service.hostname} "
                f"(callers in {source.namespace})"
                for route in gamma
            )
            gamma = ()
    same_ns = service.namespace == source.namespace
    vhost = memo.get(
        (
            "vhost",
            service.hostname,
            port,
            ref_of(vs),
            same_ns,
            traffic_vhosts.vhost_scope(service, vs, index, source),
            tuple(r.ref for r in gamma) if gamma else (),
        ),
        lambda: _vhost_piece(service, port, vs, same_ns, index, source, gamma),
    )
    return vhost, warnings


def _vhost_piece(
    service: Service,
    port: int,
    vs: MeshObject[VirtualServiceSpec] | None,
    same_namespace: bool,
    index: MeshIndex,
    source: SourceIR,
    gamma: tuple[MeshObject[Any], ...] = (),
) -> VirtualHostIR:
    index.read(("service", service.hostname))
    index.uses(vs)
    if gamma:
        return traffic_vhosts.mesh_route_virtual_host(service, port, gamma, same_namespace, index)
    return traffic_vhosts.virtual_host_for(service, port, vs, same_namespace, index, source)


def route_hosts_patched(
    vhosts: tuple[VirtualHostIR, ...],
    old_vhosts: tuple[VirtualHostIR, ...],
    old_hosts: tuple[VirtualHostIR, ...],
    catch_all: VirtualHostIR,
    changed: Iterable[int],
) -> tuple[tuple[VirtualHostIR, ...], tuple[int, ...]] | None:
    """A route configuration's virtual hosts, `unique_domains(vhosts)` then `catch_all`,
    from the last generation's `old_hosts` (made so from `old_vhosts`) when `vhosts`
    holds new objects only at the positions `changed` (the others are `old_vhosts`' very
    objects); and the positions at which the result differs from `old_hosts`. None when
    it cannot be patched (a virtual host's domains changed): build it anew. Nothing is
    walked but `changed`: an edit among 10,000 virtual hosts looks at one."""
    if len(vhosts) != len(old_vhosts) or len(old_hosts) != len(old_vhosts) + 1:
        return None
    patched = _patched(vhosts, old_vhosts, list(old_hosts), changed)
    if patched is None:
        return None
    hosts, moved = patched
    if hosts[-1] is not catch_all:
        hosts[-1] = catch_all
        moved.append(len(hosts) - 1)
    return tuple(hosts), tuple(moved)


def _patched(
    vhosts: tuple[VirtualHostIR, ...],
    old_vhosts: tuple[VirtualHostIR, ...],
    out: list[VirtualHostIR],
    changed: Iterable[int],
) -> tuple[list[VirtualHostIR], list[int]] | None:
    """`out` (the last decisions, position by position) with each changed position's new
    virtual host keeping the domains its old one kept; None if its domains changed."""
    moved: list[int] = []
    for i in changed:
        new, old, kept = vhosts[i], old_vhosts[i], out[i]
        if new is old:
            continue
        if new.domains != old.domains:
            return None
        out[i] = new if kept is old else replace(new, domains=kept.domains)
        moved.append(i)
    return out, moved


def unique_domains(vhosts: list[VirtualHostIR]) -> tuple[VirtualHostIR, ...]:
    """Envoy NACKs a whole route config in which two virtual hosts share a domain. A short
    alias can be another service's own name (`foo` in namespace `bar` is also `foo.bar`,
    which a ServiceEntry may name literally): the service whose name it is keeps it,
    otherwise the first virtual host does."""
    own = {d: i for i, vh in enumerate(vhosts) for d in vh.domains[:1]}  # its fqdn
    seen: set[str] = set()
    out: list[VirtualHostIR] = []
    for i, vh in enumerate(vhosts):
        domains = vh.domains
        # the usual virtual host keeps every domain: told with set operations in C (its
        # own name is its fqdn's owner, no alias is another's fqdn, none was taken)
        if (
            seen.isdisjoint(domains)
            and (not domains or own[domains[0]] == i)
            and own.keys().isdisjoint(domains[1:])
        ):
            seen.update(domains)
            out.append(vh)
            continue
        keep = tuple(d for d in domains if own.get(d, i) == i and d not in seen)
        seen.update(keep)
        out.append(vh if keep == domains else replace(vh, domains=keep))
    return tuple(out)
