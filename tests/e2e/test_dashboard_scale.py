"""The dashboard on a mesh too large to draw, against a real `xdscp serve`: `/debug/graph`
answers a bounded piece with a message saying what was cut and how to narrow it, the
page shows that message and narrows through the server with its filter box (headless
Chromium), and a gateway proxy is drawn as a gateway, not as a workload without a
sidecar."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from benchmarks.serve_process import write_mesh
from tests.e2e.harness import REPO, free_port, wait_until
from tests.e2e.test_dashboard import PageWatch, chromium_page

pytestmark = pytest.mark.e2e

SERVICES = 400  # 1,201 nodes: 400 services, 800 workloads, the client
GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ingress
  annotations: {sidecar.istio.io/inject: "false"}
spec:
  address: 127.9.0.9
  labels: {istio: ingressgateway}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ingress-routes}
spec:
  hosts: ["*"]
  gateways: [ingress]
  http:
  - route: [{destination: {host: svc-1, subset: v1}}]
"""
INGRESS = "workload:default/ingress"
SVC_1 = "service:svc-1.default.svc.cluster.local"


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@contextmanager
def serving(config: Path, work: Path) -> Iterator[str]:
    debug = free_port()
    log = work / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xdscp.cli", "serve", "--config", str(config),
             "--listen", f"127.0.0.1:{free_port()}", "--debug", f"127.0.0.1:{debug}",
             "--ca-dir", str(work / "ca"), "--insecure"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    url = f"http://127.0.0.1:{debug}"
    try:

        def graph_ready() -> bool:
            try:
                status, found = get(f"{url}/debug/graph")
            except OSError:
                return False
            return status == 200 and bool(found["nodes"])

        assert wait_until(graph_ready, 120, 0.5), log.read_text()[-3000:]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("scale")
    config = work / "mesh"
    write_mesh(config, SERVICES)
    (config / "gateway.yaml").write_text(GATEWAY)
    with serving(config, work) as url:
        yield url


def test_graph_answer_is_bounded_and_says_how_to_narrow_it(server: str) -> None:
    status, graph = get(f"{server}/debug/graph")
    assert status == 200
    assert graph["total_nodes"] == 3 * SERVICES + 2
    assert len(graph["nodes"]) <= 300
    truncated = graph["truncated"]
    assert truncated["shown"] == len(graph["nodes"])
    assert truncated["message"].startswith(f"showing {len(graph['nodes'])} of {3 * SERVICES + 2}")
    assert "?namespace=NS&filter=TEXT" in truncated["message"]
    kept = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in kept and e["target"] in kept for e in graph["edges"])
    # whole neighbourhoods: a service drawn comes with the workloads behind it
    assert all(
        {f"workload:default/{n['name']}-v1", f"workload:default/{n['name']}-v2"} <= kept
        for n in graph["nodes"]
        if n["kind"] == "service" and n["name"] != "svc-1"
    )
    status, graph = get(f"{server}/debug/graph?filter=svc-12&limit=1000")
    assert status == 200 and "truncated" not in graph
    names = {n["name"] for n in graph["nodes"]}
    assert {"svc-12", "svc-12-v1", "svc-120-v2", "svc-129"} <= names
    assert "svc-13" not in names
    status, answer = get(f"{server}/debug/graph?limit=lots")
    assert (status, answer) == (400, {"error": "limit must be a number of nodes, got 'lots'"})


def test_a_gateway_is_a_gateway(server: str) -> None:
    status, graph = get(f"{server}/debug/graph?filter=ingress")
    assert status == 200
    node = next(n for n in graph["nodes"] if n["id"] == INGRESS)
    assert (node["proxy"], node["sidecar"], node["layer"]) == ("gateway", False, 0)
    assert node["entries"] == [{"port": 8080, "host": ""}]
    # the gateway's routes are its calls, as a sidecar's are
    assert any(e["source"] == INGRESS and e["target"] == SVC_1 for e in graph["edges"])
    # scoped to the gateway proxy: it, the service its route reaches, that service's pods
    around = get(f"{server}/debug/graph?proxy=default/ingress")[1]
    assert sorted(n["id"] for n in around["nodes"]) == [
        SVC_1,
        INGRESS,
        "workload:default/svc-1-v1",
        "workload:default/svc-1-v2",
    ]
    client = get(f"{server}/debug/graph?filter=client")[1]
    assert next(n for n in client["nodes"] if n["id"] == "workload:default/client")["proxy"] == (
        "sidecar"
    )


def test_the_page_shows_the_cut_and_narrows_through_the_server(server: str, tmp_path: Path) -> None:
    with chromium_page(tmp_path / "profile") as page:
        watch = PageWatch(page)
        page.goto(f"{server}/")
        page.wait_for_function(
            "() => document.getElementById('graph-note').textContent.includes('showing')"
        )
        note = page.locator("#graph-note").inner_text()
        assert f"of {3 * SERVICES + 2} nodes" in note and "the filter box" in note
        assert page.locator("svg#mesh g.node").count() <= 300
        page.fill("#graph-filter", "ingress")
        page.wait_for_selector(f'g.node.gateway[data-node-id="{INGRESS}"]', timeout=15_000)
        started = time.monotonic()
        page.wait_for_function(
            "() => !document.getElementById('graph-note').textContent.includes('showing')",
            timeout=15_000,
        )
        assert time.monotonic() - started < 15
        gateway = page.locator(f'g.node[data-node-id="{INGRESS}"]')
        assert "gateway · " in (gateway.locator("text.detail").text_content() or "")
        # no proxy connected: a gateway's state is its proxy's ("offline"), as a sidecar's
        assert gateway.get_attribute("data-state") == "offline"
        edge = f'g.edge[data-source="{INGRESS}"][data-target="{SVC_1}"]'
        assert page.locator(edge).count() == 1
        # the proxies table lists it as a gateway
        row = page.locator('#proxies tbody tr[data-proxy="default/ingress"]')
        assert row.get_attribute("data-kind") == "gateway"
        assert "gateway" in (row.locator("td").first.text_content() or "")
        # the explain form addresses a gateway where requests enter it: its own listener
        page.select_option("#explain-from", "default/ingress")
        assert page.input_value("#explain-url") == "http://127.9.0.9:8080/"
        assert watch.problems == []
