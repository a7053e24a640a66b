"""The dashboard against a real `xdscp up` of the canary example: in a real headless
Chromium (Debian's, driven by Playwright) the page loads without a console error or a
failed request, draws the mesh's workloads and edges with their traffic, the explain
form answers, and a bad edit shows up as a NACK and an analysis message. And the
run-time double-encryption check: TLS bytes sent to a sidecar's HTTP port become an
analysis message naming the object that declared the port HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response, sync_playwright

from tests.cli.hygiene import run_xdscp
from tests.e2e.harness import http_get, relocate_example, version_of, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("XDSCP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXTENSION = "tests.e2e.raw_cluster_extension:extension"
SERVICE = "service:order-service.default.svc.cluster.local"

# A bad edit Envoy rejects (through the test extension, as an EnvoyFilter would) ...
BROKEN_CLUSTER = """\
apiVersion: tests.xdscp.io/v1alpha1
kind: RawCluster
metadata:
  name: broken
spec:
  selector:
    matchLabels:
      app: client
  connectTimeoutSeconds: -1
"""


class PageWatch:
    """Every console error, page error, failed request and error response of a page."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _failed(self, request: Request) -> None:
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")


@contextmanager
def chromium_page(profile: Path) -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _json(url: str) -> Any:
    status, body = http_get(url)
    assert status == 200, (url, status, body)
    return json.loads(body)


