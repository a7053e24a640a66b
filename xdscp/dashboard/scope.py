"""A bounded piece of the mesh graph: what `/debug/graph` answers on a large mesh.

10,000 services are 30,000 nodes: megabytes of JSON no browser can lay out. The graph
answer is narrowed to a namespace and/or a filter text (nodes whose id contains it,
with their neighbours, as the page's filter box does), then cut at `limit` nodes —
whole neighbourhoods first, calls with traffic before the rest — and says so in
`truncated`, with what to ask for instead."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_LIMIT = 300
MAX_LIMIT = 5_000

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class GraphScope:
    namespace: str = ""
    text: str = ""  # a part of a node id, case-insensitive
    limit: int = DEFAULT_LIMIT
    proxy: str = ""  # NAMESPACE/NAME: that workload, what it calls and what serves that

    @staticmethod
    def of_query(query: Any) -> GraphScope:
        """From `?namespace=&filter=&limit=`; raises ValueError with a one-line reason."""
        raw = query.get("limit", "")
        try:
            limit = int(raw) if raw else DEFAULT_LIMIT
        except ValueError:
            raise ValueError(f"limit must be a number of nodes, got {raw!r}") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        proxy = query.get("proxy", "")
        if proxy and proxy.count("/") != 1:
            raise ValueError(f"proxy must be NAMESPACE/NAME, got {proxy!r}")
        return GraphScope(query.get("namespace", ""), query.get("filter", "").strip(), limit, proxy)

    def describe(self) -> str:
        parts = [f"proxy {self.proxy}"] if self.proxy else []
        if self.namespace:
            parts.append(f"namespace {self.namespace}")
        if self.text:
            parts.append(f"filter {self.text!r}")
        return " and ".join(parts)


def _neighbours(edges: Iterable[Json]) -> dict[str, list[str]]:
    near: dict[str, list[str]] = {}
    for edge in edges:
        near.setdefault(edge["source"], []).append(edge["target"])
        near.setdefault(edge["target"], []).append(edge["source"])
    return near


def _with_neighbours(seeds: Iterable[str], near: dict[str, list[str]]) -> set[str]:
    keep = set(seeds)
    for node in list(keep):
        keep.update(near.get(node, ()))
    return keep


def scoped_graph(full: Json, scope: GraphScope, active_edges: Iterable[str] = ()) -> Json:
    """`full` (MeshGraph.to_json plus extras) narrowed to `scope`; edges only between
    nodes kept. `active_edges`: ids of edges with traffic, kept first when cutting."""
    nodes: list[Json] = full["nodes"]
    edges: list[Json] = full["edges"]
    near = _neighbours(edges)
    ids = [n["id"] for n in nodes]
    if scope.proxy:
        # the proxy, the services it calls or serves, and the workloads behind those
        known = set(ids)
        around = _with_neighbours(_with_neighbours([f"workload:{scope.proxy}"], near), near)
        ids = sorted(around & known)
    if scope.namespace:
        inside = (n["id"] for n in nodes if n["namespace"] == scope.namespace)
        ids = sorted(_with_neighbours(inside, near) & set(ids))
    if scope.text:
        text = scope.text.lower()
        ids = sorted(_with_neighbours((i for i in ids if text in i.lower()), near) & set(ids))
    matched = len(ids)
    keep: set[str] = set(ids)
    if matched > scope.limit:
        # whole neighbourhoods, busiest first: a node with its callers/backends says more
        # than twice as many nodes cut from theirs
        active = set(active_edges)
        busy = {end for e in edges if e["id"] in active for end in (e["source"], e["target"])}
        allowed = set(ids)
        order = sorted(ids, key=lambda i: (i not in busy, -len(near.get(i, ())), i))
        keep = set()
        for node in order:
            if len(keep) >= scope.limit:
                break
            if node in keep:
                continue
            group = {node, *near.get(node, ())}
            if node.startswith("workload:"):  # with its services' own neighbourhoods
                group.update(far for m in list(group) for far in near.get(m, ()))
            group = {m for m in group if m in allowed and m not in keep}
            if len(keep) + len(group) > scope.limit:
                if keep:
                    continue  # no half neighbourhoods: a smaller one may still fit
                group = {node}
            keep.update(group)
    answer = {
        **full,
        "nodes": [n for n in nodes if n["id"] in keep],
        "edges": [e for e in edges if e["source"] in keep and e["target"] in keep],
        "total_nodes": len(nodes),
    }
    if len(keep) < matched:
        where = scope.describe()
        answer["truncated"] = {
            "shown": len(keep),
            "matched": matched,
            "message": (
                f"showing {len(keep)} of {matched} nodes"
                + (f" ({where})" if where else "")
                + ": narrow it with a namespace or filter (?namespace=NS&filter=TEXT),"
                f" or raise ?limit= (at most {MAX_LIMIT})"
            ),
        }
    return answer
