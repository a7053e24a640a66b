"""What a hostile (authenticated) proxy can make the control plane hold: RSS and log bytes.

    python -m benchmarks.peer_cost [--big-mb 16] [--delta-names 1000000] [--nacks 1000]

Runs the real `xdscp serve` (mutual TLS, the canary example) in a subprocess and, with
the client certificate `xdscp bootstrap` writes for `default/client`, sends:

1. three SotW EDS requests of `--big-mb` MB of resource names each (three streams);
2. `--delta-names` names subscribed over 2 Delta streams (chunks of 50,000 per request);
3. `--nacks` NACKs with a 64 KB error_detail on one stream (a NACK storm);

and prints the server's VmRSS before, during and after each (streams closed), the gRPC
status each attack stream ended with, the server log bytes the storm wrote, and whether
an honest proxy (`default/order-v1`) is still served afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.rpc import status_pb2

from xdscp.cache import CLUSTER_TYPE, ENDPOINT_TYPE
from xdscp.identity import XDS_SERVER_NAME

REPO = Path(__file__).resolve().parents[1]
SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc-stubs
CHUNK = 50_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def names(count: int, prefix: str) -> list[str]:
    return [f"outbound|8080||{prefix}-{i:07d}.default.svc.cluster.local" for i in range(count)]


def node(workload: str) -> base_pb2.Node:
    found = base_pb2.Node(id=f"sidecar~127.0.0.9~{workload}.default~default.svc.cluster.local")
    found.metadata.fields["NAMESPACE"].string_value = "default"
    found.metadata.fields["WORKLOAD_NAME"].string_value = workload
    return found


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    work: Path

    def channel(self, workload: str) -> grpc.aio.Channel:
        prefix = self.work / workload
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_credential(prefix, "root").read_bytes(),
            private_key=_credential(prefix, "key").read_bytes(),
            certificate_chain=_credential(prefix, "cert").read_bytes(),
        )
        return grpc.aio.secure_channel(
            f"127.0.0.1:{self.port}",
            credentials,
            options=[
                ("grpc.ssl_target_name_override", XDS_SERVER_NAME),
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
        )


def _credential(prefix: Path, kind: str) -> Path:
    found = sorted(prefix.glob(f"*xds-{kind}*.pem")) or sorted(prefix.glob(f"*{kind}*.pem"))
    if not found:
        raise FileNotFoundError(f"no {kind} PEM in {prefix}")
    return found[0]


def start_server(work: Path) -> Server:
    config = work / "canary"
    shutil.copytree(REPO / "examples" / "canary", config)
    port, debug = _free_port(), _free_port()
    cli = [sys.executable, "-m", "xdscp.cli"]
    for workload in ("client", "order-v1"):
        (work / workload).mkdir()
        subprocess.run(
            [*cli, "bootstrap", "--config", str(config), "--workload", f"default/{workload}",
             "--xds", f"127.0.0.1:{port}", "-o", str(work / workload / "envoy.yaml"),
             "--ca-dir", str(work / "ca")],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip
    log = work / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*cli, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}",
             "--debug", f"127.0.0.1:{debug}", "--ca-dir", str(work / "ca")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while b"control_plane.started" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"xdscp serve did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return Server(process, port, log, work)


class Attack:
    """One stream. A reader drains it all along (an attacker that stops reading would
    only meet the server's write timeout), counting what arrives and how it ended."""

    def __init__(self, channel: grpc.aio.Channel, method: str, serializer: Any) -> None:
        multi: Any = channel.stream_stream(method, serializer, lambda data: data)
        self.call: Any = multi()
        self.responses = 0
        self.received = 0
        self.ended = ""
        self._news = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                data = await self.call.read()
                if data is _EOF:
                    break
                self.responses += 1
                self.received += len(data)
                self._news.set()
        except grpc.aio.AioRpcError:
            pass
        code = await self.call.code()
        details = await self.call.details()
        self.ended = f"{code.name}: {(details or '')[:110]}"
        self._news.set()

    async def send(self, request: Any) -> bool:
        """False once the stream has ended (the write is refused)."""
        if self.ended:
            return False
        try:
            await self.call.write(request)
        except Exception:  # the RPC ended: grpc raises several kinds here
            return False
        return True

    async def outcome(self, timeout: float = 120.0, until_ended: bool = False) -> str:
        """After the first answer (or the end; with `until_ended`, only the end, which a
        loaded server may reach seconds after its first answer): what happened."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._news.wait()
                while until_ended and not self.ended:
                    self._news.clear()
                    await self._news.wait()
        # a stream still open may be about to end: the server reads what was sent after
        # its first answer meanwhile
        for _ in range(20):
            if self.ended:
                break
            await asyncio.sleep(0.1)
        answered = f"{self.responses} responses, {self.received:,} bytes"
        return f"ended {self.ended} ({answered})" if self.ended else f"open, {answered}"

    def close(self) -> None:
        self.call.cancel()
        self._reader.cancel()


# Seconds to let the server settle before reading its RSS (`--settle`).
SETTLE = {"seconds": 2.0}


async def settle(pid: int, factor: float = 1.0) -> float:
    seconds = SETTLE["seconds"] * factor
    await asyncio.sleep(seconds)
    return rss_mib(pid)


async def big_sotw_requests(server: Server, megabytes: int) -> None:
    pid = server.process.pid
    count = megabytes * 1024 * 1024 // 56  # ~54 bytes per encoded name: just under
    print(f"\n1. three SotW EDS requests of ~{megabytes} MB ({count:,} names each)")
    print(f"   RSS before: {rss_mib(pid):8.1f} MiB")
    channel = server.channel("client")
    attacks = []
    try:
        for i in range(3):
            attack = Attack(channel, SOTW, discovery_pb2.DiscoveryRequest.SerializeToString)
            request = discovery_pb2.DiscoveryRequest(
                node=node("client"), type_url=ENDPOINT_TYPE, resource_names=names(count, f"b{i}")
            )
            await attack.send(request)
            outcome = await attack.outcome()
            attacks.append(attack)
            print(f"   request {i + 1}: {outcome[:100]}; RSS {rss_mib(pid):8.1f} MiB")
        print(f"   RSS while the streams stay open: {await settle(pid):8.1f} MiB")
    finally:
        for attack in attacks:
            attack.close()
        await channel.close(None)
    print(f"   RSS after the streams closed:    {await settle(pid, 1.5):8.1f} MiB")


async def many_delta_names(server: Server, total: int) -> None:
    pid = server.process.pid
    print(f"\n2. {total:,} names subscribed over 2 Delta streams ({CHUNK:,} per request)")
    print(f"   RSS before: {rss_mib(pid):8.1f} MiB")
    channel = server.channel("client")
    attacks = []
    try:
        for s in range(2):
            attack = Attack(channel, DELTA, discovery_pb2.DeltaDiscoveryRequest.SerializeToString)
            attacks.append(attack)
            per_stream = total // 2
            sent = 0
            for start in range(0, per_stream, CHUNK):
                request = discovery_pb2.DeltaDiscoveryRequest(
                    type_url=ENDPOINT_TYPE,
                    resource_names_subscribe=names(min(CHUNK, per_stream - start), f"d{s}-{start}"),
                )
                if start == 0:
                    request.node.CopyFrom(node("client"))
                if not await attack.send(request):
                    break
                sent += len(request.resource_names_subscribe)
                await asyncio.sleep(0.05)
            # every name was sent, past the per-stream limit: the stream must end
            outcome = await attack.outcome(timeout=60, until_ended=True)
            print(f"   stream {s + 1}: {sent:,} names sent; {outcome[:100]}; "
                  f"RSS {rss_mib(pid):8.1f} MiB")  # fmt: skip
        print(f"   RSS while the streams stay open: {await settle(pid):8.1f} MiB")
    finally:
        for attack in attacks:
            attack.close()
        await channel.close(None)
    print(f"   RSS after the streams closed:    {await settle(pid, 1.5):8.1f} MiB")


async def nack_storm(server: Server, nacks: int) -> None:
    print(f"\n3. NACK storm: {nacks:,} NACKs with a 64 KB error_detail on one stream")
    before = server.log.stat().st_size
    channel = server.channel("client")
    multi: Any = channel.stream_stream(
        SOTW, discovery_pb2.DiscoveryRequest.SerializeToString, lambda data: data
    )
    call: Any = multi()
    try:
        await call.write(discovery_pb2.DiscoveryRequest(node=node("client"), type_url=CLUSTER_TYPE))
        response = discovery_pb2.DiscoveryResponse.FromString(await call.read())
        error = status_pb2.Status(code=3, message="x" * 65536)
        nack = discovery_pb2.DiscoveryRequest(
            type_url=CLUSTER_TYPE, response_nonce=response.nonce, error_detail=error
        )
        started = time.monotonic()
        for _ in range(nacks):
            await call.write(nack)
        # answered only after the server has read every NACK before it
        await call.write(discovery_pb2.DiscoveryRequest(type_url=ENDPOINT_TYPE))
        async with asyncio.timeout(120):
            await call.read()
        elapsed = time.monotonic() - started
    finally:
        call.cancel()
        await channel.close(None)
    await asyncio.sleep(SETTLE["seconds"] / 2)
    written = server.log.stat().st_size - before
    print(f"   server log written: {written / 1024 / 1024:8.2f} MiB in {elapsed:.1f} s "
          f"({written / max(1, nacks):,.0f} bytes per NACK)")  # fmt: skip


async def honest_proxy(server: Server) -> None:
    channel = server.channel("order-v1")
    attack = Attack(channel, SOTW, discovery_pb2.DiscoveryRequest.SerializeToString)
    started = time.monotonic()
    try:
        await attack.send(
            discovery_pb2.DiscoveryRequest(node=node("order-v1"), type_url=CLUSTER_TYPE)
        )
        outcome = await attack.outcome(timeout=30)
    finally:
        attack.close()
        await channel.close(None)
    print(f"\nhonest proxy default/order-v1 afterwards: {outcome[:60]} "
          f"in {(time.monotonic() - started) * 1000:.0f} ms")  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="xdscp-peer-cost-") as tmp:
        server = start_server(Path(tmp))
        try:
            pid = server.process.pid
            print(f"xdscp serve pid {pid}; RSS at start {rss_mib(pid):.1f} MiB")
            SETTLE["seconds"] = args.settle
            await big_sotw_requests(server, args.big_mb)
            await many_delta_names(server, args.delta_names)
            await nack_storm(server, args.nacks)
            await honest_proxy(server)
            print(f"\nserver log total: {server.log.stat().st_size / 1024:,.0f} KiB; "
                  f"RSS at end {rss_mib(server.process.pid):.1f} MiB")  # fmt: skip
        finally:
            server.process.send_signal(signal.SIGINT)
            try:
                server.process.wait(20)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-mb", type=int, default=16)
    parser.add_argument("--delta-names", type=int, default=1_000_000)
    parser.add_argument("--nacks", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before an RSS reading")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
