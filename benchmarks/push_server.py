"""One server of the push benchmark, alone in its process so its RSS is its own.

    python -m benchmarks.push_server --mode xdscp --services 100 --clients 1000 --ca-dir ca
    python -m benchmarks.push_server --mode floor --bodies floor.pickle

`xdscp` is the real thing wired like `xdscp.service.ControlPlane` (MeshRuntime as the
resolver, SnapshotCache, StatusBook with metrics, `start_server`, structlog at info to
stderr); `floor` is `benchmarks.floor_server`. The driver talks to it over a line
protocol, one JSON object per line: commands on stdin, replies on stdout (the process's
original stdout; anything else printing to fd 1 is sent to stderr instead). Times are
`time.monotonic()`, which is CLOCK_MONOTONIC and so comparable with the driver's.

Commands: `rss`, `change`, `acks {wait}`, `verify`, `profile_start`, `profile_stop {path}`,
`memtrace_start {frames}`, `memtrace_stop {path}`, `quit`. The first line written is
`{"event": "ready", ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import gc
import importlib
import json
import os
import resource
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import grpc
from prometheus_client import CollectorRegistry

from xdscp.cache import ROUTE_TYPE
from xdscp.metrics import XdsMetrics


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (a thousand streams, a thousand sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def rss_kib(pid: int | str = "self") -> int:
    """VmRSS of a process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def thread_cpu_ticks() -> dict[int, tuple[str, int]]:
    """CPU clock ticks (utime + stime) of each thread of this process, with its name;
    the main thread's kernel time (stime) also alone, as "main-kernel"."""
    ticks: dict[int, tuple[str, int]] = {}
    # Python threads by their Python name (gRPC's poller is "Thread-N (_poll_wrapper)")
    named = {t.native_id: t.name.rsplit(" ", 1)[-1] for t in threading.enumerate()}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            stat = (task / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            tid = int(task.name)
            if tid == os.getpid():
                name = "main"  # the event loop's thread
                # and its part in the kernel apart (syscalls, page faults; a negative key
                # is no thread id)
                ticks[-tid] = ("main-kernel", int(fields[12]))
            elif tid in named:
                name = named[tid]
            ticks[tid] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def thread_cpu_ms(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]
) -> dict[str, float]:
    """CPU ms per thread name between two `thread_cpu_ticks` (threads born since count whole)."""
    per_tick = 1000 / os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = {}
    for tid, (name, ticks) in after.items():
        used = ticks - before.get(tid, (name, 0))[1]
        if used:
            spent[name] = spent.get(name, 0.0) + used * per_tick
    return spent


class LoopTurns:
    """Counts the event loop's turns (one selector poll each): how finely a server's work
    is spread over the loop (each turn costs a poll and the loop's own bookkeeping)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        selector: Any = getattr(loop, "_selector", None)  # the default (selector) loop's
        if selector is None:
            return
        select = selector.select

        def counted(timeout: float | None = None) -> Any:
            self.count += 1
            return select(timeout)

        selector.select = counted


class GcPauses:
    """Counts the cyclic GC's collections and their wall time (gc.callbacks): a collection
    that lands inside a change pauses every push and ACK behind it."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._started


