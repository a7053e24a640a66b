"""`xdscp serve` start -> one proxy ACKed its full config, N services from YAML files.

    python -m benchmarks.serve_start --services 10000

Writes the mesh (see `benchmarks.serve_process`) to a temporary directory, starts the
real `xdscp serve` in a subprocess, connects one simulated Envoy as `default/client`
(it sees every service) the moment the xDS port accepts connections, and prints the
seconds from process start to listening and to that proxy's ACK of its full config
(CDS, EDS, LDS, RDS), with the split:

  load       the source read, parsed and validated the files and built the mesh
             (the server's `config.loaded` log event; absent in older versions); its
             CPU seconds, and those of the decode worker process at a cold start. A
             warm start that serves translations kept with its mesh snapshot loads the
             rest after listening (`xdscp.warm_start`): its load is then not part of
             "listening", and is said to be after it
  startup    process start -> listening, the rest (imports, CA, initial apply, bind)
  translate  stream opened -> first response (the proxy's config built on connect)
  push       first response -> the last ACK of the initial sequence
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.ads_clients import ClientSpec, Fleet
from benchmarks.serve_process import (
    CLIENT_NAME,
    REPO,
    ServeProcess,
    add_repo_option,
    compile_bytecode,
    cpu_seconds,
    serve,
    write_mesh,
)

CLIENT = ClientSpec("default", CLIENT_NAME, "127.9.0.1")


@dataclass(frozen=True, slots=True)
class StartFigures:
    services: int
    files: int
    listening_s: float  # process start -> xDS port accepts
    load_s: float  # the source's own figure; 0.0 when the server does not log it
    translate_s: float  # stream open -> first response
    push_s: float  # first response -> initial config ACKed
    acked_s: float  # process start -> initial config ACKed
    resources: int
    # the server's own CPU seconds (user + system) at listening and at the ACK
    listening_cpu_s: float = 0.0
    acked_cpu_s: float = 0.0
    load_cpu_s: float = 0.0  # the source's load in CPU seconds (when logged)
    load_worker_cpu_s: float = 0.0  # ... and in its decode worker process (when logged)
    # with --parse-cache: the ACK -> the cache on disk (0.0: nothing to write), and
    # Ctrl-C (SIGINT) -> the process exited, once the cache was written
    cache_saved_s: float = 0.0
    stop_s: float = 0.0
    restored: bool = False  # the mesh came whole from the snapshot (`mesh_snapshot`)
    # kept translations were served before the mesh was loaded, after listening
    kept_first: bool = False


# logged by a start that serves kept translations before it loads (`xdscp.service`)
KEPT_FIRST_EVENT = "warm_start.kept_served_first"
CACHE_EVENTS = ("config.parse_cache_saved", "config.parse_cache_appended")
# the mesh snapshot: written (or not due, or the start took it: nothing to write)
SNAPSHOT_EVENTS = (
    "config.mesh_snapshot_saved",
    "config.mesh_snapshot_not_saved",
    "config.mesh_snapshot_not_due",
    "config.mesh_snapshot_restored",
)


async def wait_cache_written(
    server: ServeProcess, timeout: float, events: tuple[str, ...] = CACHE_EVENTS
) -> float:
    """Seconds until the server logs its parse cache written (bounded; 0.0 if not)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if any(server.log_events(name) for name in events):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return 0.0


def interrupt(server: ServeProcess, timeout: float) -> float:
    """Ctrl-C the server; the seconds until it exited."""
    started = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    server.process.wait(timeout)
    return time.monotonic() - started


async def connect_client(
    server: ServeProcess, timeout: float, delta: bool = False
) -> tuple[Fleet, float]:
    """One simulated Envoy (over delta xDS + VHDS with `delta`), connected now; returns
    it initialized and when it opened."""
    fleet = Fleet(server.target, [CLIENT], delta=delta)
    opened = time.monotonic()
    fleet.start()
    await fleet.wait_initialized(timeout)
    return fleet, opened


def source_load_seconds(server: ServeProcess, field: str = "seconds") -> float:
    loaded = server.log_events("config.loaded")
    return float(loaded[0].get(field, 0.0)) if loaded else 0.0


