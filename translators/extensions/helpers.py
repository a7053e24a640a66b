"""Small editing helpers for patches: the common EnvoyFilter moves (insert an HTTP
filter into a listener's connection managers), done on a patch's private copy."""

from __future__ import annotations

from collections.abc import Iterator

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)

from translators.extensions.convert import pack, to_protobuf

HCM_FILTER = "envoy.filters.network.http_connection_manager"
ROUTER_FILTER = "envoy.filters.http.router"


def is_inbound(listener: listener_pb2.Listener) -> bool:
    return bool(listener.traffic_direction == base_pb2.INBOUND)


def is_outbound(listener: listener_pb2.Listener) -> bool:
    return bool(listener.traffic_direction == base_pb2.OUTBOUND)


def http_managers(
    listener: listener_pb2.Listener,
) -> Iterator[tuple[listener_components_pb2.Filter, hcm.HttpConnectionManager]]:
    """Each HTTP connection manager of the listener, unpacked, with the network filter
    that holds it (write changes back with `network_filter.typed_config.Pack(manager)`)."""
    for chain in [*listener.filter_chains, listener.default_filter_chain]:
        for network_filter in chain.filters:
            if network_filter.name != HCM_FILTER:
                continue
            manager = hcm.HttpConnectionManager()
            network_filter.typed_config.Unpack(manager)
            yield network_filter, manager


def insert_http_filter(
    listener: listener_pb2.Listener,
    name: str,
    typed_config: object,
    *,
    before: str = ROUTER_FILTER,
) -> int:
    """Insert an HTTP filter `name` (config: protobuf or envoy-data-plane message) into
    every connection manager of `listener`, just before the filter `before` (appended
    when absent). A manager that already has `name` is left alone. Returns how many
    managers changed."""
    config = pack(to_protobuf(typed_config))
    changed = 0
    for network_filter, manager in http_managers(listener):
        names = [f.name for f in manager.http_filters]
        if name in names:
            continue
        position = names.index(before) if before in names else len(names)
        added = hcm.HttpFilter(name=name, typed_config=config)
        filters = list(manager.http_filters)
        filters.insert(position, added)
        del manager.http_filters[:]
        manager.http_filters.extend(filters)
        network_filter.typed_config.Pack(manager)
        changed += 1
    return changed
