"""List + watch of one resource type into a local store (client-go's reflector, small).

The contract that keeps the store exact:

* list (paginated) gives a snapshot and its resourceVersion; watch from exactly that
  version, so no event between the two is lost;
* every event and every BOOKMARK advances the version; a watch that ends (server
  timeout, dropped connection, truncated line) resumes from the last version seen,
  after a backoff when it failed, so nothing is replayed or skipped;
* 410 Gone (an ERROR event with a Status `code: 410`, or HTTP 410 on a watch or a
  continue token) means the version was compacted away: re-list, and replace the
  store with the new snapshot (objects missing from it were deleted meanwhile);
* an event whose object carries the resourceVersion already stored is a duplicate
  and changes nothing (resourceVersions are compared for equality only; their order
  is the server's business).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from xdscp.kube.api import TRANSPORT_ERRORS, KubeApi
from xdscp.kube.backoff import Backoff, sleep_or_stop
from xdscp.kube.errors import Gone, KubeError, KubeUnavailable, NotFound, error_from_status
from xdscp.kube.resources import ResourceType

log = structlog.get_logger()

Object = dict[str, Any]

# Failures after which the watch resumes (from the last version) after a backoff:
# API errors, transport errors, and malformed events.
_RETRYABLE: tuple[type[BaseException], ...] = (
    KubeError,
    ValueError,
    KeyError,
    TypeError,
    *TRANSPORT_ERRORS,
)


@dataclass(frozen=True, slots=True)
class WatchSettings:
    page_size: int = 500
    # The server ends each watch after this long (client-go picks 5-10 minutes); the
    # client gives up on a connection silent for `read_timeout` (bookmarks arrive about
    # once a minute on a healthy one).
    timeout_seconds: int = 300
    read_timeout: float = 330.0
    backoff_initial: float = 0.8
    backoff_max: float = 30.0
    # While the API server cannot be reached at all (connection refused or broken), the
    # retry interval stays at most this: a failed connect costs the server nothing, and a
    # restarted server is back in use about a second after it is ready, however long it
    # was down. Errors it answers (5xx, 429) back off up to `backoff_max`.
    reconnect_max: float = 1.0
    # A type whose list/watch has failed without an answer carrying data for longer than
    # this degrades the source's health (`xdscp_config_source_up` 0, `/debug/config`).
    # Long enough that a routine watch reconnect or a brief API server restart is quiet.
    degraded_after: float = 10.0


@dataclass
class ReflectorStats:
    """Counters for the debug endpoint and for tests that check the protocol was used."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    duplicates: int = 0
    bookmarks: int = 0
    gone: int = 0
    failures: int = 0
    # Failures since the last successful list or watch event (0 = healthy).
    consecutive_failures: int = 0
    # Since when (wall clock) this type has been failing, and the latest error; 0 and ""
    # while healthy. A type the server says it does not serve (404) is not failing.
    failing_since: float = 0.0
    last_error: str = ""


def _unreachable(exc: BaseException) -> bool:
    """No answer from the API server at all (as opposed to an error it answered with)."""
    if isinstance(exc, KubeUnavailable):
        return exc.status == 0
    return isinstance(exc, TRANSPORT_ERRORS)


