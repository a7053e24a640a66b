"""The analysis context's shortcuts agree with the translators they stand for."""

from __future__ import annotations

from tests.analysis.meshes import base, obj, workload
from tests.golden.cases import all_cases, load_mesh
from translators.analysis.context import AnalysisContext
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import MeshObject, Origin, parse_object


def _sidecar(name: str, namespace: str, **labels: str) -> dict[str, object]:
    spec: dict[str, object] = {"egress": [{"hosts": ["./*"]}]}
    if labels:
        spec["workloadSelector"] = {"labels": labels}
    return obj("Sidecar", name, namespace, spec)


def _mesh(docs: list[dict[str, object]]) -> MeshConfig:
    objects = [parse_object(d, Origin("test", i)) for i, d in enumerate(docs)]
    assert all(isinstance(o, MeshObject) for o in objects), objects
    return build_mesh([o for o in objects if isinstance(o, MeshObject)], options=MeshOptions())


def _assert_sidecar_users_agree(mesh: MeshConfig) -> set[str]:
    ctx = AnalysisContext(mesh)
    users = {id(g): ref for ref, groups in ctx.sidecar_users.items() for g in groups}
    for group in ctx.groups:
        chosen = ctx.index.sidecar_for(group.first)
        assert users.get(id(group)) == (chosen.ref if chosen else None), group.first.key
    return set(users.values())


def test_sidecar_users_agree_with_the_index() -> None:
    docs: list[dict[str, object]] = [
        *base(),
        _sidecar("zz-first", "shop", app="reviews"),  # oldest by name: wins reviews
        _sidecar("zz-second", "shop", app="reviews", version="v2"),
        _sidecar("shop-default", "shop"),
        _sidecar("shop-default-2", "shop"),
        _sidecar("mesh-default", "istio-system"),
        _sidecar("frontend-extra", "web", app="frontend"),
        workload("debugger", "tools", "127.0.8.20", "debugger", app="debugger"),  # root's
    ]
    assert _assert_sidecar_users_agree(_mesh(docs)) == {
        "Sidecar/shop/zz-first",
        "Sidecar/shop/shop-default",
        "Sidecar/web/frontend",
        "Sidecar/istio-system/mesh-default",
    }


def test_sidecar_users_agree_on_every_golden_input() -> None:
    for case in all_cases():
        _assert_sidecar_users_agree(load_mesh(case))


def test_visible_is_the_index_lookup() -> None:
    mesh = _mesh(base())
    ctx = AnalysisContext(mesh)
    for hosts in (["./*"], ["shop/*"], ["*/reviews.shop.svc.cluster.local"], ["~/*"]):
        assert ctx.visible("web", hosts) == ctx.index.visible_services("web", hosts)
        assert ctx.visible("web", hosts) is ctx.visible("web", hosts)  # cached


def test_workload_groups_give_way_while_they_are_built() -> None:
    """The grouping of every workload (~150 ms at 10,000 services) calls the context's
    checkpoint on the way, so a held analysis stops inside it, not after it; the
    groups are the same as without."""
    from benchmarks.meshgen import synthetic_mesh

    mesh = synthetic_mesh(1_100)  # 2,200 workloads with distinct labels
    plain = AnalysisContext(mesh)
    context = AnalysisContext(mesh, plain.index)
    calls: list[int] = []
    context.checkpoint = lambda: calls.append(len(calls))
    assert context.groups == plain.groups and len(context.groups) > 2048
    assert len(calls) >= 3  # one per 2,048 workloads, one per 1,024 groups
    calls.clear()
    assert context.selected("default", {"app": "svc-7", "version": "v1"})
    assert calls  # the label table too
