"""`xdscp explain` cross-checked against real Envoy. A few hundred generated requests go
over the traffic test mesh (tests/traffic/meshes/traffic, plus AuthorizationPolicies and
STRICT mTLS on `reviews`, and a subset whose callers DISABLE TLS) through real sidecars
started by `xdscp up`. For each, what the running control plane's `/debug/explain`
predicts — the possible outcomes (cluster, status class or fault code, allow/deny) with
their shares — must contain what Envoy did, read from the calling sidecar's JSON access
log (paths Envoy normalises included). Weighted and percentage decisions are compared
as sets of outcomes, and over many requests by share within a binomial bound."""

from __future__ import annotations

import json
import math
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.e2e.harness import RunningMesh, wait_until, xdscp_up
from tests.e2e.test_traffic_features import relocate
from tests.explain.test_explain import BROKEN_RULES
from xdscp.cli import main

pytestmark = pytest.mark.e2e

AUTHORIZATION = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-no-admin}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-callers}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/client"]}}]
  - from: [{source: {principals: ["cluster.local/ns/default/sa/open-client"]}}]
    to: [{operation: {methods: [GET]}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews-strict}
spec:
  selector: {matchLabels: {app: reviews}}
  mtls: {mode: STRICT}
"""
# The `guarded` subset's callers send plaintext, which STRICT refuses.
PLAINTEXT_SUBSET = (
    "    trafficPolicy:\n      outlierDetection:",
    "    trafficPolicy:\n      tls: {mode: DISABLE}\n      outlierDetection:",
)


@dataclass(frozen=True)
class Probe:
    """One request shape, sent `times` times."""

    source: str
    path: str
    times: int
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    host: str = "reviews"


PROBES = [
    Probe("default/client", "/", 10),
    Probe("default/client", "/abort", 100),
    Probe("default/client", "/abort", 10, headers=(("end-user", "jason"),)),
    Probe("default/client", "/levels", 100),
    Probe("default/client", "/teapot", 5),
    Probe("default/client", "/old/page", 5),
    Probe("default/client", "/admin/users", 10),
    Probe("default/client", "/", 10, method="POST"),
    Probe("default/client", "/headers/x", 5),
    Probe("default/client", "/hash", 5, headers=(("x-user", "ann"),)),
    Probe("default/client", "/outlier", 10),
    Probe("default/client", "/canary", 5),
    Probe("default/client", "/typo", 5),
    Probe("default/open-client", "/", 10),
    Probe("default/open-client", "/", 10, method="POST"),
    Probe("default/open-client", "/levels", 20),
    Probe("default/open-client", "/admin", 5),
    # paths Envoy normalises before routing and RBAC (normalize_path, no merge_slashes)
    Probe("default/client", "/x/../admin/users", 5),
    Probe("default/client", "/%61dmin", 5),
    Probe("default/client", "/x/%2e%2e/abort", 20),
    Probe("default/client", "//admin", 3),
    Probe("default/client", "/x\\..\\teapot", 3),
    Probe("default/open-client", "/levels/../admin", 3),
]


def _generated(count: int, seed: int = 8) -> list[Probe]:
    """Request shapes drawn at random (seeded, so a failure replays) over the paths,
    methods, callers and headers the mesh's rules tell apart, plus paths no rule names."""
    rng = random.Random(seed)
    paths = [p.path for p in PROBES] + ["/abort/x", "/level", "/levels/2", "/Admin", "/zzz"]
    headers: list[tuple[tuple[str, str], ...]] = [
        (),
        (("end-user", "jason"),),
        (("end-user", "mary"),),
        (("x-user", "bob"),),
    ]
    return [
        Probe(
            rng.choice(["default/client", "default/open-client"]),
            rng.choice(paths),
            1,
            method=rng.choice(["GET", "GET", "POST", "PUT", "DELETE"]),
            headers=rng.choice(headers),
        )
        for _ in range(count)
    ]


PROBES += _generated(120)
TCP_CONNECTIONS = 40


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    work = tmp_path_factory.mktemp("explain")
    config = relocate(work)
    (config / "authorization.yaml").write_text(AUTHORIZATION)
    routing = config / "routing.yaml"
    assert PLAINTEXT_SUBSET[0] in routing.read_text()
    assert BROKEN_RULES[0] in routing.read_text()
    routing.write_text(routing.read_text().replace(*PLAINTEXT_SUBSET).replace(*BROKEN_RULES))
    with xdscp_up(config, work) as running:
        url = _egress(running, "default/client")
        assert wait_until(lambda: _send(url, "reviews", "/ready")[0] == 200, timeout=15), (
            running.log()[-3000:]
        )
        yield running


def _egress(mesh: RunningMesh, workload: str, port: int = 8080) -> str:
    found: str = next(a for a in mesh.workload(workload)["call_through"] if a.endswith(f":{port}"))
    return found


def _send(
    egress: str, host: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://{egress}{path}", method=method, headers={"Host": host, **(headers or {})}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            body: bytes = response.read()
            return int(response.status), body.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 307 is the answer under test


def _predict(mesh: RunningMesh, probe: Probe) -> tuple[int, dict[str, Any]]:
    """What the running control plane's /debug/explain says (status, body)."""
    query = [
        ("from", probe.source),
        ("url", f"http://{probe.host}:8080{probe.path}"),
        ("method", probe.method),
        *(("header", f"{k}: {v}") for k, v in probe.headers),
    ]
    address = f"{mesh.state['debug']}/debug/explain?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _access_log(mesh: RunningMesh, workload: str) -> list[dict[str, Any]]:
    path = Path(mesh.workload(workload)["access_log"])
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def _agrees(outcome: dict[str, Any], line: dict[str, Any]) -> bool:
    """Is what Envoy logged this predicted outcome?"""
    code, flags, cluster = line["response_code"], line["response_flags"], line["upstream_cluster"]
    result = outcome["result"]
    if result == "forwarded":
        return bool(cluster == outcome["cluster"] and 200 <= code < 300)
    if result == "denied":
        return bool(cluster == outcome["cluster"] and code == 403)
    if result == "fault_abort":
        return bool(code == outcome["status"] and "FI" in flags)
    if result == "no_cluster":
        return bool(code == 503 and "NC" in flags)
    if result in ("redirect", "direct_response"):
        return bool(code == outcome["status"] and cluster in ("-", None, ""))
    return bool(code == outcome["status"] and cluster == outcome["cluster"])


def _within(count: int, n: int, percent: float, sigmas: float = 4.5) -> bool:
    p = percent / 100
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1e-9


def test_explain_predicts_what_envoy_does(mesh: RunningMesh) -> None:
    started = time.monotonic()
    # send every probe (interleaved, so a share is not an artefact of ordering), each
    # with a unique query parameter that finds its access log line again
    sent: dict[str, Probe] = {}
    schedule = [(probe, i) for probe in PROBES for i in range(probe.times)]
    schedule.sort(key=lambda item: (item[1], PROBES.index(item[0])))
    for n, (probe, _) in enumerate(schedule):
        marker = f"probe={n}"
        path = probe.path + ("&" if "?" in probe.path else "?") + marker
        _send(_egress(mesh, probe.source), probe.host, path, probe.method, dict(probe.headers))
        sent[marker] = probe
    callers = {p.source for p in PROBES}

    def logged() -> dict[str, dict[str, Any]]:
        found = {}
        for workload in callers:
            for line in _access_log(mesh, workload):
                query = urllib.parse.urlsplit(line.get("path") or "").query
                marker = next((q for q in query.split("&") if q.startswith("probe=")), None)
                if marker in sent:
                    found[marker] = line
        return found

    assert wait_until(lambda: len(logged()) == len(sent), timeout=10), (
        f"{len(logged())} of {len(sent)} requests in the access logs"
    )
    lines = logged()
    by_probe: dict[Probe, list[dict[str, Any]]] = {}
    for marker, probe in sent.items():
        by_probe.setdefault(probe, []).append(lines[marker])

    disagreements: list[str] = []
    compared = 0
    for probe, observed in by_probe.items():
        status, predicted = _predict(mesh, probe)
        assert status == 200, (probe, predicted)
        outcomes = predicted["outcomes"]
        assert abs(sum(o["share"] for o in outcomes) - 100) < 1e-6, outcomes
        counts: Counter[int] = Counter()
        for line in observed:
            compared += 1
            matching = [i for i, o in enumerate(outcomes) if _agrees(o, line)]
            if not matching:
                disagreements.append(
                    f"{probe}: Envoy {line['response_code']} {line['response_flags']}"
                    f" {line['upstream_cluster']}, explain {outcomes}"
                )
            else:
                counts[matching[0]] += 1
        for i, outcome in enumerate(outcomes):
            if not _within(counts[i], len(observed), outcome["share"]):
                disagreements.append(
                    f"{probe}: {outcome['result']} {outcome['cluster']} predicted"
                    f" {outcome['share']}%, Envoy {counts[i]}/{len(observed)}"
                )
    assert not disagreements, "\n".join(disagreements)
    assert compared >= 300
    # an unknown host: explain says so, naming Envoy's answer, and Envoy gives it
    status, answer = _predict(mesh, Probe("default/client", "/", 1, host="ratings"))
    assert status == 400 and "502" in answer["error"]
    assert _send(_egress(mesh, "default/client"), "ratings", "/")[0] == 502
    assert time.monotonic() - started < 40


def test_explain_predicts_tcp_splits_and_authorization(mesh: RunningMesh) -> None:
    """On a TCP port Istio drops a DENY rule's HTTP-only fields (`paths`), so
    reviews-no-admin denies every connection: explain must say so, per cluster of the
    50/50 split, and Envoy must close each connection without an answer."""
    query = urllib.parse.urlencode({"from": "default/client", "url": "tcp://reviews:9090"})
    with urllib.request.urlopen(f"{mesh.state['debug']}/debug/explain?{query}", timeout=10) as r:
        outcomes = json.load(r)["outcomes"]
    before = len([line for line in _access_log(mesh, "default/client") if _is_tcp(line)])
    host, port = _egress(mesh, "default/client", port=9090).rsplit(":", 1)
    answered: list[bool] = []
    for _ in range(TCP_CONNECTIONS):
        received = b""
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: anything\r\nConnection: close\r\n\r\n")
            try:
                while chunk := conn.recv(65536):
                    received += chunk
            except ConnectionResetError:
                pass
        answered.append(received.startswith(b"HTTP/1.1 200"))

    def tcp_lines() -> list[dict[str, Any]]:
        return [line for line in _access_log(mesh, "default/client") if _is_tcp(line)][before:]

    assert wait_until(lambda: len(tcp_lines()) >= TCP_CONNECTIONS, timeout=10)
    # connections were sequential: the caller's log lines are in the same order
    seen = Counter(
        ("forwarded" if ok else "denied", line["upstream_cluster"])
        for ok, line in zip(answered, tcp_lines(), strict=False)
    )
    predicted = {(o["result"], o["cluster"]): o["share"] for o in outcomes}
    assert {result for result, _ in predicted} == {"denied"}, outcomes
    assert all(
        o["detail"].startswith("denied by AuthorizationPolicy/default/reviews-no-admin rules[0]")
        for o in outcomes
    ), outcomes
    assert set(seen) <= set(predicted), (seen, outcomes)
    for key, share in predicted.items():
        assert _within(seen[key], TCP_CONNECTIONS, share), (seen, outcomes)


def _is_tcp(line: dict[str, Any]) -> bool:
    return "|9090|" in str(line.get("upstream_cluster"))


def test_cli_against_the_running_control_plane(mesh: RunningMesh) -> None:
    result = CliRunner().invoke(
        main,
        [
            "explain",
            "--server",
            mesh.state["debug"],
            "--from",
            "default/open-client",
            "-X",
            "POST",
            "http://reviews:8080/",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "RBAC ALLOW (AuthorizationPolicy/default/reviews-callers): no rule matches -> denied"
        in result.stdout
    ), result.stdout
    assert (
        "100%  403  denied at outbound|8080|v1|reviews.default.svc.cluster.local" in result.stdout
    )
