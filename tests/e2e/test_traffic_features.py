"""Traffic management through real Envoy: one `xdscp up` of the mesh in
tests/traffic/meshes/traffic (two callers, `reviews` v1/v2 with an HTTP and a TCP port),
one rule per feature. Every check is what a caller observes: statuses, timings, which
version answered, what the backend received."""

from __future__ import annotations

import json
import math
import random
import shutil
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import RunningMesh, http_get, version_of, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

MESH = Path(__file__).resolve().parents[1] / "traffic" / "meshes" / "traffic"


def relocate(dest: Path) -> Path:
    """Copy the mesh, moving 127.0.x.y to 127.<n>.x.y so runs never collide."""
    octet = random.randint(40, 250)
    target = dest / "mesh"
    shutil.copytree(MESH, target)
    for path in target.glob("*.yaml"):
        text = path.read_text()
        for sub in ("1", "2"):
            text = text.replace(f"127.0.{sub}.", f"127.{octet}.{sub}.")
        path.write_text(text)
    return target


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    work = tmp_path_factory.mktemp("traffic")
    with xdscp_up(relocate(work), work) as running:
        # ready when the client's sidecar routes (its first request can race the config)
        url = _egress(running, "default/client")
        assert wait_until(lambda: _status(url + "ready", host="reviews") == 200, timeout=15), (
            running.log()[-3000:]
        )
        yield running


def _egress(mesh: RunningMesh, workload: str, port: int = 8080) -> str:
    listener = next(a for a in mesh.workload(workload)["call_through"] if a.endswith(f":{port}"))
    return f"http://{listener}/"


def _app(mesh: RunningMesh, workload: str, port: int = 18080) -> str:
    app = next(a for a in mesh.workload(workload)["apps"] if a.endswith(f":{port}"))
    return f"http://{app}"


