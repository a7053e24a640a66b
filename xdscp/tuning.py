"""Process-wide tuning for a control plane holding large, long-lived object graphs."""

from __future__ import annotations

import gc
import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def tune_gc() -> None:
    """Freeze what exists (the loaded mesh, memoized translations) out of the cyclic GC,
    and collect less often. A mesh of 10,000 services is millions of objects; a full
    collection walking them on every burst of allocations would double translation time.
    Config objects are acyclic and freed by reference counting regardless."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


# Pauses of the cyclic GC are counted: the edit hold (xdscp/analysis.py), the first
# analysis and the first translation overlap, on different threads; the collector comes
# back on when the last of them ends (and only if it was on when the first began).
_pause_lock = threading.Lock()
_pauses = 0
_enable_after = False


def pause_collection() -> None:
    """Stop the automatic cyclic GC until the matching `resume_collection`. Any thread."""
    global _pauses, _enable_after
    with _pause_lock:
        if _pauses == 0:
            _enable_after = gc.isenabled()
            gc.disable()
        _pauses += 1


def resume_collection() -> None:
    """End one `pause_collection`; the last one to end turns the collector back on."""
    global _pauses
    with _pause_lock:
        if _pauses == 0:
            return  # unbalanced: nothing to end
        _pauses -= 1
        if _pauses == 0 and _enable_after:
            gc.enable()


def collection_paused_now() -> bool:
    """Whether some `pause_collection` has not ended yet (tests, diagnostics)."""
    return _pauses > 0


@contextmanager
def frozen_after() -> Iterator[None]:
    """Run the block with the cyclic GC paused, then freeze what it made (and what
    exists) out of the GC for good, as `tune_gc` does for the loaded mesh.

    For the first full translation of a mesh, and the first full analysis: their pieces
    and tables (about 850,000 container objects each at 10,000 services) are long-lived,
    acyclic, freed by reference counting. Collected normally, every collection their
    allocations trigger walks them (6-10% of the translation, 30% of the analysis: a
    young-generation collection takes 20-60 ms there, holding the GIL, so an edit that
    arrives meanwhile waits for it), and every later full collection walks them again.
    Pausing alone does not pay: the first collection after it walks them all at once
    (cache-cold, slower than the small ones it saved). Only freezing skips the walk.
    Use it once per process and purpose, not per translation: objects alive at a freeze
    that later become cyclic garbage are never collected."""
    pause_collection()
    try:
        yield
        gc.freeze()
    finally:
        resume_collection()


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard limit; returns (before, after).

    Every proxy holds a connection (a file descriptor); at the usual soft default of
    1,024, a thousand idle connections lock new proxies out. The hard limit is what the
    administrator allows, so going up to it needs no privilege."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # e.g. a hard limit above the kernel's nr_open
        return soft, soft
    return soft, target
