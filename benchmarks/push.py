"""Push benchmark: N simulated Envoys on one ADS server, xdscp beside a byte-replaying floor.

    python -m benchmarks.push [--proxies 100 1000] [--services 100] [--tls] [--repeats 5]
                              [--profile DIR]

For each N, each server runs in its own process (`benchmarks.push_server`) and N
clients (`benchmarks.ads_clients`, one channel = one connection each) run here. Printed
per server:

* initial: from opening all N streams at once until every client has ACKed CDS, EDS,
  LDS and RDS (client clock);
* change: one VirtualService 90/10 -> 50/50 (then back, alternating; median of
  `--repeats`), from the new MeshConfig in hand until the server has received N ACKs
  of the new RDS version (server clock); xdscp applies it (`MeshRuntime.apply`:
  translation of every affected proxy, cache update, pushes); the floor writes the
  same pre-serialized RDS bytes to every stream. Beside it: apply (until `apply`
  returned), own (the runtime's own time in it, without the pushes the event loop
  ran meanwhile), e2e (what a user waits for: the VirtualService file rewritten ->
  re-read by the file source -> applied -> N ACKs; `--source memory` applies
  pre-built meshes instead), the client-side view (command sent -> last client
  ACK written), and "win": the server's CPU (all threads) in the change window
  itself, which each server measures alike and a busy machine inflates far less
  than the wall-clock figure (the driver runs a thousand clients on the same two
  cores, and so do other processes);
* memory: server VmRSS after N clients connected and settled minus before, / N, where
  "before" has one proxy connected already (its cost, mostly xdscp translating the
  shared config that the floor loads pre-built, is shown apart as "1st MB").

The floor (`benchmarks.floor_server`) holds exactly the bytes xdscp sends, built ahead
by `benchmarks.push_bodies`, so the ratio is the price of xdscp's logic over moving bytes.
Targets (issue 12): change <= 1.1x floor with own <= 100 ms; memory per proxy <= 1.2x floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from benchmarks.ads_clients import ClientSpec, ClientTLS, Fleet
from benchmarks.grpc_quiet import restart_with_grpc_quiet
from benchmarks.push_bodies import floor_bodies
from benchmarks.push_mesh import NAMESPACE, client_entry, client_name
from benchmarks.push_server import raise_nofile_limit

REPO = Path(__file__).resolve().parents[1]
MODES = ("floor", "xdscp")
# issue 12's targets at 1,000 TLS proxies x 1,000 services
TARGET_CHANGE = 1.1
TARGET_MEMORY = 1.2
TARGET_OWN_MS = 100.0
SERVER_NAME = "xds.bench.local"
TURNS = "loop turns"  # in a change's per-thread figures: the server's event loop turns
# ... and the cyclic GC's collections in the window, and their wall ms
GC_COUNT = "gc collections"
GC_MS = "gc ms"


@dataclass
class RunResult:
    mode: str
    proxies: int
    services: int
    tls: bool
    initial_s: float = 0.0
    rss_empty_kib: int = 0  # before any proxy
    rss_before_kib: int = 0  # with one proxy connected
    rss_after_kib: int = 0
    # The same after glibc malloc_trim(0): live state, without heap freed after the burst.
    trimmed_before_kib: int = 0
    trimmed_after_kib: int = 0
    change_ms: list[float] = field(default_factory=list)  # server: new mesh -> N-th ACK
    e2e_ms: list[float] = field(default_factory=list)  # server: file written -> N-th ACK
    own_ms: list[float] = field(default_factory=list)  # the runtime's own time in the apply
    own_cpu_ms: list[float] = field(default_factory=list)  # the same, its thread's CPU time
    client_ms: list[float] = field(default_factory=list)  # driver: sent -> last ACK written
    apply_ms: list[float] = field(default_factory=list)  # server: new mesh -> `apply` returned
    acks: list[int] = field(default_factory=list)  # ACKs the server counted, per change
    clients_acked: list[int] = field(default_factory=list)  # clients that ACKed, per change
    streams: int = 0
    # CPU seconds (user + system, all threads) during the initial phase / per change:
    # which side is the bottleneck (the driver runs every client on one core).
    server_cpu_initial_s: float = 0.0
    driver_cpu_initial_s: float = 0.0
    server_cpu_change_ms: list[float] = field(default_factory=list)
    driver_cpu_change_ms: list[float] = field(default_factory=list)
    # server CPU (all threads) in the change figure's own window: new mesh in hand -> N-th
    # ACK (server_cpu_change_ms also holds xdscp's re-read of the file, before the window)
    window_cpu_ms: list[float] = field(default_factory=list)
    # server CPU ms per thread name per change (mesh in hand -> N-th ACK seen)
    thread_cpu_ms: list[dict[str, float]] = field(default_factory=list)

    @property
    def kib_per_proxy(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.proxies

    @property
    def first_proxy_mib(self) -> float:
        """What the first connected proxy cost (xdscp: translating the shared config)."""
        return (self.rss_before_kib - self.rss_empty_kib) / 1024

    @property
    def trimmed_kib_per_proxy(self) -> float:
        return (self.trimmed_after_kib - self.trimmed_before_kib) / self.proxies

    @property
    def change_median_ms(self) -> float:
        return statistics.median(self.change_ms)

    @property
    def all_acked(self) -> bool:
        n = self.proxies  # the server also counts the first proxy's stream (see run_one)
        return (
            bool(self.acks)
            and all(a == n + 1 for a in self.acks)
            and all(c == n for c in self.clients_acked)
        )


# --- identity and TLS ---------------------------------------------------------------------
def ensure_ca(workdir: Path) -> Path:
    """The mesh CA both servers' runtimes load (xdscp issues its SDS secrets from it)."""
    import ca

    ca_dir = workdir / "ca"
    ca.load_or_create_root_ca(ca_dir)
    return ca_dir


