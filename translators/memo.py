"""The translator's one memo: pieces that record the inputs they read.

A *piece* is anything the translator builds and may reuse (a service's clusters, a
virtual host, their serialized bytes, a namespace's outbound view, a resource group).
It is stored under a key and with the set of *dependencies* it read while being built.
A dependency is a small tuple naming one input of the mesh:

    ("object", ref)        one mesh object's content and age (VirtualService/ns/name, ...)
    ("kind", kind)         the set of objects of one kind (e.g. every VirtualService)
    ("objects",)           the set of all objects
    ("service", hostname)  one registry service, its ports and endpoints
    ("services",)          the set of services (added, removed or changed)
    ("workload", key)      one workload (`namespace/name`)
    ("workloads",)         the set of workloads
    ("dr-host", host)      the DestinationRules naming `host`
    ("vs-host", host)      the VirtualServices naming `host`
    ("vs-wildcards",)      the VirtualServices with a wildcard host
    ("sidecars", ns)       the Sidecars of namespace `ns`
    ("mesh-route-host", host)  the HTTPRoutes naming Service `host` as a parent (GAMMA)
    ("source-labels",)     the label keys VirtualService `sourceLabels` test (a changed
                           VirtualService that matches on its caller, old or new version)
    ("security",)          auto-mTLS state: PeerAuthentications, sidecar-less workloads
    ("jwks",)              the JSON Web Key Sets the control plane fetched (`MeshConfig.jwks`)

Rules (what keeps a reused piece correct):

1. **The key names the choice, the dependencies cover the content.** Whatever depends on
   who asks (the proxy's namespace, its Sidecar, its labels as VirtualService source
   matches see them) is resolved by the caller and put in the key — e.g. *which*
   DestinationRule a namespace sees for a host — so proxies with equal scope ask with
   equal keys and share one piece (the same Python object). Everything the builder then
   reads is recorded as a dependency, through `PieceCache.read` (MeshIndex's lookups
   record themselves).
2. **Dependencies nest.** A piece built, or found, while another is being built adds its
   dependencies to that other piece: the outbound view depends on everything its virtual
   hosts read (large collections are kept by reference, not copied:
   `DepUnion`).
3. **A change invalidates exactly what read it.** `mesh_changes(old, new)` names every
   dependency the new MeshConfig touches (old and new versions of each changed object,
   each changed service and workload, a changed auto-mTLS state). A piece of the previous
   generation is reused only if none of its dependencies is among them; a changed
   `MeshOptions` reuses nothing.
4. **Content-keyed pieces need no dependencies**: a key that *is* the content (an IR
   object, serialized bytes, the identities of a group's members) can never be stale.
5. **Unused pieces are dropped**: a generation carries over only the pieces it used, so
   the memo's size follows the mesh, not its history. A piece carried over brings along
   the pieces it looked up while being built (its parts are in use while it is).
6. **An invalidated piece may be patched, not rebuilt**: `stale(key)` hands its builder
   the last generation's value; the builder compares its parts by identity with the
   current sub-pieces and redoes only what differs (the outbound view's route
   configurations, their serialized bytes). The result must equal a fresh build — the
   property test below holds patching to that.

`tests/translators/test_incremental.py` checks the rules as a property: after any
sequence of edits, translating incrementally gives, byte for byte, what a fresh
translation gives, for every proxy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from translators.gateway.mesh_parents import service_parent_hosts
from translators.hosts import resolve_host
from translators.mesh import MeshConfig, Service, Workload
from translators.mesh_diff import replaced_objects
from translators.model.delegation import merged_changes
from translators.model.objects import MeshObject
from translators.traffic.source import depends_on_source

T = TypeVar("T")
A = TypeVar("A")

Dep = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MeshChanges:
    """What changed from one MeshConfig to the next, as dependencies (see the rules)."""

    deps: frozenset[Dep]
    # the objects that changed: (old version or None, new version or None)
    objects: tuple[tuple[MeshObject[Any] | None, MeshObject[Any] | None], ...] = ()
    # nothing carries over (no previous generation, or the mesh options changed)
    everything: bool = False


EVERYTHING = MeshChanges(frozenset(), everything=True)


def same_object(a: MeshObject[Any], b: MeshObject[Any]) -> bool:
    """Equal for translation: content (the digest covers kind, name, labels and spec),
    age (conflicts go to the oldest) and annotations (sidecar injection)."""
    return a is b or (
        a.digest == b.digest
        and a.first_seen == b.first_seen
        and a.api_version == b.api_version
        and a.meta.creationTimestamp == b.meta.creationTimestamp
        and a.meta.annotations == b.meta.annotations
    )


def _object_deps(obj: MeshObject[Any], suffix: str) -> Iterable[Dep]:
    yield ("object", obj.ref)
    yield ("kind", obj.kind)
    if obj.kind == "DestinationRule":
        yield ("dr-host", resolve_host(obj.spec.host, obj.namespace, suffix))
    elif obj.kind == "VirtualService":
        if depends_on_source(obj.spec):
            yield ("source-labels",)
        for host in obj.spec.hosts:
            resolved = resolve_host(host, obj.namespace, suffix)
            yield ("vs-host", resolved)
            if resolved.startswith("*"):
                yield ("vs-wildcards",)
    elif obj.kind == "Sidecar":
        yield ("sidecars", obj.namespace)
    elif obj.kind == "HTTPRoute":
        for host in service_parent_hosts(obj, suffix):
            yield ("mesh-route-host", host)


def _same_service(a: Service, b: Service) -> bool:
    """A service's digest changes with its defining object and every endpoint."""
    return a is b or (a.digest == b.digest and a.source == b.source)


