"""LISTENER / FILTER_CHAIN / NETWORK_FILTER / HTTP_FILTER patches on one listener, with
Istio's match rules (pilot's envoyfilter/listener_patch.go): a listener matches by name
and port (for the virtual listeners the port is the filter chain's destination port); a
filter chain by name, SNI, transport protocol, application protocols, destination port;
a network filter by name; an HTTP filter by the connection manager's name and its own.

Order per listener, as in pilot: LISTENER patches, then FILTER_CHAIN, then per chain the
NETWORK_FILTER patches, then HTTP_FILTER patches inside each connection manager; within
one level, in patch order. Removals and merges come before additions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from envoy.config.core.v3.extension_pb2 import TypedExtensionConfig
from envoy.config.listener.v3 import listener_components_pb2 as components
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message

from translators.envoyfilter.merge import merge, merge_any
from translators.envoyfilter.routes import patch_route_config
from translators.envoyfilter.select import ActivePatch
from translators.model.envoy_filter import (
    HCM_NAMES,
    ApplyTo,
    ListenerMatch,
    Operation,
    PatchContext,
)

VIRTUAL_LISTENERS = frozenset({"virtualInbound", "virtualOutbound"})
M = TypeVar("M", bound=Message)
F = TypeVar("F", components.ListenerFilter, components.Filter, hcm.HttpFilter)


def _listener_match(patch: ActivePatch) -> ListenerMatch | None:
    match = patch.patch.match
    return match.listener if match is not None else None


def listener_matches(listener: listener_pb2.Listener, patch: ActivePatch) -> bool:
    match = _listener_match(patch)
    if match is None:
        return True
    if match.name and match.name != listener.name:
        return False
    # the virtual listeners' port is their filter chains' destination port (chain_matches)
    if patch.apply_to is not ApplyTo.LISTENER and listener.name in VIRTUAL_LISTENERS:
        return True
    port = listener.address.socket_address.port_value
    return not (match.port_number and port != match.port_number)


def chain_matches(
    listener: listener_pb2.Listener, chain: components.FilterChain, patch: ActivePatch
) -> bool:
    match = _listener_match(patch)
    if match is None:
        return True
    fcm = chain.filter_chain_match
    virtual = listener.name in VIRTUAL_LISTENERS
    if virtual and match.port_number and fcm.destination_port.value != match.port_number:
        return False
    wanted = match.filter_chain
    if wanted is None:
        return True
    if wanted.name and wanted.name != chain.name:
        return False
    if wanted.sni and wanted.sni not in fcm.server_names:
        return False
    if wanted.transport_protocol and wanted.transport_protocol != fcm.transport_protocol:
        return False
    protocols = wanted.application_protocols.split(",") if wanted.application_protocols else []
    if any(p not in fcm.application_protocols for p in protocols):
        return False
    return not (wanted.destination_port and fcm.destination_port.value != wanted.destination_port)


def _filter_name(patch: ActivePatch) -> str:
    match = _listener_match(patch)
    chain = match.filter_chain if match is not None else None
    return chain.filter.name if chain is not None and chain.filter is not None else ""


def _sub_filter_name(patch: ActivePatch) -> str:
    match = _listener_match(patch)
    chain = match.filter_chain if match is not None else None
    network = chain.filter if chain is not None else None
    return network.sub_filter.name if network is not None and network.sub_filter else ""


def patch_listener(
    listener: listener_pb2.Listener,
    patches: Sequence[ActivePatch],
    context: PatchContext,
    applied: set[str],
) -> bool:
    """Apply the listener-level and deeper patches (those of the listener's `context`) to
    `listener` in place; False if a REMOVE took the listener away. `applied` collects the
    EnvoyFilters that changed something."""
    patches = [p for p in patches if p.in_context(context)]
    for p in patches:
        if p.apply_to is not ApplyTo.LISTENER or not listener_matches(listener, p):
            continue
        if p.operation is Operation.REMOVE:
            applied.add(p.source)
            return False
        if p.operation is Operation.MERGE:
            merge(listener, p.value())
            applied.add(p.source)
    _patch_listener_filters(listener, patches, applied)
    _patch_chains(listener, patches, context, applied)
    return True


def _patch_listener_filters(
    listener: listener_pb2.Listener, patches: Sequence[ActivePatch], applied: set[str]
) -> None:
    """LISTENER_FILTER: the listener's filters (TLS inspector, ...), selected by
    `match.listener.listenerFilter` (a name)."""
    mine = [
        p
        for p in patches
        if p.apply_to is ApplyTo.LISTENER_FILTER and listener_matches(listener, p)
    ]
    if not mine:
        return
    _edit_named(listener.listener_filters, mine, _listener_filter_name, applied)


def _listener_filter_name(patch: ActivePatch) -> str:
    match = _listener_match(patch)
    return match.listener_filter if match is not None else ""


def _chains(listener: listener_pb2.Listener) -> list[components.FilterChain]:
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    return chains


def _patch_chains(
    listener: listener_pb2.Listener,
    patches: Sequence[ActivePatch],
    context: PatchContext,
    applied: set[str],
) -> None:
    chain_patches = [p for p in patches if p.apply_to is ApplyTo.FILTER_CHAIN]
    removed: list[components.FilterChain] = []
    for chain in _chains(listener):
        for p in chain_patches:
            if p.operation is Operation.ADD or not chain_matches(listener, chain, p):
                continue
            if p.operation is Operation.REMOVE:
                applied.add(p.source)
                removed.append(chain)
                break
            if p.operation is Operation.MERGE:
                applied.add(p.source)
                _merge_chain(chain, p.value())
        else:
            # pilot patches the filters of the chains it keeps, not of those it adds
            _patch_network_filters(listener, chain, patches, context, applied)
    if removed:
        kept = [c for c in listener.filter_chains if all(c is not r for r in removed)]
        if any(listener.default_filter_chain is r for r in removed):
            listener.ClearField("default_filter_chain")
        del listener.filter_chains[:]
        listener.filter_chains.extend(kept)
    for p in chain_patches:
        if p.operation is Operation.ADD and listener_matches(listener, p):
            listener.filter_chains.append(p.value())
            applied.add(p.source)


def _merge_chain(chain: components.FilterChain, value: Message) -> None:
    """A transport socket of the chain's socket name is merged inside its typed_config
    (and nothing else of the patch is), as pilot does; otherwise a plain merge."""
    assert isinstance(value, components.FilterChain)
    socket = value.transport_socket
    if (
        value.HasField("transport_socket")
        and chain.HasField("transport_socket")
        and socket.name == chain.transport_socket.name
    ):
        merge_any(chain.transport_socket.typed_config, socket.typed_config)
        return
    merge(chain, value)


def _patch_network_filters(
    listener: listener_pb2.Listener,
    chain: components.FilterChain,
    patches: Sequence[ActivePatch],
    context: PatchContext,
    applied: set[str],
) -> None:
    network = [
        p
        for p in patches
        if p.apply_to is ApplyTo.NETWORK_FILTER and chain_matches(listener, chain, p)
    ]
    if network:
        _edit_named(chain.filters, network, _filter_name, applied)
    http = [
        p
        for p in patches
        if p.apply_to is ApplyTo.HTTP_FILTER and chain_matches(listener, chain, p)
    ]
    route = [p for p in patches if p.apply_to in _ROUTE_LEVELS]
    if not http and not route:
        return
    for network_filter, manager in _connection_managers(chain):
        before = manager.SerializeToString(deterministic=True)
        matching = [p for p in http if _named(network_filter.name, _filter_name(p))]
        if matching:
            _edit_named(manager.http_filters, matching, _sub_filter_name, applied)
        if route and manager.HasField("route_config"):
            # inline route configurations (the inbound ones) are patched like RDS ones
            patch_route_config(manager.route_config, route, context, applied)
        if manager.SerializeToString(deterministic=True) != before:
            network_filter.typed_config.Pack(manager)


def _connection_managers(
    chain: components.FilterChain,
) -> Iterator[tuple[components.Filter, hcm.HttpConnectionManager]]:
    """The chain's HTTP connection manager filters, each with its config unpacked (a
    change to it counts once packed back into the filter)."""
    for network_filter in chain.filters:
        if network_filter.name not in HCM_NAMES:
            continue
        manager = hcm.HttpConnectionManager()
        if network_filter.typed_config.Unpack(manager):
            yield network_filter, manager


_ROUTE_LEVELS = frozenset({ApplyTo.ROUTE_CONFIGURATION, ApplyTo.VIRTUAL_HOST, ApplyTo.HTTP_ROUTE})


def _named(actual: str, wanted: str) -> bool:
    return not wanted or actual == wanted


def _edit_named(
    filters: RepeatedCompositeFieldContainer[F],
    patches: Sequence[ActivePatch],
    wanted_name: Callable[[ActivePatch], str],
    applied: set[str],
) -> None:
    """`edit_list` on a repeated filter field, in place; a patch selects the filters of
    its wanted name (any filter when it names none)."""
    edited = edit_list(list(filters), patches, lambda f, p: _named(f.name, wanted_name(p)), applied)
    del filters[:]
    filters.extend(edited)


def edit_list(
    items: list[M],
    patches: Sequence[ActivePatch],
    matches: Callable[[M, ActivePatch], bool],
    applied: set[str],
) -> list[M]:
    """Pilot's operations on an ordered list of named filters: ADD appends, INSERT_FIRST
    prepends; INSERT_BEFORE / INSERT_AFTER go next to the first selected filter (no
    selector: the front / the end; a selector matching nothing: not inserted); REPLACE
    and REMOVE need a selector. MERGE runs last, on every selected filter: its name, and
    its typed_config merged inside (only filters that have one)."""
    for p in patches:
        op = p.operation
        selects = bool(_selector_of(p))
        hit = next((i for i, item in enumerate(items) if matches(item, p)), None)
        if op is Operation.ADD or (op is Operation.INSERT_AFTER and not selects):
            items.append(p.value())  # type: ignore[arg-type]
        elif op is Operation.INSERT_FIRST or (op is Operation.INSERT_BEFORE and not selects):
            items.insert(0, p.value())  # type: ignore[arg-type]
        elif op is Operation.INSERT_AFTER and hit is not None:
            items.insert(hit + 1, p.value())  # type: ignore[arg-type]
        elif op is Operation.INSERT_BEFORE and hit is not None:
            items.insert(hit, p.value())  # type: ignore[arg-type]
        elif op is Operation.REPLACE and selects and hit is not None:
            items[hit] = p.value()  # type: ignore[assignment]
        elif op is Operation.REMOVE and selects and hit is not None:
            items = [item for item in items if not matches(item, p)]
        else:
            continue
        applied.add(p.source)
    merges = [p for p in patches if p.operation is Operation.MERGE]
    for item in items if merges else ():
        for p in merges:
            if matches(item, p) and _merge_filter(item, p.value()):
                applied.add(p.source)
    return items


def _merge_filter(item: Message, value: Message) -> bool:
    """Pilot's filter MERGE: the name, and the typed_config merged inside (the patch's
    type taken as the filter's); a filter without typed_config is left alone."""
    if not item.HasField("typed_config"):
        return False
    name = getattr(value, "name", "")
    if name:
        item.name = name  # type: ignore[attr-defined]
    if value.HasField("typed_config"):
        patch = value.typed_config  # type: ignore[attr-defined]
        patch.type_url = item.typed_config.type_url  # type: ignore[attr-defined]
        merge_any(item.typed_config, patch)  # type: ignore[attr-defined]
    return True