def trimmed_rss_kib() -> int:
    """VmRSS after glibc's malloc_trim: what the process holds, without the freed heap
    that malloc keeps after a burst (a thousand streams' first responses in flight)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_kib()


def memory_report(snapshot: tracemalloc.Snapshot, limit: int = 30) -> str:
    """Live Python allocations by line and by file (tracemalloc), largest first."""
    lines = []
    for key in ("lineno", "filename"):
        stats = snapshot.statistics(key)
        total = sum(s.size for s in stats)
        lines.append(f"# by {key}: {total / 1024:.0f} KiB in {len(stats)} places")
        for stat in stats[:limit]:
            frame = stat.traceback[0]
            where = f"{frame.filename}:{frame.lineno}"
            lines.append(f"{stat.size / 1024:10.1f} KiB {stat.count:8d} blocks  {where}")
    return "\n".join(lines) + "\n"


def tune_gc_like_production() -> bool:
    """Apply `xdscp.tuning.tune_gc` when the service uses it (identically for both servers)."""
    try:
        module = importlib.import_module("xdscp.tuning")
    except ImportError:
        return False
    tune: Callable[[], None] | None = getattr(module, "tune_gc", None)
    if tune is None:
        return False
    tune()
    return True


class AckCountingMetrics(XdsMetrics):
    """xdscp's metrics plus a counter of ACKs of one type: the server-side "all ACKed"."""

    __slots__ = ("_done", "acked_at", "count", "cpu_acked", "target", "type_url")

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self.type_url = ROUTE_TYPE
        self.count = 0
        self.target = 0
        self.acked_at = 0.0
        self.cpu_acked = 0.0  # process CPU seconds (all threads) at the N-th ACK
        self._done = asyncio.Event()

    def expect(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.acked_at = 0.0
        self.cpu_acked = 0.0
        self._done.clear()

    def acked(self, type_url: str, latency_seconds: float) -> None:
        super().acked(type_url, latency_seconds)
        if type_url == self.type_url:
            self.count += 1
            if self.count == self.target:
                self.acked_at = time.monotonic()
                self.cpu_acked = time.process_time()
                self._done.set()

    async def wait(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._done.wait()
        except TimeoutError:
            return False
        return True


def _server_credentials(tls_dir: Path | None) -> grpc.ServerCredentials | None:
    if tls_dir is None:
        return None
    return grpc.ssl_server_credentials(
        [((tls_dir / "server.key").read_bytes(), (tls_dir / "server.pem").read_bytes())],
        root_certificates=(tls_dir / "root.pem").read_bytes(),
        require_client_auth=True,
    )


class _Backend:
    """What the command loop needs from either server."""

    server: grpc.aio.Server
    port: int
    # per-thread CPU ticks and event-loop turns when the latest change's mesh was in hand
    # (the start of the `win` window)
    threads_mesh: dict[int, tuple[str, int]]
    turns: LoopTurns
    turns_mesh = 0
    gc_pauses: GcPauses
    gc_mesh = (0, 0.0)  # collections and their seconds when the latest change's mesh was in hand

    def mark_mesh(self) -> None:
        """The start of the `win` window: the latest change's mesh in hand."""
        self.threads_mesh = thread_cpu_ticks()
        self.turns_mesh = self.turns.count
        self.gc_mesh = (self.gc_pauses.count, self.gc_pauses.seconds)

    def streams(self) -> int:
        raise NotImplementedError

    async def change(self, expected_acks: int) -> dict[str, float]:
        """Start the change; return when the server has done its own part of it, with
        `t_mesh` (the new mesh in hand), `t_applied` (own part done) and `own_ms` (the
        runtime's own time, without the pushes the event loop ran meanwhile)."""
        raise NotImplementedError

    async def wait_acks(self, timeout: float) -> tuple[int, float, float]:
        """(ACKs counted, monotonic time of the N-th, process CPU seconds from the new mesh
        in hand to the N-th ACK: the same window as the change figure, for either server)."""
        raise NotImplementedError

    def verify(self) -> dict[str, Any]:
        raise NotImplementedError


class _XdscpBackend(_Backend):
    async def start(
        self, services: int, clients: int, ca_dir: Path | None, tls: bool, config: Path | None
    ) -> None:
        self.turns = LoopTurns(asyncio.get_running_loop())
        self.gc_pauses = GcPauses()
        """Wired like `xdscp.service.ControlPlane`: CA-backed identity (SDS secrets in every
        snapshot), mTLS with identity checks unless plaintext (`--insecure`), metrics. With
        `config`, the mesh lives there as YAML files read by the file source (as `xdscp
        serve` reads it) and a change is a file rewrite; else meshes are pre-built."""
        from benchmarks.push_bodies import xdscp_runtime
        from benchmarks.push_mesh import push_mesh
        from xdscp.logging import configure_logging
        from xdscp.server.ads import start_server
        from xdscp.server.status import StatusBook

        configure_logging(json_logs=True, level=os.environ.get("PUSH_LOG_LEVEL", "info"))
        self.services = services
        self.current = 0
        self.cpu_mesh = 0.0  # process CPU seconds when the latest change's mesh was in hand
        self.source: Any = None
        if config is not None:
            from benchmarks.push_mesh import write_push_mesh
            from xdscp.sources.files import DirectorySource

            write_push_mesh(config, services, clients)
            self.source = DirectorySource(config, log_errors=False)
            first = self.source.load()
        else:
            self.meshes = (push_mesh(services, clients), push_mesh(services, clients, True))
            first = self.meshes[0]
        self.runtime = xdscp_runtime(ca_dir)
        self.runtime.require_identity = tls
        self.cache = self.runtime.cache
        self.metrics = AckCountingMetrics(CollectorRegistry())
        self.status = StatusBook(self.metrics)
        self.runtime.apply_now(first)
        if tune_gc_like_production():
            # as `xdscp serve` starts (xdscp/service.py): the first proxy's translation
            # makes the pieces the rest share, long-lived, frozen out of the cyclic GC
            self.runtime.freeze_next_translation = True
        credentials = None
        if tls:
            from xdscp.identity import XDS_SERVER_NAME

            secrets: Any = self.runtime.secrets
            credentials = secrets.server_credentials(["127.0.0.1", "localhost", XDS_SERVER_NAME])
        self.server, self.port = await start_server(
            self.cache, self.runtime, "127.0.0.1:0", credentials, self.status
        )

    def streams(self) -> int:
        return sum(p.streams for p in self.status)

    async def change(self, expected_acks: int) -> dict[str, float]:
        self.current ^= 1
        self.metrics.expect(expected_acks)
        times: dict[str, float] = {}

        async def apply(mesh: Any) -> None:
            self.mark_mesh()
            times["t_mesh"] = time.monotonic()
            self.cpu_mesh = time.process_time()
            # What a config source calls (`xdscp.service.ControlPlane` feeds `runtime.apply`).
            await self.runtime.apply(mesh)
            times["t_applied"] = time.monotonic()

        if self.source is not None:
            from benchmarks.push_mesh import rewrite_changed_route

            # The VirtualService file rewritten (a temporary file renamed over it), then
            # what the file watcher runs once its debounce is over: re-read, apply.
            rewrite_changed_route(self.source.root, self.services, bool(self.current))
            await self.source.reload(apply)
            if "t_applied" not in times:
                raise RuntimeError(f"the file source did not apply: {self.source.health}")
        else:
            await apply(self.meshes[self.current])
        times["own_ms"] = self.runtime.busy_seconds * 1000
        times["own_cpu_ms"] = self.runtime.busy_cpu_seconds * 1000
        return times

    async def wait_acks(self, timeout: float) -> tuple[int, float, float]:
        await self.metrics.wait(timeout)
        metrics = self.metrics
        window = metrics.cpu_acked - self.cpu_mesh if metrics.cpu_acked else 0.0
        return metrics.count, metrics.acked_at, window

    def verify(self) -> dict[str, Any]:
        acked: dict[str, int] = {}
        pushes: dict[str, int] = {}
        for proxy in self.status:
            ts = proxy.types.get(ROUTE_TYPE)
            version = ts.version_acked if ts is not None else ""
            acked[version] = acked.get(version, 0) + 1
            for type_url, type_status in proxy.types.items():
                label = type_url.rsplit(".", 1)[-1]
                pushes[label] = pushes.get(label, 0) + type_status.pushes
        return {"proxies": len(self.status), "route_versions_acked": acked, "pushes": pushes}


class _FloorBackend(_Backend):
    async def start(self, bodies_path: Path, tls_dir: Path | None) -> None:
        from benchmarks.floor_server import FloorBodies, FloorServer, serve_floor

        self.turns = LoopTurns(asyncio.get_running_loop())
        self.gc_pauses = GcPauses()
        self.floor = FloorServer(FloorBodies.load(bodies_path))
        self.cpu_mesh = 0.0  # process CPU seconds when the latest change was commanded
        tune_gc_like_production()
        self.server, self.port = await serve_floor(
            self.floor, "127.0.0.1:0", _server_credentials(tls_dir)
        )

    def streams(self) -> int:
        return len(self.floor.streams)

    async def change(self, expected_acks: int) -> dict[str, float]:
        self.mark_mesh()
        now = time.monotonic()
        self.cpu_mesh = time.process_time()
        self.floor.push_change(expected_acks)
        return {"t_mesh": now, "t_applied": time.monotonic(), "own_ms": 0.0, "own_cpu_ms": 0.0}

    async def wait_acks(self, timeout: float) -> tuple[int, float, float]:
        await self.floor.wait_acks(timeout)
        floor = self.floor
        window = floor.cpu_acked - self.cpu_mesh if floor.cpu_acked else 0.0
        return floor.acks, floor.acked_at, window

    def verify(self) -> dict[str, Any]:
        version = self.floor.bodies.versions[self.floor.current]
        return {"proxies": len(self.floor.streams), "route_versions_acked": {version: -1}}


class _Control:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def reply(self, **fields: Any) -> None:
        self.out.write(json.dumps(fields) + "\n")
        self.out.flush()


async def _command_loop(backend: _Backend, control: _Control) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    profiler: cProfile.Profile | None = None
    while True:
        line = await reader.readline()
        if not line:
            return  # the driver went away
        command: dict[str, Any] = json.loads(line)
        name = command.get("cmd")
        if name == "rss":
            gc.collect()
            rss = rss_kib()
            control.reply(rss_kib=rss, trimmed_kib=trimmed_rss_kib(), streams=backend.streams())
        elif name == "change":
            triggered = time.monotonic()
            times = await backend.change(int(command["expected_acks"]))
            control.reply(t_trigger=triggered, **times)
        elif name == "acks":
            count, acked_at, cpu = await backend.wait_acks(float(command["wait"]))
            # per thread, from the mesh in hand to the N-th ACK having been seen (the `win`
            # window, give or take the reply; coarse: clock ticks)
            threads = thread_cpu_ms(backend.threads_mesh, thread_cpu_ticks())
            threads["loop turns"] = backend.turns.count - backend.turns_mesh
            threads["gc collections"] = backend.gc_pauses.count - backend.gc_mesh[0]
            threads["gc ms"] = (backend.gc_pauses.seconds - backend.gc_mesh[1]) * 1000
            control.reply(acks=count, t_acked=acked_at, cpu_window_ms=cpu * 1000, threads=threads)
        elif name == "verify":
            control.reply(**backend.verify())
        elif name == "profile_start":
            profiler = cProfile.Profile()
            profiler.enable()
            control.reply(ok=True)
        elif name == "profile_stop":
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(command["path"]))
                profiler = None
            control.reply(ok=True)
        elif name == "memtrace_start":
            tracemalloc.start(int(command.get("frames", 1)))
            control.reply(ok=True)
        elif name == "memtrace_stop":
            gc.collect()
            Path(command["path"]).write_text(memory_report(tracemalloc.take_snapshot()))
            tracemalloc.stop()
            control.reply(ok=True)
        elif name == "quit":
            await backend.server.stop(None)
            control.reply(ok=True)
            return
        else:
            control.reply(error=f"unknown command {name!r}")


async def _main(args: argparse.Namespace, control: _Control) -> None:
    backend: _Backend
    if args.mode == "xdscp":
        xdscp = _XdscpBackend()
        await xdscp.start(args.services, args.clients, args.ca_dir, args.tls, args.config_dir)
        backend = xdscp
    else:
        floor = _FloorBackend()
        await floor.start(args.bodies, args.tls_dir)
        backend = floor
    gc.collect()
    control.reply(event="ready", port=backend.port, pid=os.getpid())
    try:
        await _command_loop(backend, control)
    finally:
        await backend.server.stop(None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", choices=("xdscp", "floor"), required=True)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--bodies", type=Path, help="floor: bodies file from the driver")
    parser.add_argument("--ca-dir", type=Path, help="xdscp: the mesh CA (identity, SDS, mTLS)")
    parser.add_argument("--tls", action="store_true", help="xdscp: mTLS xDS from its CA")
    parser.add_argument(
        "--config-dir", type=Path, help="xdscp: write the mesh here as YAML, read it back"
    )
    parser.add_argument("--tls-dir", type=Path, help="floor: server.pem, server.key, root.pem")
    args = parser.parse_args(argv)
    if args.mode == "floor" and args.bodies is None:
        parser.error("--mode floor needs --bodies")
    raise_nofile_limit()
    # Replies go to the original stdout; stray prints must not corrupt the protocol.
    control = _Control(os.fdopen(os.dup(1), "w", buffering=1))
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    asyncio.run(_main(args, control))


if __name__ == "__main__":
    main()