def _changed_keys(
    old: Mapping[str, Any], new: Mapping[str, Any], same: Callable[[Any, Any], bool]
) -> list[str]:
    if old is new:
        return []
    out = [k for k, v in new.items() if (o := old.get(k)) is None or not same(o, v)]
    return out + [k for k in old if k not in new]


def _workload_test(changed_refs: set[str]) -> Callable[[Workload, Workload], bool]:
    """A workload made from a mesh object (a WorkloadEntry) changed only if its object
    did; others (Kubernetes pods) are compared field by field."""

    def same(a: Workload, b: Workload) -> bool:
        if a is b:
            return True
        if a.source == b.source and a.source.startswith("WorkloadEntry/"):
            return a.source not in changed_refs
        return a == b

    return same


def mesh_changes(old: MeshConfig, new: MeshConfig, security_changed: bool) -> MeshChanges:
    """The dependencies `new` touches, compared with `old` (`security_changed`: the
    auto-mTLS state differs, as SecurityIndex's key tells)."""
    if old.options != new.options:
        return EVERYTHING
    suffix = new.options.domain_suffix
    # a delegating root VirtualService changes with its delegates (translators/model/delegation.py)
    changed = [
        (a, b)
        for a, b in replaced_objects(old, new)
        if a is None or b is None or not same_object(a, b)
    ]
    objects = merged_changes(old.objects, new.objects, changed, suffix)
    deps: set[Dep] = set()
    if objects:
        deps.add(("objects",))
    for pair in objects:
        for obj in pair:
            if obj is not None:
                deps.update(_object_deps(obj, suffix))
    services = _changed_keys(old.services, new.services, _same_service)
    if services:
        deps.add(("services",))
        deps.update(("service", host) for host in services)
    refs = {obj.ref for pair in objects for obj in pair if obj is not None}
    workloads = _changed_keys(old.workloads, new.workloads, _workload_test(refs))
    if workloads:
        deps.add(("workloads",))
        deps.update(("workload", key) for key in workloads)
    if security_changed:
        deps.add(("security",))
    if old.jwks != new.jwks:
        deps.add(("jwks",))
    return MeshChanges(frozenset(deps), tuple(objects))


class DepUnion(Collection[Dep]):
    """The dependencies of a piece made from several large collections of others (an
    outbound view: its clusters piece's 30,000 and its virtual hosts' 60,000), kept by
    reference instead of copied into one set: at 10,000 services, uniting them again
    after every VirtualService edit cost 12-15 ms of a 50 ms apply. The parts are
    frozensets, or mappings keyed by dependency handed to `PieceCache.read_all` (which
    are never changed afterwards); `small` holds what the piece read beside them. A
    dependency may be in several parts: iteration can repeat it, `len` counts it again."""

    __slots__ = ("parts", "small")

    def __init__(self, parts: tuple[Collection[Dep], ...], small: frozenset[Dep]) -> None:
        self.parts = parts
        self.small = small

    def __contains__(self, dep: object) -> bool:
        return dep in self.small or any(dep in part for part in self.parts)

    def __iter__(self) -> Iterator[Dep]:
        return itertools.chain(self.small, *self.parts)

    def __len__(self) -> int:
        return len(self.small) + sum(map(len, self.parts))

    def touches(self, changed: frozenset[Dep]) -> bool:
        """Whether any of `changed` (a few) is among these (many)."""
        if not changed.isdisjoint(self.small):
            return True
        for part in self.parts:
            if isinstance(part, frozenset):
                if not changed.isdisjoint(part):  # iterates the smaller of the two
                    return True
            elif any(dep in part for dep in changed):
                return True
        return False


# What a piece read: a set, or (for pieces made from large pieces) a union of them.
Deps = frozenset[Dep] | DepUnion


