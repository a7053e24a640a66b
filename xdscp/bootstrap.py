"""Envoy bootstrap JSON, built here and nowhere else.

Every sidecar xdscp starts (`xdscp bootstrap`, the local mesh, an injected Pod's
`xdscp-init`) gets its identity in the Node, ADS to xdscp, an admin address, and
Prometheus stats on 15090 from this module. A Pod adds a readiness listener
(`Readiness`), nothing else, so the two can never drift apart.

`set_node_on_first_message_only` keeps Envoy from re-sending its ~60 KB Node on
every request (DESIGN §5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translators.mesh import Workload
from translators.model.checks import is_ip
from translators.naming import (
    ADMIN_PORT,
    READY_ADMIN_CLUSTER,
    READY_LISTENER,
    STATS_CLUSTER,
    STATS_LISTENER,
    STATS_PATH,
    STATS_PORT,
    XDS_CLUSTER,
    proxy_node_id,
)
from xdscp.stats import stats_config

__all__ = ["Readiness", "bootstrap_config", "node_bootstrap"]

_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network."
    "http_connection_manager.v3.HttpConnectionManager"
)
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@dataclass(frozen=True, slots=True)
class Readiness:
    """A Pod's readiness probe: `GET <port><path>` answers with Envoy admin's `/ready`
    (200 only when LIVE). With it, Envoy waits for its first config without a timeout
    (`initial_fetch_timeout: 0s`), so it is not "ready" before that config arrived."""

    port: int
    path: str


def bootstrap_config(
    workload: Workload,
    xds_host: str = "127.0.0.1",
    xds_port: int = 15010,
    admin_port: int = ADMIN_PORT,
    admin_address: str | None = None,
    credentials: Mapping[str, Path] | None = None,
    server_name: str = "xdscp",
    stats_port: int | None = STATS_PORT,
    readiness: Readiness | None = None,
    delta: bool = False,
) -> dict[str, Any]:
    """The bootstrap of `workload`'s sidecar.

    `delta` makes its ADS stream incremental (DELTA_GRPC): it then receives route
    configurations' virtual hosts one by one (VHDS), so a VirtualService edit sends
    one virtual host instead of the whole route configuration.

    `credentials` (files `cert`, `key`, `root`) make the xDS connection mutual TLS: the
    proxy proves its SPIFFE ID and checks the server's `server_name` DNS SAN.
    `stats_port` (None: none) serves Prometheus stats on the workload's address;
    `readiness` adds a Pod's readiness listener."""
    address = workload.address or "127.0.0.1"
    admin_host = admin_address or address
    clusters: list[dict[str, Any]] = []
    listeners: list[dict[str, Any]] = []
    if stats_port is not None:
        clusters.append(_static_cluster(STATS_CLUSTER, admin_host, admin_port))
        listeners.append(_stats_listener(address, stats_port))
    if readiness is not None:
        clusters.append(_static_cluster(READY_ADMIN_CLUSTER, admin_host, admin_port))
        listeners.append(_readiness_listener(readiness))
    config = node_bootstrap(
        _workload_node(workload, address),
        xds_host,
        xds_port,
        admin_address=admin_host,
        admin_port=admin_port,
        credentials=credentials,
        server_name=server_name,
        clusters=clusters,
        listeners=listeners,
        initial_fetch_timeout="0s" if readiness is not None else None,
        api_type="DELTA_GRPC" if delta else "GRPC",
    )
    if stats_port is not None:
        config["stats_config"] = stats_config()
    return config


