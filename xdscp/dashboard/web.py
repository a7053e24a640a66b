"""The dashboard on the debug port: `GET /` (the page), `/dashboard/<asset>` (its script
and style, shipped in the package: it works offline) and `GET /debug/graph` (the mesh
graph with traffic, as JSON, which the page polls).

The page reads the other debug endpoints itself (`/debug/proxies`, `/debug/config`,
`/debug/analysis`, `/debug/explain`), so each keeps one owner and one meaning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from translators.analysis import Message
from translators.analysis.runtime import protocol_error_messages
from translators.ir import ProxyView
from translators.mesh import MeshConfig
from translators.naming import STATS_PORT
from translators.security.index import gateway_proxies
from translators.security.upstream import workload_has_sidecar
from translators.translate import MeshTranslator
from xdscp.dashboard.graph import MeshGraph, mesh_graph, workload_node_id
from xdscp.dashboard.protocol_errors import ProtocolErrorTracker
from xdscp.dashboard.scope import GraphScope, scoped_graph
from xdscp.dashboard.scrape import SidecarScraper, SidecarStats
from xdscp.dashboard.traffic import active_calls, edge_traffic
from xdscp.debug.worker import DebugWorker
from xdscp.server.status import StatusBook

_log = structlog.get_logger(__name__)

_ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


def _asset(name: str) -> bytes:
    return (resources.files("xdscp.dashboard") / "static" / name).read_bytes()


@dataclass(frozen=True, slots=True)
class BuiltGraph:
    mesh: MeshConfig
    graph: MeshGraph
    views: dict[str, ProxyView]


def build_graph(translator: MeshTranslator) -> BuiltGraph:
    """Every proxy's view (sidecars and gateways) and the graph of them: seconds on a
    large mesh, so it runs on the worker's thread with the worker's own translator."""
    mesh = translator.mesh
    gateways = gateway_proxies(mesh)
    views = {
        key: translator.view(workload)
        for key, workload in mesh.workloads.items()
        # Istio's signals, as auto-mTLS reads them (a Pod without an injected sidecar
        # runs no proxy); a gateway pod is marked "no injection", yet runs an Envoy
        # this plane feeds
        if workload.address and (key in gateways or workload_has_sidecar(workload))
    }
    return BuiltGraph(mesh, mesh_graph(mesh, views, gateways), views)


# How long a `/debug/graph` request waits for a new generation's graph before answering
# with the previous one (or "building"): the page polls every 3 s anyway.
GRAPH_WAIT_S = 2.0
GRAPH_BUILD_BOUND_S = 600.0


class Dashboard:
    """Builds the graph once per mesh generation, off the event loop, and scrapes the
    connected sidecars."""

    def __init__(
        self,
        translator: Callable[[], MeshTranslator | None],
        status: StatusBook,
        scraper: SidecarScraper | None = None,
        stats_port: int = STATS_PORT,
        worker: DebugWorker | None = None,
    ) -> None:
        self._translator = translator
        self.status = status
        self.scraper = scraper or SidecarScraper()
        self.stats_port = stats_port
        self.protocol_errors = ProtocolErrorTracker()
        # the thread (and translator of its own) the graph is built with; shared with
        # `/debug/explain` in the service (xdscp/debug/worker.py)
        self.worker = worker or DebugWorker()
        self._built: tuple[MeshTranslator, BuiltGraph] | None = None
        self._building: tuple[MeshTranslator, asyncio.Task[BuiltGraph]] | None = None
        # the last full JSON, per (graph, calls with traffic): the page polls every 3 s
        self._full: tuple[MeshGraph, frozenset[tuple[str, str]], dict[str, Any]] | None = None
        self.graph_wait_s = GRAPH_WAIT_S
        self._page = _asset("index.html")
        self._assets = {name: _asset(name) for name in _ASSETS}

    # --- data ---------------------------------------------------------------
    async def graph(self) -> tuple[MeshConfig, MeshGraph, dict[str, ProxyView]] | None:
        """The current generation's graph and views (built once, on the worker), or the
        previous generation's while the current one is still being built; None before
        any graph exists."""
        translator = self._translator()
        if translator is None:
            return None
        built = self._built
        if built is None or built[0] is not translator:
            building = self._building
            if building is None or building[0] is not translator:
                task = asyncio.ensure_future(
                    self.worker.run(translator, build_graph, GRAPH_BUILD_BOUND_S)
                )
                building = self._building = (translator, task)
            done, _ = await asyncio.wait({building[1]}, timeout=self.graph_wait_s)
            if done and not building[1].exception():
                built = self._built = (translator, building[1].result())
                self._building = None
            elif done:  # over the bound: try again on the next request
                self._building = None
                _log.warning("dashboard.graph_failed", error=str(building[1].exception()))
        if built is None:
            return None
        return built[1].mesh, built[1].graph, built[1].views

    def scrape_targets(self, mesh: MeshConfig) -> dict[str, str]:
        """Connected sidecars only: a workload without a proxy has no stats to read."""
        targets: dict[str, str] = {}
        for proxy in self.status:
            workload = mesh.workloads.get(proxy.key)
            if workload is not None and workload.address:
                host = f"[{workload.address}]" if ":" in workload.address else workload.address
                targets[proxy.key] = f"{host}:{self.stats_port}"
        return targets

    async def stats(self, mesh: MeshConfig) -> dict[str, SidecarStats]:
        stats = await self.scraper.scrape(self.scrape_targets(mesh))
        self.protocol_errors.observe(stats.values())
        return stats

    async def runtime_messages(self) -> list[Message]:
        """Analysis messages from the sidecars' counters (double encryption, ...)."""
        built = await self.graph()
        if built is None:
            return []
        mesh, _, views = built
        await self.stats(mesh)
        return protocol_error_messages(mesh, views, self.protocol_errors.active(time.time()))

    def _full_json(self, graph: MeshGraph, active: set[tuple[str, str]]) -> dict[str, Any]:
        key = frozenset(active)
        cached = self._full
        if cached is None or cached[0] is not graph or cached[1] != key:
            cached = self._full = (graph, key, graph.to_json(active))
        return cached[2]

    async def graph_json(self, scope: GraphScope | None = None) -> dict[str, Any]:
        built = await self.graph()
        if built is None:
            empty: dict[str, Any] = {
                "generation": None,
                "nodes": [],
                "edges": [],
                "traffic": {},
                "sidecars": {},
            }
            if self._translator() is not None:
                empty["building"] = "the mesh graph is being built; it shows in a moment"
            return empty
        mesh, graph, views = built
        stats = await self.stats(mesh)
        runtime = protocol_error_messages(mesh, views, self.protocol_errors.active(time.time()))
        active = active_calls(graph, stats)
        calls = graph.calls(active).values()
        # the whole graph's JSON and its cut: pure work over tens of thousands of nodes on
        # a large mesh, done on a thread so the loop keeps serving xDS meanwhile
        active_ids = [c.id for c in calls]
        shown = await asyncio.to_thread(
            lambda: scoped_graph(self._full_json(graph, active), scope or GraphScope(), active_ids)
        )
        kept = {n["id"] for n in shown["nodes"]}
        traffic = edge_traffic(graph, calls, stats, self.scraper.previous)
        drawn = {e["id"] for e in shown["edges"]}
        return {
            **shown,
            "traffic": {k: v for k, v in traffic.items() if k in drawn},
            "sidecars": {
                key: {"scraped_at": sample.time, "error": sample.error or None}
                for key, sample in sorted(stats.items())
                if workload_node_id(key) in kept
            },
            "runtime_messages": [m.as_dict() for m in runtime],
            "generated_at": time.time(),
        }

    # --- HTTP ---------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.Response:
        """`GET /`: the dashboard: mesh graph, proxy sync state, NACKs, analysis, explain."""
        return web.Response(body=self._page, content_type="text/html", charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        """`GET /dashboard/{asset}`: the dashboard's script and style sheet."""
        name = request.match_info["asset"]
        if name not in self._assets:
            raise web.HTTPNotFound()
        return web.Response(body=self._assets[name], content_type=_ASSETS[name], charset="utf-8")

    async def _graph_handler(self, request: web.Request) -> web.Response:
        """`GET /debug/graph`: the mesh graph (?proxy=&namespace=&filter=&limit=, 300 nodes)

        Nodes, edges from config, sidecar traffic; a cut answer says so in `truncated`."""
        try:
            scope = GraphScope.of_query(request.query)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(await self.graph_json(scope))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self._index),
            web.get("/dashboard/{asset}", self._static),
            web.get("/debug/graph", self._graph_handler),
        ]

    async def close(self) -> None:
        building, self._building = self._building, None
        if building is not None and not building[1].done():
            # its thread finishes on its own (daemon); nobody waits for the result
            building[1].cancel()
            await asyncio.gather(building[1], return_exceptions=True)
        await self.scraper.close()