@dataclass(frozen=True)
class TLSMaterial:
    server_dir: Path  # the floor's server.pem / server.key / root.pem
    clients: Sequence[ClientTLS]

    def for_client(self, i: int) -> ClientTLS:
        return self.clients[i]


def make_tls(workdir: Path, clients: int) -> TLSMaterial:
    """From the mesh CA: a serving cert for the floor (xdscp makes its own, as in
    production) and one SVID per simulated proxy, for the identity its workload has."""
    import ca
    from xdscp.identity import XDS_SERVER_NAME

    authority = ca.load_or_create_root_ca(ensure_ca(workdir))
    root = authority.trust_bundle().pem.encode()
    directory = workdir / f"tls-{clients}"
    directory.mkdir(parents=True, exist_ok=True)
    server = ca.issue_server_certificate(
        authority, [XDS_SERVER_NAME, "localhost"], ip_addresses=["127.0.0.1"]
    )
    (directory / "server.pem").write_text(server.cert_chain_pem)
    key = directory / "server.key"
    key.touch(mode=0o600)
    key.write_text(server.key_pem)
    (directory / "root.pem").write_bytes(root)
    material = []
    for _ in range(clients):
        svid = ca.issue_svid(authority, f"spiffe://cluster.local/ns/{NAMESPACE}/sa/default")
        material.append(
            ClientTLS(root, svid.key_pem.encode(), svid.cert_chain_pem.encode(), XDS_SERVER_NAME)
        )
    return TLSMaterial(directory, material)


