"""Envoy bootstrap for one workload's sidecar: identity in the Node, ADS to xdscp.

`set_node_on_first_message_only` keeps Envoy from re-sending its ~60 KB Node on
every request (DESIGN §5).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from translators.mesh import Workload
from translators.naming import ADMIN_PORT, STATS_PORT, XDS_CLUSTER, proxy_node_id
from xdscp.stats import stats_cluster, stats_config, stats_listener


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def bootstrap_config(
    workload: Workload,
    xds_host: str = "127.0.0.1",
    xds_port: int = 15010,
    admin_port: int = ADMIN_PORT,
    admin_address: str | None = None,
    credentials: Mapping[str, Path] | None = None,
    server_name: str = "xdscp",
    stats_port: int | None = STATS_PORT,
) -> dict[str, Any]:
    """`credentials` (files `cert`, `key`, `root`) make the xDS connection mutual TLS: the
    proxy proves its SPIFFE ID and checks the server's `server_name` DNS SAN.
    `stats_port` (None: none) serves Prometheus stats on the workload's address."""
    address = workload.address or "127.0.0.1"
    xds_cluster: dict[str, Any] = _xds_cluster(xds_host, xds_port)
    if credentials is not None:
        xds_cluster["transport_socket"] = _xds_tls(credentials, server_name)
    ads_source = {"ads": {}, "resource_api_version": "V3"}
    static: dict[str, Any] = {"clusters": [xds_cluster]}
    if stats_port is not None:
        static["clusters"].append(stats_cluster(admin_address or address, admin_port))
        static["listeners"] = [stats_listener(address, stats_port)]
    stats = {"stats_config": stats_config()} if stats_port is not None else {}
    return {
        "node": {
            "id": proxy_node_id(address, workload.name, workload.namespace),
            "cluster": f"{workload.name}.{workload.namespace}",
            "metadata": {
                "NAMESPACE": workload.namespace,
                "WORKLOAD_NAME": workload.name,
                "SERVICE_ACCOUNT": workload.service_account,
                "INSTANCE_IPS": address,
                "LABELS": dict(workload.labels),
            },
        },
        "admin": {
            "address": {
                "socket_address": {"address": admin_address or address, "port_value": admin_port}
            }
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
            },
            "cds_config": ads_source,
            "lds_config": ads_source,
        },
        "static_resources": static,
        **stats,
    }


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


def _xds_cluster(xds_host: str, xds_port: int) -> dict[str, Any]:
    return {
        "name": XDS_CLUSTER,
        "type": "STATIC" if _is_ip(xds_host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": xds_host,
                                        "port_value": xds_port,
                                    }
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
