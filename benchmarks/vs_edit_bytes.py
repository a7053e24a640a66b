"""Bytes one proxy receives for one VirtualService edit: SotW beside delta with VHDS.

    python -m benchmarks.vs_edit_bytes --services 1000 [--proxies 1] [--envoy]

Builds the push benchmark's mesh (N services, one client), serves the client's real
snapshots (`MeshRuntime`) from the real ADS server, and connects two in-process clients
that subscribe like Envoy: one over SotW (CDS, EDS by name, LDS, RDS by name), one over
delta (the same, plus VHDS wildcard, which Envoy subscribes once it holds a route
configuration shell). Then one VirtualService changes (90/10 -> 50/50) and every
response each client receives until the stream is quiet is counted: the payload bytes
of the DiscoveryResponses (gRPC framing excluded), and the time from the new snapshot
to the last of them (with `--proxies N`, N clients per protocol, one protocol's change at
a time, until all N received it). Target: <= 10 KB per proxy for one edit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from prometheus_client import CollectorRegistry

from benchmarks.push import quiet_driver
from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from xdscp.cache import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Snapshot,
    SnapshotCache,
)
from xdscp.metrics import XdsMetrics
from xdscp.runtime import MeshRuntime
from xdscp.server import AdsSettings, AggregatedDiscoveryService, StaticResolver, StatusBook
from xdscp.server import serve as serve_ads
from xdscp.server.vhds import VIRTUAL_HOST_TYPE

_SOTW = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
_DELTA = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
TARGET_BYTES = 10_000
QUIET_S = 0.5


def _identity(data: bytes) -> bytes:
    return data


@dataclass(frozen=True, slots=True)
class Received:
    responses: int
    payload_bytes: int
    last_at: float  # monotonic time of the last response


class _Client:
    """Subscribes like Envoy, ACKs every response, and records what arrives."""

    def __init__(self, channel: grpc.aio.Channel, node_id: str, delta: bool) -> None:
        request = discovery_pb2.DeltaDiscoveryRequest if delta else discovery_pb2.DiscoveryRequest
        self.delta = delta
        multi: Any = channel.stream_stream(
            _DELTA if delta else _SOTW, request.SerializeToString, _identity
        )
        self.call: Any = multi()
        self.node = base_pb2.Node(id=node_id, cluster="bench")
        self.first = True
        self.log: list[tuple[float, int]] = []
        self.names: dict[str, list[str]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one write at a time per call (gRPC's rule)

    async def send(self, type_url: str, names: Iterable[str] = (), nonce: str = "",
                   version: str = "") -> None:  # fmt: skip
        req: Any
        if self.delta:
            req = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_subscribe=[] if nonce else list(names),
                response_nonce=nonce,
            )
        else:
            req = discovery_pb2.DiscoveryRequest(
                type_url=type_url, resource_names=list(names), response_nonce=nonce,
                version_info=version,
            )  # fmt: skip
        async with self._writing:
            if self.first:
                req.node.CopyFrom(self.node)
                self.first = False
            await self.call.write(req)

    async def subscribe(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self._reader = asyncio.create_task(self._read())
        types = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]
        if self.delta:
            types.append(VIRTUAL_HOST_TYPE)
        for type_url in types:
            await self.send(type_url, names.get(type_url, ()))

    async def _read(self) -> None:
        response_type: Any = (
            discovery_pb2.DeltaDiscoveryResponse if self.delta else discovery_pb2.DiscoveryResponse
        )
        while True:
            data = await self.call.read()
            if data is grpc.aio.EOF:  # type: ignore[attr-defined]
                return
            self.log.append((time.monotonic(), len(data)))
            response = response_type.FromString(data)
            version = "" if self.delta else response.version_info
            names = self.names.get(response.type_url, ())
            await self.send(response.type_url, names, response.nonce, version)

    async def quiet(self, seconds: float = QUIET_S, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = len(self.log)
            await asyncio.sleep(seconds)
            if len(self.log) == count:
                return
        raise TimeoutError("the stream never went quiet")

    def since(self, start: int) -> Received:
        got = self.log[start:]
        return Received(len(got), sum(n for _, n in got), got[-1][0] if got else 0.0)

    async def close(self) -> None:
        self.call.cancel()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _names(snapshot: Snapshot) -> dict[str, list[str]]:
    return {
        ENDPOINT_TYPE: sorted(snapshot.get(ENDPOINT_TYPE).resources),
        ROUTE_TYPE: sorted(snapshot.get(ROUTE_TYPE).resources),
    }


@dataclass(frozen=True, slots=True)
class Fleet:
    """One protocol's proxies: what each received for the edit, and when the last did."""

    per_proxy_bytes: int  # the largest of the proxies (they all get the same)
    responses: int
    initial_bytes: int
    all_received_ms: float  # new snapshot set -> the last proxy got its last response


