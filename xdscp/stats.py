"""The sidecar's Prometheus endpoint: a static bootstrap listener on STATS_PORT (15090,
as in Istio) that serves exactly the admin's `/stats/prometheus`.

Why a listener rather than the admin port: the admin API can also stop the proxy,
change log levels and dump its config, so it stays on its private address, while
the scrape port may face the network. Why the bootstrap rather than xDS: stats are
most needed when the control plane is unreachable.
"""

from __future__ import annotations

from typing import Any

from translators.naming import STATS_CLUSTER, STATS_LISTENER, STATS_PATH

_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network."
    "http_connection_manager.v3.HttpConnectionManager"
)
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def stats_listener(address: str, port: int) -> dict[str, Any]:
    """`GET http://<address>:<port>/stats/prometheus`; every other path is a 404."""
    routes = [
        {"match": {"path": STATS_PATH}, "route": {"cluster": STATS_CLUSTER}},
        {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
    ]
    manager = {
        "@type": _HCM,
        "stat_prefix": STATS_LISTENER,
        "route_config": {
            "name": STATS_LISTENER,
            "virtual_hosts": [{"name": STATS_LISTENER, "domains": ["*"], "routes": routes}],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "name": STATS_LISTENER,
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


def stats_cluster(admin_address: str, admin_port: int) -> dict[str, Any]:
    """The admin endpoint, as the stats listener's only upstream."""
    endpoint = {"address": {"socket_address": {"address": admin_address, "port_value": admin_port}}}
    return {
        "name": STATS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": STATS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
    }
