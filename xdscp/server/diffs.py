"""Which resource names changed between two TypeSnapshots, computed once per transition.

Delta streams must find what a proxy lacks after a change. Rescanning every
resource of every proxy costs O(resources x proxies) per push; proxies that
share content make the same transition (same old and new content versions),
so the diff is computed once and every such stream only looks at the names
that actually changed.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import compress
from operator import is_not

from xdscp.cache import TypeSnapshot


class DeltaDiffs:
    """Bounded LRU of (old TypeSnapshot -> new TypeSnapshot) name diffs, shared by streams."""

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[tuple[str, str, str], tuple[str, ...]] = OrderedDict()
        self.max_entries = max_entries

    def changed(self, old: TypeSnapshot, new: TypeSnapshot) -> tuple[str, ...]:
        """Names added, changed or removed from `old` to `new`."""
        key = (new.type_url, old.version, new.version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        before, after = old.resources, new.resources
        listed = list(after)
        if len(before) == len(after) and list(before) == listed:
            # The usual step (one virtual host of 10,000 edited): the same names in the same
            # order, unchanged resources the very same objects. Those are skipped at C speed
            # (~3 ms a Python walk over 10,000 at every edit); the few others compared.
            maybe = compress(listed, map(is_not, before.values(), after.values()))
            names = [n for n in maybe if before[n].version != after[n].version]
        else:
            names = [
                n
                for n, r in after.items()
                if (o := before.get(n)) is None or o.version != r.version
            ]
            names += [n for n in before if n not in after]
        result = self._entries[key] = tuple(names)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return result
