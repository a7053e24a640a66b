"""One VirtualService file rewritten in a running `xdscp serve` -> the proxy ACKed the
new route, N services from YAML files.

    python -m benchmarks.edit_latency --services 10000 --edits 10
    python -m benchmarks.edit_latency --services 10000 --edits 10 --edit service-entry
    python -m benchmarks.edit_latency --services 10000 --edits 10 --delta

`--edit service-entry` rewrites a service's registry file instead, its ServiceEntry
given one more host (a new virtual host in the proxy's routes); `--edit
workload-entry` moves its v1 WorkloadEntry to another address (new endpoints).

Starts the mesh of `benchmarks.serve_start`, connects one simulated Envoy as
`default/client`, then rewrites one VirtualService file at a time (a temporary file
renamed over it, as README recommends; a different service and weight each time) and
measures file write -> that proxy ACKed a new RDS version. Printed beside the file
watcher's debounce (its quiet period): the target is debounce + 50 ms.

The proxy speaks SotW, as sidecars do by default (`xdscp up`): a VirtualService edit
re-sends it the whole route configuration (7.8 MB at 10,000 services). With `--delta`
it speaks delta xDS with VHDS, as `xdscp up --delta` sidecars do, and the edit is one
virtual host; the figure is then file write -> that proxy ACKed the new virtual host.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.ads_clients import VIRTUAL_HOST_TYPE
from benchmarks.meshgen import service_docs
from benchmarks.serve_process import (
    REPO,
    add_repo_option,
    dump_docs,
    replace_file,
    route_file,
    route_text,
    serve,
    write_mesh,
)
from benchmarks.serve_start import connect_client
from xdscp.cache import ENDPOINT_TYPE, ROUTE_TYPE
from xdscp.sources.files import DirectorySource

# what `xdscp serve` runs with: the watcher yields a batch after this long without changes
DEBOUNCE_MS = DirectorySource(Path(".")).quiet_ms


WHAT = {
    "route": "VirtualService file rewritten",
    "service-entry": "ServiceEntry given a host (its file rewritten)",
    "workload-entry": "WorkloadEntry moved (its file rewritten)",
}
EDITS = tuple(WHAT)


def edited_file(config: Path, edit: str, service: int, n: int) -> tuple[Path, str, str]:
    """-> the file `edit` rewrites for the n-th edit, its new text, the xDS type whose
    new version the proxy then ACKs."""
    if edit == "route":
        return route_file(config, service), route_text(service, 10 + (n % 80)), ROUTE_TYPE
    docs = [d for d in service_docs(service) if d["kind"] != "VirtualService"]
    if edit == "service-entry":
        (entry,) = [d for d in docs if d["kind"] == "ServiceEntry"]
        entry["spec"]["hosts"].append(f"svc-{service}-alias-{n}")
        changed_type = ROUTE_TYPE
    else:
        v1 = next(d for d in docs if d["kind"] == "WorkloadEntry")
        v1["spec"]["address"] = f"127.250.{n // 250}.{1 + n % 250}"
        changed_type = ENDPOINT_TYPE
    return config / "services" / f"svc-{service}.yaml", dump_docs(docs), changed_type


@dataclass(frozen=True, slots=True)
class EditFigures:
    services: int
    debounce_ms: int
    edits_ms: tuple[float, ...]
    # the server's own figures per edit, from its log: the source's update (read, parse,
    # mesh) and the runtime's apply (translate, publish)
    source_ms: tuple[float, ...] = ()
    apply_ms: tuple[float, ...] = ()
    # file renamed -> the server's watcher reported it (its `config.changed` log line)
    detect_ms: tuple[float, ...] = ()
    # the runtime's apply in CPU time of its thread (a busy machine does not inflate it)
    apply_cpu_ms: tuple[float, ...] = ()
    # of the apply: the generation's setup (what changed, index, memo)
    setup_ms: tuple[float, ...] = ()
    # the same edit as consecutive stages between the server's log lines, adding up to
    # the whole: watcher reported it -> source loaded it (`config.loaded`) -> runtime
    # applied it (`mesh.applied`) -> the proxy ACKed (the push, the proxy reading it)
    to_loaded_ms: tuple[float, ...] = ()
    to_applied_ms: tuple[float, ...] = ()
    to_acked_ms: tuple[float, ...] = ()
    edit: str = "route"  # which object each edit changed (see EDITS)
    analysis: bool = True  # whether the server analyzed each generation (it does)
    delta: bool = False  # the proxy spoke delta xDS + VHDS (else SotW)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.edits_ms)

    @property
    def p90_ms(self) -> float:
        ordered = sorted(self.edits_ms)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


async def measure(
    services: int,
    edits: int,
    work: Path,
    timeout: float = 300.0,
    pause: float = 0.3,
    repo: Path = REPO,
    edit: str = "route",
    analysis: bool = True,
    delta: bool = False,
) -> EditFigures:
    config = work / "mesh"
    if not config.exists():  # a second measure in one `work` reuses the mesh
        write_mesh(config, services)
    took: list[float] = []
    written_at: list[float] = []  # wall clock, to compare with the server's log
    acked_at: list[float] = []  # wall clock
    with serve(config, work, (), repo, analysis) as server:
        await asyncio.to_thread(server.wait_listening, timeout)
        fleet, _ = await connect_client(server, timeout, delta)
        try:
            await asyncio.sleep(pause)  # let the initial analysis and pushes settle
            for n in range(edits):
                service = (n * 7919) % services  # spread over the mesh
                path, text, changed_type = edited_file(config, edit, service, n)
                if delta and changed_type == ROUTE_TYPE:
                    changed_type = VIRTUAL_HOST_TYPE  # a delta proxy gets the virtual host
                fleet.expect_change(changed_type)
                written = time.monotonic()
                written_at.append(time.time())
                replace_file(path, text)
                await fleet.wait_changed(timeout)
                took.append((fleet.last_changed() - written) * 1000)
                acked_at.append(time.time() - (time.monotonic() - fleet.last_changed()))
                await asyncio.sleep(pause)  # edits apart, as a person makes them
        finally:
            await fleet.close()
        # the last `edits` loads and applies are the edits' (the first ones: the start)
        loaded = server.log_events("config.loaded")
        loads = [float(e.get("seconds", 0.0)) * 1000 for e in loaded]
        loaded_at = [_epoch(e) for e in loaded][-edits:]
        applied = server.log_events("mesh.applied")
        applies = [float(e.get("ms", 0.0)) for e in applied]
        applies_cpu = [float(e.get("cpu_ms", 0.0)) for e in applied]
        setups = [float(e.get("setup_ms", 0.0)) for e in applied]
        applied_at = [_epoch(e) for e in applied][-edits:]
        seen = [_epoch(e) for e in server.log_events("config.changed")][-edits:]
    return EditFigures(
        services,
        DEBOUNCE_MS,
        tuple(took),
        tuple(loads[-edits:]),
        tuple(applies[-edits:]),
        _gaps(written_at, seen),
        tuple(applies_cpu[-edits:]),
        tuple(setups[-edits:]),
        _gaps(seen, loaded_at),
        _gaps(loaded_at, applied_at),
        _gaps(applied_at, acked_at),
        edit,
        analysis,
        delta,
    )


def _gaps(earlier: list[float], later: list[float]) -> tuple[float, ...]:
    """Per edit, ms from one wall-clock time to the next."""
    return tuple((b - a) * 1000 for a, b in zip(earlier, later, strict=False))


def _epoch(event: dict[str, object]) -> float:
    """The wall-clock time of a server log line (`TimeStamper(fmt="iso", utc=True)`)."""
    return datetime.fromisoformat(str(event.get("timestamp", ""))).timestamp()


def _median(values: tuple[float, ...]) -> str:
    return f"{statistics.median(values):8.1f} ms" if values else "     n/a"


def report(figures: EditFigures) -> str:
    f = figures
    shown = " ".join(f"{ms:.0f}" for ms in f.edits_ms)
    return "\n".join(
        [
            f"xdscp serve, {f.services:,} services: one {WHAT[f.edit]} -> "
            f"the proxy ACKed it, {len(f.edits_ms)} edits"
            + ("" if f.analysis else " (analysis off)")
            + (", delta xDS + VHDS" if f.delta else ", SotW"),
            f"  median {f.median_ms:8.1f} ms   p90 {f.p90_ms:8.1f} ms   "
            f"watcher debounce {f.debounce_ms} ms   (target <= debounce + 50 ms = "
            f"{f.debounce_ms + 50} ms)",
            f"  each (ms): {shown}",
            f"  of it, in the server (medians): watcher saw the rename {_median(f.detect_ms)}"
            f"   source update {_median(f.source_ms)}   runtime apply {_median(f.apply_ms)}"
            f" (CPU {_median(f.apply_cpu_ms).strip()}; generation setup"
            f" {_median(f.setup_ms).strip()})",
            f"  stage by stage (medians, they add up): written -> watcher"
            f" {_median(f.detect_ms)}   -> loaded {_median(f.to_loaded_ms)}   -> applied"
            f" {_median(f.to_applied_ms)}   -> ACKed {_median(f.to_acked_ms)}",
        ]
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edit_latency")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--edit", choices=EDITS, default="route", help="what each edit changes")
    parser.add_argument(
        "--analysis",
        choices=("on", "off", "both"),
        default="on",
        help="serve with the analysis of each generation (as always), without it "
        "(the edit path alone), or both one after the other on the same mesh",
    )
    parser.add_argument(
        "--delta",
        action="store_true",
        help="the proxy speaks delta xDS with VHDS (as `xdscp up --delta` sidecars), "
        "not SotW (the default sidecars get)",
    )
    add_repo_option(parser)
    args = parser.parse_args(argv)
    runs = {"on": (True,), "off": (False,), "both": (True, False)}[args.analysis]
    with tempfile.TemporaryDirectory(prefix="xdscp-edit-latency-") as tmp:
        for analysis in runs:
            work = Path(tmp) / ("analysis" if analysis else "no-analysis")
            work.mkdir()
            figures = asyncio.run(
                measure(
                    args.services,
                    args.edits,
                    work,
                    args.timeout,
                    repo=args.repo,
                    edit=args.edit,
                    analysis=analysis,
                    delta=args.delta,
                )
            )
            print(report(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
