"""Incremental analysis equals a fresh one (translators/analysis/incremental.py).

The meshes are the translator's incremental-test slots (every kind, a few versions
each; tests/translators/test_incremental.py) plus slots that make every family of
checks find something (a missing subset, shadowing VirtualServices, delegation, claim
routes, selectors that select nothing, Sidecar egress). A mesh after each edit is made
as `xdscp serve` makes it: `update_mesh` from the previous one with the edited object
parsed anew, so unchanged objects are the same objects. After every edit the analysis
carried over must equal `analyze` of the same mesh from nothing, message for message.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.translators.test_incremental import OPTIONS, SLOTS, _doc
from translators.analysis import analyze
from translators.analysis.incremental import IncrementalAnalysis, analyze_incrementally
from translators.mesh import MeshConfig, build_mesh, update_mesh
from translators.model.objects import MeshObject
from xdscp.sources.documents import parse_text

NET = "networking.istio.io/v1"
SEC = "security.istio.io/v1"

# slots that give the checks something to find (or stop finding, when edited)
FINDINGS: dict[str, tuple[str, ...]] = {
    "vs-orders-shadow": tuple(
        _doc(NET, "VirtualService", "default", "orders-shadow", spec)
        for spec in (
            "  hosts: [orders]\n  http:\n  - route:\n"
            "    - destination: {host: orders, subset: v9}\n",
            "  hosts: [orders]\n  http:\n  - route:\n    - destination: {host: orderz}\n"
            "  - route:\n    - destination: {host: orders}\n",
            "  hosts: [nothing-here]\n  http:\n  - match: [{sourceLabels: {app: nobody}}]\n"
            "    route:\n    - destination: {host: orders, port: {number: 1}}\n",
        )
    ),
    "vs-root": tuple(
        _doc(NET, "VirtualService", "default", "root", spec)
        for spec in (
            "  hosts: [payments.prod.svc.cluster.local]\n  http:\n"
            "  - match: [{uri: {prefix: /pay}}]\n    delegate: {name: leaf, namespace: default}\n",
            "  hosts: [payments.prod.svc.cluster.local]\n  http:\n  - delegate: {name: missing}\n",
            "  hosts: [payments.prod.svc.cluster.local]\n  http:\n"
            "  - match: [{headers: {'@request.auth.claims.group': {exact: admin}}}]\n"
            "    route:\n    - destination: {host: payments.prod.svc.cluster.local}\n",
        )
    ),
    "vs-leaf": tuple(
        _doc(NET, "VirtualService", "default", "leaf", spec)
        for spec in (
            "  http:\n  - match: [{uri: {prefix: /other}}]\n"
            "    route:\n    - destination: {host: orders, subset: v1}\n",
            "  http:\n  - route:\n    - destination: {host: orders, subset: v7}\n",
        )
    ),
    "dr-orders-extra": tuple(
        _doc(NET, "DestinationRule", "default", "orders-extra", spec)
        for spec in (
            "  host: orders\n  subsets:\n  - {name: v3, labels: {version: v3}}\n",
            "  host: nowhere\n",
            "  host: orders\n  trafficPolicy: {tls: {mode: SIMPLE}}\n",
        )
    ),
    "pa-selecting": tuple(
        _doc(SEC, "PeerAuthentication", "default", "selecting", spec)
        for spec in (
            "  selector: {matchLabels: {app: nobody}}\n  mtls: {mode: STRICT}\n",
            "  selector: {matchLabels: {app: orders}}\n  portLevelMtls: {9999: {mode: DISABLE}}\n",
        )
    ),
    "ap-sources": tuple(
        _doc(SEC, "AuthorizationPolicy", "default", "sources", spec)
        for spec in (
            "  rules:\n  - from:\n    - source: {principals: [cluster.local/ns/x/sa/nobody]}\n",
            "  rules:\n  - from:\n    - source: {namespaces: [nowhere]}\n",
        )
    ),
    "sidecar-egress": tuple(
        _doc(NET, "Sidecar", "default", "egress", spec)
        for spec in (
            "  workloadSelector: {labels: {app: client}}\n"
            "  egress:\n  - hosts: [other/*.nowhere]\n",
            "  workloadSelector: {labels: {app: client}}\n  egress:\n"
            "  - port: {number: 1234, protocol: HTTP, name: http}\n    hosts: ['./*']\n",
        )
    ),
}
ALL_SLOTS = {**SLOTS, **FINDINGS}
NAMES = sorted(ALL_SLOTS)
FIXED = {"we-client": 0, "we-prod-client": 0, "we-ingress": 0, "we-api-gateway": 0}


@cache
def _objects(name: str, version: int) -> tuple[MeshObject[Any], ...]:
    """The slot's version, parsed once: an unedited object stays the same object."""
    parsed = parse_text(ALL_SLOTS[name][version], f"{name}.yaml")
    return tuple(parsed.objects)