def _touches(changed: frozenset[Dep], deps: Deps) -> bool:
    # the exact type first: `isinstance` against DepUnion (an ABC) is the slow path, and
    # every carried piece is asked (two per proxy and change)
    if type(deps) is frozenset or not isinstance(deps, DepUnion):
        return not changed.isdisjoint(deps)
    return deps.touches(changed)


class _Piece:
    __slots__ = ("children", "deps", "descendants", "value")

    def __init__(self, value: Any, deps: Deps, children: tuple[Hashable, ...] = ()) -> None:
        self.value = value
        self.deps = deps
        # the keys of the pieces looked up while building it (carried over with it)
        self.children = children
        # key -> piece of everything under it (children, theirs...), gathered the first
        # time it is carried whole: valid while it is (their dependencies are among its
        # own), so every later carry adds them at C speed instead of walking them
        self.descendants: dict[Hashable, _Piece] | None = None


_NO_DEPS: frozenset[Dep] = frozenset()
# a dependency collection at least this large is shared by reference when a piece takes
# it over (see `DepUnion`)
_SHARED_MIN = 256
# In a build from nothing (the first translation), a piece built from at least this many
# others gathers its descendants at once (`_Piece.descendants`), as its first carry would:
# the first edit after a start then does not walk 10,000 pieces for it (~4-10 ms).
_EAGER_DESCENDANTS_MIN = 256


def _descendants(piece: _Piece, pieces: dict[Hashable, _Piece]) -> dict[Hashable, _Piece]:
    """Every piece under `piece` (its children, theirs, ...) as found in `pieces`."""
    found: dict[Hashable, _Piece] = {}
    pending = list(piece.children)
    while pending:
        key = pending.pop()
        if key in found:
            continue
        child = pieces.get(key)
        if child is not None:
            found[key] = child
            pending += child.children
    return found


