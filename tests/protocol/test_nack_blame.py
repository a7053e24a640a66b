"""A NACK whose message names no resource is blamed on what changed since the last
accepted response, not on every resource of the type."""

from __future__ import annotations

from xdscp.cache import CLUSTER_TYPE

from .conftest import Harness


async def test_unnamed_nack_blames_the_resources_changed_since_the_last_ack(ads: Harness) -> None:
    await ads.nack_broken_cluster("Invalid duration: Expected positive duration\nseconds: -1\n")
    proxy = ads.status.get("proxy-1")
    assert proxy is not None
    nack = proxy.types[CLUSTER_TYPE].last_nack
    assert nack is not None
    assert nack.resources == ("broken",)
    assert nack.provenance == ("ServiceEntry/default/broken",)
