"""`xdscp serve` with the mesh analysis switched off, for benchmarks only:

    python -m benchmarks.serve_without_analysis --log-json serve --config DIR ...

The analysis of each generation runs in a thread after the pushes and shares the GIL
with the next edit; with it off, a benchmark sees what the edit path itself costs
(`benchmarks.edit_latency --no-analysis`, compared with a run with it in one session).
Not a server option: a user always gets the analysis.
"""

from __future__ import annotations

from translators.mesh import MeshConfig
from xdscp import entry
from xdscp.analysis import MeshAnalyzer


def _no_analysis(self: MeshAnalyzer, mesh: MeshConfig, generation: int) -> None:
    """Submitted meshes are dropped: no analysis run starts."""


if __name__ == "__main__":
    MeshAnalyzer.submit = _no_analysis  # type: ignore[method-assign]
    entry.main()  # as `xdscp` runs (its decode worker starts after these imports here)
