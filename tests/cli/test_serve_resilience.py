"""A running `xdscp serve` (a real subprocess, as an operator runs it) keeps its config
loop alive through files that once froze it, and applies the fix written after them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from benchmarks.meshgen import service_docs as meshgen_docs
from tests.cli.hygiene import run_xdscp
from tests.e2e.harness import free_port, http_get

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 20.0

VS = """\
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: %s
spec:
  hosts: [order-service]
  http:
  - route:
    - destination: {host: order-service, subset: v1}
      weight: %d
    - destination: {host: order-service, subset: v2}
      weight: 10
"""

# each of these once raised inside the reload and ended the watcher for good
DEEP = "apiVersion: v1\nkind: " + "[" * 600 + "]" * 600 + "\n"
MIXED_KEYS = (
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: mixed}\n"
    "1: x\nfoo: y\n"
)
HUGE_WEIGHT = VS % ("huge-weight", 2**40)
BAD_FILES = {"deep.yaml": DEEP, "keys.yaml": MIXED_KEYS, "weight.yaml": HUGE_WEIGHT}


def get_json(url: str) -> tuple[int, Any]:
    """Status and JSON body, error statuses included (a 503 from /ready is an answer)."""
    code, body = http_get(url)
    return code, json.loads(body)


@contextmanager
def serving(config: Path, work: Path) -> Iterator[str]:
    """`xdscp serve` on `config`; yields the debug URL once it answers."""
    debug = f"127.0.0.1:{free_port()}"
    log_path = work / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xdscp.cli",
                "serve",
                "--config",
                str(config),
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--debug",
                debug,
                "--ca-dir",
                str(work / "ca"),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ),
            cwd=REPO,
        )
    url = f"http://{debug}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            assert process.poll() is None, f"serve exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"serve not up:\n{log_path.read_text()}"
            try:
                get_json(f"{url}/ready")
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def config_after(url: str, generation: int) -> dict[str, Any]:
    """/debug/config once its generation has moved past `generation`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        _, status = get_json(f"{url}/debug/config")
        if status["generation"] > generation:
            return dict(status)
        time.sleep(0.1)
    raise AssertionError(f"config generation stuck at {generation}")


def canary(tmp_path: Path) -> Path:
    config = tmp_path / "mesh"
    shutil.copytree(REPO / "examples" / "canary", config)
    return config


def test_serve_survives_each_freezing_file_and_applies_the_fix(tmp_path: Path) -> None:
    config = canary(tmp_path)
    with serving(config, tmp_path) as url:
        code, ready = get_json(f"{url}/ready")
        assert code == 200 and ready["ready"], ready
        _, status = get_json(f"{url}/debug/config")
        generation = status["generation"]
        for name, text in BAD_FILES.items():
            (config / name).write_text(text)
            status = config_after(url, generation)
            generation = status["generation"]
            if name != "weight.yaml":  # valid YAML: it fails only when translated for a proxy
                assert any(e["source"].endswith(name) for e in status["errors"]), status
            assert status["source"]["up"], status["source"]
            assert get_json(f"{url}/ready")[0] == 200
        # the fix: the bad files go, a new object arrives; it must be in force
        for name in BAD_FILES:
            (config / name).unlink()
        (config / "fixed.yaml").write_text(VS % ("fixed-routing", 70))
        deadline = time.monotonic() + WAIT_S
        while True:
            status = config_after(url, generation)
            generation = status["generation"]
            if "VirtualService/default/fixed-routing" in status["objects"]:
                break
            assert time.monotonic() < deadline, status
        assert status["errors"] == [], status["errors"]
        metrics = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
        assert "xdscp_config_source_up 1.0" in metrics


def test_serve_starts_on_a_directory_holding_them(tmp_path: Path) -> None:
    config = canary(tmp_path)
    for name, text in BAD_FILES.items():
        (config / name).write_text(text)
    with serving(config, tmp_path) as url:
        code, ready = get_json(f"{url}/ready")
        assert code == 200, ready
        _, status = get_json(f"{url}/debug/config")
        assert "VirtualService/default/order-service-routing" in status["objects"]
        failed = {Path(e["source"]).name for e in status["errors"]}
        assert {"deep.yaml", "keys.yaml"} <= failed


def test_validate_names_each_problem_without_a_traceback(tmp_path: Path) -> None:
    config = canary(tmp_path)
    for name, text in BAD_FILES.items():
        (config / name).write_text(text)
    result = run_xdscp("validate", str(config))
    assert result.returncode == 1, result.stderr
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert "deep.yaml[doc 0]: document: YAML error (line 2" in out
    assert "nested more than 100 levels deep" in out
    assert "keys.yaml[doc 0]: VirtualService default/mixed: field 1: unknown field" in out