async def measure(services: int, proxies: int = 1) -> dict[str, Fleet | int]:
    runtime = MeshRuntime(SnapshotCache())
    name = client_name(0)

    def snapshot(changed: bool) -> Snapshot:
        mesh = push_mesh(services, 1, changed)
        runtime.apply_now(mesh)
        workload = mesh.workload(NAMESPACE, name)
        assert workload is not None
        return runtime.snapshot_for(workload)

    before, after = snapshot(False), snapshot(True)
    cache = SnapshotCache()
    nodes = {
        protocol: [f"{protocol}-{i}" for i in range(proxies)] for protocol in ("sotw", "delta")
    }
    for node in nodes["sotw"] + nodes["delta"]:
        cache.set(node, before)
    service = AggregatedDiscoveryService(
        cache, StaticResolver(cache), StatusBook(XdsMetrics(CollectorRegistry())), AdsSettings()
    )
    server, port = await serve_ads(service, "127.0.0.1:0")
    channels: list[grpc.aio.Channel] = []
    fleets: dict[str, Fleet | int] = {}
    try:
        for protocol, names in nodes.items():
            clients = []
            for node in names:
                channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
                clients.append(_Client(channels[-1], node, protocol == "delta"))
            for client in clients:
                await client.subscribe(_names(before))
            await asyncio.gather(*(c.quiet() for c in clients))
            initial = max(c.since(0).payload_bytes for c in clients)
            marks = [len(c.log) for c in clients]
            # one protocol at a time: the other's streams stay idle, not competing
            set_at = time.monotonic()
            for node in names:
                cache.set(node, after)
            await asyncio.gather(*(c.quiet() for c in clients))
            got = [c.since(m) for c, m in zip(clients, marks, strict=True)]
            fleets[protocol] = Fleet(
                per_proxy_bytes=max(g.payload_bytes for g in got),
                responses=max(g.responses for g in got),
                initial_bytes=initial,
                all_received_ms=(max(g.last_at for g in got) - set_at) * 1000,
            )
            for client in clients:
                await client.close()
    finally:
        for channel in channels:
            await channel.close(None)
        # a grace, as `serve` stops: the streams the clients cancelled end on their own
        # (grpc prints a CancelledError traceback for each handler it has to cancel)
        await server.stop(grace=1.0)
    fleets["route_config_bytes"] = sum(r.size for r in after.get(ROUTE_TYPE).resources.values())
    fleets["proxies"] = proxies
    return fleets


def report(services: int, figures: dict[str, Any]) -> str:
    def row(label: str, fleet: Fleet) -> str:
        return (
            f"  {label:<14} {fleet.per_proxy_bytes:>10,} bytes per proxy in "
            f"{fleet.responses} response(s); all {figures['proxies']} received it "
            f"{fleet.all_received_ms:.0f} ms after the new snapshot"
        )

    sotw, delta = figures["sotw"], figures["delta"]
    verdict = "met" if delta.per_proxy_bytes <= TARGET_BYTES else "MISSED"
    return "\n".join(
        [
            f"one VirtualService edit, {services:,} services, {figures['proxies']} proxies per "
            f"protocol (route configurations: {figures['route_config_bytes']:,} bytes each)",
            row("SotW", sotw),
            row("delta + VHDS", delta),
            f"  target <= {TARGET_BYTES:,} bytes per proxy (delta + VHDS): {verdict}",
            f"  initial config per proxy: SotW {sotw.initial_bytes:,} bytes, "
            f"delta + VHDS {delta.initial_bytes:,} bytes",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, nargs="+", default=[1000])
    parser.add_argument("--proxies", type=int, default=1, help="proxies per protocol")
    parser.add_argument(
        "--envoy", action="store_true", help="also with a real Envoy per protocol (its rx bytes)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # its connection notices cut the table
    quiet_driver()
    for services in args.services:
        print(report(services, asyncio.run(measure(services, args.proxies))), flush=True)
        if args.envoy:
            from benchmarks.vs_edit_envoy import envoy_edit_bytes

            real = asyncio.run(envoy_edit_bytes(services))
            print(
                f"  real Envoy 1 proxy, bytes on its xDS connection for the edit: "
                f"SotW {real['sotw']:,}, delta + VHDS {real['delta']:,}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
