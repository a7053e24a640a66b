"""The control plane's wiring: MeshConfig updates -> translation -> snapshot cache.

It also answers the server's "who is this proxy?" question (`connect`), so a
proxy's snapshot is built on first connect and rebuilt on every mesh change
while it stays connected. Serialization happens here, once per distinct Envoy
resource: the translator hands back the same object for unchanged content, and
this module keeps its bytes from one generation to the next.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import structlog
from envoy.config.core.v3 import base_pb2

from translators.extensions import ExtensionError, ExtensionSet
from translators.mesh import MeshConfig, Workload
from translators.naming import SECRET_TYPE
from translators.translate import EnvoyResource, MeshTranslator, ResourceGroup
from xdscp.cache import Resource, Snapshot, SnapshotCache, TypeSnapshot, make_resource
from xdscp.server.resolver import ProxyRejected, UnknownProxy

log = structlog.get_logger()


def node_workload(node: base_pb2.Node) -> tuple[str, str]:
    """(namespace, name) a proxy says it serves: Node metadata NAMESPACE/WORKLOAD_NAME as
    written by `xdscp bootstrap`, else Istio's `sidecar~ip~name.ns~...` node id."""
    fields = node.metadata.fields
    namespace = fields["NAMESPACE"].string_value if "NAMESPACE" in fields else ""
    name = fields["WORKLOAD_NAME"].string_value if "WORKLOAD_NAME" in fields else ""
    if namespace and name:
        return namespace, name
    parts = node.id.split("~")
    if len(parts) == 4 and "." in parts[2]:
        name, namespace = parts[2].rsplit(".", 1)
        return namespace, name
    raise ProxyRejected(f"node {node.id!r} names no workload (metadata NAMESPACE/WORKLOAD_NAME)")


class _SnapshotParts:
    """Serialized resources and TypeSnapshots, memoized by the identity of the translator's
    resource groups. Proxies that share groups (same namespace and Sidecar) share the
    serialized bytes and the very same TypeSnapshot objects; a generation keeps what the
    previous one built for groups that survived. Values hold their groups, so an id is
    never reused while its entry lives."""

    def __init__(self) -> None:
        self._current: dict[tuple[object, ...], tuple[object, TypeSnapshot]] = {}
        self._previous: dict[tuple[object, ...], tuple[object, TypeSnapshot]] = {}
        self._resources: dict[EnvoyResource, Resource] = {}
        self._previous_resources: dict[EnvoyResource, Resource] = {}

    def resource(self, resource: EnvoyResource) -> Resource:
        found = self._resources.get(resource) or self._previous_resources.get(resource)
        if found is None:
            found = make_resource(
                resource.type_url, resource.name, resource.body(), resource.provenance
            )
        self._resources[resource] = found
        return found

    def type_snapshot(self, type_url: str, groups: tuple[ResourceGroup, ...]) -> TypeSnapshot:
        groups = tuple(g for g in groups if g)  # an empty group changes nothing
        key = (type_url, *(id(g) for g in groups))
        entry = self._current.get(key) or self._previous.get(key)
        if entry is None:
            resources = [self.resource(r) for group in groups for r in group]
            entry = (groups, TypeSnapshot.of(type_url, resources))
        elif key not in self._current:
            for group in groups:  # keep the serialized resources alive in this generation
                for r in group:
                    self.resource(r)
        self._current[key] = entry
        return entry[1]

    def next_generation(self) -> None:
        self._previous, self._current = self._current, {}
        self._previous_resources, self._resources = self._resources, {}


class SecretSource(Protocol):
    """Where SDS Secrets come from (the CA); see xdscp.identity."""

    def identity_of(self, workload: Workload) -> str: ...

    def secrets_for(self, workload: Workload) -> ResourceGroup: ...


