"""Sidecar egress scoping: hosts that import nothing, listener ports no imported service
has, and routes to hosts the caller's Sidecar does not import (the route's cluster is
missing from the caller's config: 503 NC). Visibility is the translator's own
(`MeshIndex.visible_services`), applied exactly as `build_outbound` applies it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from translators.analysis import codes
from translators.analysis.checks.destinations import route_targets
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.mesh import Service
from translators.model.networking import HTTP_PROTOCOLS, SidecarSpec
from translators.model.objects import MeshObject

SidecarObj = MeshObject[SidecarSpec]


def check_egress_hosts(ctx: AnalysisContext) -> Iterable[Message]:
    known_namespaces = ctx.namespaces | {s.namespace for s in ctx.mesh.services.values()}
    for sidecar in ctx.of_kind("Sidecar"):
        for i, egress in enumerate(sidecar.spec.egress):
            for j, entry in enumerate(egress.hosts):
                namespace, _, host = entry.partition("/")
                if namespace == "~" or ctx.visible(sidecar.namespace, [entry]):
                    continue
                if host == "*" and (
                    namespace in ("*", ".")
                    or namespace in known_namespaces
                    or namespace == ctx.root_namespace
                ):
                    continue  # "everything in ns", which is merely empty today
                yield codes.EGRESS_HOST_MATCHES_NOTHING.at(
                    sidecar,
                    f"spec.egress[{i}].hosts[{j}]",
                    f"{entry!r} imports no service visible from namespace {sidecar.namespace}",
                    "write <namespace>/<host> as the service is named (`.` = this namespace, "
                    "`*` = any)",
                )


def check_egress_ports(ctx: AnalysisContext) -> Iterable[Message]:
    for sidecar in ctx.of_kind("Sidecar"):
        for i, egress in enumerate(sidecar.spec.egress):
            if egress.port is None:
                continue
            imported = ctx.visible(sidecar.namespace, egress.hosts)
            number = egress.port.number
            if not imported or any(s.port(number) is not None for s in imported):
                continue  # nothing imported is XDS0601's finding
            yield codes.EGRESS_PORT_UNREACHABLE.at(
                sidecar,
                f"spec.egress[{i}].port.number",
                f"none of the {len(imported)} service(s) its hosts import has port {number}: "
                "this listener routes nowhere",
                f"use a port of the imported services ({_ports(imported)})",
            )


def _ports(services: list[Service]) -> str:
    numbers = sorted({p.number for s in services for p in s.ports})
    return ", ".join(map(str, numbers[:8])) + (" ..." if len(numbers) > 8 else "")


def check_routes_outside_egress(ctx: AnalysisContext) -> Iterable[Message]:
    """For each Sidecar with egress that some workload uses: the VirtualServices of the
    services it listens for, and their destinations it does not import. Worked out once
    per namespace and egress shape (Sidecars of one namespace mostly share it)."""
    found: dict[Hashable, list[tuple[MeshObject[Any], Service, str, str]]] = {}
    for sidecar in ctx.of_kind("Sidecar"):
        spec = sidecar.spec
        if not spec.egress or sidecar.ref not in ctx.sidecar_users:
            continue
        shape = (
            sidecar.namespace,
            tuple((e.port.number if e.port else None, tuple(e.hosts)) for e in spec.egress),
        )
        outside = found.get(shape)
        if outside is None:
            all_hosts = [h for e in spec.egress for h in e.hosts]
            imported = {s.hostname for s in ctx.visible(sidecar.namespace, all_hosts)}
            outside = found[shape] = list(_outside(sidecar, _listened(sidecar, ctx), imported, ctx))
        for vs, service, host, field in outside:
            owner = ctx.mesh.services[host].namespace
            yield _outside_message(sidecar, vs, service, host, owner, field)


def _listened(sidecar: SidecarObj, ctx: AnalysisContext) -> list[Service]:
    """Services the Sidecar has an HTTP listener for (a port listener whose hosts import
    it on that port, or the portless catch-all)."""
    found: dict[str, Service] = {}
    for egress in sidecar.spec.egress:
        for service in ctx.visible(sidecar.namespace, egress.hosts):
            if egress.port is None:
                found.setdefault(service.hostname, service)
                continue
            port = service.port(egress.port.number)
            if port is not None and port.protocol in HTTP_PROTOCOLS:
                found.setdefault(service.hostname, service)
    return list(found.values())


def _outside(
    sidecar: SidecarObj, services: list[Service], imported: set[str], ctx: AnalysisContext
) -> Iterator[tuple[MeshObject[Any], Service, str, str]]:
    reported: set[tuple[str, str]] = set()
    for service in services:
        vs, _ = ctx.index.virtual_service(service.hostname, sidecar.namespace)
        if vs is None:
            continue
        for target in route_targets(vs.spec):
            host = ctx.resolve(target.destination.host, vs.namespace)
            if host in imported or host not in ctx.mesh.services or (vs.ref, host) in reported:
                continue  # an unknown host is XDS0101's finding
            reported.add((vs.ref, host))
            yield vs, service, host, target.field


def _outside_message(
    sidecar: SidecarObj,
    vs: MeshObject[Any],
    service: Service,
    host: str,
    owner: str,
    field: str,
) -> Message:
    return codes.DESTINATION_OUTSIDE_EGRESS.at(
        sidecar,
        "spec.egress",
        f"{vs.ref} routes {service.hostname} to {host} ({field}), which this Sidecar's "
        "egress hosts do not import: its workloads get 503 (no cluster) there",
        f"add {owner}/{host} (or {owner}/*) to the egress hosts",
        (vs.ref,),
    )
