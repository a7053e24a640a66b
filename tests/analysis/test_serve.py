"""`xdscp serve` analyzes every generation: `/debug/analysis` and `/metrics` follow the
config directory as it is edited (a real `xdscp serve` process, real files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.analysis.cases import CASES
from tests.analysis.meshes import Doc, base, vs_reviews, write_mesh
from tests.e2e.harness import free_port


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def _analysis(debug: str, query: str = "") -> dict[str, Any]:
    status, body = _get(f"{debug}/debug/analysis?wait=5{query}")
    assert status == 200, body
    found: dict[str, Any] = json.loads(body)
    return found


def _until(predicate: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        # short: an edit is watched, applied and analyzed in tens of ms, and the cases
        # test waits for ~70 of them in turn
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _gauge(metrics: str) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for line in metrics.splitlines():
        if line.startswith("xdscp_analysis_messages{"):
            labels, value = line.rsplit(" ", 1)
            parts = dict(p.split("=", 1) for p in labels[labels.index("{") + 1 : -1].split(","))
            found[(parts["code"].strip('"'), parts["severity"].strip('"'))] = float(value)
    return found


def _serve(mesh: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    debug = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "xdscp.cli", "--log-json", "serve",
            "--config", str(mesh),
            "--listen", f"127.0.0.1:{free_port()}",
            "--debug", debug.removeprefix("http://"),
            "--ca-dir", str(tmp_path / "ca"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    return process, debug


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=5)
    return output


def _replace(mesh: Path, docs: list[Doc]) -> None:
    """Atomically, so the watcher never reads half a file."""
    staging = write_mesh(mesh.parent / "staging", docs)
    (staging / "mesh.yaml").replace(mesh / "mesh.yaml")


def test_serve_shows_and_counts_the_analysis_of_every_generation(tmp_path: Path) -> None:
    mesh = write_mesh(tmp_path / "mesh", base())
    process, debug = _serve(mesh, tmp_path)
    try:
        _until(lambda: _get(f"{debug}/debug")[0] == 200, "the debug endpoint")
        clean = _analysis(debug)
        assert clean["messages"] == [] and clean["current"] is True
        assert isinstance(clean["generation"], int)
        assert _gauge(_get(f"{debug}/metrics")[1]) == {}

        # a typo in a subset: the canary's 10% would get 503s
        docs = base()
        vs_reviews(docs)["spec"]["http"][1]["route"][1]["destination"]["subset"] = "v3"
        _replace(mesh, docs)

        def broken() -> dict[str, Any] | None:
            found = _analysis(debug)
            return found if found["messages"] and found["current"] else None

        result = _until(broken, "the analysis of the edited mesh")
        assert result["generation"] > clean["generation"]
        [message] = result["messages"]
        assert (message["code"], message["object"], message["field"]) == (
            "XDS0102",
            "VirtualService/shop/reviews",
            "spec.http[1].route[1].destination.subset",
        )
        assert message["source"] == str(mesh / "mesh.yaml")
        assert result["counts"] == {"Error": 1}
        assert _gauge(_get(f"{debug}/metrics")[1]) == {("XDS0102", "Error"): 1.0}
        # per object (the object itself or one it names), as `describe` asks for it
        assert _analysis(debug, "&object=VirtualService/shop/reviews")["messages"] == [message]
        assert _analysis(debug, "&object=DestinationRule/shop/reviews")["messages"] == [message]
        assert _analysis(debug, "&object=ServiceEntry/shop/ratings")["messages"] == []

        _replace(mesh, base())  # fixed: the message and its series go away
        _until(lambda: not _analysis(debug)["messages"], "the fixed mesh to analyze clean")
        _until(lambda: _gauge(_get(f"{debug}/metrics")[1]) == {}, "the gauge to clear")
    finally:
        output = _stop(process)
    assert '"event": "analysis.completed"' in output
    assert "Traceback" not in output


def _found(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((m["code"], m["object"], m["field"]) for m in result["messages"])


def _apply(
    mesh: Path,
    debug: str,
    docs: list[Doc],
    expected: list[tuple[str, str, str]],
    generation: int,
    name: str,
) -> int:
    """Write `docs`, wait for a newer generation's analysis, check it; its generation."""
    _replace(mesh, docs)

    def analyzed() -> dict[str, Any] | None:
        found = _analysis(debug)
        return found if found["generation"] > generation and found["current"] else None

    result = _until(analyzed, f"a new generation for {name!r}")
    # the watcher may apply one edit in two steps: the last one must match
    deadline = time.monotonic() + 10
    while _found(result) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        result = _analysis(debug)
    assert _found(result) == expected, name
    latest: int = result["generation"]
    return latest


def test_serve_reports_every_mistake_of_the_cases(tmp_path: Path) -> None:
    """One running `xdscp serve`, the config directory edited into each test mesh in turn:
    `/debug/analysis` gives exactly the messages the CLI gives (test_cases.py)."""
    mesh = write_mesh(tmp_path / "mesh", base())
    process, debug = _serve(mesh, tmp_path)
    try:
        _until(lambda: _get(f"{debug}/debug")[0] == 200, "the debug endpoint")
        generation = _analysis(debug)["generation"]
        for case in CASES:
            if any(code == "XDS0002" for code, _, _ in case.expected):
                # serve keeps an invalid object's last good version: let it be the base's
                generation = _apply(mesh, debug, base(), [], generation, "the base")
            expected = sorted(case.expected)
            generation = _apply(mesh, debug, case.docs(), expected, generation, case.name)
    finally:
        output = _stop(process)
    assert "Traceback" not in output
