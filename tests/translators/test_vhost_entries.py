"""After one VirtualService edit the outbound view is patched, not walked: only the
virtual host entry that read the edited object is rebuilt (found from the change, not by
asking the memo for every service), every other entry keeps its very object, and the
route configuration still equals a fresh translation's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

from benchmarks.meshgen import mesh_objects
from translators.memo import PieceCache
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.model.objects import MeshObject
from translators.naming import ROUTE_TYPE
from translators.translate import MeshTranslator
from translators.view import vhosts as vhosts_module
from translators.view.entries import VhostEntries
from translators.view.outbound import OutboundView

SERVICES = 12


def _mesh(weight: int, edited: int = 3) -> MeshConfig:
    from benchmarks.meshgen import parse, virtual_service

    objects: list[MeshObject[Any]] = list(mesh_objects(SERVICES))
    if weight != 90:
        name = f"svc-{edited}"
        objects = [
            parse(virtual_service(edited, weight))
            if o.kind == "VirtualService" and o.name == name
            else o
            for o in objects
        ]
    return build_mesh(objects, options=MeshOptions(local_mode=True))


def _entries(translator: MeshTranslator) -> VhostEntries:
    workload = translator.mesh.workloads["default/client"]
    key, build = translator._outbound_view(workload)
    view: OutboundView = translator._memo.get(key, build)
    (found,) = view.entries.values()
    return found


def _routes(translator: MeshTranslator) -> list[bytes]:
    workload = translator.mesh.workloads["default/client"]
    return [r.body() for r in translator.translate(workload).of_type(ROUTE_TYPE)]


@contextlib.contextmanager
def _counting_lookups() -> Iterator[list[tuple[str, str]]]:
    """The memo lookups of virtual host entries made meanwhile."""
    seen: list[tuple[str, str]] = []
    real = PieceCache.get_tracked

    def counting(memo: PieceCache, key: Any, build: Any) -> Any:
        if isinstance(key, tuple) and key[0] == "vhost-entry":
            seen.append((key[0], key[1]))
        return real(memo, key, build)

    with mock.patch.object(PieceCache, "get_tracked", counting):
        yield seen


def test_one_edit_rebuilds_one_entry_and_keeps_the_others() -> None:
    first = MeshTranslator(_mesh(90))
    _routes(first)
    before = _entries(first)
    built: list[str] = []
    real = vhosts_module.vhost_entry

    def counting(service, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(service.hostname)
        return real(service, *args, **kwargs)

    with (
        mock.patch("translators.view.outbound.vhost_entry", counting),
        _counting_lookups() as lookups,
    ):
        second = MeshTranslator(_mesh(50), previous=first)
        routes = _routes(second)
        after = _entries(second)

    assert lookups == [("vhost-entry", "svc-3.default.svc.cluster.local")]  # not 12

    assert built == ["svc-3.default.svc.cluster.local"]
    assert after.services is before.services  # same visible services, patched in place
    changed = [
        i for i, (a, b) in enumerate(zip(before.values, after.values, strict=True)) if a is not b
    ]
    assert [after.services[i].hostname for i in changed] == built
    assert routes == _routes(MeshTranslator(second.mesh))  # what a fresh translation gives


def test_a_new_service_builds_its_entry_alone() -> None:
    """Another set of visible services: the entries still valid are taken by host."""
    first = MeshTranslator(_mesh(90))
    _routes(first)
    before = _entries(first)
    grown = build_mesh(list(mesh_objects(SERVICES + 1)), options=MeshOptions(local_mode=True))
    built: list[str] = []
    real = vhosts_module.vhost_entry

    def counting(service, *args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(service.hostname)
        return real(service, *args, **kwargs)

    with (
        mock.patch("translators.view.outbound.vhost_entry", counting),
        _counting_lookups() as lookups,
    ):
        second = MeshTranslator(grown, previous=first)
        routes = _routes(second)
        after = _entries(second)

    assert built == [f"svc-{SERVICES}.default.svc.cluster.local"]
    assert lookups == [("vhost-entry", built[0])]
    kept = {s.hostname: v for s, v in zip(before.services, before.values, strict=True)}
    for service, value in zip(after.services, after.values, strict=True):
        if service.hostname in kept:
            assert value is kept[service.hostname], service.hostname
    assert routes == _routes(MeshTranslator(grown))
