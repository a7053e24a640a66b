"""The dashboard's HTTP side on a real debug server: the page and its assets (all in
the package, nothing from another origin), `/debug/graph`, and the scraper against a
real HTTP stats endpoint (query, timeout, caching)."""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.e2e.harness import REPO
from tests.translators.helpers import docs, mesh_of, workload_entry
from translators.mesh import MeshOptions
from translators.translate import MeshTranslator
from xdscp.dashboard.scrape import STATS_FILTER, SidecarScraper
from xdscp.dashboard.web import Dashboard, build_graph
from xdscp.debug import start_debug_server
from xdscp.server.status import StatusBook
from xdscp.sources.files import DirectorySource

STATIC = Path(str(resources.files("xdscp.dashboard") / "static"))
V1 = "outbound|8080|v1|order-service.default.svc.cluster.local"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port: int = runner.addresses[0][1]
    return runner, port


@pytest.fixture
async def stats_server() -> AsyncIterator[tuple[int, list[dict[str, str]]]]:
    """A sidecar's stats port as the scraper sees it; records every query."""
    queries: list[dict[str, str]] = []

    async def stats(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        body = f'envoy_cluster_upstream_rq_total{{envoy_cluster_name="{V1}"}} {len(queries)}\n'
        return web.Response(text=body)

    app = web.Application()
    app.router.add_get("/stats/prometheus", stats)
    runner, port = await _serve(app)
    yield port, queries
    await runner.cleanup()


def test_every_asset_ships_in_the_package_and_nothing_is_fetched_elsewhere() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["xdscp.dashboard"]
    files = sorted(p.name for p in STATIC.iterdir())
    assert files == ["dashboard.css", "dashboard.js", "index.html"]
    for name in files:
        assert any(Path("static", name).match(p) for p in patterns), name
        # the SVG namespace is a name, never fetched
        text = (STATIC / name).read_text().replace('"http://www.w3.org/2000/svg"', "")
        # no CDN, font or image from another origin: the page works offline
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), name
        assert "@import" not in text and "<iframe" not in text


async def test_page_assets_and_graph_on_the_debug_port(tmp_path: Path) -> None:
    mesh = DirectorySource(REPO / "examples" / "canary", MeshOptions(local_mode=True)).load()
    translator = MeshTranslator(mesh)
    status = StatusBook()
    dashboard = Dashboard(lambda: translator, status)
    runner, port = await start_debug_server(
        status, CollectorRegistry(), "127.0.0.1:0", extra_routes=dashboard.routes()
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/") as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                page = await response.text()
            for asset in re.findall(r'(?:src|href)="(/dashboard/[^"]+)"', page):
                async with http.get(f"{base}{asset}") as response:
                    assert response.status == 200, asset
                    assert response.content_type in ("text/javascript", "text/css")
            assert {"/dashboard/dashboard.js", "/dashboard/dashboard.css"} <= set(
                re.findall(r'(?:src|href)="(/dashboard/[^"]+)"', page)
            )
            async with http.get(f"{base}/dashboard/secrets.txt") as response:
                assert response.status == 404
            async with http.get(f"{base}/debug/graph") as response:
                graph = await response.json()
            async with http.get(f"{base}/debug") as response:
                listed = {e["path"] for e in await response.json()}
                assert {"/", "/debug/graph"} <= listed
    finally:
        await runner.cleanup()
        await dashboard.close()
    assert len(graph["nodes"]) == 4 and len(graph["edges"]) == 3
    # no proxy connected: nothing to scrape, no traffic, no run-time message
    assert graph["traffic"] == {} and graph["sidecars"] == {} and graph["runtime_messages"] == []
    built, again = await dashboard.graph(), await dashboard.graph()
    assert built is not None and again is not None and built[1] is again[1]  # built once


async def test_graph_before_any_config_is_empty() -> None:
    dashboard = Dashboard(lambda: None, StatusBook())
    assert await dashboard.graph_json() == {
        "generation": None,
        "nodes": [],
        "edges": [],
        "traffic": {},
        "sidecars": {},
    }
    assert await dashboard.runtime_messages() == []


async def test_scraper_filters_caches_and_reports_failures(
    stats_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, queries = stats_server
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    scraper = SidecarScraper(timeout=0.3, max_age=60.0)
    targets = {
        "default/client": f"127.0.0.1:{port}",
        "default/silent": f"127.0.0.1:{silent_port}",  # accepts, never answers
    }
    try:
        first = await scraper.scrape(targets)
        assert first["default/client"].requests == {V1: 1.0}
        assert first["default/silent"].error == "timed out"
        assert queries == [{"usedonly": "", "filter": STATS_FILTER}]
        # within max_age: the cached result, no second request (concurrent callers share)
        again = await asyncio.gather(scraper.scrape(targets), scraper.scrape(targets))
        assert again[0]["default/client"] is first["default/client"] and len(queries) == 1
        scraper.max_age = 0.0
        await scraper.scrape(targets)
        assert len(queries) == 2
        previous = scraper.previous("default/client")
        assert previous is first["default/client"]
        assert scraper.previous("default/silent") is None
    finally:
        await scraper.close()
        silent.close()
        await silent.wait_closed()


def test_proxy_kinds_follow_istio_signals() -> None:
    """Gateways are gateways (though marked "no injection"); a workload labelled out of
    the mesh (`security.istio.io/tlsMode`) or opted out runs no proxy; others a sidecar."""
    mesh = mesh_of(
        docs(
            workload_entry("ingress", "10.9.0.1", "default", "{istio: ingressgateway}"),
            workload_entry("app", "10.9.0.2", "default", "{app: a}"),
            workload_entry(
                "legacy", "10.9.0.3", "default", "{security.istio.io/tlsMode: disabled}"
            ),
            """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: opted-out
  namespace: default
  annotations: {sidecar.istio.io/inject: "false"}
spec: {address: 10.9.0.4}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
""",
        )
    )
    built = build_graph(MeshTranslator(mesh))
    kinds = {n["key"]: n["proxy"] for n in built.graph.nodes.values() if n["kind"] == "workload"}
    assert kinds == {
        "default/ingress": "gateway",
        "default/app": "sidecar",
        "default/legacy": "none",
        "default/opted-out": "none",
    }
    assert set(built.views) == {"default/ingress", "default/app"}