def _send_tls(address: str) -> str:
    """What an app calling `https://` through its sidecar's HTTP port does."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="order-service"):
                return "handshake completed"
        except (ssl.SSLError, OSError) as exc:
            return type(exc).__name__


def _messages(debug: str, code: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _json(f"{debug}/debug/analysis")["messages"]
    return [m for m in found if m["code"] == code]


def test_tls_to_a_sidecar_http_port_is_reported_as_double_encryption(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path, "--access-log", "off") as mesh:
        debug = mesh.state["debug"]
        egress = mesh.workload("default/client")["call_through"][0]
        assert http_get(f"http://{egress}/", "order-service")[0] == 200
        assert _messages(debug, "XDS0701") == []

        # The handshake fails: the sidecar's HTTP codec reads a ClientHello and resets.
        assert _send_tls(egress) != "handshake completed"
        assert wait_until(lambda: _messages(debug, "XDS0701"), timeout=10, interval=0.5)
        (message,) = _messages(debug, "XDS0701")
        assert message["severity"] == "Error"
        assert message["object"] == "Sidecar/default/client"
        assert message["field"] == "spec.egress[0].port"
        assert message["source"].endswith("sidecars.yaml")
        assert "double encryption" in message["message"] and egress in message["message"]
        assert "WorkloadEntry/default/client" in message["related"]
        # the same message on the dashboard's data, and plain HTTP still works
        graph = _json(f"{debug}/debug/graph")
        assert [m["code"] for m in graph["runtime_messages"]] == ["XDS0701"]
        assert http_get(f"http://{egress}/", "order-service")[0] == 200


def test_dashboard_in_headless_chromium(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with (
        xdscp_up(config, tmp_path, "--access-log", "off", "--extension", EXTENSION) as mesh,
        chromium_page(tmp_path / "profile") as page,
    ):
        debug = mesh.state["debug"]
        egress = mesh.workload("default/client")["call_through"][0]
        versions = [
            version_of(http_get(f"http://{egress}/", "order-service")[1]) for _ in range(40)
        ]
        assert set(versions) <= {"v1", "v2"} and len(versions) == 40
        watch = PageWatch(page)

        page.goto(f"{debug}/")
        page.wait_for_selector(f'g.edge[data-edge-id="workload:default/client->{SERVICE}"]')
        nodes = page.eval_on_selector_all(
            "svg#mesh g.node", "els => els.map(e => [e.dataset.nodeId, e.classList[1]])"
        )
        assert sorted(nodes) == [
            [SERVICE, "service"],
            ["workload:default/client", "workload"],
            ["workload:default/order-v1", "workload"],
            ["workload:default/order-v2", "workload"],
        ]
        edges = page.eval_on_selector_all(
            "svg#mesh g.edge",
            "els => els.map(e => [e.dataset.source, e.dataset.target, e.textContent])",
        )
        by_pair = {(source, target): text for source, target, text in edges}
        assert set(by_pair) == {
            ("workload:default/client", SERVICE),
            (SERVICE, "workload:default/order-v1"),
            (SERVICE, "workload:default/order-v2"),
        }
        assert "v1 90% · v2 10%" in by_pair[("workload:default/client", SERVICE)]
        assert "v1 · 90%" in by_pair[(SERVICE, "workload:default/order-v1")]
        assert "v2 · 10%" in by_pair[(SERVICE, "workload:default/order-v2")]
        # traffic counted by the client's sidecar: the 40 requests above
        call = page.locator(f'g.edge[data-edge-id="workload:default/client->{SERVICE}"]')
        assert "40 req" in (call.text_content() or "")
        assert "traffic" in (call.get_attribute("class") or "")
        # every proxy connected and in sync
        page.wait_for_function(
            "() => document.querySelectorAll('g.node.workload[data-state=\"synced\"]').length == 3"
        )
        assert page.locator("#proxies tbody tr").count() == 3

        # The explain form asks /debug/explain and shows the split.
        page.wait_for_selector("#explain-form:not([hidden])")
        page.select_option("#explain-from", "default/client")
        page.fill("#explain-url", "http://order-service:8080/orders")
        page.click("#explain-form button[type=submit]")
        page.wait_for_selector("#explain-result .destination")
        explained = page.locator("#explain-result").inner_text()
        assert "VirtualService/default/order-service-routing" in explained
        assert "90% →" in explained and "order-service:8080 v1" in explained
        assert "10% →" in explained and "order-service:8080 v2" in explained

        # the filter keeps matching nodes and their neighbours
        page.fill("#graph-filter", "order-v2")
        page.wait_for_function("() => document.querySelectorAll('svg#mesh g.node').length == 2")
        shown = page.eval_on_selector_all(
            "svg#mesh g.node", "els => els.map(e => e.dataset.nodeId)"
        )
        assert sorted(shown) == [SERVICE, "workload:default/order-v2"]
        page.fill("#graph-filter", "")
        page.wait_for_function("() => document.querySelectorAll('svg#mesh g.node').length == 4")

        page.screenshot(path=str(tmp_path / "dashboard-healthy.png"), full_page=True)
        assert watch.problems == []

        # A bad edit: a route to a subset no DestinationRule defines (analysis) and an
        # object whose Cluster Envoy rejects (NACK).
        routing = config / "routing.yaml"
        routing.write_text(routing.read_text().replace("subset: v2", "subset: v3", 1))
        (config / "broken.yaml").write_text(BROKEN_CLUSTER)
        nack = page.locator("#problems li.nack")
        nack.first.wait_for(timeout=20_000)
        nack_text = nack.first.inner_text()
        assert "default/client rejected CDS" in nack_text
        assert "Extension/raw-cluster" in nack_text
        analysis = page.locator("#problems li.analysis", has_text="XDS0102")
        analysis.first.wait_for(timeout=20_000)
        analysis_text = analysis.first.inner_text()
        assert "VirtualService/default/order-service-routing" in analysis_text
        assert "v3" in analysis_text and "routing.yaml" in analysis_text
        page.wait_for_selector('g.node[data-node-id="workload:default/client"][data-state="nack"]')
        client_row = page.locator('#proxies tr[data-proxy="default/client"]')
        assert "NACK" in client_row.inner_text()

        # The same NACK through the real CLI, naming the object the rejected Cluster came
        # from, and the Envoy diff showing exactly that Cluster as not running.
        status = run_xdscp("proxy-status", "default/client", "--server", debug)
        assert status.returncode == 0, status.stderr
        assert "NACK default/client CDS" in status.stdout, status.stdout
        assert "resources: raw-broken" in status.stdout, status.stdout
        assert "Extension/raw-cluster" in status.stdout, status.stdout
        admin = mesh.workload("default/client")["admin"]
        diff = run_xdscp(
            "proxy-config", "all", "default/client", "--server", debug, "--envoy-admin", admin
        )
        assert diff.returncode == 1, diff.stdout + diff.stderr
        assert re.search(
            r"^clusters\s+raw-broken\s+missing in Envoy\s+\S*Extension/raw-cluster",
            diff.stdout,
            re.MULTILINE,
        ), diff.stdout
        # the log line of that NACK: Envoy's message on one line, not a dumped protobuf
        logged = [line for line in mesh.log().splitlines() if " xds.nack " in line]
        assert logged, mesh.log()
        assert all(
            "positive duration" in line and "proxy=default/client" in line for line in logged
        )
        assert not any("error_detail" in line or "type_url" in line for line in logged), logged

        page.screenshot(path=str(tmp_path / "dashboard-broken.png"), full_page=True)
        shots = os.environ.get("XDSCP_SCREENSHOTS")
        if shots:  # to look at them: XDSCP_SCREENSHOTS=/some/dir pytest ...
            for name in ("dashboard-healthy.png", "dashboard-broken.png"):
                shutil.copy(tmp_path / name, Path(shots) / name)
        assert watch.problems == []