class PieceCache:
    """Pieces of one mesh generation, carried over from the previous generation's cache
    when none of their dependencies changed (see the module docstring)."""

    def __init__(
        self, previous: PieceCache | None = None, changes: MeshChanges = EVERYTHING
    ) -> None:
        self._entries: dict[Hashable, _Piece] = {}
        self._previous: dict[Hashable, _Piece] | None = None
        self._changed: frozenset[Dep] = changes.deps
        if previous is not None and not changes.everything:
            self._previous = previous._entries
        # dependencies being collected, one set per piece under construction
        self._frames: list[set[Dep]] = []
        # and, per piece under construction, the large dependency collections of other
        # pieces it took over whole, by reference (see `_merge`)
        self._bases: list[list[Collection[Dep]]] = []
        # and the keys of the pieces it looked up
        self._kids: list[list[Hashable]] = []

    def next_generation(self, changes: MeshChanges) -> PieceCache:
        return PieceCache(self, changes)

    @property
    def changes(self) -> frozenset[Dep] | None:
        """The dependencies changed since the previous generation (None: everything, no
        previous piece carries over): what a builder patching its stale value looks up."""
        return None if self._previous is None else self._changed

    def read(self, dep: Dep) -> None:
        """Record that the piece being built read `dep`."""
        if self._frames:
            self._frames[-1].add(dep)

    def read_all(self, deps: Iterable[Dep]) -> None:
        """Record that the piece being built read all of `deps` (a part kept from its stale
        value read them). A large frozenset or mapping (keyed by dependency) is kept by
        reference, not copied: it must not change afterwards."""
        if self._frames:
            self._merge(deps)

    def get_tracked(self, key: Hashable, build: Callable[[], T]) -> tuple[T, Deps]:
        """`get`, and the dependencies of the piece."""
        value = self.get(key, build)
        return value, self._entries[key].deps

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        piece = self._entries.get(key)
        if piece is None:
            piece = self._carried(key)
            if piece is None:
                piece = self._build(build)
            self._entries[key] = piece
        if self._frames:
            self._kids[-1].append(key)
            if piece.deps:
                self._merge(piece.deps)
        value: T = piece.value
        return value

    def call(self, key: Hashable, build: Callable[[A], T], arg: A) -> T:
        """`get` for a one-argument builder (no lambda needed)."""
        piece = self._entries.get(key)
        if piece is None:
            piece = self._carried(key)
            if piece is None:
                piece = self._build(lambda: build(arg))
            self._entries[key] = piece
        if self._frames:
            self._kids[-1].append(key)
            if piece.deps:
                self._merge(piece.deps)
        value: T = piece.value
        return value

    def call_content(self, key: Hashable, build: Callable[[A], T], arg: A) -> T:
        """`call` for a content-keyed piece (rule 4) whose builder looks nothing up in the
        memo and reads no dependency (serializing an IR object): no frame is opened for
        it — the per-piece bookkeeping of 10,000 virtual hosts' bytes."""
        piece = self._entries.get(key)
        if piece is None:
            piece = self._carried(key)
            if piece is None:
                piece = _Piece(build(arg), _NO_DEPS)
            self._entries[key] = piece
        if self._frames:
            self._kids[-1].append(key)
            if piece.deps:
                self._merge(piece.deps)
        value: T = piece.value
        return value

    def unchanged(self, key: Hashable) -> tuple[bool, Any]:
        """(True, value) when the piece under `key` is the previous generation's, carried
        over (it is then carried, with its parts, if it was not yet); (False, None) when
        it is new in this generation or would have to be built."""
        if self._previous is None:
            return False, None
        piece = self._entries.get(key)
        if piece is None:
            piece = self._carried(key)
            if piece is None:
                return False, None
            self._entries[key] = piece
        elif piece is not self._previous.get(key):
            return False, None  # rebuilt in this generation
        return True, piece.value

    def stale(self, key: Hashable) -> Any:
        """The previous generation's value under `key`, valid or not (None if none): what a
        builder may patch instead of rebuilding from nothing, comparing by identity which
        of its parts are still current."""
        if self._previous is None:
            return None
        piece = self._previous.get(key)
        return piece.value if piece is not None else None

    def inherit(self, key: Hashable) -> None:
        """Record, for the piece being built, the dependencies of the piece under `key`
        (built earlier in this generation): a piece made from another piece's value."""
        piece = self._entries.get(key)
        if piece is None:
            raise KeyError(f"no piece {key!r} in this generation")
        if piece.deps and self._frames:
            self._merge(piece.deps)

    def _carried(self, key: Hashable) -> _Piece | None:
        if self._previous is None:
            return None
        piece = self._previous.get(key)
        if piece is None or (piece.deps and _touches(self._changed, piece.deps)):
            return None
        if piece.children:
            self._carry_children(piece, self._previous)
        return piece

    def _carry_children(self, piece: _Piece, previous: dict[Hashable, _Piece]) -> None:
        """Carry over, with a valid piece, every piece it looked up while being built (and
        theirs): their dependencies are among its own (rule 2), so they are valid too.
        Without this, a piece carried whole (nothing it read changed) would leave its parts
        behind (rule 5), and the next change that does invalidate it would rebuild all of
        them: one unrelated edit, then one VirtualService edit, cost a 10,000-service
        view rebuilt from nothing."""
        descendants = piece.descendants
        if descendants is None:
            descendants = piece.descendants = _descendants(piece, previous)
        entries = self._entries
        if len(entries) <= 8 * len(descendants):
            # Merged in C with the hashes both dicts hold: these keys are deep tuples, and
            # hashing 10,000 of them again costs more than copying this generation's
            # entries. Those already in it stay as they are (the right operand wins).
            self._entries = descendants | entries
        else:
            for key, child in descendants.items():
                entries.setdefault(key, child)

    def _merge(self, deps: Iterable[Dep]) -> None:
        """Add `deps` to the piece being built. Large collections of other pieces are kept
        by reference, not copied: a piece made from one other piece (route resources from
        a view: 60,000 dependencies at 10,000 services) then shares its set, and one made
        from several (the view: its clusters' and its virtual hosts') a `DepUnion`."""
        if isinstance(deps, DepUnion):
            for part in deps.parts:
                self._share(part)
            self._frames[-1].update(deps.small)
            return
        if isinstance(deps, (frozenset, Mapping)) and len(deps) >= _SHARED_MIN:
            self._share(deps)
            return
        self._frames[-1].update(deps)

    def _share(self, part: Collection[Dep]) -> None:
        bases = self._bases[-1]
        if not any(part is base for base in bases):
            bases.append(part)

    def _build(self, build: Callable[[], Any]) -> _Piece:
        frame: set[Dep] = set()
        kids: list[Hashable] = []
        bases: list[Collection[Dep]] = []
        self._frames.append(frame)
        self._bases.append(bases)
        self._kids.append(kids)
        try:
            value = build()
        finally:
            self._frames.pop()
            self._bases.pop()
            self._kids.pop()
        deps: Deps
        if not bases:
            deps = frozenset(frame) if frame else _NO_DEPS
        elif len(bases) == 1 and isinstance(bases[0], frozenset):
            base = bases[0]
            deps = base if not frame or frame <= base else base | frame
        else:
            deps = DepUnion(tuple(bases), frozenset(frame))
        piece = _Piece(value, deps, tuple(kids))
        if self._previous is None and len(kids) >= _EAGER_DESCENDANTS_MIN:
            # (its parts are this generation's entries, as its first carry finds them)
            piece.descendants = _descendants(piece, self._entries)
        return piece

    def __len__(self) -> int:
        return len(self._entries)
