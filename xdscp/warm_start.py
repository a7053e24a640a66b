"""A proxy's translation kept across a restart, so a warm start serves it untranslated.

`xdscp serve --parse-cache FILE` keeps the assembled mesh of a start in `FILE.mesh`
(`xdscp.sources.mesh_snapshot`); the same forked writer keeps, beside it, what the
runtime translated from that very mesh for the proxies served by then: per proxy (its
workload key), the translator's resource groups (without the Secrets, which come from
the CA of the running process) and its warnings. A restart that takes the mesh snapshot
— the very same files, code and options, so the very same mesh — takes these too
(`MeshRuntime.keep`, `WarmStart`): the first time such a proxy connects, its kept groups
stand for its translation, as long as the mesh in force is still the restored one and
its workload is the one they were made for; anything else is translated as usual.

They are stored ahead of the mesh and read first (`mesh_snapshot.open_snapshot`): the
plane listens and serves them before the rest of the snapshot (a million objects, a
second of unpickling at 10,000 services) is loaded, in the background. Until then a
proxy is served its kept translation only when it needs nothing of the mesh besides
(no gateway credentials: those Secrets are read for the credentials the mesh names);
any other proxy is refused as before a first load ("no mesh configuration loaded yet"),
and retries. Once the restored mesh is in force, the proxies served early are its own
(nothing is pushed again); a mesh that is not the restored one drops them all (each
proxy is translated, and pushed only what differs).

The translator's memo is not kept (it is most of the process's memory, and it changes
with every piece of the core): once the first proxies are served, the runtime
translates the restored proxies for real, off their critical path
(`MeshRuntime.warm_kept`), which fills the memo a first edit needs and checks every
kept type against the fresh translation by its resources' bytes and versions
(`differing_types`; a difference is published and logged, never kept). Until then an
edit is translated in full, as at a cold start.

Each resource is stored as its bytes and content version, beside the cache's
`TypeSnapshot`s of the groups (their bytes stored once): a restored proxy is served
those, nothing serialized, hashed or versioned again; groups and resources shared
between proxies are stored once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from translators.mesh import MeshConfig, Workload
from translators.resources import EnvoyResource, ResourceGroup
from xdscp.cache.snapshot import TypeSnapshot

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class KeptTranslation:
    """One proxy's translation as the runtime published it (see module doc)."""

    workload: Workload
    groups: Mapping[str, tuple[ResourceGroup, ...]]  # type URL -> groups, no Secrets
    warnings: tuple[str, ...]
    # what the cache made of `groups` (their `origin`): served as they are
    types: Mapping[str, TypeSnapshot]
    # whether it was served gateway credentials (Secrets for the `credentialName`s the
    # mesh names): such a proxy waits for the mesh, which says which ones
    credentials: bool = False


class WarmStart:
    """A warm start's kept translations, as the runtime takes them (`translation`, at
    one point of building a proxy's snapshot) and checks them (`MeshRuntime.warm_kept`).

    `mesh` is the mesh they were made from, once loaded (None until then: they serve
    only proxies that need nothing of it, see module doc)."""

    def __init__(self, kept: Mapping[str, KeptTranslation], mesh: MeshConfig | None) -> None:
        self.mesh = mesh
        self.given = kept
        self._kept = dict(kept)  # not served yet
        # served from a kept translation, not yet checked against a real translation:
        # taken again while its mesh is in force (a reconnect, the restored mesh applied)
        self.served: dict[str, KeptTranslation] = {}

    def translation(
        self, in_force: MeshConfig | None, workload: Workload, extensions: bool
    ) -> KeptTranslation | None:
        """What stands for `workload`'s translation under the mesh `in_force` (None: no
        mesh loaded yet), if anything; `extensions`: the translation wanted runs
        extensions (never kept, so a kept one stands for no such translation)."""
        if in_force is not None and in_force is not self.mesh:
            if self._kept or self.served:
                self._kept, self.served = {}, {}  # another mesh (an edit, fetched keys)
                log.info("warm_start.kept_dropped", reason="the mesh changed")
            return None
        key = workload.key
        kept = self.served.get(key)
        if kept is None:
            kept = self._kept.get(key)
        if kept is None or not extensions:
            return None
        if kept.workload != workload:
            self._kept.pop(key, None)
            self.served.pop(key, None)
            log.info("warm_start.kept_refused", proxy=key, reason="workload changed")
            return None
        if in_force is None and kept.credentials:
            return None  # served once the mesh is loaded
        self._kept.pop(key, None)
        self.served[key] = kept
        return kept

    def unused(self, in_force: MeshConfig | None) -> int:
        """Kept translations no proxy took yet (while their mesh is in force)."""
        return len(self._kept) if in_force is self.mesh else 0

    def early_workload(self, namespace: str, name: str) -> Workload | None:
        """The workload a proxy connecting before any mesh is loaded is served as, when
        its kept translation serves it then (as the restored mesh has it, see module
        doc); None: it waits for the mesh."""
        key = f"{namespace}/{name}"
        kept = self.served.get(key) or self._kept.get(key)
        return kept.workload if kept is not None and not kept.credentials else None


def differing_types(
    kept: Mapping[str, tuple[ResourceGroup, ...]],
    translated: Mapping[str, tuple[ResourceGroup, ...]],
) -> list[str]:
    """The types whose translation differs from the kept one in what the cache would
    make of it (`xdscp.cache.parts`): its resources in order, by name, provenance and
    content — the version a resource comes with, else its bytes — with nothing hashed
    or versioned again (what was served stays exactly when nothing differs)."""
    return sorted(
        t
        for t in kept.keys() | translated.keys()
        if t not in kept or t not in translated or not _same(kept[t], translated[t])
    )


def _same(kept: tuple[ResourceGroup, ...], fresh: tuple[ResourceGroup, ...]) -> bool:
    # empty groups change nothing (`SnapshotParts.type_snapshot` leaves them out)
    before = [r for group in kept for r in group]
    after = [r for group in fresh for r in group]
    if len(before) != len(after):
        return False
    for was, now in zip(before, after, strict=True):
        if was is now:
            continue
        if was.name != now.name or was.provenance != now.provenance:
            return False
        if now.version is not None:
            # a content version stands for the bytes (the cache keys by it)
            if now.version != was.version:
                return False
        elif now.parts() != was.parts():
            return False
    return True


def content_version(parts: tuple[bytes, ...]) -> str:
    """The version the cache gives a body it hashes (`xdscp.cache.snapshot.make_resource`)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()[:16]


def reduce_resource(resource: EnvoyResource) -> tuple[Any, tuple[Any, ...]]:
    """Pickled as its bytes and version (run in the forked writer: serializing a
    listener message or hashing a body costs the serving process nothing); loaded by a
    plain constructor call, 60,000 of them at 10,000 services."""
    parts = resource.parts()
    version = resource.version or content_version(parts)
    one = len(parts) == 1
    body, many = (parts[0], None) if one else (None, parts)
    # EnvoyResource(type_url, name, message, provenance, body, version, parts)
    return EnvoyResource, (
        resource.type_url,
        resource.name,
        None,
        resource.provenance,
        body,
        version,
        many,
    )
