"""Fixtures: an ADS server on 127.0.0.1 (ephemeral port) with a cache, resolver and status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2
from prometheus_client import CollectorRegistry

from xdscp.cache import CLUSTER_TYPE, SnapshotCache
from xdscp.metrics import XdsMetrics
from xdscp.server import AdsSettings, AggregatedDiscoveryService, StaticResolver, StatusBook, serve

from .ads_client import DeltaClient, SotwClient
from .resources import mesh


@dataclass
class Harness:
    cache: SnapshotCache
    resolver: StaticResolver
    status: StatusBook
    metrics: XdsMetrics
    service: AggregatedDiscoveryService
    server: grpc.aio.Server
    port: int
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def channel(self) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        self.channels.append(channel)
        return channel

    def sotw(self, node_id: str = "proxy-1") -> SotwClient:
        return SotwClient(self.channel(), node_id)

    def delta(self, node_id: str = "proxy-1") -> DeltaClient:
        return DeltaClient(self.channel(), node_id)

    async def nack_broken_cluster(
        self, error: str
    ) -> tuple[discovery_pb2.DiscoveryResponse, discovery_pb2.DiscoveryResponse]:
        """proxy-1 accepts a mesh's CDS, then NACKs (with `error`) the CDS that adds
        cluster `broken` (from ServiceEntry default/broken); the NACK is processed on return.
        Returns (the accepted response, the rejected one)."""
        self.cache.set("proxy-1", mesh())
        client = self.sotw()
        good: discovery_pb2.DiscoveryResponse = await client.subscribe(CLUSTER_TYPE)
        self.cache.set("proxy-1", mesh(clusters=["a", "b", "broken"]))
        pushed: discovery_pb2.DiscoveryResponse = await client.recv()
        await client.send(CLUSTER_TYPE, version=good.version_info, nonce=pushed.nonce, error=error)
        await client.expect_silence(0.2)
        return good, pushed


@asynccontextmanager
async def serving(cache: SnapshotCache, settings: AdsSettings) -> AsyncIterator[Harness]:
    """An ADS server on an ephemeral port over `cache`; its channels and server are
    closed on exit."""
    resolver = StaticResolver(cache)
    metrics = XdsMetrics(CollectorRegistry())
    status = StatusBook(metrics)
    service = AggregatedDiscoveryService(cache, resolver, status, settings)
    server, port = await serve(service, "127.0.0.1:0")
    harness = Harness(cache, resolver, status, metrics, service, server, port)
    try:
        yield harness
    finally:
        for channel in harness.channels:
            await channel.close(None)
        await server.stop(None)


@pytest.fixture
async def ads() -> AsyncIterator[Harness]:
    settings = AdsSettings(control_plane_id="test-cp", first_request_timeout=5)
    async with serving(SnapshotCache(), settings) as harness:
        yield harness