def object_key(obj: Object) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def _resource_version(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Reflector:
    def __init__(
        self,
        api: KubeApi,
        rtype: ResourceType,
        on_change: Callable[[ResourceType], None],
        settings: WatchSettings | None = None,
    ) -> None:
        self.api = api
        self.rtype = rtype
        self.on_change = on_change
        self.settings = settings or WatchSettings()
        self.store: dict[str, Object] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.stats = ReflectorStats()
        self._backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        self._gone_in_a_row = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if not self.resource_version:
                    await self._list()
                await self._watch()
            except Gone as exc:
                self.stats.gone += 1
                self._gone_in_a_row += 1
                log.info("kube.relist", kind=self.rtype.kind, reason=str(exc))
                self.resource_version = ""
                # the first 410 re-lists at once; a server that keeps answering 410 is
                # not hammered
                if self._gone_in_a_row > 1 and await sleep_or_stop(stop, self._backoff.next()):
                    return
            except NotFound as exc:
                # the type is not served (CRD not installed, or removed): nothing of it
                # exists, which is a valid, synced state; keep asking
                self._failed()
                self._answered()  # a valid answer: the type simply has no objects
                log.warning("kube.type_not_served", kind=self.rtype.kind, error=str(exc))
                self._replace({}, "")
                if await sleep_or_stop(stop, self._backoff.next()):
                    return
            except _RETRYABLE as exc:
                self._failed()
                self._failing(exc)
                delay = self._backoff.next()
                if _unreachable(exc):
                    delay = min(delay, self.settings.reconnect_max)
                # Bounded log volume while the server is down (a retry a second per
                # type): the first failure, then one line per 30; recovery is logged.
                failures = self.stats.consecutive_failures
                report = log.warning if failures == 1 or failures % 30 == 0 else log.debug
                report(
                    "kube.watch_failed",
                    kind=self.rtype.kind,
                    error=repr(exc),
                    resource_version=self.resource_version,
                    consecutive_failures=self.stats.consecutive_failures,
                    retry_in=round(delay, 2),
                )
                if await sleep_or_stop(stop, delay):
                    return

    def _healthy(self) -> None:
        """The API server answered with data: the next failure starts a fresh backoff
        (otherwise every restart would wait longer than the one before)."""
        if self.stats.consecutive_failures or self._gone_in_a_row:
            log.info(
                "kube.watch_recovered",
                kind=self.rtype.kind,
                after_failures=self.stats.consecutive_failures,
            )
        self._backoff.reset()
        self._gone_in_a_row = 0
        self.stats.consecutive_failures = 0
        self._answered()

    def _answered(self) -> None:
        self.stats.failing_since = 0.0
        self.stats.last_error = ""

    def _failed(self) -> None:
        self.stats.failures += 1
        self.stats.consecutive_failures += 1

    def _failing(self, exc: BaseException) -> None:
        if not self.stats.failing_since:
            self.stats.failing_since = time.time()
        self.stats.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"

    # --- list ------------------------------------------------------------------
    async def _list(self) -> None:
        items: dict[str, Object] = {}
        token: str | None = None
        version = ""
        while True:
            page = await self.api.list_page(
                self.rtype, limit=self.settings.page_size, continue_token=token
            )
            for item in page.get("items") or []:
                self._typed(item)
                items[object_key(item)] = item
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = meta.get("continue") or None
            if not token:
                break
        if not version:
            raise KubeError(f"list of {self.rtype.kind} carries no resourceVersion")
        self.stats.lists += 1
        self._healthy()
        self._replace(items, version)

    def _replace(self, items: dict[str, Object], version: str) -> None:
        old = {k: _resource_version(v) for k, v in self.store.items()}
        new = {k: _resource_version(v) for k, v in items.items()}
        self.store = items
        self.resource_version = version
        self.synced.set()
        if old != new:
            self.on_change(self.rtype)

    # --- watch -----------------------------------------------------------------
    async def _watch(self) -> None:
        settings = self.settings
        response = await self.api.watch(
            self.rtype, self.resource_version, settings.timeout_seconds, settings.read_timeout
        )
        self.stats.watches += 1
        self._healthy()  # the server answered: a quiet type is as recovered as a busy one
        try:
            while True:
                line = await response.content.readline()
                if not line:
                    # the server ended the watch on time: resume from the last version
                    self._healthy()
                    return
                if not line.endswith(b"\n"):
                    raise KubeUnavailable(f"watch of {self.rtype.kind}: truncated event")
                if line.strip():
                    self._handle(json.loads(line))
        finally:
            response.close()

    def _handle(self, event: Any) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise KubeError(f"watch of {self.rtype.kind}: event without object")
        if kind == "ERROR":
            raise error_from_status(int(obj.get("code") or 500), obj)
        version = _resource_version(obj)
        if not version:
            raise KubeError(f"watch of {self.rtype.kind}: {kind} event without resourceVersion")
        self._healthy()
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
            self.resource_version = version
            return
        self.stats.events += 1
        self._typed(obj)
        key = object_key(obj)
        changed = False
        if kind in ("ADDED", "MODIFIED"):
            old = self.store.get(key)
            if old is not None and _resource_version(old) == version:
                self.stats.duplicates += 1
            else:
                self.store[key] = obj
                changed = True
        elif kind == "DELETED":
            changed = self.store.pop(key, None) is not None
        else:
            log.warning("kube.unknown_event", kind=self.rtype.kind, type=kind)
        self.resource_version = version
        if changed:
            self.on_change(self.rtype)

    def _typed(self, obj: Object) -> None:
        """List items of built-in types carry no kind/apiVersion; the parser needs them."""
        obj.setdefault("kind", self.rtype.kind)
        obj.setdefault("apiVersion", self.rtype.api_version)
