"""The Kubernetes source: the cluster's Istio objects, Services, EndpointSlices, Pods and
Namespaces, watched, debounced, assembled into the same `MeshConfig` as the file source.

Objects are validated one by one with the model's own parser, so a bad object is
rejected alone (`k8s:Kind/ns/name` in the error) and, like in file mode, an object
that turns invalid keeps its last good version until it is fixed. Each Istio kind is
watched in one version only, the group's preferred one: the API server converts the
others, and watching several versions would deliver every object several times.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from translators.extensions import ExtensionSet
from translators.mesh import MeshConfig, MeshOptions, Service, Workload, build_mesh, update_mesh
from translators.model.base import ObjectMeta
from translators.model.objects import KINDS, ConfigError, MeshObject, Origin
from xdscp.kube.api import KubeApi
from xdscp.kube.debounce import Debouncer
from xdscp.kube.errors import KubeError
from xdscp.kube.health import ReflectorHealth
from xdscp.kube.reflector import Reflector, WatchSettings
from xdscp.kube.registry import platform_registry
from xdscp.kube.resources import (
    ENDPOINT_SLICE,
    NAMESPACE,
    PLATFORM_TYPES,
    POD,
    SERVICE,
    ResourceType,
    istio_types,
    preferred_version,
)
from xdscp.sources.documents import parse_document
from xdscp.sources.health import SourceHealth

log = structlog.get_logger()

Key = tuple[str, str, str]
_PLATFORM_KINDS = frozenset({SERVICE.kind, ENDPOINT_SLICE.kind, POD.kind})
_META_FIELDS = frozenset(ObjectMeta.model_fields)


def origin_of(kind: str, namespace: str, name: str) -> Origin:
    return Origin(f"k8s:{kind}/{namespace}/{name}")


def mesh_document(raw: dict[str, Any]) -> dict[str, Any]:
    """The object as a user wrote it: server-managed metadata the model does not know
    (deletionGracePeriodSeconds, selfLink, ...) and the status xdscp itself writes
    are dropped, so they can never make an object invalid."""
    meta = raw.get("metadata") or {}
    doc: dict[str, Any] = {
        "apiVersion": raw.get("apiVersion"),
        "kind": raw.get("kind"),
        "metadata": {k: v for k, v in meta.items() if k in _META_FIELDS},
    }
    if "spec" in raw:
        doc["spec"] = raw["spec"]
    return doc


def _parse_raw(raw: dict[str, Any], origin: Origin) -> MeshObject[Any] | list[ConfigError]:
    """One object from the API server, validated; nothing in it can raise out of here."""
    try:
        document = mesh_document(raw)
    except Exception as exc:  # e.g. a metadata that is not a mapping
        message = f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
        return [ConfigError(origin, str(raw.get("kind") or ""), "", "", "", message)]
    return parse_document(document, origin, None)


class KubernetesSource:
    def __init__(
        self,
        api: KubeApi,
        options: MeshOptions | None = None,
        quiet_ms: int = 100,
        max_wait_ms: int = 1000,
        watch: WatchSettings | None = None,
        log_errors: bool = True,
    ) -> None:
        self.api = api
        self.options = options or MeshOptions()
        self.watch_settings = watch or WatchSettings()
        self.log_errors = log_errors
        self.reflectors: dict[str, Reflector] = {}
        self._debounce = Debouncer(quiet_ms / 1000, max_wait_ms / 1000)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # per object: the resourceVersion last parsed and what it gave, so a rebuild
        # re-validates only objects that changed
        self._parsed: dict[Key, tuple[str, MeshObject[Any] | list[ConfigError]]] = {}
        self._last_good: dict[Key, MeshObject[Any]] = {}
        self._logged: set[str] = set()
        # The control plane reports the source's liveness at /ready and in metrics;
        # failing watches degrade it (but keep it ready: see `xdscp.kube.health`).
        self._health = ReflectorHealth(lambda: self.reflectors, self.watch_settings.degraded_after)
        # kinds with events since the last mesh: the platform registry (Services,
        # EndpointSlices, Pods) is rebuilt only when one of its kinds changed
        self._dirty: set[str] = set()
        self._mesh: MeshConfig | None = None
        # told when a burst's first watch event arrives, before its quiet period (as
        # `DirectorySource.on_batch`): the plane holds the background analysis from then
        # until the change's pushes are acknowledged
        self.on_batch: Callable[[], None] | None = None

    # --- lifecycle -------------------------------------------------------------
    async def start(self, sync_timeout: float | None = 60.0) -> None:
        """Discover versions, start every watch and wait until each type has listed once
        (so the first mesh is complete and no proxy sees a half-empty registry)."""
        if self._tasks:
            return
        self._stop = asyncio.Event()  # started again after `close` (a restarted watcher)
        types = [*await self._discover(), *PLATFORM_TYPES]
        for rtype in types:
            self.reflectors[rtype.kind] = Reflector(
                self.api, rtype, self._changed, self.watch_settings
            )
        self._tasks = [
            asyncio.create_task(r.run(self._stop), name=f"watch-{r.rtype.kind}")
            for r in self.reflectors.values()
        ]
        waits = [r.synced.wait() for r in self.reflectors.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=sync_timeout)
        except TimeoutError:
            missing = sorted(k for k, r in self.reflectors.items() if not r.synced.is_set())
            await self.close()
            raise KubeError(f"initial sync timed out waiting for {', '.join(missing)}") from None
        log.info(
            "kube.synced",
            types={k: r.rtype.api_version for k, r in self.reflectors.items()},
            objects=sum(len(r.store) for r in self.reflectors.values()),
        )

    async def _discover(self) -> list[ResourceType]:
        found: list[ResourceType] = []
        groups: dict[str, tuple[list[str], str]] = {}
        for rtype in istio_types():
            if rtype.group not in groups:
                try:
                    groups[rtype.group] = await self.api.api_group(rtype.group)
                except KubeError as exc:
                    log.warning("kube.discovery_failed", group=rtype.group, error=str(exc))
                    groups[rtype.group] = ([], "")
            served, preferred = groups[rtype.group]
            version = preferred_version(KINDS[rtype.kind][1], served, preferred)
            found.append(rtype.with_version(version) if version else rtype)
        return found

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def _changed(self, rtype: ResourceType) -> None:
        self._dirty.add(rtype.kind)
        if self._debounce.poke() and self.on_batch is not None:
            self.on_batch()

    # --- the ConfigSource protocol (xdscp.sources.protocol) --------------------
    @property
    def health(self) -> SourceHealth:
        return self._health

    def unavailable(self) -> str:
        return ""  # the reflectors retry on their own; `health` reports their failures

    def blame(
        self, mesh: MeshConfig, workload_key: str, extensions: ExtensionSet | None = None
    ) -> list[MeshObject[Any]]:
        """Not done in cluster mode yet: a proxy whose config cannot be built keeps its
        last good config (shown in /debug/config), the object stays as it is."""
        return []

    # --- the FileSource shape --------------------------------------------------
    async def run(
        self,
        on_update: Callable[[MeshConfig], Awaitable[None]],
        stop: asyncio.Event | None = None,
        initial: bool = True,
    ) -> None:
        """Emit the initial mesh (unless the caller already loaded it), then one mesh per
        settled burst of cluster events, until `stop`."""
        stop = stop or asyncio.Event()
        await self.start()
        if initial:
            await on_update(self.load())
        try:
            while await self._debounce.wait(stop):
                await self._update(on_update)
        finally:
            await self.close()

    async def _update(self, on_update: Callable[[MeshConfig], Awaitable[None]]) -> None:
        """One rebuild; whatever fails in it is logged and the next change is still read
        (the mesh in force stays until then)."""
        if self.on_batch is not None:
            # told again as the burst is read (as `DirectorySource._changed` does): a hold
            # taken at its first event may have been superseded and released since (by
            # the previous burst's apply), and the initial sync's burst was never told
            self.on_batch()
        try:
            await on_update(self.load())
        except asyncio.CancelledError:
            raise
        except Exception:  # the watch loop must outlive any one bad rebuild
            log.exception("config.reload_failed", action="keeps the config in force")

    def load(self) -> MeshConfig:
        """The mesh as of the local stores now (no I/O), updated from the previous one:
        only objects whose resourceVersion changed are validated again, and one changed
        object is one entry of `MeshConfig.delta` (the registry is looked at only when a
        Service, EndpointSlice, Pod, ServiceEntry or WorkloadEntry changed, and updated
        in place: `update_mesh` recomputes only the services and workloads that differ)."""
        dirty, self._dirty = self._dirty, set()
        objects, errors = self._istio_objects()
        previous = self._mesh
        platform = previous is None or bool(dirty & _PLATFORM_KINDS)
        services: list[Service] | None = None
        workloads: list[Workload] | None = None
        if platform:
            services, workloads = platform_registry(
                self._store(SERVICE), self._store(ENDPOINT_SLICE), self._store(POD), self.options
            )
        if previous is None or previous.inputs is None:
            mesh = build_mesh(objects, errors, self.options, services or (), workloads or ())
        else:
            before = previous.inputs.objects
            current = {o.key: o for o in objects}
            mesh = update_mesh(
                previous,
                [o for key, o in current.items() if before.get(key) is not o],
                [key for key in before if key not in current],
                errors,
                services,
                workloads,
            )
        self._mesh = mesh
        if self.log_errors:
            texts = {str(e) for e in mesh.errors}
            for text in sorted(texts - self._logged):
                log.warning("config.rejected", error=text)
            self._logged = texts
        return mesh

    # --- views for status, CA and identity -------------------------------------
    def raw_istio_objects(self) -> list[tuple[ResourceType, dict[str, Any]]]:
        """Every Istio object as the API server has it now (status included)."""
        return [
            (r.rtype, obj)
            for kind, r in self.reflectors.items()
            if kind in KINDS
            for obj in r.store.values()
        ]

    def namespaces(self) -> list[str]:
        return sorted(
            str((o.get("metadata") or {}).get("name"))
            for o in self._store(NAMESPACE)
            if (o.get("status") or {}).get("phase") != "Terminating"
        )

    def namespace_labels(self) -> dict[str, dict[str, str]]:
        """Each namespace's labels (for Gateway API `allowedRoutes` namespace selectors)."""
        out = {}
        for ns in self._store(NAMESPACE):
            meta = ns.get("metadata") or {}
            labels = meta.get("labels")
            out[str(meta.get("name"))] = dict(labels) if isinstance(labels, dict) else {}
        return out

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        reflector = self.reflectors.get(POD.kind)
        return reflector.store.get(f"{namespace}/{name}") if reflector else None

    def service(self, namespace: str, name: str) -> dict[str, Any] | None:
        reflector = self.reflectors.get(SERVICE.kind)
        return reflector.store.get(f"{namespace}/{name}") if reflector else None

    def _store(self, rtype: ResourceType) -> list[dict[str, Any]]:
        reflector = self.reflectors.get(rtype.kind)
        return list(reflector.store.values()) if reflector else []

    def _istio_objects(self) -> tuple[list[MeshObject[Any]], list[ConfigError]]:
        objects: list[MeshObject[Any]] = []
        errors: list[ConfigError] = []
        seen: set[Key] = set()
        for rtype, raw in self.raw_istio_objects():
            meta = raw.get("metadata")
            meta = meta if isinstance(meta, dict) else {}
            key: Key = (rtype.kind, str(meta.get("namespace") or ""), str(meta.get("name")))
            seen.add(key)
            version = str(meta.get("resourceVersion") or "")
            cached = self._parsed.get(key)
            if cached is None or cached[0] != version or not version:
                cached = (version, _parse_raw(raw, origin_of(*key)))
                self._parsed[key] = cached
            result = cached[1]
            if isinstance(result, MeshObject):
                self._last_good[key] = result
                objects.append(result)
                continue
            errors += result
            last = self._last_good.get(key)
            if last is not None:
                objects.append(last)  # keep the last good version of a now-broken object
        for key in set(self._parsed) - seen:
            del self._parsed[key]
            self._last_good.pop(key, None)
        return objects, errors
