"""One VirtualService edit is translated without walking the mesh: no identity walk over
the virtual hosts of the route configuration (the positions that changed are handed
down from the entries rebuilt), no walk over the mesh's objects (the update's keys say
which changed); and the result is byte for byte a fresh translation's."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.meshgen import parse, synthetic_mesh, virtual_service
from translators import mesh_diff
from translators.mesh import update_mesh
from translators.naming import ROUTE_TYPE
from translators.translate import MeshTranslator, ProxyResources
from translators.view import forward_proxy, outbound

SERVICES = 300
# the module (the package's `translators.translate` attribute is its function)
translate_module = importlib.import_module("translators.translate")


def _route_bytes(resources: ProxyResources) -> list[bytes]:
    return [r.body() for group in resources.groups[ROUTE_TYPE] for r in group]


def test_an_edit_walks_neither_the_virtual_hosts_nor_the_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mesh = synthetic_mesh(SERVICES)
    client = mesh.workload("default", "client")
    assert client is not None
    first = MeshTranslator(mesh)
    first.translate(client)
    edited = parse(virtual_service(123, 17))
    updated = update_mesh(mesh, [edited], [])
    updated_client = updated.workload("default", "client")
    assert updated_client is not None

    def walked(*args: Any) -> Iterator[int]:
        raise AssertionError("an edit walked every virtual host (or object)")

    with monkeypatch.context() as patch:
        for module in (outbound, forward_proxy, translate_module):
            patch.setattr(module, "compress", walked)
        patch.setattr(mesh_diff, "walk_objects", walked)
        second = MeshTranslator(updated, first)
        incremental = second.translate(updated_client)
    fresh = MeshTranslator(updated).translate(updated_client)
    assert _route_bytes(incremental) == _route_bytes(fresh)
    assert _route_bytes(incremental) != _route_bytes(first.translate(client))
