"""Running extensions over one proxy's resources while keeping the sharing intact.

The runtime serializes and versions each `ResourceGroup` once, by identity, for all
proxies that hold it. So after extensions run:

* a group none of whose members changed is the very same group object;
* every resource an extension produced is interned by content (type, name, bytes):
  two proxies that end up with the same patched listener or added cluster hold one
  `EnvoyResource`, and one group object for the same members;
* interning lives in the translator's memo, so it also survives generations.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import partial
from typing import Any, TypeVar

from google.protobuf.message import Message

from translators.extensions.api import (
    EXTENSIBLE_TYPES,
    Extension,
    ExtensionError,
    ExtensionSet,
    Patch,
    Proxy,
    Resource,
    Sourced,
    TranslateFn,
)
from translators.extensions.convert import to_protobuf, type_url_of
from translators.resources import EnvoyResource, ResourceGroup

T = TypeVar("T")
Groups = dict[str, tuple[ResourceGroup, ...]]


class Interner:
    """Content-addressed resources and groups (a view over the translator's memo)."""

    def __init__(self, get: Callable[[Hashable, Callable[[], Any]], Any]) -> None:
        self._get = get

    def resource(self, message: Message, provenance: tuple[str, ...]) -> EnvoyResource:
        type_url = type_url_of(message)
        if type_url not in EXTENSIBLE_TYPES:
            raise TypeError(f"{type_url} is not a resource type extensions may produce")
        name = resource_name(message)
        if not name:
            raise ValueError(f"a {message.DESCRIPTOR.name} without a name")
        body = message.SerializeToString(deterministic=True)
        found: EnvoyResource = self._get(
            ("ext-resource", type_url, name, body, provenance),
            lambda: EnvoyResource(type_url, name, provenance=provenance, body=body),
        )
        return found

    def group(self, members: Iterable[EnvoyResource]) -> ResourceGroup:
        # Keyed by the members themselves (identity): the entry keeps them alive.
        members = tuple(members)
        found: ResourceGroup = self._get(("ext-group", members), lambda: ResourceGroup(members))
        return found


def resource_name(message: Message) -> str:
    for field in ("name", "cluster_name"):
        if field in message.DESCRIPTOR.fields_by_name:
            value = getattr(message, field)
            if isinstance(value, str):
                return value
    return ""


def _as_resource(
    value: object, interner: Interner, provenance: tuple[str, ...], expected_type: str | None
) -> EnvoyResource:
    if isinstance(value, Resource):
        original = value.original
        if not value.touched:
            return original
        if value.message.SerializeToString(deterministic=True) == original.body():
            return original  # looked at, or edited back to what it was
        return interner.resource(value.message, original.provenance + (value.sources or provenance))
    if isinstance(value, EnvoyResource):
        return value
    if isinstance(value, Sourced):
        provenance = value.sources
        value = value.message
    resource = interner.resource(to_protobuf(value), provenance)
    if expected_type is not None and resource.type_url != expected_type:
        raise TypeError(f"returned a {resource.type_url}, expected {expected_type}")
    return resource


def _guard(ext: Extension, part: str, proxy: Proxy, run: Callable[[], T]) -> T:
    try:
        return run()
    except ExtensionError:
        raise
    except Exception as exc:
        raise ExtensionError(
            ext.name, part, proxy.key, f"{type(exc).__name__}: {exc}", proxy.looked_at
        ) from exc


def _translated(
    fn: TranslateFn, proxy: Proxy, interner: Interner, provenance: tuple[str, ...]
) -> list[EnvoyResource]:
    produced = fn(proxy.mesh, proxy)
    return [_as_resource(v, interner, provenance, None) for v in produced or ()]


def apply_extensions(
    extensions: ExtensionSet, interner: Interner, proxy: Proxy, groups: Mapping[str, Any]
) -> Groups:
    """`groups` (type URL -> groups) after every translator, then every patch.

    Raises `ExtensionError` naming the extension, the function, the proxy and the
    objects it was looking at; the caller keeps the proxy's last good config."""
    out: Groups = {t: tuple(g) for t, g in groups.items()}
    for ext in extensions.extensions:
        provenance = (f"Extension/{ext.name}",)
        for translator in ext.translators:
            part = f"translator {translator.name!r}"
            run = partial(_translated, translator.fn, proxy, interner, provenance)
            _merge_added(ext, part, proxy, out, _guard(ext, part, proxy, run), interner)
    for ext in extensions.extensions:
        provenance = (f"Extension/{ext.name}",)
        for patch in ext.patches:
            current = out.get(patch.type_url, ())
            run_patch = partial(_patch, patch, proxy, current, interner, provenance)
            out[patch.type_url] = _guard(ext, f"patch {patch.name!r}", proxy, run_patch)
    return {t: g for t, g in out.items() if g}


def _merge_added(
    ext: Extension,
    part: str,
    proxy: Proxy,
    out: Groups,
    added: list[EnvoyResource],
    interner: Interner,
) -> None:
    by_type: dict[str, list[EnvoyResource]] = {}
    for resource in added:
        by_type.setdefault(resource.type_url, []).append(resource)
    for type_url, resources in by_type.items():
        taken = {r.name for g in out.get(type_url, ()) for r in g}
        names = [r.name for r in resources]
        clash = sorted({n for n in names if n in taken or names.count(n) > 1})
        if clash:
            raise ExtensionError(
                ext.name,
                part,
                proxy.key,
                f"{type_url.rsplit('.', 1)[-1]} names already in use: {clash} "
                "(change generated resources with a patch)",
                proxy.looked_at,
            )
        out[type_url] = (*out.get(type_url, ()), interner.group(resources))


def _patch(
    patch: Patch,
    proxy: Proxy,
    groups: tuple[ResourceGroup, ...],
    interner: Interner,
    provenance: tuple[str, ...],
) -> tuple[ResourceGroup, ...]:
    views = [Resource(r) for g in groups for r in g]
    result = patch.fn(proxy, views)
    if result is None:
        return groups
    patched: dict[str, EnvoyResource] = {}
    for value in result:
        resource = _as_resource(value, interner, provenance, patch.type_url)
        if resource.name in patched:
            raise ValueError(f"returned two resources named {resource.name!r}")
        patched[resource.name] = resource
    placed: set[str] = set()
    new_groups: list[ResourceGroup] = []
    for group in groups:
        members = [patched[r.name] for r in group if r.name in patched]
        placed.update(r.name for r in group)
        if len(members) == len(group) and all(a is b for a, b in zip(members, group, strict=True)):
            new_groups.append(group)
        elif members:
            new_groups.append(interner.group(members))
    extra = [r for name, r in patched.items() if name not in placed]
    if extra:
        new_groups.append(interner.group(extra))
    return tuple(new_groups)
