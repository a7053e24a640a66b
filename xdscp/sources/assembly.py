"""From the objects each file yields to the mesh, file by file.

The file source keeps, per file, what it contributes (its objects, or the last good
versions of the objects it held when they broke); per object key, which files claim
it (the oldest claim wins: `age_order`, then file order); and the objects in force.
A changed file updates exactly the keys it claimed before and claims now, and the mesh
is patched with them (`translators.mesh.update_mesh`), so one edited file among 20,000
costs that file, not a pass over all of them. A full load is the same computation
with every file changed: both give the same mesh (tests/sources/test_incremental.py).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from translators.mesh import MeshConfig, MeshOptions, build_mesh, update_mesh
from translators.model.objects import ConfigError, MeshObject, age_order
from xdscp.sources.blame import rejection
from xdscp.sources.documents import FileResult, duplicate_error

Key = tuple[str, str, str]
# (age_order, file order, position in the file's contribution): the oldest claim first
Rank = tuple[tuple[int, str, str, str], tuple[str, ...], int]


@dataclass(frozen=True, slots=True)
class _Contribution:
    objects: tuple[MeshObject[Any], ...]  # parsed, then kept last good versions
    positions: Mapping[int, Key]  # document index -> the key it defines (or held)
    # keys whose last good version it contributes (or would, once there is one)
    kept: frozenset[Key]


class Assembly:
    """Not thread-safe: the source calls it under its loading lock."""

    def __init__(self, options: MeshOptions) -> None:
        self.options = options
        self._files: dict[str, _Contribution] = {}
        self._results: dict[str, FileResult] = {}
        self._errors: dict[str, tuple[ConfigError, ...]] = {}  # files with errors only
        self._claims: dict[Key, dict[tuple[str, int], tuple[Rank, MeshObject[Any]]]] = {}
        self._duplicates: dict[Key, tuple[ConfigError, ...]] = {}
        # the objects in force (winners, or the fallbacks of rejected ones): the last
        # good version of each key, which a file that breaks keeps contributing
        self.last_good: dict[Key, MeshObject[Any]] = {}
        # key -> its last good object before the latest update (None: it had none), for
        # the keys that update changed: `good_before` without copying 50,000 entries
        self._good_changed: dict[Key, MeshObject[Any] | None] = {}
        # key -> (digest, why, fallback): an object version that cannot be translated
        self.rejected: dict[Key, tuple[str, str, MeshObject[Any] | None]] = {}
        self._rejections: dict[Key, ConfigError] = {}
        # key -> files that keep its last good version for a broken document; they are
        # recomputed after it changes (as a full load would give them the new one)
        self._keepers: dict[Key, set[str]] = {}
        self._stale: set[str] = set()
        # (file, key) -> the load that first saw this definition; how many contributions
        # hold it (a definition no file holds any more is forgotten: written again, new)
        self.first_seen: dict[tuple[str, Key], int] = {}
        self._holders: dict[tuple[str, Key], int] = {}
        self._ranks: dict[str, tuple[str, ...]] = {}
        self.mesh: MeshConfig | None = None

    @property
    def good_before(self) -> Mapping[Key, MeshObject[Any]]:
        """The last good objects as of the load before the latest one (fallbacks for
        `blame`): a view over the current ones and what the latest update replaced,
        valid until the next update."""
        return _Before(self.last_good, self._good_changed)

    @property
    def files(self) -> Collection[str]:
        """The files contributing now (a live view: copy it to keep it)."""
        return self._files.keys()

    @property
    def results(self) -> Mapping[str, FileResult]:
        """Each contributing file's latest parse result (a live view)."""
        return self._results

    def update(self, results: Mapping[str, FileResult | None]) -> MeshConfig:
        """The mesh after `results` (path -> its new result, None: the file is gone).
        Files not named keep what they contributed."""
        self._good_changed = {}
        stale = {p: self._results[p] for p in self._stale if p in self._results}
        self._stale = set()
        touched: set[Key] = set()
        for path, result in {**stale, **results}.items():
            touched |= self._replace_file(path, result)
        touched |= self.rejected.keys()
        changed = self._decide(touched)
        return self._mesh(changed)

    # --- per file ------------------------------------------------------------------
    def _contribution(
        self, result: FileResult, previous: _Contribution | None
    ) -> tuple[_Contribution, list[Key]]:
        """What `result` adds to the mesh: its objects, plus the last good version of
        each object whose document failed, even when the edit broke its identity (found
        by document position), or of every object the file held if it cannot be read.
        With it, each of its objects' keys (not kept in it: the mesh snapshot pickles it)."""
        previous_positions = previous.positions if previous is not None else {}
        objects = list(result.objects)
        keys = [o.key for o in objects]  # a property building a tuple: made once here
        positions = {
            o.origin.document: key
            for o, key in zip(objects, keys, strict=True)
            if o.origin.document is not None
        }
        kept_keys = set(result.failed_keys)
        for index in result.failed_documents:
            held = previous_positions.get(index)
            if held is not None:
                kept_keys.add(held)
                positions[index] = held
        if not result.syntax_ok and previous is not None:
            kept_keys |= {o.key for o in previous.objects}
            positions.update(previous_positions)
        if kept_keys:
            contributed = set(keys)
            for key in sorted(kept_keys):
                last = self.last_good.get(key)
                if last is not None and key not in contributed:
                    objects.append(last)  # keep the last good version of a now-broken object
                    keys.append(key)
                    contributed.add(key)
        return _Contribution(tuple(objects), positions, frozenset(kept_keys)), keys

    def _replace_file(self, path: str, result: FileResult | None) -> set[Key]:
        """Swap `path`'s contribution; returns the keys whose claims changed. The new
        definitions are held before the old ones are let go, so a definition the file
        still has keeps the load that first saw it."""
        old = self._files.pop(path, None)
        self._errors.pop(path, None)
        self._results.pop(path, None)
        touched: set[Key] = set()
        if old is not None:
            for position, obj in enumerate(old.objects):
                key = obj.key
                touched.add(key)
                self._claims[key].pop((path, position), None)
            for key in old.kept:
                keepers = self._keepers.get(key)
                if keepers is not None:
                    keepers.discard(path)
                    if not keepers:
                        del self._keepers[key]
        if result is not None:
            new, keys = self._contribution(result, old)
            self._files[path] = new
            self._results[path] = result
            if result.errors:
                self._errors[path] = result.errors
            rank = self._rank(path)
            claims, holders = self._claims, self._holders
            for position, (obj, key) in enumerate(zip(new.objects, keys, strict=True)):
                touched.add(key)
                order: Rank = (age_order(obj), rank, position)
                claims.setdefault(key, {})[(path, position)] = (order, obj)
                holder = (obj.origin.source, key)
                holders[holder] = holders.get(holder, 0) + 1
            for key in new.kept:
                self._keepers.setdefault(key, set()).add(path)
        if old is not None:
            for obj in old.objects:
                self._release((obj.origin.source, obj.key))
        return touched

    def _release(self, holder: tuple[str, Key]) -> None:
        count = self._holders.get(holder, 0) - 1
        if count > 0:
            self._holders[holder] = count
            return
        self._holders.pop(holder, None)
        self.first_seen.pop(holder, None)

    def _rank(self, path: str) -> tuple[str, ...]:
        rank = self._ranks.get(path)
        if rank is None:
            # the order of Path.parts, which sorting the files by Path gives
            rank = self._ranks[path] = tuple(path.split(os.sep))
        return rank

    # --- per key -------------------------------------------------------------------
    def _decide(self, keys: Iterable[Key]) -> dict[Key, MeshObject[Any] | None]:
        """Winners and objects in force for `keys` (every rejected key among them);
        returns those in force that changed (None: gone)."""
        changed: dict[Key, MeshObject[Any] | None] = {}
        still: dict[Key, tuple[str, str, MeshObject[Any] | None]] = {}
        # (locals: this runs for each of 50,000 keys at a cold start)
        all_claims, duplicates, last_good = self._claims, self._duplicates, self.last_good
        rejections, keepers = self._rejections, self._keepers
        for key in keys:
            claims = all_claims.get(key)
            winner: MeshObject[Any] | None = None
            if claims and len(claims) == 1:
                winner = next(iter(claims.values()))[1]
                if duplicates:
                    duplicates.pop(key, None)
            elif claims:
                ordered = sorted(claims.values(), key=lambda claim: claim[0])
                winner = ordered[0][1]
                self._duplicates[key] = tuple(duplicate_error(o, winner) for _, o in ordered[1:])
            else:
                self._claims.pop(key, None)
                self._duplicates.pop(key, None)
            in_force = winner
            rejected = self.rejected.get(key) if self.rejected else None
            if rejections:
                rejections.pop(key, None)
            if winner is not None and rejected is not None and rejected[0] == winner.digest:
                # failed translation (see `blame`): its last good version until edited
                still[key] = rejected
                _, failure, fallback = rejected
                rejections[key] = rejection(winner, failure, kept=fallback is not None)
                in_force = fallback
            before = last_good.get(key)
            if in_force is before:
                continue
            self._good_changed.setdefault(key, before)  # the first: before the update
            if in_force is None:
                last_good.pop(key, None)
            else:
                last_good[key] = in_force
            changed[key] = in_force
            keeping = keepers.get(key)
            if keeping:
                self._stale |= keeping
        self.rejected = still  # an edited or deleted object gets a fresh chance
        return changed

    # --- the mesh ------------------------------------------------------------------
    def errors(self) -> list[ConfigError]:
        """File errors in file order, then duplicates, then translation rejections."""
        found: list[ConfigError] = []
        for path in sorted(self._errors, key=self._rank):
            found += self._errors[path]
        duplicates = [e for errors in self._duplicates.values() for e in errors]
        found += sorted(duplicates, key=lambda e: (self._rank(e.origin.source), e.origin.document))
        found += sorted(self._rejections.values(), key=lambda e: (e.kind, e.namespace, e.name))
        return found

    def _mesh(self, changed: Mapping[Key, MeshObject[Any] | None]) -> MeshConfig:
        errors = self.errors()
        if self.mesh is None:
            self.mesh = build_mesh(self.last_good, errors, self.options)
        else:
            self.mesh = update_mesh(
                self.mesh,
                [o for o in changed.values() if o is not None],
                [k for k, o in changed.items() if o is None],
                errors,
            )
        return self.mesh


class _Before(Mapping[Key, MeshObject[Any]]):
    """`now` as it was before the changes recorded in `changed` (key -> the value it
    had, None: absent)."""

    __slots__ = ("_changed", "_now")

    def __init__(
        self, now: Mapping[Key, MeshObject[Any]], changed: Mapping[Key, MeshObject[Any] | None]
    ) -> None:
        self._now = now
        self._changed = changed

    def __getitem__(self, key: Key) -> MeshObject[Any]:
        if key in self._changed:
            was = self._changed[key]
            if was is None:
                raise KeyError(key)
            return was
        return self._now[key]

    def __iter__(self) -> Iterator[Key]:
        changed = self._changed
        yield from (k for k in self._now if k not in changed)
        yield from (k for k, was in changed.items() if was is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
