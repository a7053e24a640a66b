"""Process-wide tuning for a control plane holding large, long-lived object graphs."""

from __future__ import annotations

import gc
import resource


def tune_gc() -> None:
    """Freeze what exists (the loaded mesh, memoized translations) out of the cyclic GC,
    and collect less often. A mesh of 10,000 services is millions of objects; a full
    collection walking them on every burst of allocations would double translation time.
    Config objects are acyclic and freed by reference counting regardless."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


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
