"""The per-push and per-ACK debug events: emitted at debug level, skipped cheaply above it.

The server checks the configured level before building those events (one per proxy per
push, see `xdscp.logging.debug_enabled`); the check must follow a reconfiguration made
while the server runs, in either direction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from xdscp.cache import CLUSTER_TYPE
from xdscp.logging import debug_enabled

from .conftest import Harness
from .resources import mesh


@contextmanager
def logging_at(level: int) -> Iterator[list[MutableMapping[str, Any]]]:
    """structlog filtering at `level`, its events captured; the configuration restored."""
    before = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**before)


async def _push_and_ack(ads: Harness, proxy: str) -> str:
    ads.cache.set(proxy, mesh())
    client = ads.sotw(proxy)
    response = await client.subscribe(CLUSTER_TYPE)  # the request, the response, the ACK
    await client.expect_silence(0.2)
    return str(response.nonce)


async def test_push_and_ack_events_follow_the_configured_level(ads: Harness) -> None:
    with logging_at(logging.DEBUG) as logs:
        assert debug_enabled()
        nonce = await _push_and_ack(ads, "proxy-1")
    events = {(e["event"], e.get("proxy"), e.get("nonce")) for e in logs}
    assert ("xds.push", "proxy-1", nonce) in events
    assert ("xds.ack", "proxy-1", nonce) in events

    with logging_at(logging.INFO) as logs:
        assert not debug_enabled()
        await _push_and_ack(ads, "proxy-2")
    assert not [e for e in logs if e["event"] in ("xds.push", "xds.ack")]
    # the ACK was still recorded: only the log line is skipped
    assert ads.status.snapshot_json()["proxy-2"]["types"]["CDS"]["acks"] == 1
