"""One route configuration's per-service virtual hosts, patched by what changed.

An outbound view holds, per HTTP port, one virtual host per visible service: 10,000 in a
large mesh. Each is a piece of the memo (key `("vhost-entry", host, port, caller)`) with
the dependencies it read. After one VirtualService edit, asking the memo for each of them
again is 10,000 lookups for one rebuilt entry. `VhostEntries` keeps, next to the values,
which positions read which dependency, so the next generation finds the entries a change
invalidates from the change itself (`PieceCache.changes`) and rebuilds only those; the
others keep their values and dependencies as they are (the rule of translators/memo.py:
a piece is reused exactly when none of its dependencies changed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import itemgetter

from translators.ir import VirtualHostIR
from translators.memo import Dep, Deps, PieceCache
from translators.mesh import Service
from translators.traffic.source import SourceIR

# what one entry's builder returns: the virtual host (None: the service has none on this
# port) and the warnings about routes it shadows
Entry = tuple[VirtualHostIR | None, tuple[str, ...]]


@dataclass(frozen=True, slots=True, eq=False)
class VhostEntries:
    """The entries of one route configuration, in service order (see module doc)."""

    services: Sequence[Service]  # what they were built for (compared by identity)
    values: tuple[Entry, ...]  # per service
    deps: tuple[Deps, ...]  # per service: what its piece read
    # dependency -> the position that read it, or the positions when several did (an int,
    # not a 1-tuple, for the many read by one entry: 50,000 fewer objects at 10,000 services)
    readers: Mapping[Dep, int | tuple[int, ...]]
    vhosts: tuple[VirtualHostIR, ...]  # the virtual hosts, in order (no None)
    warnings: tuple[str, ...]  # every entry's, in order
    # (the last generation's `vhosts`, the positions of `vhosts` holding new objects)
    # when patched from it: what the route configuration patches by (None: not known)
    patched_from: tuple[tuple[VirtualHostIR, ...], tuple[int, ...]] | None = None

    def changed_since(self, old_vhosts: tuple[VirtualHostIR, ...]) -> tuple[int, ...] | None:
        """The positions at which `vhosts` holds other objects than `old_vhosts` (None:
        not known here, compare them)."""
        if self.vhosts is old_vhosts:
            return ()
        patched = self.patched_from
        if patched is not None and patched[0] is old_vhosts:
            return patched[1]
        return None

    @property
    def all_deps(self) -> frozenset[Dep]:
        return frozenset(self.readers)


def vhost_entries(
    memo: PieceCache,
    services: Sequence[Service],
    port: int,
    source: SourceIR,
    build: Callable[[Service], Entry],
    previous: VhostEntries | None,
) -> VhostEntries:
    """The entries of `services` on `port` for `source`; `previous`: the same route
    configuration's entries in the last generation (None: look each one up)."""
    changed = memo.changes
    if previous is None or changed is None:
        return _looked_up(memo, services, port, source, build)
    stale = _positions(previous.readers, changed)
    if previous.services is services:
        # the same services in the same order: only positions that read a change move
        if not stale:
            memo.read_all(previous.readers)  # a dict: its keys' hashes are reused
            return previous
        values = list(previous.values)
        deps = list(previous.deps)
        before = previous.readers
        added: list[tuple[Dep, int]] = []  # dependencies rebuilt entries read anew
        for i in sorted(stale):
            service = services[i]
            values[i], deps[i] = memo.get_tracked(
                _key(service, port, source), partial(build, service)
            )
            for dep in deps[i]:
                found = before.get(dep)
                if found is None or (i not in found if isinstance(found, tuple) else found != i):
                    added.append((dep, i))
        # An edited VirtualService's entry reads what it read: the last generation's
        # readers (never changed once built) are shared, not copied (60,000 entries).
        readers = before
        if added:
            grown = dict(before)
            for dep, i in added:
                found = grown.get(dep)
                if found is None:
                    grown[dep] = i
                elif isinstance(found, int):
                    if found != i:
                        grown[dep] = (found, i)
                elif i not in found:
                    grown[dep] = (*found, i)
            readers = grown
        memo.read_all(readers)
        return _patched(previous, services, values, deps, readers, stale)
    # Other services (one added or removed): each entry still valid is taken from the
    # last generation by its host, the others are looked up (and built if need be).
    position = {s.hostname: i for i, s in enumerate(previous.services)}
    values, deps = [], []
    for service in services:
        j = position.get(service.hostname)
        if j is not None and j not in stale:
            value, read = previous.values[j], previous.deps[j]
            memo.read_all(read)
        else:
            value, read = memo.get_tracked(_key(service, port, source), partial(build, service))
        values.append(value)
        deps.append(read)
    return _entries(services, values, deps, _readers(deps))


