"""istioctl-style tables of one proxy's resources, from `/debug/config_dump` JSON.

Input is the protobuf JSON of each resource (Envoy's field names) plus the source
objects the control plane recorded for it; every row ends with those sources, so
an operator can go from any line straight to the YAML that produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from translators.naming import PROVENANCE_KEY, parse_outbound_cluster
from xdscp.debug_client import table

Entry = dict[str, Any]


def _sources(entry: Entry, metadata: dict[str, Any] | None = None) -> str:
    """A row's own provenance metadata (routes carry theirs) or else its resource's."""
    own = ((metadata or {}).get("filter_metadata") or {}).get(PROVENANCE_KEY) or {}
    sources = own.get("sources") or entry.get("sources") or []
    return ",".join(sources) or "-"


def clusters(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        name, cluster = entry["name"], entry["resource"]
        kind = (cluster.get("cluster_type") or {}).get("name") or cluster.get("type", "STATIC")
        outbound = parse_outbound_cluster(name)
        if outbound is not None:
            port, subset, fqdn = outbound
            fields = [fqdn, str(port), subset or "-", "outbound"]
        elif name.startswith("inbound|"):
            fields = ["-", name.split("|")[1], "-", "inbound"]
        else:
            fields = [name, "-", "-", "-"]
        rows.append([*fields, kind, _sources(entry)])
    return table(["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "SOURCES"], rows)


def endpoints(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        assignment = entry["resource"]
        found = False
        for locality in assignment.get("endpoints", []):
            for lb in locality.get("lb_endpoints", []):
                found = True
                rows.append(
                    [
                        _address((lb.get("endpoint") or {}).get("address") or {}),
                        lb.get("health_status", "HEALTHY"),
                        str(lb.get("load_balancing_weight", 1)),
                        entry["name"],
                        _sources(entry),
                    ]
                )
        if not found:
            rows.append(["-", "NO ENDPOINTS", "-", entry["name"], _sources(entry)])
    return table(["ENDPOINT", "STATUS", "WEIGHT", "CLUSTER", "SOURCES"], rows)


def _address(address: dict[str, Any]) -> str:
    socket = address.get("socket_address") or {}
    if socket:
        return f"{socket.get('address', '')}:{socket.get('port_value', 0)}"
    pipe = address.get("pipe") or {}
    return f"unix:{pipe.get('path', '')}" if pipe else "-"


def listeners(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        listener = entry["resource"]
        socket = (listener.get("address") or {}).get("socket_address") or {}
        address, port = socket.get("address", "-"), str(socket.get("port_value", "-"))
        chains = list(listener.get("filter_chains", []))
        if "default_filter_chain" in listener:
            chains.append({**listener["default_filter_chain"], "_default": True})
        for chain in chains or [{}]:
            rows.append(
                [
                    entry["name"],
                    address,
                    port,
                    chain.get("name") or "-",
                    _chain_match(chain),
                    _chain_destination(chain),
                    _sources(entry),
                ]
            )
    return table(["NAME", "ADDRESS", "PORT", "CHAIN", "MATCH", "DESTINATION", "SOURCES"], rows)


def _chain_match(chain: dict[str, Any]) -> str:
    if chain.get("_default"):
        return "(default)"
    match = chain.get("filter_chain_match") or {}
    parts = []
    if "destination_port" in match:
        parts.append(f"port={match['destination_port']}")
    if match.get("transport_protocol"):
        parts.append(f"transport={match['transport_protocol']}")
    if match.get("application_protocols"):
        parts.append(f"alpn={','.join(match['application_protocols'])}")
    if match.get("server_names"):
        parts.append(f"sni={','.join(match['server_names'])}")
    if match.get("prefix_ranges"):
        ranges = [
            f"{r['address_prefix']}/{r.get('prefix_len', 32)}" for r in match["prefix_ranges"]
        ]
        parts.append(f"dst={','.join(ranges)}")
    return " ".join(parts) or "ALL"


def _chain_destination(chain: dict[str, Any]) -> str:
    for network_filter in chain.get("filters", []):
        config = network_filter.get("typed_config") or {}
        if "rds" in config:
            return f"Route: {config['rds'].get('route_config_name', '')}"
        if "route_config" in config:
            return f"Inline route: {config['route_config'].get('name', '')}"
        if "cluster" in config:
            return f"Cluster: {config['cluster']}"
        if "weighted_clusters" in config:
            names = [c["name"] for c in config["weighted_clusters"].get("clusters", [])]
            return f"Clusters: {','.join(names)}"
    names = [f.get("name", "?") for f in chain.get("filters", [])]
    return ",".join(names) or "-"


def routes(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        for vhost in entry["resource"].get("virtual_hosts", []):
            domains = vhost.get("domains", [])
            shown = domains[0] if domains else "-"
            if len(domains) > 1:
                shown += f" +{len(domains) - 1} more"
            for route in vhost.get("routes", []):
                rows.append(
                    [
                        entry["name"],
                        vhost.get("name", ""),
                        shown,
                        _route_match(route.get("match") or {}),
                        _route_action(route),
                        _sources(entry, route.get("metadata")),
                    ]
                )
    return table(["NAME", "VIRTUAL HOST", "DOMAINS", "MATCH", "DESTINATION", "SOURCES"], rows)


def _route_match(match: dict[str, Any]) -> str:
    path = "/*"
    for key, shown in (("prefix", "{}*"), ("path", "{}"), ("path_separated_prefix", "{}/*")):
        if key in match:
            path = shown.format(match[key])
    if "safe_regex" in match:
        path = f"~{match['safe_regex'].get('regex', '')}"
    headers = match.get("headers", [])
    return path + (f" +{len(headers)} header(s)" if headers else "")


def _route_action(route: dict[str, Any]) -> str:
    action = route.get("route") or {}
    if "cluster" in action:
        return str(action["cluster"])
    if "weighted_clusters" in action:
        clusters = action["weighted_clusters"].get("clusters", [])
        return ", ".join(f"{c['name']} {c.get('weight', 0)}" for c in clusters)
    if "cluster_header" in action:
        return f"header:{action['cluster_header']}"
    if "redirect" in route:
        return "redirect"
    if "direct_response" in route:
        return f"direct {route['direct_response'].get('status', '')}"
    return "-"


def secrets(entries: list[Entry]) -> str:
    rows = []
    for entry in entries:
        resource = entry["resource"]
        kind = "Cert Chain" if "tls_certificate" in resource else "CA"
        for cert in entry.get("certificates") or [{}]:
            rows.append(
                [
                    entry["name"],
                    kind,
                    cert.get("spiffe_id") or cert.get("subject") or "-",
                    cert.get("serial", "-"),
                    cert.get("not_before", "-"),
                    cert.get("not_after", "-"),
                    cert.get("rotates_at") or "-",
                ]
            )
    return table(
        ["NAME", "TYPE", "SPIFFE ID / SUBJECT", "SERIAL", "NOT BEFORE", "NOT AFTER", "ROTATES AT"],
        rows,
    )


RENDERERS: dict[str, Callable[[list[Entry]], str]] = {
    "clusters": clusters,
    "endpoints": endpoints,
    "listeners": listeners,
    "routes": routes,
    "secrets": secrets,
}