# --- the server process --------------------------------------------------------------------
class ServerProcess:
    """A `benchmarks.push_server` subprocess and its line protocol; every wait is bounded."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.port = 0
        self.pid = process.pid

    @classmethod
    async def start(
        cls, args: Sequence[str], log_path: Path, timeout: float = 120.0
    ) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "benchmarks.push_server", *args,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                cwd=REPO, env=env,
            )  # fmt: skip
        server = cls(process, log_path)
        try:
            ready = await server._read(timeout)
        except BaseException:
            await server.kill()
            raise
        if ready.get("event") != "ready":
            await server.kill()
            raise RuntimeError(f"server did not start: {ready}")
        server.port = int(ready["port"])
        return server

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                line = await self.process.stdout.readline()
        except TimeoutError:
            raise TimeoutError(f"server silent for {timeout:.0f} s; log: {self._tail()}") from None
        if not line:
            raise RuntimeError(f"server exited; log: {self._tail()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    async def command(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        await self.process.stdin.drain()
        reply = await self._read(timeout)
        if "error" in reply:
            raise RuntimeError(f"server: {reply['error']}")
        return reply

    async def stop(self, timeout: float = 20.0) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit", timeout=timeout)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.process.wait()
        await self.kill()

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()  # this PID only
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self.process.wait()


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- one run ---------------------------------------------------------------------------------
def client_specs(clients: int) -> list[ClientSpec]:
    return [
        ClientSpec(NAMESPACE, client_name(i), str(client_entry(i)["spec"]["address"]))
        for i in range(clients)
    ]


async def run_one(
    mode: str,
    services: int,
    proxies: int,
    workdir: Path,
    tls: TLSMaterial | None = None,
    repeats: int = 5,
    profile_dir: Path | None = None,
    settle: float | None = None,
    memtrace_dir: Path | None = None,
    memtrace_frames: int = 1,
    source: str = "files",
) -> RunResult:
    """Start one server, connect `proxies` clients, measure, change `repeats` times, stop.
    `source` (xdscp): "files" keeps the mesh in YAML files and changes one by a rewrite;
    "memory" applies pre-built meshes (no e2e figure beyond the mesh in hand)."""
    result = RunResult(mode, proxies, services, tls is not None)
    ca_dir = ensure_ca(workdir)
    args = ["--mode", mode, "--services", str(services), "--clients", str(proxies)]
    if mode == "floor":
        bodies = workdir / f"floor-{services}-{proxies}.pickle"
        if not bodies.exists():
            floor_bodies(services, proxies, ca_dir).save(bodies)
        args += ["--bodies", str(bodies)]
        if tls is not None:
            args += ["--tls-dir", str(tls.server_dir)]
    else:
        args += ["--ca-dir", str(ca_dir)] + (["--tls"] if tls is not None else [])
        if source == "files":
            args += ["--config-dir", str(Path(tempfile.mkdtemp(dir=workdir)) / "mesh")]
    tag = f"{mode}-{services}s-{proxies}p{'-tls' if tls else ''}"
    init_timeout = 60.0 + 0.2 * proxies
    change_timeout = 30.0 + 0.1 * proxies
    server = await ServerProcess.start(args, workdir / f"{tag}.log")
    fleet: Fleet | None = None
    first: Fleet | None = None
    try:
        reply = await server.command("rss")
        result.rss_empty_kib = int(reply["rss_kib"])
        # One proxy first (a second stream of client-0, kept open): what every server
        # holds once anything is connected — xdscp's translated shared config, which the
        # floor loaded pre-built before its first figure — is then in both baselines,
        # and "per proxy" is what each further proxy costs.
        first = Fleet(
            f"127.0.0.1:{server.port}",
            client_specs(1),
            tls.for_client if tls is not None else None,
        )
        first.start()
        await first.wait_initialized(init_timeout)
        await asyncio.sleep(settle if settle is not None else 0.5)
        reply = await server.command("rss")
        result.rss_before_kib = int(reply["rss_kib"])
        result.trimmed_before_kib = int(reply["trimmed_kib"])
        if profile_dir is not None:
            await server.command("profile_start")
        if memtrace_dir is not None:
            await server.command("memtrace_start", frames=memtrace_frames)
        fleet = Fleet(
            f"127.0.0.1:{server.port}",
            client_specs(proxies),
            tls.for_client if tls is not None else None,
        )
        cpu = cpu_seconds(server.pid), cpu_seconds()
        started = time.monotonic()
        fleet.start()
        await fleet.wait_initialized(init_timeout)
        result.initial_s = fleet.last_initialized() - started
        result.server_cpu_initial_s = cpu_seconds(server.pid) - cpu[0]
        result.driver_cpu_initial_s = cpu_seconds() - cpu[1]
        # Settle: the last ACKs reach the server, nothing else is in flight.
        # (and the servers finish what they do once a burst is over, e.g. xdscp trimming)
        await asyncio.sleep(settle if settle is not None else 1.0 + proxies / 1000)
        if profile_dir is not None:
            await server.command("profile_stop", path=str(profile_dir / f"{tag}-connect.prof"))
        if memtrace_dir is not None:
            path = memtrace_dir / f"{tag}-connected.txt"
            await server.command("memtrace_stop", timeout=300, path=str(path))
        reply = await server.command("rss")
        result.rss_after_kib = int(reply["rss_kib"])
        result.trimmed_after_kib = int(reply["trimmed_kib"])
        result.streams = int(reply["streams"])

        if profile_dir is not None:
            await server.command("profile_start")
        # The driver's own collector must not pause a thousand clients mid-measurement.
        gc.collect()
        gc.freeze()
        for _ in range(repeats):
            fleet.expect_change()
            cpu = cpu_seconds(server.pid), cpu_seconds()
            sent = time.monotonic()
            gc.disable()
            try:
                change = await server.command(
                    "change", timeout=change_timeout, expected_acks=proxies + 1
                )
                acks = await server.command("acks", timeout=change_timeout + 5, wait=change_timeout)
                await fleet.wait_changed(change_timeout)
            finally:
                gc.enable()
            result.server_cpu_change_ms.append((cpu_seconds(server.pid) - cpu[0]) * 1000)
            result.window_cpu_ms.append(float(acks["cpu_window_ms"]))
            result.thread_cpu_ms.append(dict(acks.get("threads", {})))
            result.driver_cpu_change_ms.append((cpu_seconds() - cpu[1]) * 1000)
            result.acks.append(int(acks["acks"]))
            result.clients_acked.append(fleet.changed)
            result.apply_ms.append((change["t_applied"] - change["t_mesh"]) * 1000)
            result.change_ms.append((acks["t_acked"] - change["t_mesh"]) * 1000)
            result.e2e_ms.append((acks["t_acked"] - change["t_trigger"]) * 1000)
            result.own_ms.append(float(change["own_ms"]))
            result.own_cpu_ms.append(float(change["own_cpu_ms"]))
            result.client_ms.append((fleet.last_changed() - sent) * 1000)
            verify = await server.command("verify")
            acked = verify["route_versions_acked"]
            if mode == "xdscp" and list(acked.values()) != [proxies]:
                raise RuntimeError(f"xdscp proxies disagree on the RDS version: {acked}")
            gc.collect(0)
            await asyncio.sleep(0.2)
        if profile_dir is not None:
            await server.command("profile_stop", path=str(profile_dir / f"{tag}-change.prof"))
        if fleet.errors:
            raise RuntimeError(f"client errors: {fleet.errors[:5]}")
    finally:
        gc.enable()
        gc.unfreeze()
        for opened in (fleet, first):
            if opened is not None:
                await opened.close()
        await server.stop()
    return result


# --- report ----------------------------------------------------------------------------------
HEADER = (
    f"{'proxies':>7} {'svcs':>4} {'tls':>3} {'server':>6} | {'init s':>6} {'cpu s':>5} "
    f"{'drv s':>5} | {'change ms':>9} {'min..max':>10} {'apply':>6} {'own':>5} {'cpu':>5} "
    f"{'e2e':>6} "
    f"{'cpu ms':>6} {'win ms':>6} "
    f"{'drv ms':>6} | {'1st MB':>6} {'RSS1 MB':>7} {'KiB/prx':>7} {'trimmed':>7} | {'ACKed':>5}"
)


def format_row(r: RunResult) -> str:
    spread = f"{min(r.change_ms):.0f}..{max(r.change_ms):.0f}"
    med = statistics.median
    return (
        f"{r.proxies:>7} {r.services:>4} {'yes' if r.tls else 'no':>3} {r.mode:>6} | "
        f"{r.initial_s:>6.2f} {r.server_cpu_initial_s:>5.2f} {r.driver_cpu_initial_s:>5.2f} | "
        f"{r.change_median_ms:>9.1f} {spread:>10} {med(r.apply_ms):>6.1f} "
        f"{med(r.own_ms):>5.0f} {med(r.own_cpu_ms):>5.0f} {med(r.e2e_ms):>6.0f} "
        f"{med(r.server_cpu_change_ms):>6.0f} {med(r.window_cpu_ms):>6.0f} "
        f"{med(r.driver_cpu_change_ms):>6.0f} | "
        f"{r.first_proxy_mib:>6.1f} {r.rss_after_kib / 1024:>7.1f} "
        f"{r.kib_per_proxy:>7.1f} {r.trimmed_kib_per_proxy:>7.1f} | "
        f"{'all' if r.all_acked else 'NO':>5}"
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def format_ratio(floor: RunResult, xdscp: RunResult) -> str:
    med = statistics.median
    change = _ratio(xdscp.change_median_ms, floor.change_median_ms)
    memory = _ratio(xdscp.kib_per_proxy, floor.kib_per_proxy)
    trimmed = _ratio(xdscp.trimmed_kib_per_proxy, floor.trimmed_kib_per_proxy)
    own = statistics.median(xdscp.own_cpu_ms)
    ok_change = "ok" if change <= TARGET_CHANGE else "MISSED"
    ok_memory = "ok" if memory <= TARGET_MEMORY else "MISSED"
    ok_own = "ok" if own <= TARGET_OWN_MS else "MISSED"
    return (
        f"{'':>7} {'':>4} {'':>3} {'x/flr':>6} | "
        f"{_ratio(xdscp.initial_s, floor.initial_s):>5.2f}x "
        f"{_ratio(xdscp.server_cpu_initial_s, floor.server_cpu_initial_s):>4.1f}x {'':>5} | "
        f"{change:>8.2f}x {'':>10} {'':>6} {'':>5} {'':>5} {'':>6} "
        f"{_ratio(med(xdscp.server_cpu_change_ms), med(floor.server_cpu_change_ms)):>5.1f}x "
        f"{_ratio(med(xdscp.window_cpu_ms), med(floor.window_cpu_ms)):>5.2f}x "
        f"{'':>6} | {'':>6} {'':>7} {memory:>6.2f}x {trimmed:>6.2f}x |"
        f" change {ok_change} (<= {TARGET_CHANGE}x), own part {ok_own} (<= {TARGET_OWN_MS:.0f}"
        f" ms), memory {ok_memory} (<= {TARGET_MEMORY}x)"
    )


def format_rounds(floor: Sequence[RunResult], xdscp: Sequence[RunResult]) -> str:
    """The ratios of each round alone: how far apart runs a minute apart land on a shared
    machine, next to the merged figure above."""
    med = statistics.median
    change = " ".join(
        f"{_ratio(x.change_median_ms, f.change_median_ms):.2f}x"
        for f, x in zip(floor, xdscp, strict=True)
    )
    window = " ".join(
        f"{_ratio(med(x.window_cpu_ms), med(f.window_cpu_ms)):.2f}x"
        for f, x in zip(floor, xdscp, strict=True)
    )
    return f"{'':>7} {'':>4} {'':>3} {'rounds':>6} | change {change} | win {window}"


def format_threads(r: RunResult) -> str:
    """Median server CPU ms per change by thread name (what the `cpu ms` column is made of)."""
    names = sorted(
        {name for change in r.thread_cpu_ms for name in change} - {TURNS, GC_COUNT, GC_MS}
    )
    parts = [
        f"{name}={statistics.median(c.get(name, 0.0) for c in r.thread_cpu_ms):.0f}"
        for name in names
    ]
    turns = statistics.median(c.get(TURNS, 0.0) for c in r.thread_cpu_ms)
    # totals, not medians: a collection lands in some changes only (the rounds' spread)
    collections = sum(c.get(GC_COUNT, 0.0) for c in r.thread_cpu_ms)
    gc_ms = [c.get(GC_MS, 0.0) for c in r.thread_cpu_ms]
    return (
        f"{'':>7} {'':>4} {'':>3} {r.mode:>6} | CPU ms per thread and change: {' '.join(parts)}"
        f" | event loop turns: {turns:.0f}"
        f" | GC: {collections:.0f} collections in {len(gc_ms)} changes,"
        f" {sum(gc_ms):.0f} ms (worst change {max(gc_ms, default=0.0):.0f})"
    )


def print_profile(path: Path, limit: int = 25, out: Callable[[str], None] = print) -> None:
    out(f"--- {path.name}: top {limit} by internal time")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(limit)


def merge(results: Sequence[RunResult]) -> RunResult:
    """Rounds of one (server, N): medians of the figures, every change measurement kept."""
    if len(results) == 1:
        return results[0]
    med = statistics.median
    first = results[0]
    merged = RunResult(first.mode, first.proxies, first.services, first.tls)
    merged.initial_s = med(r.initial_s for r in results)
    merged.server_cpu_initial_s = med(r.server_cpu_initial_s for r in results)
    merged.driver_cpu_initial_s = med(r.driver_cpu_initial_s for r in results)
    merged.rss_empty_kib = int(med(r.rss_empty_kib for r in results))
    merged.rss_before_kib = int(med(r.rss_before_kib for r in results))
    merged.rss_after_kib = int(med(r.rss_after_kib for r in results))
    merged.trimmed_before_kib = int(med(r.trimmed_before_kib for r in results))
    merged.trimmed_after_kib = int(med(r.trimmed_after_kib for r in results))
    merged.streams = min(r.streams for r in results)
    for r in results:
        merged.change_ms += r.change_ms
        merged.client_ms += r.client_ms
        merged.apply_ms += r.apply_ms
        merged.e2e_ms += r.e2e_ms
        merged.own_ms += r.own_ms
        merged.own_cpu_ms += r.own_cpu_ms
        merged.acks += r.acks
        merged.clients_acked += r.clients_acked
        merged.server_cpu_change_ms += r.server_cpu_change_ms
        merged.driver_cpu_change_ms += r.driver_cpu_change_ms
        merged.window_cpu_ms += r.window_cpu_ms
        merged.thread_cpu_ms += r.thread_cpu_ms
    return merged


async def run_all(args: argparse.Namespace) -> list[RunResult]:
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="xdscp-push-") as tmp:
        workdir = Path(tmp)
        print(HEADER, flush=True)
        for proxies in args.proxies:
            tls = make_tls(workdir, proxies) if args.tls else None
            rounds: dict[str, list[RunResult]] = {mode: [] for mode in args.modes}
            # Servers alternate round by round, so a drifting machine affects both alike.
            for _ in range(args.rounds):
                for mode in args.modes:
                    result = await run_one(
                        mode, args.services, proxies, workdir, tls, args.repeats, args.profile,
                        memtrace_dir=args.memtrace, memtrace_frames=args.memtrace_frames,
                        source=args.source,
                    )  # fmt: skip
                    rounds[mode].append(result)
            by_mode = {mode: merge(runs) for mode, runs in rounds.items()}
            for result in by_mode.values():
                results.append(result)
                print(format_row(result), flush=True)
            if "floor" in by_mode and "xdscp" in by_mode:
                print(format_ratio(by_mode["floor"], by_mode["xdscp"]), flush=True)
                if args.rounds > 1:
                    print(format_rounds(rounds["floor"], rounds["xdscp"]), flush=True)
            if args.threads:
                for result in by_mode.values():
                    print(format_threads(result), flush=True)
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                (args.keep_logs / log.name).write_bytes(log.read_bytes())
    print(
        f"targets: one changed VirtualService ACKed by all proxies <= {TARGET_CHANGE}x the floor,"
        f" the server's own part <= {TARGET_OWN_MS:.0f} ms;"
        f" server memory per connected proxy <= {TARGET_MEMORY}x the floor.\n"
        "init s: all streams opened -> every client ACKed CDS, EDS, LDS, RDS. change ms:"
        " server clock, the new mesh in hand (floor: the command) -> N-th ACK of the new RDS"
        f" version (median of {args.repeats} x {args.rounds} round(s), servers alternating);"
        " apply: until `await MeshRuntime.apply(mesh)` returned (pushes run meanwhile);"
        " own: the runtime's own time in it (translation, snapshots, cache; without the"
        " pushes), wall clock; cpu: the same in CPU time of its thread, which a busy machine"
        " does not inflate (the target is judged on it); e2e: the VirtualService file"
        " rewritten -> N-th ACK, through the file source as its watcher runs it once its"
        " debounce is over (--source files)."
        " cpu/drv: CPU used by the server / by the driver (all clients) in that phase"
        " (xdscp's cpu includes re-reading the file, before the change window); win: the"
        " server's CPU (all threads) in the change window itself, new mesh in hand -> N-th"
        " ACK, as each server measures it: what xdscp adds to moving the bytes, which a busy"
        " shared machine inflates far less than wall time."
        " 1st MB: server VmRSS growth for the first proxy (connected alone before the N;"
        " xdscp translates the shared config then, the floor loaded its bytes at start)."
        " KiB/prx: server VmRSS growth per further connected proxy (N at once); trimmed:"
        " the same after malloc_trim(0) (live state without the heap glibc keeps after"
        " the connect burst)."
    )
    if args.profile is not None:
        for prof in sorted(args.profile.glob("*.prof")):
            print_profile(prof)
    return results


def quiet_driver() -> None:
    """The driver prints the table; the runtime's logs (building the floor's bytes) would
    only interleave with it."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def main(argv: list[str] | None = None) -> None:
    restart_with_grpc_quiet("benchmarks.push", argv)
    parser = argparse.ArgumentParser(description="xDS push benchmark: xdscp vs a floor server")
    parser.add_argument("--proxies", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--tls", action="store_true", help="mTLS on the xDS port")
    parser.add_argument(
        "--source",
        choices=("files", "memory"),
        default="files",
        help="xdscp's mesh: YAML files changed by a rewrite (e2e), or pre-built meshes",
    )
    parser.add_argument("--repeats", type=int, default=5, help="changes measured per run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the servers this many times per N"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--profile", type=Path, help="cProfile the servers into this directory")
    parser.add_argument(
        "--memtrace", type=Path, help="tracemalloc the servers' connect phase into this directory"
    )
    parser.add_argument("--memtrace-frames", type=int, default=1)
    parser.add_argument(
        "--threads", action="store_true", help="print the servers' CPU per thread name per change"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the servers' logs here")
    args = parser.parse_args(argv)
    for directory in (args.profile, args.memtrace):
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
    quiet_driver()
    raise_nofile_limit()
    asyncio.run(run_all(args))


if __name__ == "__main__":
    main()
