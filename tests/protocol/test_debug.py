"""The debug HTTP endpoints surface what the status book and metrics recorded."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from xdscp.debug import start_debug_server
from xdscp.debug.http import STATUS_KEY

from .conftest import Harness


async def test_debug_proxies_shows_nack_and_metrics_count(ads: Harness) -> None:
    good, pushed = await ads.nack_broken_cluster("cluster broken: bad")

    async def config_errors(request: web.Request) -> web.Response:
        return web.json_response({"proxies": len(request.app[STATUS_KEY])})

    runner, port = await start_debug_server(
        ads.status,
        ads.metrics.registry,
        "127.0.0.1:0",
        extra_routes=[web.get("/debug/config_errors", config_errors)],
    )
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/debug/proxies") as resp:
                assert resp.status == 200
                proxies = await resp.json()
            cds = proxies["proxy-1"]["types"]["CDS"]
            assert cds["version_acked"] == good.version_info
            assert cds["version_sent"] == pushed.version_info
            assert cds["last_nack"]["error"] == "cluster broken: bad"
            assert cds["last_nack"]["provenance"] == ["ServiceEntry/default/broken"]
            assert cds["last_nack"]["time"]

            async with http.get("/debug/nacks") as resp:
                nacks = await resp.json()
            assert [(n["proxy"], n["type"]) for n in nacks] == [("proxy-1", "CDS")]

            async with http.get("/debug/config_errors") as resp:
                assert await resp.json() == {"proxies": 1}

            async with http.get("/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
    finally:
        await runner.cleanup()
    assert 'xdscp_xds_pushes_total{type="CDS"} 2.0' in text
    assert 'xdscp_xds_nacks_total{type="CDS"} 1.0' in text
    assert 'xdscp_xds_push_ack_seconds_count{type="CDS"} 1.0' in text
    assert "xdscp_connected_proxies 1.0" in text
    assert 'xdscp_xds_streams{api="sotw"} 1.0' in text
