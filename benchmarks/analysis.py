"""Analyze a 1,000- and a 10,000-service mesh (benchmarks/meshgen: the canary N times,
with a few mistakes mixed in so every check has work): the time `xdscp serve` spends
per generation off the hot path, and what `xdscp analyze` costs. It must grow linearly:
the per-service figure should stay flat from 1,000 to 10,000.

The floor, measured in the same run, is building the translators' MeshIndex alone
(the lookups every check shares), so the numbers survive a noisy machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from typing import Any

from benchmarks.meshgen import mesh_objects, parse
from translators.analysis import analyze
from translators.index import MeshIndex
from translators.mesh import MeshOptions, build_mesh
from translators.model.objects import MeshObject
from xdscp.tuning import tune_gc

MISTAKES = 10  # services whose canary names a subset that does not exist


def _sidecar(i: int) -> MeshObject[Any]:
    """A workload-specific Sidecar per service (all in one namespace: the worst case for
    the Sidecar checks)."""
    return parse(
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "Sidecar",
            "metadata": {"name": f"svc-{i}"},
            "spec": {
                "workloadSelector": {"labels": {"app": f"svc-{i}"}},
                "egress": [{"hosts": ["./*"]}],
            },
        }
    )


def _with_mistakes(services: int) -> list[MeshObject[Any]]:
    objects = mesh_objects(services)
    for i in range(0, services, max(1, services // MISTAKES)):
        broken = parse(
            {
                "apiVersion": "networking.istio.io/v1alpha3",
                "kind": "VirtualService",
                "metadata": {"name": f"svc-{i}"},
                "spec": {
                    "hosts": [f"svc-{i}"],
                    "http": [{"route": [{"destination": {"host": f"svc-{i}", "subset": "v3"}}]}],
                },
            }
        )
        objects = [broken if o.key == broken.key else o for o in objects]
    return objects


def run(services: int, repeat: int = 3, sidecars: bool = False) -> dict[str, float]:
    objects = _with_mistakes(services)
    if sidecars:
        objects += [_sidecar(i) for i in range(services)]
    mesh = build_mesh(objects, options=MeshOptions(local_mode=True))
    tune_gc()  # as `xdscp serve` runs: the loaded mesh frozen out of the cyclic GC
    floors, times = [], []
    found: Counter[str] = Counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        MeshIndex.of(mesh)
        floors.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        analysis = analyze(mesh)
        times.append(time.perf_counter() - t1)
        found = Counter(m.code for m in analysis.messages)
    assert found == {"XDS0102": MISTAKES}, found  # the mistakes, and no false positive
    best = min(times)
    return {
        "services": services,
        "objects": len(mesh.objects),
        "analyze_s": best,
        "median_s": statistics.median(times),
        "floor_index_s": min(floors),
        "us_per_service": best / services * 1e6,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000]
    header = f"{'services':>9} {'sidecars':>8} {'objects':>8} {'analyze':>9} {'median':>9}"
    print(f"{header} {'index':>8} {'µs/svc':>8}")
    for sidecars in (False, True):
        for size in sizes:
            r = run(size, sidecars=sidecars)
            print(
                f"{r['services']:>9,.0f} {'yes' if sidecars else 'no':>8} "
                f"{r['objects']:>8,.0f} {r['analyze_s']:>8.2f}s {r['median_s']:>8.2f}s "
                f"{r['floor_index_s']:>7.3f}s {r['us_per_service']:>8.0f}"
            )


if __name__ == "__main__":
    main()
