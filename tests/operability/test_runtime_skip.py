"""Proxies a change cannot affect are not translated again (translators/unaffected.py),
and skipping gives exactly the snapshot re-translating gives: after any sequence of
edits (the meshes of the incremental property test, every kind), every connected
proxy's snapshot equals the one a runtime built from nothing publishes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benchmarks.ads_clients import ClientSpec
from tests.translators.test_incremental import NAMES, SLOTS, _mesh, edit_strategy, state_strategy
from translators.mesh import MeshConfig, Workload
from translators.translate import MeshTranslator
from translators.view import OutboundView
from xdscp.cache import SnapshotCache
from xdscp.runtime import MeshRuntime


def _connected(mesh: MeshConfig) -> MeshRuntime:
    runtime = MeshRuntime(SnapshotCache())
    runtime.apply_now(mesh)
    for workload in mesh.workloads.values():
        spec = ClientSpec(workload.namespace, workload.name, workload.address)
        runtime.connect(spec.node(), None)
    return runtime


def _contents(runtime: MeshRuntime) -> dict[str, dict[str, dict[str, str]]]:
    """proxy -> type -> resource name -> version (a hash of its bytes)."""
    out = {}
    for key in sorted(runtime.cache.proxies()):
        snapshot = runtime.cache.get(key)
        assert snapshot is not None
        out[key] = {
            t: {name: r.version for name, r in ts.resources.items()}
            for t, ts in snapshot.types.items()
        }
    return out


def _fresh(runtime: MeshRuntime, mesh: MeshConfig) -> dict[str, dict[str, dict[str, str]]]:
    """What a runtime that never saw the earlier meshes publishes for the same proxies."""
    fresh = MeshRuntime(SnapshotCache())
    fresh.apply_now(mesh)
    out = {}
    for key in sorted(runtime.cache.proxies()):
        namespace, name = key.split("/", 1)
        workload = mesh.workload(namespace, name)
        if workload is None:
            continue  # its workload is gone: a tombstone, nothing to compare
        snapshot = fresh.snapshot_for(workload)
        out[key] = {
            t: {n: r.version for n, r in ts.resources.items()} for t, ts in snapshot.types.items()
        }
    return out


# Skipping acts after VirtualService edits in a mesh without EnvoyFilters: the meshes
# start without them (edits add and remove them: skipping must stop while one is there
# and resume after), and half the edits are VirtualService edits, so that a good share
# of the examples skip proxies (the `event` below counts them).
ENVOY_FILTERS = [name for name in NAMES if SLOTS[name][0].count("kind: EnvoyFilter")]
VIRTUAL_SERVICES = [name for name in NAMES if SLOTS[name][0].count("kind: VirtualService")]
skip_start = state_strategy.map(lambda state: {**state, **dict.fromkeys(ENVOY_FILTERS)})
skip_edit = st.tuples(st.sampled_from(VIRTUAL_SERVICES), st.none() | st.integers(0, 5))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(start=skip_start, edits=st.lists(skip_edit | edit_strategy, min_size=1, max_size=6))
def test_skipping_gives_the_snapshot_re_translating_gives(
    start: dict[str, int | None], edits: list[tuple[str, int | None]]
) -> None:
    state = dict(start)
    runtime = _connected(_mesh(state))
    for name, version in edits:
        state[name] = None if version is None else version % len(SLOTS[name])
        mesh = _mesh(state)
        runtime.apply_now(mesh)
        published = {
            key: contents
            for key, contents in _contents(runtime).items()
            if mesh.workload(*key.split("/", 1)) is not None
        }
        assert published == _fresh(runtime, mesh), (name, version, runtime.skipped)
        event(f"proxies skipped: {bool(runtime.skipped)}")


def test_a_virtual_service_edit_skips_the_proxies_that_cannot_see_it() -> None:
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    state["httproute-orders"] = state["httproute-payments"] = None
    state["vs-orders-prod"] = state["sidecar-orders"] = None  # (orders' own Sidecar: no egress)
    state["sidecar-prod"] = 1  # prod's proxies see their own namespace only
    state["ef-client"] = state["ef-gateway"] = None  # (EnvoyFilters: nothing is skipped)
    runtime = _connected(_mesh(state))
    before = {key: runtime.cache.get(key) for key in runtime.cache.proxies()}
    prod = sorted(key for key in before if key.startswith("prod/"))

    state["vs-orders"] = 3  # default/orders' routes: prod cannot see orders
    mesh = _mesh(state)
    runtime.apply_now(mesh)

    assert runtime.skipped == len(prod) == 2
    assert all(runtime.cache.get(key) is before[key] for key in prod)  # left as they were
    assert _contents(runtime) == _fresh(runtime, mesh)
    changed = [key for key in before if runtime.cache.get(key) is not before[key]]
    assert changed and not set(changed) & set(prod)


def test_a_skipped_proxy_keeps_its_own_part_for_the_next_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A generation carries only the pieces it uses: a skipped proxy's own part
    (listeners, inbound clusters) is carried with it, so the next change that does reach
    the proxy translates its outbound part alone instead of building its own again."""
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    state["httproute-orders"] = state["httproute-payments"] = None
    state["vs-orders-prod"] = state["sidecar-orders"] = None
    state["sidecar-prod"] = 1  # prod's proxies see their own namespace only
    state["ef-client"] = state["ef-gateway"] = None  # (EnvoyFilters: nothing is skipped)
    runtime = _connected(_mesh(state))
    prod = sorted(key for key in runtime.cache.proxies() if key.startswith("prod/"))
    state["vs-orders"] = 3  # prod cannot see orders: its proxies are skipped
    runtime.apply_now(_mesh(state))
    assert runtime.skipped == len(prod) == 2

    built: list[str] = []
    build_local = MeshTranslator._build_local

    def counted(self: MeshTranslator, workload: Workload, outbound: OutboundView) -> Any:
        built.append(workload.key)
        return build_local(self, workload, outbound)

    monkeypatch.setattr(MeshTranslator, "_build_local", counted)
    state["vs-wildcard"] = None  # every scope's view reads the wildcard VirtualServices
    mesh = _mesh(state)
    runtime.apply_now(mesh)

    assert runtime.skipped == 0  # every proxy translated, prod's too
    assert not set(built) & set(prod), built  # their own parts carried, not built again
    assert _contents(runtime) == _fresh(runtime, mesh)


