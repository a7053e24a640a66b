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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import structlog
from envoy.config.core.v3 import base_pb2

from translators.extensions import ExtensionError, ExtensionSet
from translators.mesh import MeshConfig, Workload
from translators.naming import SECRET_TYPE
from translators.translate import MeshTranslator, ProxyResources, ResourceGroup
from xdscp.cache import Snapshot, SnapshotCache
from xdscp.cache.parts import SnapshotParts
from xdscp.server.resolver import ProxyRejected, UnknownProxy
from xdscp.tuning import frozen_after
from xdscp.warm_start import KeptTranslation, WarmStart, differing_types

log = structlog.get_logger()

# `apply` hands the event loop back after this much work, so pushes and ACKs of the
# proxies already done proceed while the rest are built. Short: until its push is
# written a proxy (and the network) has nothing to do; with 50 ms slices a change that
# reached 1,000 proxies held ~900 of their pushes back until the second slice ended,
# and the receivers sat idle meanwhile (benchmarks.push at 100 services: change
# 1.03x -> 0.90x the floor, median of 7 rounds each, alternating; the runtime's own CPU
# grows a few ms from the interleaving).
_APPLY_SLICE_SECONDS = 0.005
# ... and the first time (kept apart: tests/operability/test_runtime_slices.py sets it
# alone): the first few proxies go out at once, their transfer overlaps the rest.
_APPLY_FIRST_SLICE_SECONDS = 0.005
# The generation an apply replaces is let go this long after it, not inside it: freeing it
# (the last translator's memo, view and route tables: tuples of 10,000 entries, each
# reference dropped one by one) cost ~2 ms of CPU at 10,000 services in the middle of an
# edit's apply. Later, the push is written and the proxy is reading it.
_RETIRE_AFTER_SECONDS = 0.2


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


