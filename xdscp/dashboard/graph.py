"""The mesh as a graph, for the dashboard: workloads and services as nodes, edges from
the translated config (the same views Envoy's resources are built from).

* call edges, workload -> service: the services a workload's outbound listeners route
  to, with each route's split over subsets (VirtualService weights);
* serve edges, service -> workload: the workloads behind a service, with the subsets
  they fall in and, where every route agrees, the share of traffic they get.

Pure: a MeshConfig and one ProxyView per workload in, plain JSON-ready data out.
Nodes carry a `layer` (left to right: callers, services, the workloads behind them,
and on for deeper call chains) so the browser only has to order nodes in a column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any

from translators.ir import (
    DestinationIR,
    Direction,
    EndpointSetIR,
    ProxyView,
    RouteIR,
    WeightedDestinationIR,
)
from translators.mesh import MeshConfig
from translators.naming import parse_outbound_cluster


def workload_node_id(key: str) -> str:
    return f"workload:{key}"


def service_node_id(hostname: str) -> str:
    return f"service:{hostname}"


@dataclass(frozen=True, slots=True)
class Split:
    """One weighted destination of a route."""

    host: str
    subset: str
    port: int
    weight: int


@dataclass(frozen=True, slots=True)
class RouteSummary:
    name: str
    match: str
    splits: tuple[Split, ...]
    provenance: tuple[str, ...]


@dataclass
class CallEdge:
    caller: str  # workload key
    host: str  # destination service hostname
    ports: set[int] = field(default_factory=set)
    routes: list[RouteSummary] = field(default_factory=list)
    provenance: set[str] = field(default_factory=set)
    # subsets its routes send traffic to that have no endpoint (503 for that share)
    empty_subsets: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return f"{workload_node_id(self.caller)}->{service_node_id(self.host)}"

    def subset_weights(self) -> dict[str, int]:
        """Per subset, its weight when the edge has a single route (else empty: the split
        depends on the request, see `routes`)."""
        if len(self.routes) != 1:
            return {}
        weights: dict[str, int] = {}
        for split in self.routes[0].splits:
            if split.host == self.host:
                weights[split.subset] = weights.get(split.subset, 0) + split.weight
        return weights

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "calls",
            "source": workload_node_id(self.caller),
            "target": service_node_id(self.host),
            "ports": sorted(self.ports),
            "subset_weights": self.subset_weights(),
            "empty_subsets": sorted(self.empty_subsets),
            "routes": [
                {
                    "name": r.name,
                    "match": r.match,
                    "splits": [
                        {"host": s.host, "subset": s.subset, "port": s.port, "weight": s.weight}
                        for s in r.splits
                        if s.host == self.host
                    ],
                    "provenance": list(r.provenance),
                }
                for r in self.routes
            ],
            "provenance": sorted(self.provenance),
        }


@dataclass
class ServeEdge:
    host: str
    workload: str
    ports: set[int] = field(default_factory=set)  # service ports
    target_ports: set[int] = field(default_factory=set)  # the workload's ports behind them
    subsets: set[str] = field(default_factory=set)
    weight: int | None = None  # percent of the service's traffic, when routes agree
    provenance: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return f"{service_node_id(self.host)}->{workload_node_id(self.workload)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "serves",
            "source": service_node_id(self.host),
            "target": workload_node_id(self.workload),
            "ports": sorted(self.ports),
            "target_ports": sorted(self.target_ports),
            "subsets": sorted(self.subsets),
            "weight": self.weight,
            "provenance": sorted(self.provenance),
        }


# Without a Sidecar egress every proxy can reach every service it sees: in a mesh of
# 1,000 services that is a million possible calls, which says nothing about who calls
# whom. Above this many, only calls with traffic are drawn (and the rest counted).
MAX_CONFIG_CALLS = 200


@dataclass
class MeshGraph:
    nodes: dict[str, dict[str, Any]]
    serves: dict[tuple[str, str], ServeEdge]
    # caller -> host -> its call edge (shared by callers with the same outbound config)
    reachable: dict[str, Mapping[str, CallEdge]]
    # (caller, host) pairs left out: the caller serves that host itself
    own: frozenset[tuple[str, str]] = frozenset()
    # the gateway proxies among the callers: their calls are routes someone bound to
    # the gateway on purpose, drawn even where a sidecar's are only with traffic
    gateways: frozenset[str] = frozenset()

    @property
    def potential_calls(self) -> int:
        return sum(len(hosts) for hosts in self.reachable.values()) - len(self.own)

    def call(self, caller: str, host: str) -> CallEdge | None:
        """The call edge from config, if `caller`'s sidecar routes to `host` at all."""
        template = self.reachable.get(caller, {}).get(host)
        if template is None or (caller, host) in self.own:
            return None
        return replace(template, caller=caller)

    def calls(self, active: Iterable[tuple[str, str]] = ()) -> dict[tuple[str, str], CallEdge]:
        """The call edges to draw: every one config allows in a small mesh, else only
        the `active` ones (those the sidecars counted traffic on) and the gateways'."""
        if self.potential_calls <= MAX_CONFIG_CALLS:
            pairs: Iterable[tuple[str, str]] = (
                (caller, host) for caller, hosts in self.reachable.items() for host in hosts
            )
        else:
            routed = ((g, host) for g in self.gateways for host in self.reachable.get(g, {}))
            pairs = [*active, *routed]
        drawn = {pair: self.call(*pair) for pair in sorted(set(pairs))}
        return {pair: edge for pair, edge in drawn.items() if edge is not None}

    def to_json(self, active: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
        calls = self.calls(active)
        layers = _layers(
            (n["key"] for n in self.nodes.values() if n["kind"] == "workload"),
            calls.values(),
            self.serves.values(),
        )
        nodes = {k: {**n, "layer": layers.get(k, n["layer"])} for k, n in self.nodes.items()}
        for (_, host), call in calls.items():  # a destination outside the registry
            node_id = service_node_id(host)
            if node_id not in nodes:
                nodes[node_id] = {
                    "id": node_id,
                    "kind": "service",
                    "host": host,
                    "name": host.split(".", 1)[0],
                    "namespace": "",
                    "ports": [
                        {"number": p, "name": "", "protocol": ""} for p in sorted(call.ports)
                    ],
                    "location": "UNKNOWN",
                    "source": "",
                    "layer": layers.get(node_id, 1),
                }
        return {
            "nodes": [nodes[k] for k in sorted(nodes)],
            "edges": [e.to_json() for _, e in sorted(calls.items())]
            + [e.to_json() for _, e in sorted(self.serves.items())],
            "hidden_calls": self.potential_calls - len(calls),
        }


def _match_text(route: RouteIR) -> str:
    """A short human reading of a route's match, e.g. `prefix / · header end-user=jason`."""
    parts = [f"{route.match.path.kind.value} {route.match.path.value}"]
    for header in route.match.headers:
        negate = "!" if header.invert else ""
        parts.append(f"{negate}{header.name} {header.match.kind.value} {header.match.value}")
    for param in route.match.query_params:
        parts.append(f"?{param.name} {param.match.kind.value} {param.match.value}")
    return " · ".join(parts)


def _outbound_route_configs(view: ProxyView) -> set[str]:
    return {
        li.route_table
        for li in view.listeners
        if li.direction is Direction.OUTBOUND and li.route_table
    }


def _splits(clusters: Iterable[WeightedDestinationIR]) -> tuple[Split, ...]:
    """The mesh services (host, port, subset, weight) behind a route's or TCP chain's clusters."""
    return tuple(
        Split(parsed[2], parsed[1], parsed[0], weighted.weight)
        for weighted in clusters
        if (parsed := parse_outbound_cluster(weighted.destination)) is not None
    )


def _add_route(
    edges: dict[str, CallEdge], caller: str, summary: RouteSummary, provenance: Iterable[str]
) -> None:
    """One route (HTTP or TCP) on the edge to every host it splits to."""
    for host in dict.fromkeys(s.host for s in summary.splits):
        edge = edges.setdefault(host, CallEdge(caller, host))
        edge.ports.update(s.port for s in summary.splits if s.host == host)
        edge.routes.append(summary)
        edge.provenance.update(provenance)


def _calls_of(view: ProxyView, caller: str) -> dict[str, CallEdge]:
    """Every service `caller` can reach through its outbound listeners, with the routes."""
    edges: dict[str, CallEdge] = {}
    bound = _outbound_route_configs(view)
    for config in view.route_tables:
        if config.name not in bound:
            continue
        for vhost in config.virtual_hosts:
            for route in vhost.routes:
                summary = RouteSummary(
                    route.name, _match_text(route), _splits(route.destinations), route.provenance
                )
                _add_route(edges, caller, summary, vhost.provenance)
    for listener in view.listeners:  # TCP/TLS ports
        if listener.direction is not Direction.OUTBOUND:
            continue
        for chain in listener.tcp_routes:
            summary = RouteSummary(chain.name, "tcp", _splits(chain.destinations), chain.provenance)
            _add_route(edges, caller, summary, chain.provenance)
    return edges


def _subset_members(
    views: Iterable[ProxyView],
) -> dict[tuple[str, str], set[str]]:
    """(host, subset) -> its endpoints (workload keys; addresses of endpoints that are no
    workload), as the translators computed them."""
    members: dict[tuple[str, str], set[str]] = {}
    seen: set[str] = set()
    for view in views:
        groups: list[DestinationIR | EndpointSetIR] = [*view.destinations, *view.endpoint_sets]
        for item in groups:
            name = item.name if isinstance(item, DestinationIR) else item.destination
            if name in seen:
                continue
            parsed = parse_outbound_cluster(name)
            if parsed is None or not item.endpoints:
                continue
            seen.add(name)
            _, subset, host = parsed
            found = members.setdefault((host, subset), set())
            found.update(e.workload or e.address for e in item.endpoints)
    return members


def _serve_weight(calls: Iterable[CallEdge], subsets: set[str]) -> int | None:
    """The percent of a service's traffic that reaches workloads in `subsets`, when every
    route of every caller agrees on it and names subsets (None otherwise)."""
    shares: set[int] = set()
    for edge in calls:
        for route in edge.routes:
            own = [s for s in route.splits if s.host == edge.host]
            if not own or any(not s.subset for s in own):
                return None
            total = sum(s.weight for s in own) or 1
            shares.add(round(100 * sum(s.weight for s in own if s.subset in subsets) / total))
    return shares.pop() if len(shares) == 1 else None


def _layers(
    workloads: Iterable[str], calls: Iterable[CallEdge], serves: Iterable[ServeEdge]
) -> dict[str, int]:
    """Longest-path layering, left to right: a service sits right of its callers, a
    workload right of the services it serves. Cycles are cut by a bound on the layer."""
    layer: dict[str, int] = {workload_node_id(w): 0 for w in workloads}
    edges = [(workload_node_id(c.caller), service_node_id(c.host)) for c in calls]
    edges += [(service_node_id(s.host), workload_node_id(s.workload)) for s in serves]
    for node in (n for edge in edges for n in edge):  # services start right of callers
        layer.setdefault(node, 1 if node.startswith("service:") else 0)
    bound = len(layer)
    for _ in range(bound):
        changed = False
        for source, target in edges:
            wanted = min(layer[source] + 1, bound)
            if wanted > layer[target]:
                layer[target] = wanted
                changed = True
        if not changed:
            break
    return layer


def _reach_key(view: ProxyView) -> tuple[object, ...]:
    """Proxies whose outbound config is the same objects reach the same services."""
    outbound = [li for li in view.listeners if li.direction is Direction.OUTBOUND]
    return (
        id(view.route_tables),
        frozenset(li.route_table for li in outbound if li.route_table),
        tuple(id(chain) for li in outbound for chain in li.tcp_routes),
    )


def gateway_entries(view: ProxyView) -> list[dict[str, Any]]:
    """Where requests enter a gateway: each HTTP listener's port with a host its routes
    answer ("" when they answer any host), so the explain form can address it."""
    configs = {c.name: c for c in view.route_tables}
    entries = []
    for listener in view.listeners:
        config = configs.get(listener.route_table) if listener.route_table else None
        if listener.direction is not Direction.OUTBOUND or config is None:
            continue
        domains = [d for vhost in config.virtual_hosts for d in vhost.domains if d != "*"]
        host = domains[0].rsplit(":", 1)[0] if domains else ""
        entries.append({"port": listener.port, "host": host.replace("*.", "www.", 1)})
    return sorted(entries, key=lambda e: (e["port"], e["host"]))


def proxy_kind(key: str, views: Mapping[str, ProxyView], gateways: AbstractSet[str]) -> str:
    """What Envoy a workload runs: "gateway" (a gateway proxy: no sidecar, but an Envoy
    fed by this control plane all the same), "sidecar", or "none"."""
    if key not in views:
        return "none"
    return "gateway" if key in gateways else "sidecar"


def mesh_graph(
    mesh: MeshConfig, views: Mapping[str, ProxyView], gateways: AbstractSet[str] = frozenset()
) -> MeshGraph:
    """`views`: workload key -> its translated ProxyView (workloads without a proxy may
    be left out: they call nothing as far as config knows); `gateways`: the keys of the
    gateway proxies among them. Work is per distinct outbound config, not per proxy:
    2,000 proxies of one namespace share one."""
    groups: dict[tuple[object, ...], dict[str, CallEdge]] = {}
    reachable: dict[str, Mapping[str, CallEdge]] = {}
    shared: dict[tuple[int, int], ProxyView] = {}  # one view per distinct outbound config
    for key in sorted(views):
        view = views[key]
        group_key = _reach_key(view)
        if group_key not in groups:
            groups[group_key] = _calls_of(view, "")
        reachable[key] = groups[group_key]
        shared.setdefault((id(view.endpoint_sets), id(view.route_tables)), view)
    members = _subset_members(shared.values())
    serves: dict[tuple[str, str], ServeEdge] = {}
    for host, service in mesh.services.items():
        for endpoint in service.endpoints:
            if not endpoint.workload or endpoint.workload not in mesh.workloads:
                continue
            serve = serves.setdefault((host, endpoint.workload), ServeEdge(host, endpoint.workload))
            serve.ports.update(p.number for p in service.ports)
            serve.target_ports.update(endpoint.port_for(p) for p in service.ports)
            serve.provenance.add(service.source)
    for (host, subset), keys in members.items():
        for key in keys:
            if subset and (host, key) in serves:
                serves[(host, key)].subsets.add(subset)
    templates: dict[str, list[CallEdge]] = {}
    for group in groups.values():
        for host, template in group.items():
            templates.setdefault(host, []).append(template)
            template.empty_subsets = {
                s.subset
                for route in template.routes
                for s in route.splits
                if s.host == host and s.subset and not members.get((s.host, s.subset))
            }
    for (host, _), serve in serves.items():
        if serve.subsets and host in templates:
            serve.weight = _serve_weight(templates[host], serve.subsets)
    # A workload is not drawn calling a service it serves itself: every sidecar without
    # a Sidecar egress sees its own service, which says nothing about who calls whom.
    own = frozenset(
        (s.workload, s.host) for s in serves.values() if s.host in reachable.get(s.workload, {})
    )
    nodes: dict[str, dict[str, Any]] = {}
    for key, workload in mesh.workloads.items():
        node_id = workload_node_id(key)
        nodes[node_id] = {
            "id": node_id,
            "kind": "workload",
            "key": key,
            "name": workload.name,
            "namespace": workload.namespace,
            "address": workload.address,
            "labels": dict(workload.labels),
            # `sidecar`: runs a sidecar (a gateway runs Envoy, but not as a sidecar)
            "sidecar": proxy_kind(key, views, gateways) == "sidecar",
            "proxy": proxy_kind(key, views, gateways),
            "entries": gateway_entries(views[key]) if key in gateways and key in views else [],
            "source": workload.source,
            "layer": 0,
        }
    for host, service in mesh.services.items():
        node_id = service_node_id(host)
        nodes[node_id] = {
            "id": node_id,
            "kind": "service",
            "host": host,
            "name": host.split(".", 1)[0],
            "namespace": service.namespace,
            "ports": [
                {"number": p.number, "name": p.name, "protocol": p.protocol.value}
                for p in service.ports
            ],
            "location": service.location.value,
            "source": service.source,
            "layer": 1,
        }
    return MeshGraph(nodes, serves, reachable, own, frozenset(gateways) & frozenset(views))
