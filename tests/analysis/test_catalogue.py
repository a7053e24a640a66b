"""The codes are a public contract: documented in the README exactly as defined, unique,
and each one produced by at least one test mesh."""

from __future__ import annotations

import re
from pathlib import Path

from tests.analysis.cases import CASES
from translators.analysis import MESSAGE_TYPES
from translators.analysis.checks import CHECKS
from translators.analysis.runtime import RUNTIME_MESSAGE_TYPES

README = Path(__file__).resolve().parents[2] / "README.md"
# XDS0001 comes from a failing check (test_runner); XDS0002 from schema errors, not a check
NOT_FROM_CASES = {"XDS0001"}
NOT_FROM_CHECKS = {"XDS0001", "XDS0002"}


def test_readme_table_lists_every_code_as_defined() -> None:
    rows = re.findall(r"^\| (XDS\d{4}) \| (\S+) \| (\w+) \| (.+) \|$", README.read_text(), re.M)
    documented = [(code, istio, severity, meaning) for code, istio, severity, meaning in rows]
    every = (*MESSAGE_TYPES, *RUNTIME_MESSAGE_TYPES)
    defined = [(t.code, t.istio_code or "-", t.severity.label, t.summary) for t in every]
    assert documented == defined


def test_codes_are_unique_and_every_one_is_produced_by_a_case() -> None:
    codes = [t.code for t in MESSAGE_TYPES]
    assert len(codes) == len(set(codes))
    assert not set(codes) & {t.code for t in RUNTIME_MESSAGE_TYPES}
    produced = {code for case in CASES for code, _, _ in case.expected}
    assert set(codes) - NOT_FROM_CASES == produced
    registered = {code for check in CHECKS for code in check.codes}
    assert registered == set(codes) - NOT_FROM_CHECKS
