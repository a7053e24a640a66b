"""ROUTE_CONFIGURATION / VIRTUAL_HOST / HTTP_ROUTE patches on one route configuration,
with pilot's rules (envoyfilter/rc_patch.go): a route configuration only MERGEs; virtual
hosts are removed, merged or replaced, then added; routes are removed or merged, then
added or inserted relative to a matching route. A sidecar's route configuration matches
by port (its name, `inbound|<port>||` for inbound ones) and name; a gateway's by the
port, port name and gateway in its RDS name (`http.<port>[.<portName>.<gateway>]`)."""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from translators.envoyfilter.merge import merge
from translators.envoyfilter.select import ActivePatch
from translators.model.envoy_filter import ApplyTo, Operation, PatchContext, RouteAction
from translators.naming import PROVENANCE_KEY


def blame(
    message: route_pb2.RouteConfiguration | rc.VirtualHost | rc.Route, sources: set[str]
) -> None:
    """Add `sources` to the provenance metadata of a route configuration, virtual host or
    route: VHDS blames a rejected virtual host on these, and `proxy-config routes` shows
    them per row."""
    if not sources:
        return
    listed = message.metadata.filter_metadata[PROVENANCE_KEY].fields["sources"].list_value
    present = {v.string_value for v in listed.values}
    for source in sorted(sources - present):
        listed.values.add().string_value = source


def _port_of(name: str) -> int:
    if name.startswith("inbound|"):
        parts = name.split("|")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if name.startswith("http."):
        part = name.split(".")[1]
        return int(part) if part.isdigit() else 0
    return int(name) if name.isdigit() else 0


def config_matches(
    config: route_pb2.RouteConfiguration, p: ActivePatch, context: PatchContext
) -> bool:
    match = p.patch.match.route_configuration if p.patch.match is not None else None
    if match is None:
        return True
    if match.port_number and match.port_number != _port_of(config.name):
        return False
    if match.name and match.name != config.name:
        return False
    if context is PatchContext.GATEWAY:
        parts = config.name.split(".")
        port_name, gateway = (parts[2], ".".join(parts[3:])) if len(parts) > 3 else ("", "")
        if match.port_name and match.port_name != port_name:
            return False
        if match.gateway and match.gateway != gateway:
            return False
    return True


def _vhost_matches(vhost: rc.VirtualHost, p: ActivePatch) -> bool:
    match = p.patch.match.route_configuration if p.patch.match is not None else None
    wanted = match.vhost if match is not None else None
    if wanted is None:
        return True
    if wanted.domain_name and wanted.domain_name not in vhost.domains:
        return False
    return not wanted.name or wanted.name == vhost.name


def _route_selector(p: ActivePatch) -> bool:
    match = p.patch.match.route_configuration if p.patch.match is not None else None
    return match is not None and match.vhost is not None and match.vhost.route is not None


def _route_matches(route: rc.Route, p: ActivePatch) -> bool:
    match = p.patch.match.route_configuration if p.patch.match is not None else None
    wanted = match.vhost.route if match is not None and match.vhost is not None else None
    if wanted is None:
        return True
    if wanted.name and wanted.name != route.name:
        return False
    action = route.WhichOneof("action")
    expected = {
        RouteAction.ROUTE: "route",
        RouteAction.REDIRECT: "redirect",
        RouteAction.DIRECT_RESPONSE: "direct_response",
    }.get(wanted.action)
    return expected is None or action == expected


def patch_route_config(
    config: route_pb2.RouteConfiguration,
    patches: Sequence[ActivePatch],
    context: PatchContext,
    applied: set[str],
) -> None:
    """Apply the route-class patches of `context` to `config` in place."""
    mine = [p for p in patches if p.in_context(context) and config_matches(config, p, context)]
    if not mine:
        return
    before = config.SerializeToString(deterministic=True)
    changed_by: set[str] = set()
    _patch_config(config, mine, changed_by)
    if config.SerializeToString(deterministic=True) != before:
        blame(config, changed_by)
        applied |= changed_by


