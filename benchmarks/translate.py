"""Translate + serialize one proxy's full config for 100 / 1,000 / 10,000 services, then
the same after one VirtualService changed (what a push costs the control plane).

Runs the real runtime path (MeshRuntime.snapshot_for). The floor, measured in the same
run, is serializing the finished messages again: pure protobuf cost, no mesh logic.
"""

from __future__ import annotations

import gc
import sys
import time

from benchmarks.meshgen import mesh_objects, parse, virtual_service
from translators.mesh import MeshOptions, build_mesh
from translators.translate import MeshTranslator
from xdscp.cache import SnapshotCache
from xdscp.runtime import MeshRuntime
from xdscp.tuning import frozen_after, tune_gc


def run(services: int) -> dict[str, float]:
    t0 = time.perf_counter()
    objects = mesh_objects(services)
    mesh = build_mesh(objects, options=MeshOptions(local_mode=True))
    parse_s = time.perf_counter() - t0
    client = mesh.workload("default", "client")
    assert client is not None
    runtime = MeshRuntime(SnapshotCache())
    runtime.apply_now(mesh)
    tune_gc()
    runtime.freeze_next_translation = True  # as `xdscp serve` starts (xdscp/service.py)
    t1 = time.perf_counter()
    snapshot = runtime.snapshot_for(client)
    full_s = time.perf_counter() - t1

    # One VirtualService changes: new mesh generation, the proxy's snapshot again.
    changed = parse(virtual_service(services // 2, 50))
    objects = [changed if o.key == changed.key else o for o in objects]
    t2 = time.perf_counter()
    mesh2 = build_mesh(objects, options=MeshOptions(local_mode=True))
    t3 = time.perf_counter()
    runtime.apply_now(mesh2)
    snapshot2 = runtime.snapshot_for(client)
    incremental_s = time.perf_counter() - t3
    changed_types = [
        t for t in snapshot.types if snapshot.types[t].version != snapshot2.types[t].version
    ]

    translated = runtime._translator.translate(client) if runtime._translator else None
    assert translated is not None
    t4 = time.perf_counter()
    for resource in translated.resources:
        resource.message.SerializeToString(deterministic=True)
    floor_s = time.perf_counter() - t4
    # The translator alone (no runtime, no cache): a fresh one for the full config, then
    # the next generation's after the one VirtualService change. With the cyclic GC
    # paused, as `xdscp serve` runs its first full translation (xdscp/runtime.py:
    # `freeze_next_translation`); and, first, with it running, for comparison (first: its
    # collections would otherwise walk the other translation's million objects too).
    cpu_gc = time.process_time()
    MeshTranslator(mesh).translate(client)
    translate_gc_cpu_s = time.process_time() - cpu_gc
    # (`frozen_after`, as serve: left unfrozen, the million objects made with the GC
    # paused would all be walked by the next collections, the next translation's)
    with frozen_after():
        t5, cpu5 = time.perf_counter(), time.process_time()
        alone = MeshTranslator(mesh)
        alone.translate(client)
        translate_s = time.perf_counter() - t5
        # CPU seconds too: on a shared machine wall time also counts the other processes
        translate_cpu_s = time.process_time() - cpu5
    client2 = mesh2.workload("default", "client")
    assert client2 is not None
    t6 = time.perf_counter()
    MeshTranslator(mesh2, previous=alone).translate(client2)
    translate_change_s = time.perf_counter() - t6
    count = sum(len(t.resources) for t in snapshot.types.values())
    size = sum(r.size for t in snapshot.types.values() for r in t.resources.values())
    return {
        "services": services,
        "resources": count,
        "bytes": size,
        "parse_s": parse_s,
        "full_s": full_s,
        "us_per_resource": full_s / count * 1e6,
        "rebuild_mesh_s": t3 - t2,
        "incremental_s": incremental_s,
        "changed_types": len(changed_types),
        "floor_s": floor_s,
        "translate_s": translate_s,
        "translate_cpu_s": translate_cpu_s,
        "translate_gc_cpu_s": translate_gc_cpu_s,
        "translate_change_s": translate_change_s,
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100, 1_000, 10_000]
    header = (
        f"{'services':>8} {'resources':>9} {'MB':>5} {'load s':>7} {'full s':>7} {'µs/res':>6} "
        f"{'floor s':>7} {'x floor':>7} {'mesh rebuild s':>14} {'1 VS change s':>13} "
        f"{'types changed':>13} {'translate s':>11} {'CPU s':>6} {'GC on':>6} "
        f"{'1 VS translate s':>16}"
    )
    print(header)
    for n in sizes:
        gc.collect()
        r = run(n)
        print(
            f"{r['services']:>8.0f} {r['resources']:>9.0f} {r['bytes'] / 1e6:>5.1f} "
            f"{r['parse_s']:>7.2f} {r['full_s']:>7.3f} {r['us_per_resource']:>6.1f} "
            f"{r['floor_s']:>7.3f} {r['full_s'] / r['floor_s']:>7.1f} "
            f"{r['rebuild_mesh_s']:>14.3f} {r['incremental_s']:>13.3f} {r['changed_types']:>13.0f}"
            f" {r['translate_s']:>11.3f} {r['translate_cpu_s']:>6.3f}"
            f" {r['translate_gc_cpu_s']:>6.3f}"
            f" {r['translate_change_s']:>16.3f}"
        )
    print(
        "translate s: one proxy's full config from a fresh MeshTranslator (translation only;"
        " CPU s: its CPU seconds, what a shared machine does not inflate, with the cyclic GC"
        " paused as `serve` translates first; GC on: the same with it running);"
        " 1 VS translate s: the next generation's translator after the change"
    )
    print(
        "targets (2 cores): full <= 1 s at 10,000 services; one changed VirtualService "
        "pushed <= 50 ms (here: its translation + serialization; see benchmarks.push for the wire)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
