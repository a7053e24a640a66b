"""The fuzzer: `make fuzz N=10000` (or `python -m tests.fuzz.run --documents N`).

Two stages, each fed N mutated documents (tests/fuzz/mutate.py):

1. offline — every case through `xdscp validate` (the real click command, in process)
   and through parse -> mesh -> translation (tests/fuzz/judge.py); every
   `--envoy-every`-th case's translation is judged by real Envoy (`--mode validate`).
   Findings: crashes (tracebacks), refusals that name no field, Envoy rejections of
   validated config.
2. live — a running `xdscp up` (the canary example: real Envoy sidecars, mTLS, demo
   apps) with continuous traffic through the client's sidecar, while the cases are
   written into its config directory. After every batch a marker object is written
   last; it must be in force (`/debug/config`) within `--reload-bound` seconds.
   Findings: hangs (marker late), watcher deaths (marker never), lost good objects
   (valid on disk, not in force, no error about them), NACKs of validated config
   (`/debug/nacks`), failed requests, tracebacks in the log, the control plane's exit;
   measured: peak RSS of the control plane process.

Prints a summary (and `--json PATH` writes it); exits 1 when anything was found.
Live documents are confined to namespace `fuzz` with the canary's service names
removed, so a document that validates can change nothing on the traffic's path: a
failed request is a bug, never the fuzz input doing what it says.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from tests.e2e.harness import RunningMesh, http_get, relocate_example, xdscp_up
from tests.fuzz.judge import envoy_rejections, judge_text
from tests.fuzz.mutate import Mutator, load_corpus
from translators.mesh import MeshOptions, build_mesh
from translators.model.objects import ConfigError, MeshObject
from xdscp.cli import main as xdscp_cli
from xdscp.sources.documents import parse_text, yaml_files

MAX_EXAMPLES_KEPT = 20
LIVE_NAMESPACE = "fuzz"
LIVE_FILES = 24  # mutated files rotate through this many names
BATCH = 12  # documents written between two markers


@dataclass
class Report:
    seed: int
    offline_documents: int = 0
    offline_cases: int = 0
    envoy_checked: int = 0
    live_documents: int = 0
    live_batches: int = 0
    crashes: int = 0
    unnamed_refusals: int = 0
    envoy_rejections: int = 0
    hangs: int = 0
    watcher_deaths: int = 0
    lost_good_objects: int = 0
    nacks: int = 0
    requests: int = 0
    failed_requests: int = 0
    log_tracebacks: int = 0
    control_plane_exited: bool = False
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    mutations: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def keep(self, what: str, example: str) -> None:
        kept = self.examples.setdefault(what, [])
        if len(kept) < MAX_EXAMPLES_KEPT:
            kept.append(example[:3000])

    @property
    def findings(self) -> int:
        return (
            self.crashes
            + self.unnamed_refusals
            + self.envoy_rejections
            + self.hangs
            + self.watcher_deaths
            + self.lost_good_objects
            + self.nacks
            + self.failed_requests
            + self.log_tracebacks
            + int(self.control_plane_exited)
        )

    def as_json(self) -> dict[str, Any]:
        # not dataclasses.asdict: it rebuilds a Counter from (key, count) pairs, counting them
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["mutations"] = dict(self.mutations)
        out["findings"] = self.findings
        return out

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}: {self.offline_documents} documents offline "
            f"({self.offline_cases} cases, {self.envoy_checked} judged by Envoy), "
            f"{self.live_documents} into a running mesh ({self.live_batches} reloads) "
            f"in {self.seconds:.0f} s",
            f"crashes {self.crashes}, refusals naming no field {self.unnamed_refusals}, "
            f"Envoy rejections of validated config {self.envoy_rejections}",
            f"hangs {self.hangs}, watcher deaths {self.watcher_deaths}, "
            f"lost good objects {self.lost_good_objects}, NACKs {self.nacks}, "
            f"tracebacks in the log {self.log_tracebacks}, "
            f"control plane exited {self.control_plane_exited}",
            f"requests {self.requests}, failed {self.failed_requests}, "
            f"control plane peak RSS {self.peak_rss_mb:.0f} MB",
        ]
        for what, examples in self.examples.items():
            lines.append(f"--- {what} (first {len(examples)}):")
            lines += [f"  {e}" for e in examples[:5]]
        return "\n".join(lines)


def _short_traceback() -> str:
    return "".join(traceback.format_exc().splitlines(keepends=True)[-6:])


# --- offline ---------------------------------------------------------------------------


def run_offline(mutator: Mutator, documents: int, envoy_every: int, report: Report) -> None:
    runner = CliRunner()
    with tempfile.TemporaryDirectory(prefix="xdscp-fuzz-") as tmp:
        case_file = Path(tmp) / "case.yaml"
        while report.offline_documents < documents:
            docs, text, steps = mutator.case()
            report.offline_cases += 1
            report.offline_documents += len(docs)
            report.mutations.update(s.split()[0] for s in steps)
            label = f"case {report.offline_cases} {steps}"
            case_file.write_text(text, encoding="utf-8")
            result = runner.invoke(xdscp_cli, ["validate", str(case_file)])
            if (result.exception is not None and not isinstance(result.exception, SystemExit)) or (
                "Traceback" in result.output
            ):
                report.crashes += 1
                detail = "".join(traceback.format_exception(result.exception))[-1500:]
                report.keep("crash in xdscp validate", f"{label}: {detail}\n{text[:1500]}")
            try:
                judged = judge_text(text)
            except Exception:  # a crash is a finding; the next case goes on
                report.crashes += 1
                report.keep("crash in parse/build/translate", f"{label}: {_short_traceback()}")
                continue
            if judged.problems:
                report.unnamed_refusals += len(judged.problems)
                report.keep("refusal naming no field", f"{label}: {judged.problems[0]}")
            if envoy_every and report.offline_cases % envoy_every == 0 and judged.objects:
                report.envoy_checked += 1
                for proxy, verdict in envoy_rejections(judged.bootstraps).items():
                    report.envoy_rejections += 1
                    report.keep(
                        "Envoy rejected validated config",
                        f"{label} {proxy}: {verdict.output.strip()[-800:]}\n{text[:1500]}",
                    )


# --- live ------------------------------------------------------------------------------

_TRAFFIC_NAMES = ("order-service", "client", "cluster.local")


def confine(node: Any) -> Any:
    """A document that can only act on namespace `fuzz`: every namespace is `fuzz` and no
    string names the canary's services (they become `fuzz-svc`)."""
    if isinstance(node, dict):
        out = {k: confine(v) for k, v in node.items()}
        meta = out.get("metadata")
        if isinstance(meta, dict):
            meta["namespace"] = LIVE_NAMESPACE
        return out
    if isinstance(node, list):
        return [confine(v) for v in node]
    if isinstance(node, str) and any(name in node for name in _TRAFFIC_NAMES):
        return "fuzz-svc"
    if isinstance(node, str) and node in ("istio-system", "default"):
        return LIVE_NAMESPACE
    return node