def test_debug_answers_while_a_large_file_loads(tmp_path: Path) -> None:
    """Files are read off the event loop: the debug port (and the xDS port, on the same
    loop) keeps answering within a second while thousands of objects load."""
    config = canary(tmp_path)
    docs = [doc for i in range(1200) for doc in meshgen_docs(i)]
    big = yaml.dump_all(docs, Dumper=yaml.CSafeDumper)
    with serving(config, tmp_path) as url:
        _, status = get_json(f"{url}/debug/config")
        generation = status["generation"]
        (tmp_path / "big.yaml").write_text(big)
        shutil.move(tmp_path / "big.yaml", config / "big.yaml")  # atomic, as documented
        slowest = 0.0
        answered_while_loading = 0
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "the large file was never applied"
            started = time.monotonic()
            code, ready = get_json(f"{url}/ready")
            slowest = max(slowest, time.monotonic() - started)
            assert code == 200
            if ready["generation"] > generation:
                break
            answered_while_loading += 1
            time.sleep(0.05)
        _, status = get_json(f"{url}/debug/config")
        assert len(status["objects"]) >= 1200 * 5
    assert answered_while_loading >= 5, "the load was too quick to show anything"
    assert slowest < 1.0, f"the debug port stalled for {slowest:.2f} s during the load"


def _rss_mb_of_serve(work: Path) -> float:
    """Resident memory of the `xdscp serve` whose --ca-dir is under `work`."""
    marker = str(work / "ca").encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker not in (proc / "cmdline").read_bytes().split(b"\0"):
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no xdscp serve process found")


def test_an_alias_bomb_in_kind_written_to_a_running_serve_costs_nothing(tmp_path: Path) -> None:
    """The 530-byte "billion laughs" in `kind` once took `serve` to 3.6 GB, a 47 s stall
    and a 722 MB log line, and a `GET /debug/config` after it to 4.3 GB: now it is one
    small error of its file, the debug port answers small, and memory and log stay flat."""
    from tests.sources.test_safe_yaml import alias_bomb

    bomb = alias_bomb()
    assert len(bomb) < 600
    config = canary(tmp_path)
    with serving(config, tmp_path) as url:
        _, status = get_json(f"{url}/debug/config")
        before_mb = _rss_mb_of_serve(tmp_path)
        started = time.monotonic()
        (config / "bomb.yaml").write_text(bomb)
        status = config_after(url, status["generation"])
        applied_s = time.monotonic() - started
        errors = [e for e in status["errors"] if e["source"].endswith("bomb.yaml")]
        assert any("aliases expand to more than" in e["message"] for e in errors), errors
        assert len(status["objects"]) == 8  # the mesh in force is whole
        started = time.monotonic()
        body = urllib.request.urlopen(f"{url}/debug/config", timeout=5).read()
        assert time.monotonic() - started < 1.0
        assert len(body) < 20_000, len(body)
        grown_mb = _rss_mb_of_serve(tmp_path) - before_mb
        assert get_json(f"{url}/ready")[0] == 200
    assert applied_s < 5.0, applied_s
    assert grown_mb < 30, f"RSS grew {grown_mb:.0f} MB"
    assert (tmp_path / "serve.log").stat().st_size < 100_000


def test_a_huge_bad_value_costs_a_few_kb_of_log_and_debug_output(tmp_path: Path) -> None:
    """Errors echo the bad value, and a value may be a 1 MB string: fuzzing a running
    mesh for 22 minutes wrote 4.8 GB of log. Each error is clipped to a few KB — in the
    log, in /debug/config, in `validate` — and still names file, document and field."""
    huge = "9" * 500_000
    text = (
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: huge}\n"
        f"spec: {{address: '10.0.2.1{huge}'}}\n---\n"
        f"apiVersion: networking.istio.io/v1\nkind: K{huge}\nmetadata: {{name: k}}\n"
    )
    config = canary(tmp_path)
    log = tmp_path / "serve.log"
    with serving(config, tmp_path) as url:
        _, status = get_json(f"{url}/debug/config")
        log_before = log.stat().st_size
        (config / "huge.yaml").write_text(text)
        status = config_after(url, status["generation"])
        errors = [e for e in status["errors"] if e["source"].endswith("huge.yaml")]
        assert [(e["document"], e["field"]) for e in errors] == [
            (0, "spec.address"),
            (1, "kind"),
        ]
        assert all(" chars)" in e["text"] for e in errors), errors
        assert len(json.dumps(status)) < 20_000
        time.sleep(0.3)  # the log line is written
        logged = log.stat().st_size - log_before
    assert 0 < logged < 20_000, logged
    result = run_xdscp("validate", str(config))
    assert result.returncode == 1
    assert "huge.yaml[doc 0]: WorkloadEntry default/huge: field spec.address:" in result.stderr
    assert len(result.stdout + result.stderr) < 20_000