class MeshRuntime:
    """Implements the server's ProxyResolver over a live MeshConfig.

    With `secrets`, every proxy also gets its SVID and trust bundle over SDS, and
    `require_identity` makes the authenticated SPIFFE ID of the xDS stream decide
    which workload a proxy may be: a Node claiming another identity is refused.
    """

    def __init__(
        self,
        cache: SnapshotCache,
        secrets: SecretSource | None = None,
        require_identity: bool = False,
        extensions: ExtensionSet | None = None,
    ) -> None:
        self.cache = cache
        self.secrets = secrets
        self.require_identity = require_identity
        self.extensions = extensions or ExtensionSet()
        # proxy -> the extension failure that keeps it on its last good config
        self.extension_errors: dict[str, ExtensionError] = {}
        # proxy -> why its config could not be built (it keeps its last good config)
        self.translate_errors: dict[str, str] = {}
        self.mesh: MeshConfig | None = None
        self._translator: MeshTranslator | None = None
        self._connections: dict[str, int] = {}
        self._parts = _SnapshotParts()
        self.generation = 0
        self.updated_at = 0.0
        # warnings seen in this generation and the previous one: each is logged when it
        # appears, not again on every reload while it persists
        self._warned: set[str] = set()
        self._warned_before: set[str] = set()
        self._applying = asyncio.Lock()
        # Told after every generation: (generation, monotonic start of the apply,
        # proxy key -> cache generation of each snapshot that changed). The server's
        # status book measures config-change -> ACK from it.
        self.on_generation: Callable[[int, float, Mapping[str, int]], None] | None = None

    @property
    def translator(self) -> MeshTranslator | None:
        """The current generation's translator (what every proxy's config comes from)."""
        return self._translator

    # --- mesh updates ---------------------------------------------------------
    async def apply(self, mesh: MeshConfig) -> None:
        """Apply a new mesh, yielding to the event loop every few proxies so the first
        proxies' pushes go out while the rest are still being translated."""
        async with self._applying:
            for _ in self._apply_steps(mesh, batch=32):
                await asyncio.sleep(0)

    def apply_now(self, mesh: MeshConfig) -> None:
        for _ in self._apply_steps(mesh, batch=0):
            pass

    def _apply_steps(self, mesh: MeshConfig, batch: int) -> Iterator[None]:
        started = time.perf_counter()
        started_monotonic = time.monotonic()
        # built before anything is replaced: if this raises, the previous mesh stays
        translator = MeshTranslator(mesh, self._translator, self.extensions)
        self.mesh = mesh
        self._translator = translator
        self._parts.next_generation()
        self.generation += 1
        self._warned_before, self._warned = self._warned, set()
        changed: dict[str, int] = {}  # proxy key -> cache generation of its new snapshot
        closed = 0  # proxies whose workload is gone (their streams end; nothing to ACK)
        for done, key in enumerate(list(self._connections), start=1):
            namespace, name = key.split("/", 1)
            workload = mesh.workload(namespace, name)
            if workload is None:
                # Its streams close (NOT_FOUND, as a new connect would be answered);
                # Envoy keeps running its last config and retries until it is back.
                if self._first_time(f"gone:{key}"):
                    log.warning("proxy.workload_gone", proxy=key, action="closes its streams")
                closed += self.cache.set(
                    key, Snapshot.tombstone(f"workload {key} no longer exists")
                )
                continue
            if self._publish(workload):
                changed[key] = self.cache.generation(key)
            if batch and done % batch == 0:
                yield
        self.updated_at = time.time()
        if self.on_generation is not None:
            self.on_generation(self.generation, started_monotonic, changed)
        log.info(
            "mesh.applied",
            generation=self.generation,
            objects=len(mesh.objects),
            errors=len(mesh.errors),
            proxies=len(self._connections),
            changed=len(changed) + closed,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def snapshot_for(self, workload: Workload, extensions: bool = True) -> Snapshot:
        if self._translator is None:
            raise ProxyRejected("no mesh configuration loaded yet")
        translated = self._translator.translate(workload, extensions=extensions)
        for warning in translated.view.warnings:
            if self._first_time(warning):  # once per change, not per proxy or reload
                log.warning("translate.warning", proxy=workload.key, warning=warning)
        groups = dict(translated.groups)
        identity: str | None = None
        if self.secrets is not None:
            identity = self.secrets.identity_of(workload)
            groups[SECRET_TYPE] = (self.secrets.secrets_for(workload),)
        return Snapshot(
            MappingProxyType(
                {
                    type_url: self._parts.type_snapshot(type_url, type_groups)
                    for type_url, type_groups in groups.items()
                }
            ),
            # Streams authenticated as anything else are closed instead of served.
            identity=identity,
        )

    def refresh(self) -> None:
        """Republish every connected proxy (after SVID rotation: new Secret versions)."""
        if self.mesh is not None:
            self.apply_now(self.mesh)

    def _publish(self, workload: Workload) -> bool:
        """Rebuild one proxy's snapshot. Nothing raised while building it may stop the
        loop or reach other proxies: the proxy keeps its last good config and the failure
        is shown in `/debug/config` (and logged once, not on every reload)."""
        try:
            snapshot = self.snapshot_for(workload)
        except ExtensionError as error:
            self.translate_errors.pop(workload.key, None)
            try:
                return self._extension_failed(workload, error)
            except Exception as exc:  # contained per proxy, see above
                return self._translation_failed(workload, exc)
        except Exception as exc:  # contained per proxy, see above
            return self._translation_failed(workload, exc)
        self.extension_errors.pop(workload.key, None)
        self.translate_errors.pop(workload.key, None)
        return self.cache.set(workload.key, snapshot)

    def _translation_failed(self, workload: Workload, exc: Exception) -> bool:
        message = f"{type(exc).__name__}: {str(exc)[:300]}"
        self.translate_errors[workload.key] = message
        if self._first_time(f"translate:{workload.key}:{message}"):
            log.error(
                "translate.failed",
                proxy=workload.key,
                error=message,
                action="keeps last good config",
                exc_info=exc,
            )
        last = self.cache.get(workload.key)
        identity = self.secrets.identity_of(workload) if self.secrets is not None else None
        if last is not None and not last.withdrawn and last.identity != identity:
            # the last good config belongs to an identity the workload no longer has
            reason = f"the config of {workload.key} cannot be built: {message}"
            return self.cache.set(workload.key, Snapshot.tombstone(reason))
        return False

    def _first_time(self, message: str) -> bool:
        """True the first time `message` comes up in this generation, unless the previous
        generation had it too: a persisting failure is logged once, not on every reload."""
        if message in self._warned:
            return False
        self._warned.add(message)
        return message not in self._warned_before

    def _extension_failed(self, workload: Workload, error: ExtensionError) -> bool:
        """A failing extension must not take a proxy down: it keeps its last good config;
        a proxy that has none yet gets the config without extensions (as Istio skips an
        EnvoyFilter patch that fails), until the extension or its objects are fixed."""
        self.extension_errors[workload.key] = error
        last = self.cache.get(workload.key)
        identity = self.secrets.identity_of(workload) if self.secrets is not None else None
        # Last good config only while it is still this identity's: never keep serving
        # (or rotating) secrets to streams of an identity the workload no longer has.
        kept = last is not None and not last.withdrawn and last.identity == identity
        # once per failure, when it appears (as warnings): every proxy is in /debug/config
        once = f"extension:{error.extension}:{error.part}:{error.objects}:{error.message}"
        if self._first_time(once):
            log.error(
                "extension.failed",
                proxy=workload.key,
                extension=error.extension,
                part=error.part,
                objects=list(error.objects),
                error=error.message,
                action="keeps last good config" if kept else "serves config without extensions",
            )
        if kept:
            return False
        return self.cache.set(workload.key, self.snapshot_for(workload, extensions=False))

    # --- ProxyResolver --------------------------------------------------------
    def connect(self, node: base_pb2.Node, peer_identity: str | None) -> str:
        if self.mesh is None:
            raise ProxyRejected("no mesh configuration loaded yet")
        namespace, name = node_workload(node)
        workload = self.mesh.workload(namespace, name)
        if workload is None:
            raise UnknownProxy(f"unknown workload {namespace}/{name}: no WorkloadEntry")
        self._check_identity(workload, peer_identity)
        self._connections[workload.key] = self._connections.get(workload.key, 0) + 1
        self._publish(workload)
        failure = self.translate_errors.get(workload.key)
        last = self.cache.get(workload.key)
        if failure is not None and (last is None or last.withdrawn):
            self.disconnect(workload.key)
            raise ProxyRejected(f"the config of {workload.key} cannot be built: {failure}")
        return workload.key

    def _check_identity(self, workload: Workload, peer_identity: str | None) -> None:
        if self.secrets is None:
            return
        expected = self.secrets.identity_of(workload)
        if peer_identity is None:
            if self.require_identity:
                raise ProxyRejected(
                    f"workload {workload.key} needs a client certificate for {expected}"
                )
            return
        if peer_identity != expected:
            log.warning(
                "proxy.identity_mismatch",
                claimed=workload.key,
                expected=expected,
                authenticated=peer_identity,
            )
            raise ProxyRejected(
                f"authenticated as {peer_identity}, which may not act as workload "
                f"{workload.key} ({expected})"
            )

    def disconnect(self, proxy_key: str) -> None:
        left = self._connections.get(proxy_key, 0) - 1
        if left > 0:
            self._connections[proxy_key] = left
        else:
            self._connections.pop(proxy_key, None)
            self.extension_errors.pop(proxy_key, None)
            self.translate_errors.pop(proxy_key, None)
            self.cache.remove(proxy_key)

    # --- debug ----------------------------------------------------------------
    def config_status(self) -> dict[str, Any]:
        mesh = self.mesh
        return {
            "generation": self.generation,
            "updated_at": self.updated_at,
            "objects": [o.ref for o in mesh.objects] if mesh else [],
            "errors": [e.as_dict() for e in mesh.errors] if mesh else [],
            "extensions": [e.name for e in self.extensions.extensions],
            "extension_errors": [e.as_dict() for e in self.extension_errors.values()],
            "translate_errors": [
                {"proxy": proxy, "error": error}
                for proxy, error in sorted(self.translate_errors.items())
            ],
        }
