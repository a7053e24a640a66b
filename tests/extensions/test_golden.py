"""Extension golden files: the example extension's Envoy output, validated by Envoy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telemetry.goldens import Case, cases, check, envoy_verdicts, stale

ROOT = Path(__file__).parent / "testdata"
CASES = cases(ROOT)


def test_cases_exist() -> None:
    assert {"local-ratelimit"} <= {c.name for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case, update_golden: bool) -> None:
    check(case, update_golden)


def test_no_stale_outputs(update_golden: bool) -> None:
    assert not stale(ROOT, CASES, update_golden)


def test_envoy_accepts_every_output() -> None:
    rejected = envoy_verdicts(CASES)
    assert not rejected, "\n\n".join(f"{k}: {v}" for k, v in rejected.items())