def _chosen(state: dict[str, int | None]) -> dict[str, int]:
    merged = {**state, **{k: v for k, v in FIXED.items() if state.get(k) is None}}
    return {k: v for k, v in merged.items() if v is not None}


def _build(state: dict[str, int | None]) -> MeshConfig:
    objects = [o for name, v in sorted(_chosen(state).items()) for o in _objects(name, v)]
    return build_mesh(objects, options=OPTIONS)


def _edit(
    mesh: MeshConfig, before: dict[str, int | None], after: dict[str, int | None]
) -> MeshConfig:
    """`mesh` updated as the file source updates it: changed objects in, gone ones out."""
    old, new = _chosen(before), _chosen(after)
    changed: list[MeshObject[Any]] = []
    removed = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        gone = {o.key for o in _objects(name, old[name])} if name in old else set()
        came = _objects(name, new[name]) if name in new else ()
        changed += came
        removed += sorted(gone - {o.key for o in came})
    return update_mesh(mesh, changed, removed)


def _step(previous: IncrementalAnalysis, mesh: MeshConfig) -> IncrementalAnalysis:
    carried = analyze_incrementally(mesh, previous, include_schema=True)
    fresh = analyze(mesh, include_schema=True)
    assert carried.analysis == fresh, (
        [str(m) for m in carried.analysis.messages],
        [str(m) for m in fresh.messages],
    )
    return carried


state_strategy = st.fixed_dictionaries(
    {name: st.none() | st.integers(0, len(ALL_SLOTS[name]) - 1) for name in NAMES}
)
edit_strategy = st.tuples(st.sampled_from(NAMES), st.none() | st.integers(0, 3))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(start=state_strategy, edits=st.lists(edit_strategy, min_size=1, max_size=6))
def test_incremental_analysis_equals_a_fresh_one(
    start: dict[str, int | None], edits: list[tuple[str, int | None]]
) -> None:
    state = dict(start)
    mesh = _build(state)
    analysis = analyze_incrementally(mesh, include_schema=True)
    assert analysis.analysis == analyze(mesh, include_schema=True)
    for name, version in edits:
        after = {**state, name: None if version is None else version % len(ALL_SLOTS[name])}
        mesh = _edit(mesh, state, after)
        state = after
        analysis = _step(analysis, mesh)


@pytest.mark.parametrize("start", [0, 1])
def test_every_single_edit_of_a_full_mesh(start: int) -> None:
    """Deterministically: from a mesh with every slot at its first (or second) version,
    each slot changed to each other version, or removed, and back."""
    full: dict[str, int | None] = {n: min(start, len(ALL_SLOTS[n]) - 1) for n in NAMES}
    mesh = _build(full)
    assert analyze(mesh).messages, "the meshes must give the checks something to find"
    for name in NAMES:
        for version in [None, *range(len(ALL_SLOTS[name]))]:
            if version == full[name]:
                continue
            first = analyze_incrementally(mesh, include_schema=True)  # a state is used once
            edited = _edit(mesh, full, {**full, name: version})
            after = _step(first, edited)
            _step(after, _edit(edited, {**full, name: version}, full))


def test_a_virtual_service_edit_reruns_only_what_reads_other_virtual_services() -> None:
    """The point of it: one VirtualService edited, the per-object checks look at that
    one alone and every check that does not read VirtualServices is carried over."""
    full: dict[str, int | None] = {n: 0 for n in NAMES}
    full["vs-root"] = 2  # no delegation: VirtualServices are checked one by one
    mesh = _build(full)
    first = analyze_incrementally(mesh, include_schema=True)
    edited = _edit(mesh, full, {**full, "vs-orders-shadow": 1})
    after = _step(first, edited)
    assert set(after.reran) == {
        "virtualservice-conflicts",
        "virtualservice-overridden",
        "sidecar-egress-routes",
    }


def test_a_state_carried_over_twice_starts_from_nothing() -> None:
    """The next analysis updates some of a state's tables in place: a state given a
    second time (two edits from one mesh) is not trusted, the analysis is worked out
    from nothing, and both results are right."""
    full: dict[str, int | None] = {n: 0 for n in NAMES}
    mesh = _build(full)
    first = analyze_incrementally(mesh, include_schema=True)
    one = _edit(mesh, full, {**full, "se-orders": 1})  # a service edit: per-host updates
    other = _edit(mesh, full, {**full, "se-orders": None})
    carried = _step(first, one)
    assert len(carried.reran) < len(carried.findings)
    again = _step(first, other)
    assert len(again.reran) == len(again.findings)  # from nothing
