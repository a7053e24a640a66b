"""Fixtures: a fake API server on 127.0.0.1 and the real kubernetes-asyncio client
configured from a kubeconfig file pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.kube.fakeapi import FakeKube, fake_kube
from xdscp.kube.api import KubeApi
from xdscp.kube.reflector import WatchSettings

# Short backoffs so reconnects take milliseconds, long server timeouts so a watch only
# ends when a test ends it.
FAST = WatchSettings(
    page_size=500, timeout_seconds=60, read_timeout=20.0, backoff_initial=0.02, backoff_max=0.2
)


@pytest.fixture
async def kube() -> AsyncIterator[FakeKube]:
    async with fake_kube() as server:
        yield server


@pytest.fixture
async def api(kube: FakeKube, tmp_path: Path) -> AsyncIterator[KubeApi]:
    client = await KubeApi.connect(kube.kubeconfig(tmp_path / "kubeconfig"))
    try:
        yield client
    finally:
        await client.close()
