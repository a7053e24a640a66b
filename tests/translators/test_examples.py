"""The shipped examples translate cleanly, and the canary golden case is the example."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.envoy_validate import find_envoy, validate_resources
from tests.golden.cases import case_named, translate_case
from translators.extensions import ExtensionSet
from translators.translate import translate
from xdscp.cli_mesh import load_extension
from xdscp.sources.files import DirectorySource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())


def test_canary_golden_input_is_the_example() -> None:
    """Same objects, same translation: the golden case cannot drift from examples/canary."""
    example = DirectorySource(EXAMPLES / "canary").load()
    case = case_named("canary")
    golden_mesh, golden = translate_case(case)
    assert golden_mesh.options == example.options
    assert sorted(o.digest for o in golden_mesh.objects) == sorted(
        o.digest for o in example.objects
    )
    for result in golden:
        namespace, _, name = result.proxy.partition("/")
        workload = example.workload(namespace, name)
        assert workload is not None
        assert translate(example, workload).view == result.view


def example_extensions(example: Path) -> ExtensionSet:
    """An example that needs a translator extension ships it as a `.py` file exporting
    `extension` (as `xdscp up --extension <file>:extension` loads it)."""
    return ExtensionSet(
        tuple(load_extension(f"{p}:extension") for p in sorted(example.glob("*.py")))
    )


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=[p.name for p in EXAMPLE_DIRS])
def test_example_loads_without_errors_and_envoy_accepts_it(example: Path) -> None:
    extensions = example_extensions(example)
    mesh = DirectorySource(example, kinds=extensions.kinds()).load()
    assert mesh.errors == (), [str(e) for e in mesh.errors]
    assert mesh.workloads
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    for workload in mesh.workloads.values():
        verdict = validate_resources(translate(mesh, workload, extensions).resources)
        assert verdict.ok, f"{workload.key}: {verdict}"
