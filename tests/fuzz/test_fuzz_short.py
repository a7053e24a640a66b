"""The short fuzz run kept in the suite: a few hundred mutated documents through
`xdscp validate` and translation (some judged by real Envoy), then into a running
`xdscp up` with real sidecars and traffic. Nothing may crash, hang, be lost, be NACKed or
fail a request. `make fuzz N=10000` is the long run (README, "Fuzzing")."""

from __future__ import annotations

import pytest

from tests.envoy_validate import find_envoy
from tests.fuzz.run import fuzz

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]

SEED = 20261203  # fixed: the suite replays the same cases; `make fuzz` draws new ones


def test_short_fuzz_run_finds_nothing() -> None:
    report = fuzz(documents=250, seed=SEED, envoy_every=8, reload_bound=10.0)
    assert report.offline_documents >= 250 and report.live_documents >= 250
    assert report.envoy_checked > 0 and report.requests > 0 and report.live_batches > 5
    assert report.findings == 0, report.summary()
