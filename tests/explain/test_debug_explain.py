"""`GET /debug/explain` of a running control plane answers from its live translation."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.explain.plane import traffic_plane
from tests.explain.test_explain import V1


async def test_debug_explain_answers_json_and_one_line_errors(tmp_path: Path) -> None:
    async with traffic_plane(tmp_path) as plane, aiohttp.ClientSession(plane.debug_url) as http:
        query = {
            "from": "default/client",
            "url": "http://reviews:8080/abort",
            "header": "end-user: mary",
        }
        async with http.get("/debug/explain", params=query) as resp:
            assert resp.status == 200
            text = await resp.text()
            found = await resp.json()
        assert text.startswith("{\n")  # pretty-printed for a terminal
        assert found["route"]["object"] == "VirtualService/default/reviews"
        assert found["route"]["rule"] == "http[1]"
        assert found["route"]["skipped"][0]["failed"] == [
            "header end-user: wants exact 'jason', got 'mary'"
        ]
        assert {(o["result"], o["status_class"], o["cluster"]) for o in found["outcomes"]} == {
            ("fault_abort", "4xx", ""),
            ("forwarded", "app", V1),
        }
        for params, message in [
            ({"from": "default/ghost", "url": "http://reviews:8080/"}, "no workload"),
            ({"from": "default/client"}, "expected ?from="),
            ({"from": "default/client", "url": "http://nope:8080/"}, "unknown host"),
        ]:
            async with http.get("/debug/explain", params=params) as resp:
                assert resp.status == 400
                assert message in (await resp.json())["error"]
        async with http.get("/debug") as resp:
            index = {e["path"]: e["description"] for e in await resp.json()}
        assert index["/debug/explain"].startswith("the path of one request")
