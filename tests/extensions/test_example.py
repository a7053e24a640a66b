"""The example extension (examples/extension): LocalRateLimit -> local_ratelimit filter on
the selected workloads' inbound connection managers, and nothing else changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2

from translators.extensions import ExtensionSet, http_managers
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.naming import LISTENER_TYPE
from translators.translate import MeshTranslator
from xdscp.cli_mesh import load_extension
from xdscp.sources.documents import parse_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "extension"
FILTER = "envoy.filters.http.local_ratelimit"


def extensions() -> ExtensionSet:
    return ExtensionSet((load_extension(f"{EXAMPLE / 'local_ratelimit.py'}:extension"),))


def example_mesh(replace: tuple[str, str] = ("", "")) -> MeshConfig:
    text = (EXAMPLE / "mesh.yaml").read_text().replace(*replace)
    parsed = parse_text(text, "mesh.yaml", extensions().kinds())
    return build_mesh(parsed.objects, parsed.errors, MeshOptions(local_mode=True))


def listeners(mesh: MeshConfig, name: str, *, with_extensions: bool = True) -> list[object]:
    workload = mesh.workload("default", name)
    assert workload is not None
    translator = MeshTranslator(mesh, extensions=extensions())
    result = translator.translate(workload, extensions=with_extensions)
    return [r.message for r in result.of_type(LISTENER_TYPE)]


def test_selected_inbound_managers_get_the_filter_before_the_router() -> None:
    mesh = example_mesh()
    assert mesh.errors == ()
    (inbound,) = listeners(mesh, "orders")
    assert isinstance(inbound, listener_pb2.Listener)
    found = list(http_managers(inbound))
    assert len(found) == len(inbound.filter_chains) >= 1  # every chain (mTLS and plaintext)
    for _, manager in found:
        names = [f.name for f in manager.http_filters]
        assert names[-2:] == [FILTER, "envoy.filters.http.router"]
        config = local_rate_limit_pb2.LocalRateLimit()
        assert manager.http_filters[-2].typed_config.Unpack(config)
        assert config.token_bucket.max_tokens == 5
        assert config.token_bucket.tokens_per_fill.value == 5
        assert config.token_bucket.fill_interval.seconds == 60
        assert config.filter_enabled.default_value.numerator == 100
        assert config.filter_enforced.default_value.numerator == 100
        assert config.status.code == 429
        assert config.response_headers_to_add[0].header.key == "x-local-rate-limit"


def test_other_proxies_and_ports_are_left_alone() -> None:
    mesh = example_mesh()
    assert listeners(mesh, "client") == listeners(mesh, "client", with_extensions=False)
    other_port = example_mesh(("ports: [8080]", "ports: [9090]"))
    assert listeners(other_port, "orders") == listeners(other_port, "orders", with_extensions=False)


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("fillInterval: 60s", "fillInterval: 1 minute", "spec.fillInterval", "expected a duration"),
        ("fillInterval: 60s", "fillInterval: 10ms", "spec.fillInterval", "at least 50ms"),
        ("maxTokens: 5", "maxTokens: 0", "spec.maxTokens", "greater than or equal to 1"),
        ("maxTokens: 5", "maxTokens: 5\n  burst: 9", "spec.burst", "unknown field"),
        ("ports: [8080]", "ports: [8080]\n  statusCode: 418", "spec.statusCode", "not an HTTP"),
    ],
)
def test_bad_objects_are_rejected_at_load(old: str, new: str, field: str, message: str) -> None:
    mesh = example_mesh((old, new))
    (error,) = mesh.errors
    assert error.kind == "LocalRateLimit" and error.field == field
    assert message in error.message
