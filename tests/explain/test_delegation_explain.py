"""`xdscp explain` on routes a root VirtualService delegates: the answer names the root
and its rule, the delegate VirtualService and the delegate's rule (not the merged rule
numbering the translator uses), for the matched route and for the routes tried first."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from tests.e2e.harness import free_port
from tests.e2e.test_dashboard import PageWatch, chromium_page
from tests.explain.test_explain import TRAFFIC, V1, V2
from xdscp.cli import main
from xdscp.identity import IdentitySettings
from xdscp.service import ControlPlane

ROUTING = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-root, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: health
    match: [{uri: {exact: /health}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /api}}]
    delegate: {name: reviews-api, namespace: team}
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-api, namespace: team}
spec:
  http:
  - name: tester
    match: [{headers: {x-user: {exact: tester}}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v2}}]
  - match: [{uri: {prefix: /api/v1}}, {uri: {prefix: /api/v2}}]
    route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]
"""
ROOT = "VirtualService/default/reviews-root"
DELEGATE = "VirtualService/team/reviews-api"


def delegating_mesh(tmp_path: Path) -> Path:
    """The traffic mesh with its `reviews` VirtualService replaced by a delegating root."""
    config = tmp_path / "mesh"
    shutil.copytree(TRAFFIC, config)
    routing = (config / "routing.yaml").read_text()
    keep = [doc for doc in routing.split("\n---\n") if "kind: VirtualService" not in doc]
    (config / "routing.yaml").write_text("\n---\n".join([*keep, ROUTING]))
    return config


def explain_json(config: Path, url: str, *headers: str) -> dict[str, object]:
    args = ["explain", "-f", str(config), "--from", "default/client", "-o", "json", url]
    for header in headers:
        args += ["-H", header]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return delegating_mesh(tmp_path_factory.mktemp("delegation"))


def test_named_delegate_rule(mesh: Path) -> None:
    found = explain_json(mesh, "http://reviews:8080/api/x", "x-user: tester")
    route = found["route"]
    assert isinstance(route, dict)
    assert (route["object"], route["rule"]) == (ROOT, "http[1]")
    assert (route["delegate"], route["delegate_rule"]) == (DELEGATE, "http[0] 'tester'")
    assert [d["cluster"] for d in found["destinations"]] == [V2]  # type: ignore[attr-defined]
    # the root's own rule before it is named as the root's, not as a merged index
    assert [(s["object"], s["rule"], s["delegate"]) for s in route["skipped"]] == [
        (ROOT, "http[0]", "")
    ]


def test_delegate_rule_with_several_match_blocks(mesh: Path) -> None:
    found = explain_json(mesh, "http://reviews:8080/api/v2/books")
    route = found["route"]
    assert isinstance(route, dict)
    assert (route["rule"], route["delegate"], route["delegate_rule"]) == (
        "http[1]",
        DELEGATE,
        "http[1].match[1]",
    )
    skipped = route["skipped"]
    assert [(s["rule"], s["delegate"], s["delegate_rule"]) for s in skipped] == [
        ("http[0]", "", ""),
        ("http[1]", DELEGATE, "http[0] 'tester'"),
        ("http[1]", DELEGATE, "http[1].match[0]"),
    ]
    assert skipped[1]["failed"] == ["header x-user: wants exact 'tester', got none"]


def test_root_rule_after_the_delegation_keeps_its_index(mesh: Path) -> None:
    found = explain_json(mesh, "http://reviews:8080/other")
    route = found["route"]
    assert isinstance(route, dict)
    # the merged list has 4 rules before it; the root as written has 2
    assert (route["object"], route["rule"], route["delegate"]) == (ROOT, "http[2]", "")
    assert [d["cluster"] for d in found["destinations"]] == [V1]  # type: ignore[attr-defined]


def test_text_names_root_and_delegate(mesh: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["explain", "-f", str(mesh), "--from", "default/client", "http://reviews:8080/api/v2/x"],
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    # the route's own name numbers the merged rules (2); the answer names the rules as written
    assert f"Route 'default.reviews-root.2.1': {ROOT} http[1]" in out, out
    assert f"delegated to {DELEGATE} http[1].match[1]" in out
    assert f"skipped {ROOT} http[1] -> {DELEGATE} http[0] 'tester' ('tester'): header x-user" in out
    assert "Traceback" not in result.output


def _dashboard_explains(debug_url: str, profile: Path) -> str:
    """The dashboard's explain form in headless Chromium: what it shows for a request
    a delegate rule takes (and no console error or failed request on the way)."""
    with chromium_page(profile) as page:
        watch = PageWatch(page)
        page.goto(f"{debug_url}/")
        page.wait_for_selector("#explain-form:not([hidden])")
        page.wait_for_selector('#explain-from option[value="default/client"]', state="attached")
        page.select_option("#explain-from", "default/client")
        page.fill("#explain-url", "http://reviews:8080/api/v2/x")
        page.click("#explain-form button[type=submit]")
        page.wait_for_selector("#explain-result dd")
        shown = page.locator("#explain-result dl").inner_text()
        assert watch.problems == [], watch.problems
        return shown


@pytest.mark.e2e
async def test_running_plane_and_dashboard_name_the_delegate(mesh: Path, tmp_path: Path) -> None:
    plane = ControlPlane(
        mesh,
        f"127.0.0.1:{free_port()}",
        "127.0.0.1:0",
        identity_settings=IdentitySettings(ca_dir=tmp_path / "ca"),
    )
    await plane.start()
    try:
        query = {"from": "default/client", "url": "http://reviews:8080/api/x"}
        async with (
            aiohttp.ClientSession(plane.debug_url) as http,
            http.get("/debug/explain", params={**query, "header": "x-user: tester"}) as resp,
        ):
            assert resp.status == 200
            route = (await resp.json())["route"]
        assert (route["object"], route["rule"], route["delegate"], route["delegate_rule"]) == (
            ROOT,
            "http[1]",
            DELEGATE,
            "http[0] 'tester'",
        )
        shown = await asyncio.to_thread(_dashboard_explains, plane.debug_url, tmp_path / "p")
    finally:
        await plane.stop()
    assert f"delegated to\n{DELEGATE} http[1].match[1]" in shown, shown
    assert f"{ROOT} http[1] → {DELEGATE} http[0] 'tester'" in shown, shown
