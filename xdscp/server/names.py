"""Requested-name sets, one object per distinct list, shared by every stream asking it.

A thousand sidecars of one namespace each subscribe to the same 3,000 EDS names. Turning
each request's list into a fresh set of Python strings costs every stream a few hundred
KB of small objects at connect, all freed moments later but scattered between the
long-lived state of the streams connecting at the same time — heap the process then
cannot give back. The list's fingerprint (see `sotw.names_fingerprint`, already how a
stream recognises an unchanged list) finds the set an earlier stream made instead;
only a list no live stream holds is materialised.
"""

from __future__ import annotations

import weakref
from typing import Any


class NameSets:
    """Canonical frozensets of requested names, kept while some stream (or response)
    holds them."""

    __slots__ = ("_sets", "made")

    def __init__(self) -> None:
        self._sets: weakref.WeakValueDictionary[tuple[str, int, int], frozenset[str]] = (
            weakref.WeakValueDictionary()
        )
        self.made = 0  # sets materialised (not found): for tests and stats

    def of(self, type_url: str, fingerprint: int, request: Any) -> frozenset[str]:
        """The names of `request` (whose `names_fingerprint` is `fingerprint`)."""
        key = (type_url, len(request.resource_names), fingerprint)
        found = self._sets.get(key)
        if found is None:
            found = frozenset(request.resource_names)
            self._sets[key] = found
            self.made += 1
        return found

    def __len__(self) -> int:
        return len(self._sets)
