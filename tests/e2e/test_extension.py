"""The example extension end to end: `xdscp up --extension` loads the LocalRateLimit
kind and patch, and real Envoy answers calls beyond the bucket with 429."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import http_get, relocate_example, xdscp_up

pytestmark = pytest.mark.e2e


def _call(url: str, host: str) -> tuple[int, str | None]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("x-local-rate-limit")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-local-rate-limit")


def test_local_rate_limit_extension_through_real_envoy(tmp_path: Path) -> None:
    config, _ = relocate_example("extension", tmp_path)
    extension = f"{config / 'local_ratelimit.py'}:extension"
    with xdscp_up(config, tmp_path, "--extension", extension) as mesh:
        egress = mesh.workload("default/client")["call_through"][0]
        results = [_call(f"http://{egress}/", "orders") for _ in range(8)]
        # maxTokens 5, refilled every 60 s: five pass, the rest are limited by the
        # orders sidecar (the header names the LocalRateLimit object).
        assert results[:5] == [(200, None)] * 5, results
        assert results[5:] == [(429, "orders-burst")] * 3, results

        status, stats = http_get(mesh.workload("default/orders")["stats"])
        assert status == 200
        assert (
            "envoy_http_local_rate_limit_rate_limited{envoy_local_http_ratelimit_prefix="
            '"local_rate_limit_orders-burst"} 3'
        ) in stats

        debug = json.loads(http_get(f"{mesh.state['debug']}/debug/config")[1])
        assert debug["extensions"] == ["local-ratelimit"]
        assert debug["extension_errors"] == []
        assert "LocalRateLimit/default/orders-burst" in debug["objects"]


def test_custom_kind_is_rejected_without_its_extension(tmp_path: Path) -> None:
    """Without the extension the object is an unknown kind: reported, and the rest of the
    mesh still runs (no rate limit)."""
    config, _ = relocate_example("extension", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        debug = json.loads(http_get(f"{mesh.state['debug']}/debug/config")[1])
        (error,) = debug["errors"]
        assert error["kind"] == "LocalRateLimit" and "unsupported kind" in error["message"]
        egress = mesh.workload("default/client")["call_through"][0]
        assert [_call(f"http://{egress}/", "orders")[0] for _ in range(7)] == [200] * 7
