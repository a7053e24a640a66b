"""A proxy's translation kept across a restart, so a warm start serves it untranslated.

`xdscp serve --parse-cache FILE` keeps the assembled mesh of a start in `FILE.mesh`
(`xdscp.sources.mesh_snapshot`); the same forked writer keeps, beside it, what the
runtime translated from that very mesh for the proxies served by then: per proxy (its
workload key), the translator's resource groups (without the Secrets, which come from
the CA of the running process) and its warnings. A restart that takes the mesh snapshot
— the very same files, code and options, so the very same mesh — takes these too
(`MeshRuntime.keep`): the first time such a proxy connects, its kept groups stand for
its translation, as long as the mesh in force is still the restored one and its
workload is the one they were made for; anything else is translated as usual.

The translator's memo is not kept (it is most of the process's memory, and it changes
with every piece of the core): once the first proxies are served, the runtime
translates the restored proxies for real, off their critical path
(`MeshRuntime.warm_kept`), which fills the memo a first edit needs and checks every
kept type against the fresh translation (a difference is published and logged, never
kept). Until then an edit is translated in full, as at a cold start.

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

from translators.mesh import Workload
from translators.resources import EnvoyResource, ResourceGroup
from xdscp.cache.snapshot import TypeSnapshot


@dataclass(frozen=True, slots=True)
class KeptTranslation:
    """One proxy's translation as the runtime published it (see module doc)."""

    workload: Workload
    groups: Mapping[str, tuple[ResourceGroup, ...]]  # type URL -> groups, no Secrets
    warnings: tuple[str, ...]
    # what the cache made of `groups` (their `origin`): served as they are
    types: Mapping[str, TypeSnapshot]


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