def _patch_config(
    config: route_pb2.RouteConfiguration, mine: Sequence[ActivePatch], applied: set[str]
) -> None:
    for p in mine:
        if p.apply_to is ApplyTo.ROUTE_CONFIGURATION and p.operation is Operation.MERGE:
            merge(config, p.value())
            applied.add(p.source)
    vhost_patches = [p for p in mine if p.apply_to is ApplyTo.VIRTUAL_HOST]
    route_patches = [p for p in mine if p.apply_to is ApplyTo.HTTP_ROUTE]
    kept: list[rc.VirtualHost] = []
    for vhost in config.virtual_hosts:
        current: rc.VirtualHost | None = vhost
        before = vhost.SerializeToString(deterministic=True)
        vhost_applied: set[str] = set()
        for p in vhost_patches:
            if current is None or p.operation is Operation.ADD or not _vhost_matches(current, p):
                continue
            vhost_applied.add(p.source)
            if p.operation is Operation.REMOVE:
                current = None
            elif p.operation is Operation.MERGE:
                merge(current, p.value())
            elif p.operation is Operation.REPLACE:
                current.CopyFrom(p.value())
        if current is not None:
            _patch_routes(current, route_patches, vhost_applied)
            if current.SerializeToString(deterministic=True) != before:
                blame(current, vhost_applied)
            kept.append(current)
        applied |= vhost_applied
    for p in vhost_patches:
        if p.operation is Operation.ADD:
            added = p.value()
            assert isinstance(added, rc.VirtualHost)
            blame(added, {p.source})
            kept.append(added)
            applied.add(p.source)
    if len(kept) != len(config.virtual_hosts) or vhost_patches or route_patches:
        copies = [rc.VirtualHost() for _ in kept]
        for copy, vhost in zip(copies, kept, strict=True):
            copy.CopyFrom(vhost)
        del config.virtual_hosts[:]
        config.virtual_hosts.extend(copies)


def _patch_routes(vhost: rc.VirtualHost, patches: Sequence[ActivePatch], applied: set[str]) -> None:
    mine = [p for p in patches if _vhost_matches(vhost, p)]
    if not mine:
        return
    routes: list[rc.Route | None] = list(vhost.routes)
    for i, route in enumerate(routes):
        for p in mine:
            if route is None or p.operation not in (Operation.REMOVE, Operation.MERGE):
                continue
            if _route_matches(route, p):
                applied.add(p.source)
                if p.operation is Operation.REMOVE:
                    routes[i] = route = None
                else:
                    merge(route, p.value())
                    blame(route, {p.source})
    for p in mine:

        def value(p: ActivePatch = p) -> rc.Route:
            route = p.value()
            assert isinstance(route, rc.Route)
            blame(route, {p.source})
            return route

        present = [r for r in routes if r is not None]
        hits = [i for i, r in enumerate(routes) if r is not None and _route_matches(r, p)]
        if p.operation is Operation.ADD:
            routes.append(value())
        elif p.operation is Operation.INSERT_AFTER:
            if not _route_selector(p):
                routes.append(value())
            elif hits:
                routes.insert(hits[0] + 1, value())
            else:
                continue
        elif p.operation is Operation.INSERT_BEFORE:
            if not _route_selector(p):
                routes.insert(0, value())
            elif hits:
                routes.insert(hits[0], value())
            else:
                continue
        elif p.operation is Operation.INSERT_FIRST:
            if _route_selector(p) and not hits:
                continue
            routes.insert(0, value())
        else:
            continue
        del present
        applied.add(p.source)
    final = [rc.Route() for r in routes if r is not None]
    for copy, route in zip(final, [r for r in routes if r is not None], strict=True):
        copy.CopyFrom(route)
    del vhost.routes[:]
    vhost.routes.extend(final)
