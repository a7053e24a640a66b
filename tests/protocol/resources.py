"""Real xds-protos Envoy resources for protocol tests (no translators: the server
must work with any resource bytes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import any_pb2, duration_pb2

from xdscp.cache import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    SECRET_TYPE,
    Resource,
    Snapshot,
    make_resource,
)


def _ads() -> config_source_pb2.ConfigSource:
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        resource_api_version=config_source_pb2.V3,
    )


def _socket(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=host, port_value=port)
    )


def _any(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def eds_cluster(name: str, timeout_s: int = 1) -> Resource:
    msg = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=_ads()),
        connect_timeout=duration_pb2.Duration(seconds=timeout_s),
    )
    return make_resource(CLUSTER_TYPE, name, msg, provenance=[f"ServiceEntry/default/{name}"])


def bad_cluster(name: str) -> Resource:
    """A cluster Envoy rejects when building it: a STATIC endpoint that is not an IP."""
    msg = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=1),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                endpoint_components_pb2.LocalityLbEndpoints(
                    lb_endpoints=[
                        endpoint_components_pb2.LbEndpoint(
                            endpoint=endpoint_components_pb2.Endpoint(
                                address=_socket("not-an-ip.example", 80)
                            )
                        )
                    ]
                )
            ],
        ),
    )
    return make_resource(CLUSTER_TYPE, name, msg, provenance=[f"DestinationRule/default/{name}"])


def invalid_cluster(name: str) -> Resource:
    """A cluster that fails proto validation (negative connect timeout)."""
    msg = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=-1),
    )
    return make_resource(CLUSTER_TYPE, name, msg, provenance=[f"DestinationRule/default/{name}"])


def cla(name: str, ports: Iterable[int] = (8080,), host: str = "127.0.0.1") -> Resource:
    msg = endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(address=_socket(host, port))
                    )
                    for port in ports
                ]
            )
        ],
    )
    return make_resource(ENDPOINT_TYPE, name, msg, provenance=[f"Service/default/{name}"])


def http_listener(name: str, route: str, port: int = 0, host: str = "127.0.0.1") -> Resource:
    hcm = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(config_source=_ads(), route_config_name=route),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=_any(router_pb2.Router())
            )
        ],
    )
    msg = listener_pb2.Listener(
        name=name,
        address=_socket(host, port),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=_any(hcm),
                    )
                ]
            )
        ],
    )
    return make_resource(LISTENER_TYPE, name, msg, provenance=[f"Gateway/default/{name}"])


def tcp_listener(name: str, cluster: str, port: int = 0, host: str = "127.0.0.1") -> Resource:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=name, cluster=cluster)
    msg = listener_pb2.Listener(
        name=name,
        address=_socket(host, port),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.tcp_proxy", typed_config=_any(proxy)
                    )
                ]
            )
        ],
    )
    return make_resource(LISTENER_TYPE, name, msg, provenance=[f"Sidecar/default/{name}"])


def route_config(name: str, cluster: str, prefix: str = "/") -> Resource:
    msg = route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name=f"{name}-vh",
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=route_components_pb2.RouteMatch(prefix=prefix),
                        route=route_components_pb2.RouteAction(cluster=cluster),
                    )
                ],
            )
        ],
    )
    return make_resource(ROUTE_TYPE, name, msg, provenance=[f"VirtualService/default/{name}"])


def secret(name: str, value: bytes = b"secret") -> Resource:
    msg = secret_pb2.Secret(name=name)
    msg.generic_secret.secret.inline_bytes = value
    return make_resource(SECRET_TYPE, name, msg, provenance=[f"CA/{name}"])


def mesh(
    clusters: Iterable[str] = ("a", "b"),
    port: int = 8080,
    route_cluster: str = "a",
    listener: str = "http",
    route: str = "80",
    secrets: Iterable[str] = ("default", "ROOTCA"),
) -> Snapshot:
    """A small, consistent snapshot: EDS clusters + assignments, one listener with RDS."""
    resources: list[Resource] = []
    for name in clusters:
        resources += [eds_cluster(name), cla(name, [port])]
    resources += [http_listener(listener, route), route_config(route, route_cluster)]
    resources += [secret(name) for name in secrets]
    return Snapshot.of(resources)


def virtual_host(host: str, body: str) -> route_components_pb2.VirtualHost:
    """A virtual host for `host` (and `host:80`) answering every request with `body`."""
    return route_components_pb2.VirtualHost(
        name=f"{host}:80",
        domains=[host, f"{host}:80"],
        routes=[
            route_components_pb2.Route(
                match=route_components_pb2.RouteMatch(prefix="/"),
                direct_response=route_components_pb2.DirectResponseAction(
                    status=200, body={"inline_string": body}
                ),
            )
        ],
    )


def host_routes(name: str, hosts: Mapping[str, str]) -> Resource:
    """Route configuration `name` with one `virtual_host` per host -> body."""
    config = route_pb2.RouteConfiguration(
        name=name, virtual_hosts=[virtual_host(h, b) for h, b in sorted(hosts.items())]
    )
    return make_resource(ROUTE_TYPE, name, config, provenance=[f"VirtualService/default/{name}"])
