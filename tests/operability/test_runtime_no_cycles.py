"""A generation the next one replaced is freed by reference counting, not left to the
cyclic GC: at a thousand proxies a generation's translator is thousands of containers,
and the cyclic GC freed them in one pause of tens of milliseconds, landing in whichever
change (and push to every proxy) happened to trigger it."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from benchmarks.ads_clients import ClientSpec
from benchmarks.push_mesh import NAMESPACE, client_name, push_mesh
from xdscp.cache import SnapshotCache
from xdscp.identity import IdentityService, IdentitySettings
from xdscp.runtime import MeshRuntime

SERVICES = 4
CLIENTS = 3


def test_a_replaced_generation_needs_no_cyclic_gc(tmp_path: Path) -> None:
    runtime = MeshRuntime(SnapshotCache(), IdentityService(IdentitySettings(ca_dir=tmp_path)))
    runtime.apply_now(push_mesh(SERVICES, CLIENTS))
    for i in range(CLIENTS):
        runtime.connect(ClientSpec(NAMESPACE, client_name(i), "127.0.0.1").node(), None)
    meshes = (push_mesh(SERVICES, CLIENTS), push_mesh(SERVICES, CLIENTS, changed=True))
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        replaced = []
        for mesh in (meshes[1], meshes[0], meshes[1]):
            translator = runtime.translator
            assert translator is not None
            replaced.append(weakref.ref(translator))
            del translator
            runtime.apply_now(mesh)  # every proxy translated again (the VS edit reaches all)
        # every generation but the live one is gone, without a collection
        assert [ref() is None for ref in replaced] == [True, True, True]
        assert gc.collect() == 0  # and left no cyclic garbage behind
    finally:
        if enabled:
            gc.enable()
