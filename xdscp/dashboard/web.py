"""The dashboard on the debug port: `GET /` (the page), `/dashboard/<asset>` (its script
and style, shipped in the package: it works offline) and `GET /debug/graph` (the mesh
graph with traffic, as JSON, which the page polls).

The page reads the other debug endpoints itself (`/debug/proxies`, `/debug/config`,
`/debug/analysis`, `/debug/explain`), so each keeps one owner and one meaning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from translators.analysis import Message
from translators.analysis.runtime import protocol_error_messages
from translators.ir import ProxyView
from translators.mesh import MeshConfig, Workload
from translators.naming import SIDECAR_INJECT_ANNOTATION, STATS_PORT
from translators.translate import MeshTranslator
from xdscp.dashboard.graph import MeshGraph, mesh_graph
from xdscp.dashboard.protocol_errors import ProtocolErrorTracker
from xdscp.dashboard.scrape import SidecarScraper, SidecarStats
from xdscp.dashboard.traffic import active_calls, edge_traffic
from xdscp.server.status import StatusBook

_ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


def _asset(name: str) -> bytes:
    return (resources.files("xdscp.dashboard") / "static" / name).read_bytes()


def has_sidecar(workload: Workload) -> bool:
    return bool(workload.address) and (
        workload.annotations.get(SIDECAR_INJECT_ANNOTATION, "true").lower() != "false"
    )


class Dashboard:
    """Builds the graph once per mesh generation and scrapes the connected sidecars."""

    def __init__(
        self,
        translator: Callable[[], MeshTranslator | None],
        status: StatusBook,
        scraper: SidecarScraper | None = None,
        stats_port: int = STATS_PORT,
    ) -> None:
        self._translator = translator
        self.status = status
        self.scraper = scraper or SidecarScraper()
        self.stats_port = stats_port
        self.protocol_errors = ProtocolErrorTracker()
        self._graph: tuple[MeshTranslator, MeshGraph, dict[str, ProxyView]] | None = None
        self._page = _asset("index.html")
        self._assets = {name: _asset(name) for name in _ASSETS}

    # --- data ---------------------------------------------------------------
    def graph(self) -> tuple[MeshConfig, MeshGraph, dict[str, ProxyView]] | None:
        """The current generation's graph and views (built on first use, then kept)."""
        translator = self._translator()
        if translator is None:
            return None
        cached = self._graph
        if cached is None or cached[0] is not translator:
            views = {
                key: translator.view(workload)
                for key, workload in translator.mesh.workloads.items()
                if has_sidecar(workload)
            }
            cached = self._graph = (translator, mesh_graph(translator.mesh, views), views)
        return translator.mesh, cached[1], cached[2]

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
        built = self.graph()
        if built is None:
            return []
        mesh, _, views = built
        await self.stats(mesh)
        return protocol_error_messages(mesh, views, self.protocol_errors.active(time.time()))

    async def graph_json(self) -> dict[str, Any]:
        built = self.graph()
        if built is None:
            return {"generation": None, "nodes": [], "edges": [], "traffic": {}, "sidecars": {}}
        mesh, graph, views = built
        stats = await self.stats(mesh)
        runtime = protocol_error_messages(mesh, views, self.protocol_errors.active(time.time()))
        active = active_calls(graph, stats)
        calls = graph.calls(active).values()
        return {
            **graph.to_json(active),
            "traffic": edge_traffic(graph, calls, stats, self.scraper.previous),
            "sidecars": {
                key: {"scraped_at": sample.time, "error": sample.error or None}
                for key, sample in sorted(stats.items())
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
        """`GET /debug/graph`: the mesh graph (nodes, edges from config, sidecar traffic)."""
        return web.json_response(await self.graph_json())

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self._index),
            web.get("/dashboard/{asset}", self._static),
            web.get("/debug/graph", self._graph_handler),
        ]

    async def close(self) -> None:
        await self.scraper.close()