def _selector_of(p: ActivePatch) -> str:
    if p.apply_to is ApplyTo.LISTENER_FILTER:
        return _listener_filter_name(p)
    return _sub_filter_name(p) if p.apply_to is ApplyTo.HTTP_FILTER else _filter_name(p)


def inline_extension_configs(
    listener: listener_pb2.Listener, configs: Sequence[ActivePatch], applied: set[str]
) -> None:
    """EXTENSION_CONFIG ADD: Istio serves these over ECDS to HTTP filters that name them
    in `config_discovery`; here the named config is put in the filter itself (the same
    filter configuration Envoy would end up with, without an ECDS round trip)."""
    if not configs:
        return
    by_name: dict[str, tuple[str, TypedExtensionConfig]] = {}
    for p in configs:
        value = p.value()
        assert isinstance(value, TypedExtensionConfig)
        by_name[value.name] = (p.source, value)
    for chain in _chains(listener):
        for network_filter, manager in _connection_managers(chain):
            changed = False
            for http_filter in manager.http_filters:
                found = by_name.get(http_filter.name)
                if found is None or not http_filter.HasField("config_discovery"):
                    continue
                source, config = found
                http_filter.typed_config.CopyFrom(config.typed_config)
                applied.add(source)
                changed = True
            if changed:
                network_filter.typed_config.Pack(manager)
