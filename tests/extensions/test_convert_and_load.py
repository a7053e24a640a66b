"""envoy-data-plane -> protobuf at the edge, and loading extensions by name."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2
from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
from envoy_data_plane.envoy.type.v3 import TokenBucket

from translators.extensions import pack, to_protobuf
from translators.extensions.convert import protobuf_class
from xdscp.cli import main
from xdscp.cli_mesh import load_extension, load_extensions

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "extension"


def test_betterproto_becomes_the_same_protobuf_message() -> None:
    limit = LocalRateLimit(
        stat_prefix="x",
        token_bucket=TokenBucket(max_tokens=3, fill_interval=timedelta(seconds=2)),
    )
    converted = to_protobuf(limit)
    assert isinstance(converted, local_rate_limit_pb2.LocalRateLimit)
    assert converted.token_bucket.max_tokens == 3
    assert converted.token_bucket.fill_interval.seconds == 2
    assert converted.SerializeToString() == bytes(limit)
    assert to_protobuf(converted) is converted
    packed = pack(limit)
    assert packed.type_url.endswith(
        "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
    )


def test_unknown_values_and_types_are_refused() -> None:
    with pytest.raises(TypeError, match="expected a protobuf or envoy-data-plane message"):
        to_protobuf({"name": "x"})
    with pytest.raises(TypeError, match="no protobuf message type"):
        protobuf_class("envoy.nothing.v3.Missing")


def test_load_extension_by_module_file_and_factory(tmp_path: Path) -> None:
    by_file = load_extension(f"{EXAMPLE / 'local_ratelimit.py'}:extension")
    assert by_file.name == "local-ratelimit"
    factory = load_extension(f"{EXAMPLE / 'local_ratelimit.py'}:make_extension")
    assert factory is not by_file and factory.name == by_file.name
    module = tmp_path / "my_ext.py"
    module.write_text("from translators import Extension\next = Extension('mine')\nnot_one = 3\n")
    assert load_extension(f"{module}:ext").name == "mine"
    with pytest.raises(ValueError, match="not a translators Extension"):
        load_extension(f"{module}:not_one")
    with pytest.raises(ValueError, match="has no missing"):
        load_extension(f"{module}:missing")
    with pytest.raises(ValueError, match="cannot import"):
        load_extension("no_such_module_xyz:ext")
    with pytest.raises(ValueError, match="expected module:object"):
        load_extension("just_a_module")
    with pytest.raises(click.BadParameter):
        load_extensions(("no_such_module_xyz:ext",))
    assert load_extensions(()).extensions == ()


def test_validate_accepts_extension_kinds_only_with_the_extension() -> None:
    runner = CliRunner()
    without = runner.invoke(main, ["validate", str(EXAMPLE)])
    assert without.exit_code == 1
    assert "LocalRateLimit default/orders-burst: field kind: unsupported kind" in without.output
    spec = f"{EXAMPLE / 'local_ratelimit.py'}:extension"
    with_ext = runner.invoke(main, ["validate", str(EXAMPLE), "--extension", spec])
    assert with_ext.exit_code == 0, with_ext.output
    assert "6 objects valid, 0 errors" in with_ext.output


def test_serve_rejects_a_bad_extension_and_tracing_flag(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        main, ["serve", "--config", str(EXAMPLE), "--extension", "nope_xyz:ext", "--insecure"]
    )
    assert bad.exit_code == 2 and "cannot import nope_xyz" in bad.output
    tracing = runner.invoke(
        main, ["serve", "--config", str(EXAMPLE), "--tracing", "jaeger=1.2.3.4:1", "--insecure"]
    )
    assert tracing.exit_code == 2 and "unknown tracing kind" in tracing.output
