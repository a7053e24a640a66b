"""Translate + serialize one proxy's full config for 100 / 1,000 / 10,000 services.

Prints wall time and µs per resource; the floor is serializing the same finished
messages again (pure protobuf cost), measured in the same run.
"""

from __future__ import annotations

import gc
import sys
import time

from benchmarks.meshgen import synthetic_mesh
from translators.translate import MeshTranslator
from xdscp.cache import Snapshot, make_resource


def run(services: int) -> dict[str, float]:
    t0 = time.perf_counter()
    mesh = synthetic_mesh(services)
    parse_s = time.perf_counter() - t0
    client = mesh.workload("default", "client")
    assert client is not None
    gc.collect()
    t1 = time.perf_counter()
    translated = MeshTranslator(mesh).translate(client)
    t2 = time.perf_counter()
    snapshot = Snapshot.of(
        make_resource(r.type_url, r.name, r.message, r.provenance) for r in translated.resources
    )
    t3 = time.perf_counter()
    for resource in translated.resources:
        resource.message.SerializeToString(deterministic=True)
    floor_s = time.perf_counter() - t3
    count = sum(len(t.resources) for t in snapshot.types.values())
    size = sum(len(r.body) for t in snapshot.types.values() for r in t.resources.values())
    return {
        "services": services,
        "resources": count,
        "bytes": size,
        "parse_s": parse_s,
        "translate_s": t2 - t1,
        "serialize_s": t3 - t2,
        "total_s": t3 - t1,
        "floor_serialize_s": floor_s,
        "us_per_resource": (t3 - t1) / count * 1e6,
    }


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [100, 1_000, 10_000]
    print(
        f"{'services':>9} {'resources':>9} {'MB':>6} {'parse s':>8} {'translate s':>11} "
        f"{'serialize s':>11} {'total s':>8} {'µs/res':>7} {'floor ser s':>11}"
    )
    for n in sizes:
        r = run(n)
        print(
            f"{r['services']:>9.0f} {r['resources']:>9.0f} {r['bytes'] / 1e6:>6.1f} "
            f"{r['parse_s']:>8.2f} {r['translate_s']:>11.3f} {r['serialize_s']:>11.3f} "
            f"{r['total_s']:>8.3f} {r['us_per_resource']:>7.1f} {r['floor_serialize_s']:>11.3f}"
        )
    print("target: total (translate + serialize one proxy) <= 1 s at 10,000 services")


if __name__ == "__main__":
    main(sys.argv[1:])
