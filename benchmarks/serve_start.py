"""`xdscp serve` start -> one proxy ACKed its full config, N services from YAML files.

    python -m benchmarks.serve_start --services 10000

Writes the mesh (see `benchmarks.serve_process`) to a temporary directory, starts the
real `xdscp serve` in a subprocess, connects one simulated Envoy as `default/client`
(it sees every service) the moment the xDS port accepts connections, and prints the
seconds from process start to listening and to that proxy's ACK of its full config
(CDS, EDS, LDS, RDS), with the split:

  load       the source read, parsed and validated the files and built the mesh
             (the server's `config.loaded` log event; absent in older versions)
  startup    process start -> listening, the rest (imports, CA, initial apply, bind)
  translate  stream opened -> first response (the proxy's config built on connect)
  push       first response -> the last ACK of the initial sequence
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.ads_clients import ClientSpec, Fleet
from benchmarks.serve_process import CLIENT_NAME, ServeProcess, serve, write_mesh

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


async def connect_client(server: ServeProcess, timeout: float) -> tuple[Fleet, float]:
    """One simulated Envoy, connected now; returns it initialized and when it opened."""
    fleet = Fleet(server.target, [CLIENT])
    opened = time.monotonic()
    fleet.start()
    await fleet.wait_initialized(timeout)
    return fleet, opened


def source_load_seconds(server: ServeProcess) -> float:
    loaded = server.log_events("config.loaded")
    return float(loaded[0].get("seconds", 0.0)) if loaded else 0.0


async def measure(services: int, work: Path, timeout: float = 300.0) -> StartFigures:
    config = work / "mesh"
    files = write_mesh(config, services)
    with serve(config, work) as server:
        await asyncio.to_thread(server.wait_listening, timeout)
        fleet, opened = await connect_client(server, timeout)
        try:
            client = fleet.clients[0]
            return StartFigures(
                services=services,
                files=files,
                listening_s=server.listening - server.started,
                load_s=source_load_seconds(server),
                translate_s=client.first_response_at - opened,
                push_s=client.initialized_at - client.first_response_at,
                acked_s=client.initialized_at - server.started,
                resources=client.resources_received,
            )
        finally:
            await fleet.close()


def report(figures: StartFigures) -> str:
    f = figures
    load = f"{f.load_s:.2f} s" if f.load_s else "n/a (not logged)"
    return "\n".join(
        [
            f"xdscp serve, {f.services:,} services in {f.files:,} YAML files, one proxy "
            f"({f.resources:,} resources in its initial config)",
            f"  process start -> listening      {f.listening_s:8.2f} s   (of it load: {load})",
            f"  stream open -> first response   {f.translate_s:8.2f} s   (translate)",
            f"  first response -> full ACK      {f.push_s:8.2f} s   (push)",
            f"  process start -> proxy ACKed    {f.acked_s:8.2f} s   (target <= 2.5 s at 10,000)",
        ]
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_start")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xdscp-serve-start-") as tmp:
        figures = asyncio.run(measure(args.services, Path(tmp), args.timeout))
    print(report(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
