"""Golden cases for telemetry and extensions, in the format of `tests/golden` plus two
header lines:

    # telemetry: access_log=/dev/stdout tracing=zipkin=127.0.0.1:9411 sampling=100
    # extensions: examples/extension/local_ratelimit.py:extension

Outputs go next to the inputs (`testdata/out/<case>.{ir,envoy}.yaml`), are rewritten by
`pytest --update-golden`, and every Envoy output is validated by real Envoy.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.envoy_validate import bootstrap_json, build_bootstrap, find_envoy, validate_many
from tests.golden.cases import GoldenCase, load_case, render_envoy, render_ir
from translators.extensions import ExtensionSet
from translators.mesh import MeshConfig, build_mesh
from translators.telemetry.options import TelemetryOptions, TracingProvider
from translators.translate import MeshTranslator, ProxyResources
from xdscp.cli_mesh import load_extension
from xdscp.sources.documents import parse_text

REPO = Path(__file__).resolve().parents[2]
KINDS = ("ir", "envoy")


@dataclass(frozen=True)
class Case:
    golden: GoldenCase
    root: Path  # the testdata directory
    extensions: ExtensionSet

    @property
    def name(self) -> str:
        return self.golden.name

    def output(self, kind: str) -> Path:
        return self.root / "out" / f"{self.name}.{kind}.yaml"


def _telemetry(value: str) -> TelemetryOptions:
    options = TelemetryOptions()
    for item in value.split():
        key, _, raw = item.partition("=")
        if key == "access_log":
            options = replace(options, access_log_path=raw)
        elif key == "tracing":
            options = replace(options, tracing=TracingProvider.parse(raw))
        elif key == "sampling":
            options = replace(options, sampling=float(raw))
        else:
            raise ValueError(f"unknown telemetry option {key!r}")
    return options


def load(path: Path, root: Path) -> Case:
    golden = load_case(path)
    telemetry = TelemetryOptions()
    specs: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("# ").partition(":")
        if key == "telemetry" and sep:
            telemetry = _telemetry(value)
        elif key == "extensions" and sep:
            specs += [str(REPO / s) for s in value.split()]
    options = replace(golden.options, telemetry=telemetry)
    extensions = ExtensionSet(tuple(load_extension(s) for s in specs))
    return Case(replace(golden, options=options), root, extensions)


def cases(root: Path) -> list[Case]:
    return [load(p, root) for p in sorted((root / "in").glob("*.yaml"))]


def translate_case(case: Case) -> tuple[MeshConfig, list[ProxyResources]]:
    text = case.golden.path.read_text(encoding="utf-8")
    parsed = parse_text(text, case.golden.path.name, case.extensions.kinds())
    mesh = build_mesh(parsed.objects, parsed.errors, case.golden.options)
    translator = MeshTranslator(mesh, extensions=case.extensions)
    results = []
    for key in case.golden.proxies:
        namespace, _, name = key.partition("/")
        workload = mesh.workload(namespace, name)
        assert workload is not None, f"{case.name}: no workload {key}"
        results.append(translator.translate(workload))
    return mesh, results


def render(case: Case) -> dict[str, str]:
    mesh, results = translate_case(case)
    where = f"{case.root.relative_to(REPO)}/in/{case.name}.yaml"
    fix = f"tests/golden/testdata/in/{case.name}.yaml"
    tests = f"pytest {case.root.parent.relative_to(REPO)}"
    texts = {
        "ir": render_ir(case.golden, mesh, results),
        "envoy": render_envoy(case.golden, results),
    }
    return {
        kind: text.replace(fix, where, 1).replace("pytest tests/golden", tests, 1)
        for kind, text in texts.items()
    }


def check(case: Case, update: bool) -> None:
    rendered = render(case)
    mismatches: list[str] = []
    for kind, text in rendered.items():
        path = case.output(kind)
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
            continue
        expected = path.read_text(encoding="utf-8") if path.exists() else ""
        if expected != text:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"golden/{path.name}",
                tofile="translated",
            )
            mismatches.append("".join(list(diff)[:200]))
    if mismatches:
        pytest.fail(
            "golden output differs (if intended: pytest --update-golden):\n"
            + "\n".join(mismatches),
            pytrace=False,
        )


def stale(root: Path, all_cases: list[Case], update: bool) -> list[str]:
    expected = {c.output(k).name for c in all_cases for k in KINDS}
    found = sorted(p for p in (root / "out").glob("*.yaml") if p.name not in expected)
    if update:
        for path in found:
            path.unlink()
        return []
    return [p.name for p in found]


def envoy_verdicts(all_cases: list[Case]) -> dict[str, str]:
    """Case:proxy -> Envoy's complaint, for every proxy Envoy rejects."""
    envoy = find_envoy()
    assert envoy is not None, "no envoy binary"
    configs = {}
    for case in all_cases:
        _, results = translate_case(case)
        for result in results:
            bootstrap = build_bootstrap(result.resources, validate_clusters=True)
            configs[f"{case.name}:{result.proxy}"] = bootstrap_json(bootstrap)
    verdicts = validate_many(configs, envoy=envoy)
    return {name: str(v) for name, v in verdicts.items() if not v.ok}