def request(
    url: str, host: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers={"Host": host, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _status(url: str, host: str, headers: dict[str, str] | None = None) -> int:
    try:
        return request(url, host, headers)[0]
    except OSError:
        return 0


def _body(text: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(text)
    return found


def _within(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def _stat(mesh: RunningMesh, workload: str, name: str) -> int:
    admin = mesh.workload(workload)["admin"]
    status, body = http_get(f"{admin}/stats?filter={name}")
    assert status == 200
    return sum(int(line.rsplit(":", 1)[1]) for line in body.splitlines() if line.strip())


# --- routing -----------------------------------------------------------------------


def test_end_user_jason_sees_v2_everyone_else_v1(mesh: RunningMesh) -> None:
    url = _egress(mesh, "default/client")
    jason = Counter(
        version_of(request(url, "reviews", {"end-user": "jason"})[2]) for _ in range(40)
    )
    others = Counter(
        version_of(request(url, "reviews", {"end-user": "mary"})[2]) for _ in range(40)
    )
    anonymous = Counter(version_of(request(url, "reviews")[2]) for _ in range(40))
    assert jason == {"v2": 40}
    assert others == {"v1": 40}
    assert anonymous == {"v1": 40}


def test_rewrite_and_header_edits_reach_the_backend(mesh: RunningMesh) -> None:
    status, headers, text = request(
        _egress(mesh, "default/client") + "headers/x?a=1", "reviews", {"x-secret": "s3cr3t"}
    )
    assert status == 200
    body = _body(text)
    assert body["path"] == "/rewritten/x?a=1"
    assert body["headers"]["x-mesh"] == "xdscp"
    assert "x-secret" not in body["headers"]
    assert headers.get("x-served-by") == "reviews"


def test_rule_headers_win_over_destination_headers(mesh: RunningMesh) -> None:
    """Envoy applies a weighted destination's edits before the route's: the rule's `set`
    is what arrives (translators/behaviour/routing.py models this order)."""
    url = _egress(mesh, "default/client") + "levels"
    for _ in range(10):
        body = _body(request(url, "reviews")[2])
        assert body["headers"]["x-level"] == "rule"
        assert body["headers"]["x-destination"] == body["version"]


def test_cors_preflight(mesh: RunningMesh) -> None:
    url = _egress(mesh, "default/client") + "cors"

    def preflight(origin: str) -> dict[str, str]:
        req = urllib.request.Request(
            url,
            method="OPTIONS",
            headers={
                "Host": "reviews",
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
            },
        )
        with urllib.request.urlopen(req, timeout=5) as response:
            return {k.lower(): v for k, v in response.headers.items()}

    allowed = preflight("https://shop.example")
    assert allowed["access-control-allow-origin"] == "https://shop.example"
    assert allowed["access-control-allow-methods"] == "GET,POST"
    assert allowed["access-control-max-age"] == "3600"
    assert "access-control-allow-origin" not in preflight("https://evil.example")


def test_redirect_and_direct_response(mesh: RunningMesh) -> None:
    client = _egress(mesh, "default/client")
    req = urllib.request.Request(client + "old?x=1", headers={"Host": "reviews"})

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirects)
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open(req, timeout=5)
    assert raised.value.code == 307
    assert raised.value.headers["location"] == "http://reviews/new?x=1"
    assert request(client + "teapot", "reviews")[::2] == (418, "short and stout")


# --- faults, timeouts, retries --------------------------------------------------


def test_abort_fault_returns_its_status_at_its_percentage(mesh: RunningMesh) -> None:
    url = _egress(mesh, "default/client") + "abort"
    n = 400
    statuses = Counter(request(url, "reviews")[0] for _ in range(n))
    assert set(statuses) <= {200, 418}, statuses
    assert _within(statuses[418], n, 0.5), statuses


def test_delay_fault_adds_its_delay(mesh: RunningMesh) -> None:
    client = _egress(mesh, "default/client")
    elapsed = []
    for path in ("delay", "fast", "delay", "fast"):
        start = time.monotonic()
        status, _, _ = request(client + path, "reviews")
        elapsed.append((path, time.monotonic() - start))
        assert status == 200
    delayed = [t for p, t in elapsed if p == "delay"]
    fast = [t for p, t in elapsed if p == "fast"]
    assert all(0.45 <= t < 2.0 for t in delayed), elapsed  # Envoy timers: ms granularity
    assert all(t < 0.4 for t in fast), elapsed


def test_slow_backend_gets_504_at_the_route_timeout(mesh: RunningMesh) -> None:
    start = time.monotonic()
    status, _, text = request(_egress(mesh, "default/client") + "slow?delay=3", "reviews")
    elapsed = time.monotonic() - start
    assert status == 504, text
    assert 0.25 <= elapsed < 1.5, elapsed
    # the same backend within the timeout is fine
    assert request(_egress(mesh, "default/client") + "slow?delay=0.05", "reviews")[0] == 200


def test_flaky_backend_succeeds_thanks_to_retries(mesh: RunningMesh) -> None:
    """The backend fails every other request: with retries every call succeeds, without
    them about half fail."""
    client = _egress(mesh, "default/client")
    retried = Counter(request(client + "flaky/retried", "reviews")[0] for _ in range(20))
    once = Counter(request(client + "flaky/once", "reviews")[0] for _ in range(20))
    assert retried == {200: 20}
    assert once[503] >= 8, once


def test_default_retry_policy_does_not_retry_503(mesh: RunningMesh) -> None:
    """Istio 1.24+: a route without `retries` keeps the mesh default (connect failures,
    resets) but a 503 the upstream answers is not retried — about half fail, whereas the
    `retryOn: 5xx` rule above turns every call into a 200."""
    client = _egress(mesh, "default/client")
    default = Counter(request(client + "flaky/default", "reviews")[0] for _ in range(20))
    assert default[503] >= 8, default
    assert set(default) == {200, 503}, default


def test_grpc_timeout_header_is_honoured(mesh: RunningMesh) -> None:
    """`grpc_timeout_header_max`: a gRPC request's `grpc-timeout` bounds it even on a
    route without a timeout: Envoy times the call out (answered the gRPC way) instead of
    waiting for the slow backend."""
    client = _egress(mesh, "default/client")
    grpc = {"content-type": "application/grpc", "grpc-timeout": "200m"}
    start = time.monotonic()
    status, headers, _ = request(client + "anything?delay=4", "reviews", grpc)
    elapsed = time.monotonic() - start
    assert elapsed < 3.0, elapsed  # well below the backend's 4 s, with room for a loaded box
    lowered = {k.lower(): v for k, v in headers.items()}
    # The header bounds both the route's timeout and the stream's duration
    # (grpc_timeout_header_max); either of Envoy's timers may fire first.
    assert lowered.get("grpc-message") in (
        "upstream request timeout",
        "downstream duration timeout",
    ), (status, headers)


def test_host_header_with_port_still_routes(mesh: RunningMesh) -> None:
    client = _egress(mesh, "default/client")
    for host in ("reviews:8080", "reviews.default.svc.cluster.local:8080", "reviews"):
        status, _, text = request(client, host, {"end-user": "jason"})
        assert status == 200, (host, text)
        assert version_of(text) == "v2", host


# --- mirroring, load balancing ---------------------------------------------------


def test_mirror_target_receives_copies(mesh: RunningMesh) -> None:
    client = _egress(mesh, "default/client")
    tag = f"mirror/{random.randint(0, 10**9)}"
    for i in range(5):
        status, _, text = request(client + f"{tag}/{i}", "reviews")
        assert status == 200
        assert version_of(text) == "v1"  # the caller sees only the primary's answer

    def copies() -> list[dict[str, str]]:
        seen = json.loads(http_get(_app(mesh, "default/reviews-v2") + "/_seen")[1])
        return [r for r in seen if r["path"].startswith(f"/{tag}/")]

    assert wait_until(lambda: len(copies()) == 5, timeout=5), copies()
    assert all(c["host"].split(":")[0].endswith("-shadow") for c in copies())


def test_consistent_hashing_keeps_a_header_value_on_one_endpoint(mesh: RunningMesh) -> None:
    client = _egress(mesh, "default/client") + "hash"
    placements: dict[str, set[str]] = {}
    for user in (f"user-{i}" for i in range(24)):
        placements[user] = {
            version_of(request(client, "reviews", {"x-user": user})[2]) for _ in range(6)
        }
    assert all(len(v) == 1 for v in placements.values()), placements
    assert {v for vs in placements.values() for v in vs} == {"v1", "v2"}  # both used


def test_outlier_detection_ejects_a_failing_endpoint(mesh: RunningMesh) -> None:
    """v2 answers 500 to `?fail=v2`: after two in a row it is ejected, and every request
    goes to v1 (and succeeds)."""
    url = _egress(mesh, "default/client") + "outlier?fail=v2"
    results = [request(url, "reviews") for _ in range(40)]
    statuses = [status for status, _, _ in results]
    assert statuses.count(500) <= 4, statuses  # at most a few before the ejection
    assert all(s == 200 for s in statuses[-20:]), statuses
    assert {version_of(text) for _, _, text in results[-20:]} == {"v1"}
    ejections = _stat(mesh, "default/client", "guarded.*outlier_detection.ejections_enforced_total")
    assert ejections >= 1


# --- TCP -----------------------------------------------------------------------


def test_tcp_route_splits_connections_by_weight(mesh: RunningMesh) -> None:
    url = _egress(mesh, "default/client", port=9090)
    n = 200
    versions = Counter(version_of(request(url, "anything")[2]) for _ in range(n))
    assert set(versions) <= {"v1", "v2"}, versions
    assert _within(versions["v2"], n, 0.5), versions


# --- unknown hosts -----------------------------------------------------------------


def test_registry_only_blocks_an_unknown_host(mesh: RunningMesh) -> None:
    status, _, _ = request(_egress(mesh, "default/client"), "unknown.example")
    assert status == 502
    # ... while the same request from an ALLOW_ANY caller, to a host given by address,
    # is forwarded there (no service in the mesh names it)
    direct = _app(mesh, "default/reviews-v1").removeprefix("http://")
    status, _, text = request(_egress(mesh, "default/open-client"), direct)
    assert status == 200, text
    assert _body(text)["workload"] == "reviews-v1"
    status, _, text = request(_egress(mesh, "default/client"), direct)
    assert status == 502
