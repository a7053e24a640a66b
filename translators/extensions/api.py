"""The extension API: what a user registers, and what their functions receive.

An `Extension` is an explicit registry object: creating one registers nothing
anywhere; it takes effect only when handed to `MeshTranslator(extensions=...)`
(or loaded with `xdscp serve --extension module:object`). It holds

* kinds: new object kinds (API group, versions, pydantic spec model) that config
  sources then accept and validate like Istio's own;
* translators: `(mesh, proxy) -> resources`, merged into every proxy's resources;
* patches: `(proxy, resources of one type) -> resources | None`, Istio's
  EnvoyFilter use case in Python.

Functions may return xds-protos (protobuf) or envoy-data-plane (betterproto2)
messages; the latter are converted once, at this edge.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from google.protobuf.message import Message
from pydantic import BaseModel

from translators.errors import TranslatorError
from translators.ir import ProxyView
from translators.mesh import MeshConfig, Workload
from translators.model.objects import KINDS, MeshObject
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE
from translators.resources import MESSAGE_TYPES, EnvoyResource

T = TypeVar("T")

# Types an extension may contribute or patch (secrets stay the CA's business).
EXTENSIBLE_TYPES = (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE)

# What extension functions may hand back: a protobuf message, an envoy-data-plane
# message, a `Resource` they were given, a `Sourced` message, or an `EnvoyResource`.
Output: TypeAlias = "Message | Resource | Sourced | EnvoyResource | Any"


@dataclass(frozen=True, slots=True)
class Kind:
    """A custom object kind: `apiVersion: <group>/<version>`, `kind: <kind>`, and the
    pydantic model its `spec` must satisfy (forbid extra fields, as Istio's do)."""

    kind: str
    group: str
    versions: frozenset[str]
    spec: type[BaseModel]


class Resource:
    """One generated Envoy resource as a patch sees it. `message` is a private, mutable
    copy parsed on first access (so a patch that only looks at names parses nothing);
    return this object unchanged to keep the shared original."""

    __slots__ = ("_copy", "original", "sources")

    def __init__(self, original: EnvoyResource) -> None:
        self.original = original
        self._copy: Message | None = None
        # objects to blame for a change instead of the extension (EnvoyFilters name theirs)
        self.sources: tuple[str, ...] = ()

    def blame(self, *sources: str) -> None:
        """Name the objects that changed this resource: a NACK of it is then blamed on
        them (with the objects it was generated from) rather than on the extension."""
        self.sources = tuple(dict.fromkeys((*self.sources, *sources)))

    @property
    def name(self) -> str:
        return self.original.name

    @property
    def type_url(self) -> str:
        return self.original.type_url

    @property
    def provenance(self) -> tuple[str, ...]:
        return self.original.provenance

    @property
    def message(self) -> Message:
        if self._copy is None:
            copy = MESSAGE_TYPES[self.original.type_url]()
            copy.ParseFromString(self.original.body())
            self._copy = copy
        return self._copy

    @property
    def touched(self) -> bool:
        return self._copy is not None

    def __repr__(self) -> str:
        return f"Resource({self.type_url.rsplit('.', 1)[-1]}, {self.name!r})"


@dataclass(frozen=True, slots=True)
class Sourced:
    """A new resource (a message) with the objects it came from, which its provenance
    names instead of the extension."""

    message: Any
    sources: tuple[str, ...]


class Proxy:
    """What an extension function sees of one proxy: the mesh, the workload, its IR
    (`gateway`: a gateway proxy rather than a sidecar).

    `objects()`/`selecting()` also remember which objects the function looked at, so
    an error names them."""

    __slots__ = ("_by_kind", "_looked_at", "_memo", "gateway", "mesh", "view", "workload")

    def __init__(
        self,
        mesh: MeshConfig,
        workload: Workload,
        view: ProxyView,
        by_kind: Mapping[str, Sequence[MeshObject[Any]]] | None = None,
        gateway: bool = False,
        memo: Callable[[Hashable, Callable[[], Any]], Any] | None = None,
    ) -> None:
        self.mesh = mesh
        self.workload = workload
        self.view = view
        self.gateway = gateway
        self._memo = memo
        # the mesh's objects by kind, built once per generation by the translator (so
        # 10,000 proxies do not each scan every object)
        self._by_kind = by_kind
        self._looked_at: list[str] = []

    def _of_kind(self, kind: str) -> Sequence[MeshObject[Any]]:
        if self._by_kind is None:
            return self.mesh.of_kind(kind)
        return self._by_kind.get(kind, ())

    @property
    def key(self) -> str:
        return self.workload.key

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()`, shared through the translator's memo under `key` (which must name
        all the content it depends on): proxies asking with one key get one object."""
        if self._memo is None:
            return build()
        found: T = self._memo(key, build)
        return found

    def objects(self, kind: str) -> list[MeshObject[Any]]:
        found = list(self._of_kind(kind))
        self._looked_at += [o.ref for o in found]
        return found

    def selecting(self, kind: str) -> list[MeshObject[Any]]:
        """Objects of `kind` that apply to this workload, with Istio's policy scoping:
        in the root namespace without a selector (mesh-wide), in the workload's namespace
        without a selector (namespace-wide) or with a `selector`/`workloadSelector`
        whose labels the workload carries. Least specific first."""
        root = self.mesh.options.root_namespace
        ns = self.workload.namespace
        mesh_wide: list[MeshObject[Any]] = []
        namespace_wide: list[MeshObject[Any]] = []
        selected: list[MeshObject[Any]] = []
        for obj in self._of_kind(kind):
            selector = _selector_labels(obj.spec)
            if selector is None:
                if obj.namespace == ns:
                    namespace_wide.append(obj)
                elif obj.namespace == root:
                    mesh_wide.append(obj)
            elif obj.namespace == ns and all(
                self.workload.labels.get(k) == v for k, v in selector.items()
            ):
                selected.append(obj)
        found = mesh_wide + namespace_wide + selected
        self._looked_at += [o.ref for o in found]
        return found

    @property
    def looked_at(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self._looked_at))


def _selector_labels(spec: object) -> Mapping[str, str] | None:
    for attribute in ("selector", "workload_selector"):
        selector = getattr(spec, attribute, None)
        if selector is None:
            continue
        effective = getattr(selector, "effective", None)
        if callable(effective):
            labels: Mapping[str, str] = effective()
            return labels
        match_labels = getattr(selector, "match_labels", None)
        if isinstance(match_labels, Mapping):
            return match_labels
        if isinstance(selector, Mapping):
            return selector
    return None


TranslateFn: TypeAlias = Callable[[MeshConfig, Proxy], Iterable[Output]]
PatchFn: TypeAlias = Callable[[Proxy, Sequence[Resource]], Iterable[Output] | None]


@dataclass(frozen=True, slots=True)
class Translator:
    name: str
    fn: TranslateFn


@dataclass(frozen=True, slots=True)
class Patch:
    name: str
    type_url: str
    fn: PatchFn


class ExtensionError(TranslatorError):
    """An extension failed for one proxy. The runtime reports it and keeps serving that
    proxy's last good config."""

    def __init__(
        self,
        extension: str,
        part: str,
        proxy: str,
        message: str,
        objects: tuple[str, ...] = (),
    ) -> None:
        self.extension = extension
        self.part = part
        self.proxy = proxy
        self.message = message
        self.objects = objects
        about = f" (objects: {', '.join(objects)})" if objects else ""
        super().__init__(
            f"extension {extension!r} {part} failed for proxy {proxy}{about}: {message}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "extension": self.extension,
            "part": self.part,
            "proxy": self.proxy,
            "objects": list(self.objects),
            "message": self.message,
            "text": str(self),
        }


@dataclass(slots=True)
class Extension:
    """A named registry of kinds, translators and patches. Nothing happens on import or
    construction; the owner passes it (or `xdscp serve --extension mod:obj` does)."""

    name: str
    kinds: list[Kind] = field(default_factory=list)
    translators: list[Translator] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)

    def add_kind(
        self, kind: str, group: str, versions: Iterable[str], spec: type[BaseModel]
    ) -> Kind:
        if kind in KINDS:
            raise ValueError(f"extension {self.name!r}: kind {kind} is built in")
        if any(k.kind == kind for k in self.kinds):
            raise ValueError(f"extension {self.name!r}: kind {kind} registered twice")
        added = Kind(kind, group, frozenset(versions), spec)
        if not added.versions:
            raise ValueError(f"extension {self.name!r}: kind {kind} needs a version")
        self.kinds.append(added)
        return added

    def add_translator(self, fn: TranslateFn, name: str | None = None) -> TranslateFn:
        """`fn(mesh, proxy)` returns resources to add to the proxy's config (names must
        not collide with generated ones: change those with a patch)."""
        self.translators.append(Translator(name or str(getattr(fn, "__name__", "translator")), fn))
        return fn

    def add_patch(self, type_url: str, fn: PatchFn, name: str | None = None) -> PatchFn:
        """`fn(proxy, resources)` gets the proxy's resources of `type_url` and returns
        None (no change) or the complete new list: `Resource`s kept as they are, new or
        modified messages, and without those to remove."""
        if type_url not in EXTENSIBLE_TYPES:
            raise ValueError(f"extension {self.name!r}: cannot patch {type_url}")
        self.patches.append(Patch(name or str(getattr(fn, "__name__", "patch")), type_url, fn))
        return fn

    def translator(self, fn: TranslateFn) -> TranslateFn:
        """Decorator form of `add_translator` (on this explicit object, not a global)."""
        return self.add_translator(fn)

    def patch(self, type_url: str) -> Callable[[PatchFn], PatchFn]:
        """Decorator form of `add_patch`."""

        def register(fn: PatchFn) -> PatchFn:
            return self.add_patch(type_url, fn)

        return register


@dataclass(frozen=True, slots=True)
class ExtensionSet:
    """The extensions in effect, in order (translators, then patches, each in this order)."""

    extensions: tuple[Extension, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        names: set[str] = set()
        for ext in self.extensions:
            if ext.name in names:
                raise ValueError(f"two extensions named {ext.name!r}")
            names.add(ext.name)
            for kind in ext.kinds:
                if kind.kind in seen:
                    raise ValueError(
                        f"kind {kind.kind} registered by both {seen[kind.kind]!r} and {ext.name!r}"
                    )
                seen[kind.kind] = ext.name

    def __bool__(self) -> bool:
        return any(e.translators or e.patches for e in self.extensions)

    def kinds(self) -> dict[str, tuple[str, frozenset[str], type[BaseModel]]]:
        """Built-in and extension kinds, in `KINDS` form (what parsers accept)."""
        merged = dict(KINDS)
        for ext in self.extensions:
            merged.update({k.kind: (k.group, k.versions, k.spec) for k in ext.kinds})
        return merged
