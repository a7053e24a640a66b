"""Process-wide tuning for a control plane holding large, long-lived object graphs."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Freeze what exists (the loaded mesh, memoized translations) out of the cyclic GC,
    and collect less often. A mesh of 10,000 services is millions of objects; a full
    collection walking them on every burst of allocations would double translation time.
    Config objects are acyclic and freed by reference counting regardless."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
