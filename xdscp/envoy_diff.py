"""What the control plane sent a proxy vs what its Envoy runs (`/config_dump?include_eds`).

Resources are matched by name per type. Content is compared after a round trip of
both sides through the Envoy message type, so field order and number formatting
do not count as change.
Secrets are compared in redacted form (Envoy's admin never shows keys, and
neither does our debug API). Endpoints are compared by their addresses only:
Envoy rebuilds ClusterLoadAssignments for its dump (filling defaults such as
weights and overprovisioning), so their bytes never equal what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

import translators.translate  # noqa: F401  (registers every Any type the translator emits)
from xdscp.debug.config_dump import MESSAGE_TYPES, TYPE_NAMES

# ConfigDump section -> (our type word, where its dynamic resources are)
_DUMP_SECTIONS = {
    "type.googleapis.com/envoy.admin.v3.ClustersConfigDump": "clusters",
    "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump": "endpoints",
    "type.googleapis.com/envoy.admin.v3.ListenersConfigDump": "listeners",
    "type.googleapis.com/envoy.admin.v3.RoutesConfigDump": "routes",
    "type.googleapis.com/envoy.admin.v3.SecretsConfigDump": "secrets",
}


@dataclass(frozen=True, slots=True)
class Difference:
    type: str  # clusters, endpoints, ...
    name: str
    change: str  # "missing in Envoy", "only in Envoy", "changed"
    sources: tuple[str, ...]
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "difference": self.change,
            "sources": list(self.sources),
            "detail": self.detail,
        }


def envoy_resources(dump: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """type word -> name -> resource JSON, for the dynamic (xDS-delivered) resources.
    Warming resources count as present: Envoy accepted them and is fetching their
    dependencies."""
    out: dict[str, dict[str, dict[str, Any]]] = {word: {} for word in TYPE_NAMES}
    for section in dump.get("configs", []):
        word = _DUMP_SECTIONS.get(section.get("@type", ""))
        if word is None:
            continue
        found = out[word]
        if word == "clusters":
            for key in ("dynamic_active_clusters", "dynamic_warming_clusters"):
                for item in section.get(key, []):
                    found[item["cluster"]["name"]] = item["cluster"]
        elif word == "listeners":
            for item in section.get("dynamic_listeners", []):
                state = item.get("active_state") or item.get("warming_state")
                if state and "listener" in state:
                    found[item["name"]] = state["listener"]
        elif word == "routes":
            for item in section.get("dynamic_route_configs", []):
                found[item["route_config"]["name"]] = _whole(item["route_config"])
        elif word == "secrets":
            for key in ("dynamic_active_secrets", "dynamic_warming_secrets"):
                for item in section.get(key, []):
                    found[item["name"]] = item.get("secret", {})
        elif word == "endpoints":
            for item in section.get("dynamic_endpoint_configs", []):
                config = item["endpoint_config"]
                found[config["cluster_name"]] = config
    # Envoy lists an assignment for every dynamic cluster, also those it did not get over
    # EDS (STATIC, ORIGINAL_DST, ...): only EDS ones were sent as endpoints resources.
    eds = {
        (c.get("eds_cluster_config") or {}).get("service_name") or name
        for name, c in out["clusters"].items()
        if c.get("type") == "EDS"
    }
    out["endpoints"] = {n: e for n, e in out["endpoints"].items() if n in eds}
    return out


_FROM_VHDS = "__xdscp_vhds__"  # marks a route configuration Envoy assembled from VHDS


def _whole(config: dict[str, Any]) -> dict[str, Any]:
    """A route configuration Envoy got over VHDS (a delta sidecar) as xdscp translated
    it: Envoy shows the shell's `vhds` and the virtual hosts it merged, named by their
    VHDS resource names (`<route config>/<vhost>`, see xdscp.server.vhds)."""
    if "vhds" not in config:
        return config
    prefix = f"{config.get('name', '')}/"
    hosts = [
        {**h, "name": h["name"].removeprefix(prefix)} if "name" in h else h
        for h in config.get("virtual_hosts", [])
    ]
    whole = {k: v for k, v in config.items() if k != "vhds"}
    whole["virtual_hosts"] = sorted(hosts, key=lambda h: str(h.get("name", "")))
    whole[_FROM_VHDS] = True
    return whole


def compare(
    sent: dict[str, dict[str, Any]], running: dict[str, dict[str, dict[str, Any]]]
) -> list[Difference]:
    """`sent`: the `types` of `/debug/config_dump`; `running`: `envoy_resources(...)`."""
    out: list[Difference] = []
    for word, section in sent.items():
        type_url = TYPE_NAMES[word]
        ours = {e["name"]: e for e in section["resources"]}
        theirs = running.get(word, {})
        for name in sorted(ours.keys() - theirs.keys()):
            out.append(Difference(word, name, "missing in Envoy", tuple(ours[name]["sources"])))
        for name in sorted(theirs.keys() - ours.keys()):
            out.append(Difference(word, name, "only in Envoy", ()))
        for name in sorted(ours.keys() & theirs.keys()):
            detail = _content_difference(type_url, word, ours[name]["resource"], theirs[name])
            if detail:
                out.append(Difference(word, name, "changed", tuple(ours[name]["sources"]), detail))
    return out


def _content_difference(type_url: str, word: str, ours: Any, theirs: Any) -> str:
    if word == "routes" and isinstance(theirs, dict) and theirs.get(_FROM_VHDS):
        # the shell leaves out the route configuration's provenance metadata, and Envoy
        # orders the virtual hosts it got over VHDS by name
        theirs = {k: v for k, v in theirs.items() if k != _FROM_VHDS}
        ours = {k: v for k, v in ours.items() if k != "metadata"}
        hosts = ours.get("virtual_hosts", [])
        ours["virtual_hosts"] = sorted(hosts, key=lambda h: str(h.get("name", "")))
    if word == "endpoints":
        a, b = _endpoint_addresses(ours), _endpoint_addresses(theirs)
        if a == b:
            return ""
        return f"endpoints sent {sorted(a)}, running {sorted(b)}"
    if _canonical(type_url, ours) == _canonical(type_url, theirs):
        return ""
    return "content differs"


def _canonical(type_url: str, data: Any) -> Any:
    """The resource as Python data after a round trip through its protobuf type: number
    and duration spellings normalize, and dict equality ignores key order (bytes would
    not: a Struct or map inside an Any keeps the order it was parsed in)."""
    message: Message = MESSAGE_TYPES[type_url]()
    if isinstance(data, dict):  # Envoy's dump names the message type at the top
        data = {k: v for k, v in data.items() if k != "@type"}
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except json_format.ParseError:
        return data
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _endpoint_addresses(assignment: Any) -> set[str]:
    out = set()
    for locality in assignment.get("endpoints", []):
        for lb in locality.get("lb_endpoints", []):
            socket = ((lb.get("endpoint") or {}).get("address") or {}).get("socket_address") or {}
            out.add(f"{socket.get('address', '')}:{socket.get('port_value', 0)}")
    return out