def _key(service: Service, port: int, source: SourceIR) -> tuple[object, ...]:
    # one piece per (service, port, caller), shared by every view that asks for it
    return ("vhost-entry", service.hostname, port, source)


def _looked_up(
    memo: PieceCache,
    services: Sequence[Service],
    port: int,
    source: SourceIR,
    build: Callable[[Service], Entry],
) -> VhostEntries:
    values: list[Entry] = []
    deps: list[Deps] = []
    for service in services:
        value, read = memo.get_tracked(_key(service, port, source), partial(build, service))
        values.append(value)
        deps.append(read)
    return _entries(services, values, deps, _readers(deps))


def _positions(readers: Mapping[Dep, int | tuple[int, ...]], changed: frozenset[Dep]) -> set[int]:
    stale: set[int] = set()
    for dep in changed:
        found = readers.get(dep)
        if found is None:
            continue
        if isinstance(found, int):
            stale.add(found)
        else:
            stale.update(found)
    return stale


def _readers(deps: Sequence[Deps]) -> dict[Dep, int | tuple[int, ...]]:
    found: dict[Dep, int | tuple[int, ...]] = {}
    several: dict[Dep, list[int]] = {}
    for i, read in enumerate(deps):
        for dep in read:
            first = found.setdefault(dep, i)
            if first != i:
                if isinstance(first, int):
                    several[dep] = [first, i]
                    found[dep] = ()  # (filled in below)
                else:
                    several[dep].append(i)
    for dep, positions in several.items():
        found[dep] = tuple(positions)
    return found


def _patched(
    previous: VhostEntries,
    services: Sequence[Service],
    values: list[Entry],
    deps: list[Deps],
    readers: Mapping[Dep, int | tuple[int, ...]],
    stale: set[int],
) -> VhostEntries:
    """`_entries` from the last generation's, where only the entries at `stale` changed:
    their virtual hosts put in place and the warnings kept when none of them had or has
    any, rather than every entry looked at again (10,000 after each edit)."""
    old = previous.values
    vhosts = previous.vhosts
    patched_from = None
    if len(vhosts) == len(old) and all(values[i][0] is not None for i in stale):
        # every entry had a virtual host and still has: position i is virtual host i
        patched = list(vhosts)
        moved = []
        for i in sorted(stale):
            vhost = values[i][0]
            assert vhost is not None  # (tested above)
            if vhost is not patched[i]:
                patched[i] = vhost
                moved.append(i)
        patched_from = (vhosts, tuple(moved))
        vhosts = tuple(patched)
    else:
        vhosts = tuple(filter(None, map(itemgetter(0), values)))
    warnings = previous.warnings
    if any(old[i][1] or values[i][1] for i in stale):
        warnings = tuple(chain.from_iterable(filter(None, map(itemgetter(1), values))))
    return VhostEntries(
        services, tuple(values), tuple(deps), readers, vhosts, warnings, patched_from
    )


def _entries(
    services: Sequence[Service],
    values: Sequence[Entry],
    deps: Sequence[Deps],
    readers: Mapping[Dep, int | tuple[int, ...]],
) -> VhostEntries:
    # at C speed: 10,000 entries after every edit (a virtual host is never falsy)
    vhosts = tuple(filter(None, map(itemgetter(0), values)))
    warnings = tuple(chain.from_iterable(filter(None, map(itemgetter(1), values))))
    return VhostEntries(services, tuple(values), tuple(deps), readers, vhosts, warnings)