async def measure(
    services: int,
    work: Path,
    timeout: float = 300.0,
    parse_cache: Path | None = None,
    repo: Path = REPO,
) -> StartFigures:
    """One start; with `parse_cache`, `serve --parse-cache` (the mesh is written once per
    `work`, so a second call with the same cache is a restart with nothing changed)."""
    config = work / "mesh"
    files = write_mesh(config, services) if not config.exists() else 2 * services + 1
    extra = ("--parse-cache", str(parse_cache)) if parse_cache is not None else ()
    with serve(config, work, extra, repo) as server:
        await asyncio.to_thread(server.wait_listening, timeout)
        fleet, opened = await connect_client(server, timeout)
        try:
            client = fleet.clients[0]
            acked_cpu = cpu_seconds(server.process.pid)
            # a start that served kept translations first loads after listening
            kept_first = bool(server.log_events(KEPT_FIRST_EVENT))
            if kept_first:
                await wait_cache_written(server, timeout, ("config.loaded",))
            figures = StartFigures(
                services=services,
                files=files,
                listening_s=server.listening - server.started,
                load_s=source_load_seconds(server),
                translate_s=client.first_response_at - opened,
                push_s=client.initialized_at - client.first_response_at,
                acked_s=client.initialized_at - server.started,
                resources=client.resources_received,
                listening_cpu_s=server.listening_cpu,
                acked_cpu_s=acked_cpu,
                load_cpu_s=source_load_seconds(server, "cpu_seconds"),
                load_worker_cpu_s=source_load_seconds(server, "worker_cpu_seconds"),
                kept_first=kept_first,
            )
            if parse_cache is None:
                return figures
            # a warm start with nothing changed may have nothing to write: waited for
            # briefly
            cold = not server.log_events("config.parse_cache_stale") and not cache_read(server)
            saved = await wait_cache_written(server, timeout if cold else 3.0)
            # as a plane that runs on, its proxy still connected: its mesh snapshot (with
            # the proxy's translation, `xdscp.warm_start`) written when due before it stops
            # (a version from before the snapshot, compared with --repo, never says)
            if (repo / "xdscp" / "sources" / "mesh_snapshot.py").exists():
                await wait_cache_written(server, timeout, SNAPSHOT_EVENTS)
        finally:
            await fleet.close()
        stop = await asyncio.to_thread(interrupt, server, timeout)
        restored = bool(server.log_events("config.mesh_snapshot_restored"))
        return dataclasses.replace(figures, cache_saved_s=saved, stop_s=stop, restored=restored)


def cache_read(server: ServeProcess) -> bool:
    """Whether the start took files from the cache (nothing to write in full)."""
    loaded = server.log_events("config.loaded")
    return bool(loaded) and int(loaded[0].get("parsed", 0)) < int(loaded[0].get("files", 0))


def report(figures: StartFigures) -> str:
    f = figures
    load = f"{f.load_s:.2f} s" if f.load_s else "n/a (not logged)"
    if f.restored:
        load += " from the mesh snapshot"
    if f.kept_first:
        load += ", AFTER listening: its kept translations served first"
    if f.load_cpu_s:
        load += f", {f.load_cpu_s:.2f} s CPU"
    if f.load_worker_cpu_s:
        load += f" + {f.load_worker_cpu_s:.2f} s CPU in the decode worker"
    return "\n".join(
        [
            f"xdscp serve, {f.services:,} services in {f.files:,} YAML files, one proxy "
            f"({f.resources:,} resources in its initial config)",
            f"  process start -> listening      {f.listening_s:8.2f} s   (of it load: {load})",
            f"  stream open -> first response   {f.translate_s:8.2f} s   (translate)",
            f"  first response -> full ACK      {f.push_s:8.2f} s   (push)",
            f"  process start -> proxy ACKed    {f.acked_s:8.2f} s   (target <= 2.5 s at 10,000)",
            f"  server CPU (user+sys): {f.listening_cpu_s:.2f} s at listening, "
            f"{f.acked_cpu_s:.2f} s at the ACK (independent of other load on the machine)",
            *(
                [
                    f"  proxy ACKed -> parse cache on disk {f.cache_saved_s:.2f} s "
                    "(0: nothing to write); then Ctrl-C -> exited "
                    f"{f.stop_s:.2f} s"
                ]
                if f.stop_s
                else []
            ),
        ]
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_start")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--parse-cache",
        action="store_true",
        help="also start again with `serve --parse-cache` (cold run writes it, warm reads it)",
    )
    add_repo_option(parser)
    args = parser.parse_args(argv)
    compile_bytecode(args.repo)  # as installed: no timed start compiles the modules
    with tempfile.TemporaryDirectory(prefix="xdscp-serve-start-") as tmp:
        work = Path(tmp)
        figures = asyncio.run(measure(args.services, work, args.timeout, repo=args.repo))
        print(report(figures))
        if args.parse_cache:
            cache = work / "parse.cache"
            cold = asyncio.run(measure(args.services, work, args.timeout, cache, args.repo))
            print(f"\nwith --parse-cache, cold (written after the ACK):\n{report(cold)}")
            warm = asyncio.run(measure(args.services, work, args.timeout, cache, args.repo))
            print(f"\nwith --parse-cache, warm (nothing changed):\n{report(warm)}")
            # the first start that read every file long enough after it was written
            # (`file_identity.RACY_SECONDS`) leaves the mesh snapshot the next one takes
            again = asyncio.run(measure(args.services, work, args.timeout, cache, args.repo))
            print(f"\nwith --parse-cache, warm again (nothing changed):\n{report(again)}")


if __name__ == "__main__":
    main(sys.argv[1:])
