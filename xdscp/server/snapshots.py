"""What the ADS server needs from a snapshot store: three calls, nothing else.

The server depends on this protocol, not on `xdscp.cache.SnapshotCache` (DESIGN §1,
§8: small protocols at boundaries), so the store can change shape (sharing parts,
interning, another process) without touching the protocol code, and a test can
drive the server from a dict. `SnapshotCache` is the implementation the service uses.
"""

from __future__ import annotations

from typing import Protocol

from xdscp.cache import Snapshot

__all__ = ["SnapshotReader", "SnapshotStore"]


class SnapshotReader(Protocol):
    """The latest snapshot per proxy key, with a change counter to wait on."""

    def get(self, proxy: str) -> Snapshot | None:
        """The proxy's current snapshot; None until the runtime has made one."""
        ...

    def generation(self, proxy: str) -> int:
        """A number that grows whenever the proxy's snapshot content changes (0: none)."""
        ...

    async def wait_newer(self, proxy: str, seen_generation: int) -> int:
        """Return once `generation(proxy)` exceeds `seen_generation`, or the proxy was
        removed (then the caller re-reads `generation`)."""
        ...


class SnapshotStore(SnapshotReader, Protocol):
    """A reader that can also be written: what `StaticResolver` seeds on connect."""

    def set(self, proxy: str, snapshot: Snapshot) -> bool:
        """Store `snapshot`; True (and waiters woken) if its content changed."""
        ...