@dataclass(slots=True)
class _Published:
    """What a connected proxy's current snapshot was built from: the next generation
    compares against it and leaves the snapshot untouched when nothing differs."""

    workload: Workload
    identity: str | None
    groups: Mapping[str, tuple[ResourceGroup, ...]]  # with the Secrets
    snapshot: Snapshot
    # whose translation `translated` is (None: a kept one served before any mesh was
    # loaded, xdscp/warm_start.py)
    translator: MeshTranslator | None
    translated: Mapping[str, tuple[ResourceGroup, ...]]
    warnings: tuple[str, ...]


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
        # proxy -> what its published snapshot was built from (connected proxies only)
        self._published: dict[str, _Published] = {}
        self._parts = SnapshotParts()
        self._secrets_now: dict[str, ResourceGroup] | None = None
        # A gateway proxy's certificates (`credentialName`), over SDS next to its identity:
        # (translator, workload) -> Secret groups (xdscp/gateway_credentials.py).
        self.gateway_secrets: (
            Callable[[MeshTranslator, Workload], tuple[ResourceGroup, ...]] | None
        ) = None
        # the runtime's own time in the last generation (translation, snapshots, cache)
        self.busy_seconds = 0.0
        # the same in CPU time of the thread applying it (unlike wall time, not inflated
        # by other processes on a busy machine)
        self.busy_cpu_seconds = 0.0
        self.generation = 0
        self.updated_at = 0.0
        # proxies whose translation the last generation did not redo (a change they
        # cannot be affected by)
        self.skipped = 0
        # warnings seen in this generation and the previous one: each is logged when it
        # appears, not again on every reload while it persists
        self._warned: set[str] = set()
        self._warned_before: set[str] = set()
        self._applying = asyncio.Lock()
        # Told after every generation: (generation, monotonic start of the apply,
        # proxy key -> cache generation of each snapshot that changed). The server's
        # status book measures config-change -> ACK from it.
        self.on_generation: Callable[[int, float, Mapping[str, int]], None] | None = None
        # Set by a long-running service (with `tuning.tune_gc`): the next translation runs
        # with the cyclic GC paused and its pieces are frozen out of it (`frozen_after`);
        # the first proxy's full translation, whose pieces the next proxies share.
        self.freeze_next_translation = False
        # A warm start's kept translations (xdscp/warm_start.py; `keep`), taken for the
        # first translation of their proxies while their mesh is in force (or before any
        # mesh is loaded) and checked by `warm_kept`.
        self.warm: WarmStart | None = None
        # generations replaced by `apply`, held until `_RETIRE_AFTER_SECONDS` after it
        self._retired: list[MeshTranslator] = []
        self._retiring: asyncio.TimerHandle | None = None

    @property
    def translator(self) -> MeshTranslator | None:
        """The current generation's translator (what every proxy's config comes from)."""
        return self._translator

    # --- mesh updates ---------------------------------------------------------
    async def apply(self, mesh: MeshConfig) -> None:
        """Apply a new mesh, yielding to the event loop every few milliseconds so the first
        proxies' pushes go out while the rest are still being translated."""
        async with self._applying:
            if self._translator is not None:
                self._retire(self._translator)
            steps = self._apply_steps(
                mesh, slice_seconds=_APPLY_SLICE_SECONDS, first_slice=_APPLY_FIRST_SLICE_SECONDS
            )
            for _ in steps:
                await asyncio.sleep(0)

    def _retire(self, translator: MeshTranslator) -> None:
        """Hold `translator`'s generation until `_RETIRE_AFTER_SECONDS` from now (its
        memory is freed then, off the apply that replaces it)."""
        self._retired.append(translator)
        if self._retiring is None:  # (not pushed back: a stream of edits frees as it goes)
            self._retiring = asyncio.get_running_loop().call_later(
                _RETIRE_AFTER_SECONDS, self._free_retired
            )

    def _free_retired(self) -> None:
        self._retiring = None
        self._retired.clear()

    @property
    def retired(self) -> int:
        """Replaced generations not freed yet (for tests)."""
        return len(self._retired)

    def apply_now(self, mesh: MeshConfig) -> None:
        for _ in self._apply_steps(mesh, slice_seconds=None):
            pass

    def _apply_steps(
        self, mesh: MeshConfig, slice_seconds: float | None, first_slice: float | None = None
    ) -> Iterator[None]:
        """One generation, in slices of at most `slice_seconds` of work (None: one slice),
        the first one of at most `first_slice` (default: `slice_seconds`).
        `busy_seconds` adds up the slices: the runtime's own part, without the pushes and
        ACKs the event loop runs between them."""
        started_monotonic = time.monotonic()
        slice_start = time.perf_counter()
        cpu_start = time.thread_time()
        busy = cpu = 0.0
        translator = self._translator
        if mesh is not self.mesh or translator is None:
            # built before anything is replaced: if this raises, the previous mesh stays
            translator = MeshTranslator(mesh, self._translator, self.extensions)
        # the generation's setup (what changed, the index, the memo): mesh-sized work, if any
        setup = time.perf_counter() - slice_start
        # else the same mesh again (a refresh after SVID rotation): a translator is a pure
        # function of its mesh, so every proxy's translation is the one it has
        self.mesh = mesh
        self._translator = translator
        self.generation += 1
        self._warned_before, self._warned = self._warned, set()
        self._secrets_now = {}  # identity -> Secret group, for this generation
        self.skipped = 0
        changed: dict[str, int] = {}  # proxy key -> cache generation of its new snapshot
        closed = 0  # proxies whose workload is gone (their streams end; nothing to ACK)
        limit = first_slice if first_slice is not None else slice_seconds
        workloads = mesh.workloads  # keyed `namespace/name`, as connections are
        for key in list(self._connections):
            workload = workloads.get(key)
            if workload is None:
                # Its streams close (NOT_FOUND, as a new connect would be answered);
                # Envoy keeps running its last config and retries until it is back.
                if self._first_time(f"gone:{key}"):
                    log.warning("proxy.workload_gone", proxy=key, action="closes its streams")
                self._published.pop(key, None)
                closed += self.cache.set(
                    key, Snapshot.tombstone(f"workload {key} no longer exists")
                )
                continue
            if self._publish(workload):
                changed[key] = self.cache.generation(key)
            if limit is not None:
                now = time.perf_counter()
                if now - slice_start >= limit:
                    busy += now - slice_start
                    cpu += time.thread_time() - cpu_start
                    yield
                    limit = slice_seconds
                    slice_start = time.perf_counter()
                    cpu_start = time.thread_time()
        self._secrets_now = None
        busy += time.perf_counter() - slice_start
        cpu += time.thread_time() - cpu_start
        self.busy_seconds = busy
        self.busy_cpu_seconds = cpu
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
            skipped=self.skipped,
            ms=round(busy * 1000, 1),
            cpu_ms=round(cpu * 1000, 1),
            setup_ms=round(setup * 1000, 1),
            elapsed_ms=round((time.monotonic() - started_monotonic) * 1000, 1),
        )

    def snapshot_for(self, workload: Workload, extensions: bool = True) -> Snapshot:
        """The snapshot `workload`'s proxy gets from the current mesh (pure: publishes
        nothing)."""
        return self._build(workload, extensions, None).snapshot

    def _build(
        self, workload: Workload, extensions: bool, previous: _Published | None
    ) -> _Published:
        """Translate `workload` and assemble its snapshot. Types whose groups are the very
        groups `previous` was built from keep their TypeSnapshot; when no type differs,
        `previous` itself comes back (its snapshot untouched: nothing to compare or push)."""
        # None: no mesh loaded yet, only a warm start's kept translations to serve
        translator = self._translator
        if translator is None and self.warm is None:
            raise ProxyRejected("no mesh configuration loaded yet")
        # equal workloads are equal inputs (a mesh update keeps unchanged ones as they were)
        same_workload = previous is not None and (
            previous.workload is workload or previous.workload == workload
        )
        if (
            previous is not None
            and extensions
            and (
                (previous.translator is translator and previous.workload is workload)
                # a change this proxy cannot be affected by (translators/unaffected.py)
                or (
                    translator is not None
                    and previous.translator is not None
                    and same_workload
                    and translator.translates_as(previous.translator, workload)
                    and self._skipped()
                )
            )
        ):
            translated, warnings = previous.translated, previous.warnings
            self._warned.update(warnings)  # still there: not news next generation either
        elif (restored := self._kept(translator, workload, extensions)) is not None:
            translated, warnings = restored.groups, restored.warnings
            for kept_type in restored.types.values():
                self._parts.adopt(kept_type)  # served as kept, not built again
            for warning in warnings:
                if self._first_time(warning):
                    log.warning("translate.warning", proxy=workload.key, warning=warning)
        elif translator is None:
            raise ProxyRejected("no mesh configuration loaded yet")
        else:
            result = self._translate(translator, workload, extensions)
            translated, warnings = result.groups, result.warnings
            for warning in warnings:
                if self._first_time(warning):  # once per change, not per proxy or reload
                    log.warning("translate.warning", proxy=workload.key, warning=warning)
        groups = translated
        identity: str | None = None
        if self.secrets is not None:
            # equal workloads have equal identities; new Workload objects come with every mesh
            known = previous.identity if previous is not None and same_workload else None
            spiffe = known or self.secrets.identity_of(workload)
            groups = {**groups, SECRET_TYPE: (self._secrets(spiffe, workload),)}
            identity = spiffe
        if self.gateway_secrets is not None and translator is not None:
            # (none without a mesh: a kept translation served before it had none)
            credentials = self.gateway_secrets(translator, workload)
            if credentials:
                groups = {**groups, SECRET_TYPE: (*groups.get(SECRET_TYPE, ()), *credentials)}
        if previous is not None and previous.identity == identity:
            before = previous.groups
            kept = previous.snapshot.types
            # per type: its last TypeSnapshot when its groups are the same, else the groups'
            # (shared by every proxy that has them: `SnapshotParts`)
            types = {}
            fresh = groups.keys() != before.keys()
            for t, g in groups.items():
                if g == before.get(t):
                    types[t] = kept[t]
                else:
                    types[t] = self._parts.type_snapshot(t, g)
                    fresh = True
            if not fresh:
                previous.workload = workload
                previous.translator = translator
                previous.translated = translated
                previous.warnings = tuple(warnings)
                return previous
        else:
            types = {t: self._parts.type_snapshot(t, g) for t, g in groups.items()}
        # Streams authenticated as anything else than `identity` are closed instead of served.
        snapshot = Snapshot(MappingProxyType(types), identity=identity)
        return _Published(
            workload, identity, groups, snapshot, translator, translated, tuple(warnings)
        )

    def _translate(
        self, translator: MeshTranslator, workload: Workload, extensions: bool = True
    ) -> ProxyResources:
        if self.freeze_next_translation:
            self.freeze_next_translation = False
            with frozen_after():
                return translator.translate(workload, extensions=extensions)
        return translator.translate(workload, extensions=extensions)

    # --- warm start (xdscp/warm_start.py) ---------------------------------------
    def keep(self, mesh: MeshConfig | None, kept: Mapping[str, KeptTranslation]) -> None:
        """Translations a restart took, made from `mesh` (the one it restored; None: not
        loaded yet, they serve what they can before it, see `WarmStart`): each stands for
        its proxy's first translation while that mesh is in force. Nothing kept: forget.
        The same translations again with their mesh, once loaded: those served before it
        are its own."""
        warm = self.warm
        if warm is not None and kept and warm.given is kept and warm.mesh is None:
            warm.mesh = mesh
        else:
            self.warm = WarmStart(kept, mesh) if kept else None

    def _kept(
        self, translator: MeshTranslator | None, workload: Workload, extensions: bool
    ) -> KeptTranslation | None:
        warm = self.warm
        if warm is None:
            return None
        in_force = translator.mesh if translator is not None else None
        return warm.translation(in_force, workload, extensions and not self.extensions.extensions)

    def kept_unused(self) -> int:
        """Kept translations no proxy took yet (while their mesh is in force)."""
        return self.warm.unused(self.mesh) if self.warm is not None else 0

    def kept_translations(self, mesh: MeshConfig) -> dict[str, KeptTranslation]:
        """What a restart may keep: the published translations made from `mesh` itself
        (not from a mesh with fetched keys, nor with extensions: their code is not the
        snapshot's to vouch for), not themselves kept ones."""
        if self.extensions.extensions:
            return {}
        served = self.warm.served if self.warm is not None else {}
        return {
            key: KeptTranslation(
                published.workload,
                published.translated,
                published.warnings,
                {t: published.snapshot.types[t] for t in published.translated},
                # Secret groups besides its own identity's (the first, with a CA)
                credentials=len(published.groups.get(SECRET_TYPE, ()))
                > (published.identity is not None),
            )
            for key, published in self._published.items()
            if published.translator is not None
            and published.translator.mesh is mesh
            and key not in served
            and key not in self.extension_errors
        }

    async def warm_kept(self) -> int:
        """Translate for real the proxies published from kept translations (one at a
        time, the event loop served between them), which fills the translator's memo for
        the first edit, and check each against its kept one (`differing_types`: by bytes
        and versions, nothing versioned again): equal, the published snapshot stays
        (nothing is pushed); different, the translation is published and the difference
        logged. Returns how many were checked."""
        checked = 0
        while self.warm is not None and self.warm.served:
            await asyncio.sleep(0)
            async with self._applying:
                warm = self.warm
                if warm is None or not warm.served:
                    break
                key, _ = warm.served.popitem()
                published = self._published.get(key)
                translator = self._translator
                if (
                    published is None
                    or translator is None
                    or published.translator is not translator
                    or self.cache.get(key) is not published.snapshot
                ):
                    continue  # translated since (an edit), or gone
                checked += 1
                translated = self._translate(translator, published.workload).groups
                differs = differing_types(published.translated, translated)
                if differs:
                    log.warning("warm_start.kept_translation_differed", proxy=key, types=differs)
                    del self._published[key]
                    self._publish(published.workload)
                else:  # from now on compared (and shared) as translated here
                    published.groups = {**published.groups, **translated}
                    published.translated = translated
        return checked

    def _skipped(self) -> bool:
        self.skipped += 1
        return True

    def _secrets(self, identity: str, workload: Workload) -> ResourceGroup:
        """The Secret group of `identity`: asked once per identity in a generation."""
        assert self.secrets is not None
        memo = self._secrets_now
        if memo is None:
            return self.secrets.secrets_for(workload)
        found = memo.get(identity)
        if found is None:
            found = memo[identity] = self.secrets.secrets_for(workload)
        return found

    def refresh(self) -> None:
        """Republish every connected proxy (after SVID rotation: new Secret versions)."""
        if self.mesh is not None:
            self.apply_now(self.mesh)

    def _publish(self, workload: Workload) -> bool:
        """Rebuild one proxy's snapshot. Nothing raised while building it may stop the
        loop or reach other proxies: the proxy keeps its last good config and the failure
        is shown in `/debug/config` (and logged once, not on every reload)."""
        key = workload.key
        previous = self._published.get(key)
        if previous is not None and self.cache.get(key) is not previous.snapshot:
            previous = None  # something else was published since (a fallback, a tombstone)
        try:
            published = self._build(workload, True, previous)
        except ExtensionError as error:
            self.translate_errors.pop(workload.key, None)
            try:
                return self._extension_failed(workload, error)
            except Exception as exc:  # contained per proxy, see above
                return self._translation_failed(workload, exc)
        except Exception as exc:  # contained per proxy, see above
            return self._translation_failed(workload, exc)
        self.extension_errors.pop(key, None)
        self.translate_errors.pop(key, None)
        if published is previous:
            return False  # nothing it reads changed: its snapshot stays as it is
        self._published[key] = published
        return self.cache.set(key, published.snapshot)

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
        mesh, warm = self.mesh, self.warm
        if mesh is None and (warm is None or self.extensions.extensions):
            raise ProxyRejected("no mesh configuration loaded yet")
        namespace, name = node_workload(node)
        if mesh is not None:
            workload = mesh.workload(namespace, name)
        else:  # a warm start's proxy served before its mesh is loaded (xdscp/warm_start.py)
            assert warm is not None
            workload = warm.early_workload(namespace, name)
            if workload is None:
                raise ProxyRejected("no mesh configuration loaded yet")
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
            self._published.pop(proxy_key, None)
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