def _stays_confined(text: str) -> bool:
    """Whether damaged text still keeps to namespace `fuzz`: a truncation that cuts
    `namespace: fuzz` leaves an object in `default`, which may rightly deny the traffic
    (a failed request that is the input's doing, not a bug). Unloadable text is refused
    whole, so it is confined too."""
    try:
        docs = list(yaml.safe_load_all(text))
    except Exception:  # any YAML failure: the file is refused whole
        return True
    for doc in docs:
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if isinstance(meta, dict) and meta.get("namespace") != LIVE_NAMESPACE:
            return False
    return True


def _json(url: str) -> Any:
    status, body = http_get(url, timeout=10)
    if status != 200:
        raise RuntimeError(f"{url}: HTTP {status}: {body[:200]}")
    return json.loads(body)


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def _background(
    mesh: RunningMesh, report: Report, failures: list[str]
) -> Iterator[threading.Event]:
    """Traffic through the client's sidecar, and RSS sampling, until the block ends."""
    stop = threading.Event()
    url = f"http://{mesh.workload('default/client')['call_through'][0]}/"

    def traffic() -> None:
        while not stop.is_set():
            report.requests += 1
            try:
                status, body = http_get(url, host="order-service", timeout=10)
            except OSError as exc:
                status, body = 0, repr(exc)
            if status != 200:
                report.failed_requests += 1
                failures.append(f"{time.strftime('%H:%M:%S')} {status} {body[:200]}")
            stop.wait(0.02)

    def sample() -> None:
        while not stop.is_set():
            report.peak_rss_mb = max(report.peak_rss_mb, _rss_mb(mesh.process.pid))
            stop.wait(0.2)

    threads = [threading.Thread(target=traffic), threading.Thread(target=sample)]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


def _marker(batch: int) -> tuple[str, str]:
    name = f"fuzz-marker-{batch}"
    doc = {
        "apiVersion": "telemetry.istio.io/v1",
        "kind": "Telemetry",
        "metadata": {"name": name, "namespace": LIVE_NAMESPACE},
        "spec": {"accessLogging": [{"disabled": False}]},
    }
    return yaml.safe_dump(doc), f"Telemetry/{LIVE_NAMESPACE}/{name}"