def test_a_gateway_virtual_service_edit_retranslates_the_gateway() -> None:
    """A VirtualService bound to an Istio Gateway alone: the gateway proxy running it is
    translated again (a gateway is never skipped), the sidecars that cannot see the
    VirtualService are skipped, and every snapshot is the one a fresh runtime publishes."""
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    state["ef-client"] = state["ef-gateway"] = None  # (EnvoyFilters: nothing is skipped)
    runtime = _connected(_mesh(state))
    before = {key: runtime.cache.get(key) for key in runtime.cache.proxies()}

    state["vs-gateway"] = None  # edge/public loses its routes
    mesh = _mesh(state)
    runtime.apply_now(mesh)

    assert _contents(runtime) == _fresh(runtime, mesh)
    assert runtime.cache.get("edge/ingress") is not before["edge/ingress"]
    sidecars = [key for key in before if not key.startswith("edge/")]
    assert runtime.skipped == len(sidecars)
    assert all(runtime.cache.get(key) is before[key] for key in sidecars)


def test_with_an_envoy_filter_a_virtual_service_edit_skips_nothing() -> None:
    """An EnvoyFilter may patch any route (ef-client's last version patches client's
    virtual host for orders): while one is in the mesh, no proxy is skipped, and the
    patched routes follow the edit."""
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    state["httproute-orders"] = None  # it would take the VirtualService's place
    state["ef-client"] = len(SLOTS["ef-client"]) - 1
    runtime = _connected(_mesh(state))

    state["vs-orders"] = 2  # orders' routes: a timeout, to payments
    mesh = _mesh(state)
    runtime.apply_now(mesh)

    assert runtime.skipped == 0
    assert _contents(runtime) == _fresh(runtime, mesh)