def node_bootstrap(
    node: Mapping[str, Any],
    xds_host: str,
    xds_port: int,
    *,
    admin_address: str = "127.0.0.1",
    admin_port: int = ADMIN_PORT,
    api_type: str = "GRPC",
    credentials: Mapping[str, Path] | None = None,
    server_name: str = "xdscp",
    clusters: Sequence[Mapping[str, Any]] = (),
    listeners: Sequence[Mapping[str, Any]] = (),
    initial_fetch_timeout: str | None = None,
) -> dict[str, Any]:
    """Any Envoy that takes its whole config from xdscp over ADS: `node` as given,
    `api_type` GRPC (state of the world) or DELTA_GRPC, plus static `clusters` and
    `listeners` after the xDS cluster."""
    xds_cluster = _xds_cluster(xds_host, xds_port)
    if credentials is not None:
        xds_cluster["transport_socket"] = _xds_tls(credentials, server_name)
    ads_source: dict[str, Any] = {"ads": {}, "resource_api_version": "V3"}
    if initial_fetch_timeout is not None:
        ads_source["initial_fetch_timeout"] = initial_fetch_timeout
    static: dict[str, Any] = {"clusters": [xds_cluster, *map(dict, clusters)]}
    if listeners:
        static["listeners"] = [dict(listener) for listener in listeners]
    return {
        "node": dict(node),
        "admin": {
            "address": {"socket_address": {"address": admin_address, "port_value": admin_port}}
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
            },
            "cds_config": ads_source,
            "lds_config": dict(ads_source),
        },
        "static_resources": static,
    }


def _workload_node(workload: Workload, address: str) -> dict[str, Any]:
    return {
        "id": proxy_node_id(address, workload.name, workload.namespace),
        "cluster": f"{workload.name}.{workload.namespace}",
        "metadata": {
            "NAMESPACE": workload.namespace,
            "WORKLOAD_NAME": workload.name,
            "SERVICE_ACCOUNT": workload.service_account,
            "INSTANCE_IPS": address,
            "LABELS": dict(workload.labels),
        },
    }


def _static_cluster(name: str, host: str, port: int, **options: Any) -> dict[str, Any]:
    """One upstream at `host:port` (resolved by DNS when it is not an IP address)."""
    endpoint = {"address": {"socket_address": {"address": host, "port_value": port}}}
    return {
        "name": name,
        "type": "STATIC" if is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        **options,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
    }


def _xds_cluster(xds_host: str, xds_port: int) -> dict[str, Any]:
    http2 = {
        _HTTP_OPTIONS: {
            "@type": f"type.googleapis.com/{_HTTP_OPTIONS}",
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }
    return _static_cluster(XDS_CLUSTER, xds_host, xds_port, typed_extension_protocol_options=http2)


def _xds_tls(credentials: Mapping[str, Path], server_name: str) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/"
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": server_name,
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(credentials["cert"])},
                        "private_key": {"filename": str(credentials["key"])},
                    }
                ],
                "validation_context": {
                    "trusted_ca": {"filename": str(credentials["root"])},
                    "match_typed_subject_alt_names": [
                        {"san_type": "DNS", "matcher": {"exact": server_name}}
                    ],
                },
            },
        },
    }


def _http_listener(
    name: str, address: str, port: int, virtual_host: str, routes: list[dict[str, Any]]
) -> dict[str, Any]:
    """A static HTTP listener with one virtual host (the stats and readiness ports)."""
    manager = {
        "@type": _HCM,
        "stat_prefix": name,
        "route_config": {
            "name": name,
            "virtual_hosts": [{"name": virtual_host, "domains": ["*"], "routes": routes}],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": address, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _stats_listener(address: str, port: int) -> dict[str, Any]:
    """`GET http://<address>:<port>/stats/prometheus` (admin's, on a port that may face
    the network: see `xdscp.stats`); every other path is a 404."""
    routes: list[dict[str, Any]] = [
        {"match": {"path": STATS_PATH}, "route": {"cluster": STATS_CLUSTER}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
    ]
    return _http_listener(STATS_LISTENER, address, port, STATS_LISTENER, routes)


def _readiness_listener(readiness: Readiness) -> dict[str, Any]:
    route = {"cluster": READY_ADMIN_CLUSTER, "prefix_rewrite": "/ready"}
    routes: list[dict[str, Any]] = [{"match": {"path": readiness.path}, "route": route}]
    return _http_listener(READY_LISTENER, "0.0.0.0", readiness.port, "ready", routes)
