"""ListenerIR -> envoy.config.listener.v3.Listener (HTTP connection manager)."""

from __future__ import annotations

from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)

from translators.envoy.common import ads, duration, pack, provenance, socket_address
from translators.ir import Direction, ListenerIR
from translators.naming import inbound_route_config

HCM_FILTER = "envoy.filters.network.http_connection_manager"


def _inbound_routes(ir: ListenerIR) -> route_pb2.RouteConfiguration:
    """Inbound traffic all goes to the local app; inline, since it never changes alone."""
    route = rc.Route(
        name="default",
        match=rc.RouteMatch(prefix="/"),
        route=rc.RouteAction(cluster=ir.inbound_cluster, timeout=duration(0)),
    )
    vhost = rc.VirtualHost(name=f"inbound|http|{ir.port}", domains=["*"], routes=[route])
    return route_pb2.RouteConfiguration(
        name=inbound_route_config(ir.port),
        virtual_hosts=[vhost],
        validate_clusters={"value": False},
    )


def build_listener(ir: ListenerIR) -> listener_pb2.Listener:
    manager = hcm.HttpConnectionManager(
        stat_prefix=f"{ir.direction.value}_{ir.address}_{ir.port}",
        normalize_path={"value": True},
        http_filters=[
            hcm.HttpFilter(name="envoy.filters.http.router", typed_config=pack(router_pb2.Router()))
        ],
    )
    if ir.direction is Direction.OUTBOUND:
        manager.rds.config_source.CopyFrom(ads())
        manager.rds.route_config_name = ir.route_config
    else:
        manager.route_config.CopyFrom(_inbound_routes(ir))
    listener = listener_pb2.Listener(
        name=ir.name,
        address=socket_address(ir.address, ir.port),
        traffic_direction=1 if ir.direction is Direction.INBOUND else 2,
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(name=HCM_FILTER, typed_config=pack(manager))
                ]
            )
        ],
    )
    if ir.provenance:
        listener.metadata.CopyFrom(provenance(ir.provenance))
    return listener