def _write(path: Path, text: str) -> None:
    """Atomically, as editors and `kubectl`-style tools do (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _expected_in_force(config: Path) -> set[str]:
    """Objects the files on disk make valid, as `xdscp validate` would decide."""
    objects: list[MeshObject[Any]] = []
    errors: list[ConfigError] = []
    for path in yaml_files(config):
        try:
            parsed = parse_text(path.read_text(encoding="utf-8"), str(path))
        except Exception:  # unparseable here (a finding of its own): nothing expected of it
            continue
        objects += parsed.objects
        errors += parsed.errors
    mesh = build_mesh(objects, errors, MeshOptions(local_mode=True))
    return {o.ref for o in mesh.objects}


def run_live(
    mutator: Mutator, documents: int, work: Path, reload_bound: float, report: Report
) -> None:
    config, _ = relocate_example("canary", work)
    base = _expected_in_force(config)
    failures: list[str] = []
    with xdscp_up(config, work) as mesh:
        debug = mesh.state["debug"]
        with _background(mesh, report, failures):
            time.sleep(1.0)  # traffic established on the initial config
            file_index = 0
            while report.live_documents < documents:
                for _ in range(BATCH):
                    docs, _, steps = mutator.case()
                    confined = [confine(d) for d in docs]
                    text = yaml.safe_dump_all(confined, sort_keys=False, allow_unicode=True)
                    if mutator.rng.random() < 0.1:
                        damaged, step = mutator.mutate_text(text)
                        if _stays_confined(damaged):
                            text = damaged
                            steps.append(step)
                    _write(config / f"fuzz-{file_index % LIVE_FILES}.yaml", text)
                    file_index += 1
                    report.live_documents += len(docs)
                    report.mutations.update(s.split()[0] for s in steps)
                report.live_batches += 1
                marker_text, marker_ref = _marker(report.live_batches)
                _write(config / "zz-marker.yaml", marker_text)
                if not _wait_in_force(debug, marker_ref, reload_bound):
                    report.hangs += 1
                    report.keep("hang", f"batch {report.live_batches}: {marker_ref} late")
                    if not _wait_in_force(debug, marker_ref, 60.0):
                        report.watcher_deaths += 1
                        report.keep("watcher death", f"batch {report.live_batches}")
                        break
                _check_state(config, debug, base, report)
                if mesh.process.poll() is not None:
                    report.control_plane_exited = True
                    break
        log = mesh.log()
    report.failed_requests = len(failures)
    for failure in failures[:MAX_EXAMPLES_KEPT]:
        report.keep("failed request", failure)
    tracebacks = log.count("Traceback (most recent call last)")
    report.log_tracebacks = tracebacks
    if tracebacks:
        start = log.index("Traceback (most recent call last)")
        report.keep("traceback in the log", log[max(0, start - 300) : start + 2000])


def _wait_in_force(debug: str, ref: str, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            if ref in _json(f"{debug}/debug/config")["objects"]:
                return True
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.05)
    return False


def _check_state(config: Path, debug: str, base: set[str], report: Report) -> None:
    status = _json(f"{debug}/debug/config")
    in_force = set(status["objects"])
    blamed = {f"{e['kind']}/{e['namespace']}/{e['name']}" for e in status["errors"]}
    missing_base = base - in_force
    lost = (_expected_in_force(config) - in_force - blamed) | missing_base
    if lost:
        report.lost_good_objects += len(lost)
        report.keep("lost good object", f"batch {report.live_batches}: {sorted(lost)[:10]}")
    nacks = _json(f"{debug}/debug/nacks")
    if nacks:
        report.nacks += len(nacks)
        report.keep("NACK", f"batch {report.live_batches}: {json.dumps(nacks)[:1500]}")


# --- entry point -----------------------------------------------------------------------


def fuzz(
    documents: int,
    seed: int,
    envoy_every: int = 10,
    reload_bound: float = 10.0,
    offline: bool = True,
    live: bool = True,
    hostile_yaml: bool = True,
) -> Report:
    report = Report(seed)
    started = time.monotonic()
    corpus = load_corpus()
    if offline:
        mutator = Mutator(random.Random(seed), corpus, hostile_yaml)
        run_offline(mutator, documents, envoy_every, report)
    if live:
        mutator = Mutator(random.Random(seed + 1), corpus, hostile_yaml)
        with tempfile.TemporaryDirectory(prefix="xdscp-fuzz-live-") as tmp:
            run_live(mutator, documents, Path(tmp), reload_bound, report)
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--documents", "-n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--envoy-every", type=int, default=10, help="0: never run Envoy")
    parser.add_argument("--reload-bound", type=float, default=10.0)
    parser.add_argument("--offline-only", action="store_true")
    parser.add_argument("--live-only", action="store_true")
    parser.add_argument("--no-hostile-yaml", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    report = fuzz(
        args.documents,
        seed,
        envoy_every=args.envoy_every,
        reload_bound=args.reload_bound,
        offline=not args.live_only,
        live=not args.offline_only,
        hostile_yaml=not args.no_hostile_yaml,
    )
    print(report.summary())
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
