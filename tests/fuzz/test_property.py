"""Property: generated valid-looking objects of every kind either are refused with a
ConfigError naming a field, or translate to configuration real Envoy accepts. Never an
exception, never a NACK (issue 11 item 4)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.envoy_validate import find_envoy
from tests.fuzz.judge import dump_documents, envoy_rejections, judge_text
from tests.fuzz.strategies import document, documents

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]

# Tuned so the run stays well under a minute on a loaded 2-core machine: each example is
# a mesh of up to 8 generated objects on top of the canary example, and Envoy judges
# every proxy's whole configuration in one validate run per proxy.
FAST = settings(
    max_examples=45,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(docs: list[dict[str, Any]]) -> None:
    judged = judge_text(dump_documents(docs))
    assert not judged.problems, judged.problems
    rejected = envoy_rejections(judged.bootstraps)
    accepted = [o.ref for o in judged.mesh.objects] if judged.mesh else []
    assert not rejected, (
        "Envoy rejected the translation of validated objects:\n"
        + "\n".join(f"{key}: {verdict.output[-1500:]}" for key, verdict in rejected.items())
        + f"\naccepted objects: {accepted}"
    )


@FAST
@given(documents())
def test_what_validates_envoy_accepts(docs: list[dict[str, Any]]) -> None:
    _check(docs)


@settings(FAST, max_examples=10)
@given(document("VirtualService"), document("DestinationRule"), document("ServiceEntry"))
def test_routing_objects_together(
    virtual_service: dict[str, Any], rule: dict[str, Any], entry: dict[str, Any]
) -> None:
    """The kinds that refer to each other, always together (host, subset and port
    references only meet when all three exist)."""
    _check([virtual_service, rule, entry])
