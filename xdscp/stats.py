"""The sidecar's Prometheus stats: a static bootstrap listener on STATS_PORT (15090,
as in Istio) that serves exactly the admin's `/stats/prometheus` (built with the rest
of the bootstrap in `xdscp.bootstrap`), and the tag extraction that keeps mesh names
whole in its labels.

Why a listener rather than the admin port: the admin API can also stop the proxy,
change log levels and dump its config, so it stays on its private address, while
the scrape port may face the network. Why the bootstrap rather than xDS: stats are
most needed when the control plane is unreachable.
"""

from __future__ import annotations

import re
from typing import Any

from translators.naming import DEFAULT_DOMAIN_SUFFIX

# Envoy's default tag extractors cut every name at its first dot, but xdscp's names have
# dots: clusters `outbound|8080|v1|orders.default.svc.cluster.local`, connection manager
# prefixes `outbound_10.0.0.1_8080`. Custom extractors cannot go before the defaults, so
# (as Istio does) the defaults are off and this list replaces them: Envoy's default tags
# for what a sidecar emits, with patterns that keep those names whole.
_ADDRESS = r"(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+"
_PREFIX = r"(?:(?:inbound|outbound)_[^_]+_\d+|[^.]+)"  # an HCM/tcp_proxy stat_prefix
_CIPHER = r"[\w-]+"


def stats_tags(domain_suffix: str) -> list[tuple[str, str]]:
    mesh_host = rf"(?:\..+?{re.escape('.' + domain_suffix)})?"
    return [
        ("envoy.response_code", r"_rq(_(\d{3}))$"),
        ("envoy.response_code_class", r"_rq_((\d))xx$"),
        ("envoy.ssl_cipher", rf"^listener\..*?\.ssl\.ciphers(\.({_CIPHER}))$"),
        ("envoy.ssl_curve", rf"^(?:listener|cluster)\..*?\.ssl\.curves(\.({_CIPHER}))$"),
        ("envoy.ssl_sigalg", rf"^(?:listener|cluster)\..*?\.ssl\.sigalgs(\.({_CIPHER}))$"),
        ("envoy.ssl_version", r"^(?:listener|cluster)\..*?\.ssl\.versions(\.(TLSv\d\.\d))$"),
        ("envoy.ssl_cipher_suite", rf"^cluster\..*?\.ssl\.ciphers(\.({_CIPHER}))$"),
        ("envoy.tcp_prefix", rf"^tcp\.(({_PREFIX})\.)"),
        ("envoy.cluster_name", rf"^cluster\.((.+?{mesh_host})\.)"),
        ("envoy.http_conn_manager_prefix", rf"^(?:listener\..*?\.)?http\.(({_PREFIX})\.)"),
        (
            "envoy.rds_route_config",
            rf"^http\.{_PREFIX}\.rds\.(([\w\-.]+)\.)\w+?$",
        ),
        (
            "envoy.worker_id",
            rf"^(?:listener\.(?:{_ADDRESS}|[^.]+)\.|server\.|listener_manager\.)worker_((\d+)\.)",
        ),
        ("envoy.listener_address", rf"^listener\.(({_ADDRESS}|[^.]+)\.)"),
        ("envoy.local_http_ratelimit_prefix", r"^(([^.]+)\.)http_local_rate_limit\."),
        ("envoy.local_network_ratelimit_prefix", r"^local_rate_limit\.(([^.]+)\.)"),
    ]


def stats_config(domain_suffix: str = DEFAULT_DOMAIN_SUFFIX) -> dict[str, Any]:
    """Tag extraction that keeps mesh names whole in Prometheus labels (hosts outside
    `domain_suffix` with dots are still cut at their first one, as in Istio)."""
    return {
        "use_all_default_tags": False,
        "stats_tags": [
            {"tag_name": name, "regex": regex} for name, regex in stats_tags(domain_suffix)
        ],
    }
