"""A small Kubernetes API server for tests: the real list/watch JSON protocol on 127.0.0.1.

What it speaks, as kube-apiserver does:

* discovery of API groups (`/apis/<group>`: versions and preferredVersion);
* lists with one global, increasing `resourceVersion`, `limit`/`continue` paging from
  a consistent snapshot (an expired token is HTTP 410 `Expired`); items of built-in
  types carry no kind/apiVersion, custom resources do;
* chunked `?watch=true` streams of `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
  "object": ...}` lines from a resourceVersion (events after it are replayed from
  history), `allowWatchBookmarks`, `timeoutSeconds`; a version older than the
  compaction point is an ERROR event carrying a `Status` with `code: 410` (or, when
  `gone_as_http`, an HTTP 410 answer);
* create (409 AlreadyExists), replace and merge-patch with resourceVersion
  preconditions (409 Conflict), the `status` subresource (only status changes; spec
  changes bump `generation`, status changes do not), TokenReview;
* bearer-token authentication.

Test hooks break it on purpose: drop every open watch connection (mid-stream),
compact history, send bookmarks, inject HTTP errors, replay an event twice.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from translators.model.gateway_api import API_KIND, CLUSTER_SCOPED
from translators.model.objects import KINDS
from xdscp.kube.resources import plural_of

Obj = dict[str, Any]
TypeKey = tuple[str, str]  # (group, plural)

MERGE_PATCH = "application/merge-patch+json"


@dataclass
class TypeInfo:
    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    namespaced: bool = True
    custom: bool = False  # a CRD: list items carry kind/apiVersion; has a status subresource
    registry_kind: str = ""  # xdscp's key when it differs from `kind` (KubernetesGateway)


@dataclass(eq=False)
class Watcher:
    tkey: TypeKey
    namespace: str | None
    version: str
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)


@dataclass
class Fault:
    method: str
    path_contains: str
    status: int
    times: int
    reason: str = ""
    watch: bool | None = None  # None: any request; True/False: only (non-)watch requests
    query_has: str = ""  # only requests with this query parameter (e.g. "continue")


def status_body(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeKube:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.rv = 100
        self.types: dict[TypeKey, TypeInfo] = {}
        self.preferred: dict[str, str] = {}
        self.objects: dict[TypeKey, dict[tuple[str, str], Obj]] = {}
        self.history: dict[TypeKey, list[tuple[int, str, Obj]]] = {}
        self.compacted = 0
        self.watchers: set[Watcher] = set()
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self._drops: list[asyncio.Event] = []
        self._snapshots: dict[str, tuple[int, list[Obj]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.tokens: dict[str, Obj] = {}  # TokenReview: token -> status.user (+ audiences)
        self.gone_as_http = False
        self.port = 0
        self._stopping = False
        self.duplicate_next_event = False
        self.bookmark_interval: float | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""
        self._register_builtin()

    # --- type registry --------------------------------------------------------
    def _register_builtin(self) -> None:
        for group, version, kind, plural, namespaced in (
            ("", "v1", "Service", "services", True),
            ("", "v1", "Pod", "pods", True),
            ("", "v1", "Namespace", "namespaces", False),
            ("", "v1", "Secret", "secrets", True),
            ("", "v1", "ConfigMap", "configmaps", True),
            ("", "v1", "ServiceAccount", "serviceaccounts", True),
            ("apps", "v1", "Deployment", "deployments", True),
            ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
            ("coordination.k8s.io", "v1", "Lease", "leases", True),
        ):
            self.add_type(TypeInfo(group, (version,), kind, plural, namespaced))
        for kind, (group, versions, _model) in KINDS.items():
            order = ("v1alpha1", "v1alpha3", "v1beta1", "v1")
            ordered = tuple(v for v in order if v in versions)
            self.add_type(
                TypeInfo(
                    group,
                    ordered,
                    API_KIND.get(kind, kind),
                    plural_of(kind),
                    namespaced=kind not in CLUSTER_SCOPED,
                    custom=True,
                    registry_kind=kind,
                )
            )
            self.preferred.setdefault(group, "v1")

    def add_type(self, info: TypeInfo) -> None:
        key = (info.group, info.plural)
        self.types[key] = info
        self.objects.setdefault(key, {})
        self.history.setdefault(key, [])

    def remove_group(self, group: str) -> None:
        """As if the group's CRDs were not installed: discovery and its paths answer 404."""
        for key in [k for k in self.types if k[0] == group]:
            del self.types[key]

    def _type_for_kind(self, kind: str, group: str | None = None) -> TypeInfo:
        """By xdscp's registry key (`KubernetesGateway`), or by served kind and group."""
        by_key = [t for t in self.types.values() if t.registry_kind == kind]
        if by_key and group is None:
            return by_key[0]
        return next(t for t in self.types.values() if t.kind == kind and group in (None, t.group))

    # --- direct object API (what `kubectl apply` would do) ---------------------
    def apply(self, obj: Obj) -> Obj:
        """Create or update from a manifest; returns the stored object."""
        api_version = str(obj.get("apiVersion") or "")
        group = api_version.partition("/")[0] if "/" in api_version else ""
        info = self._type_for_kind(obj["kind"], group if api_version else None)
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "default") if info.namespaced else ""
        if info.namespaced:
            meta["namespace"] = namespace
        existing = self.objects[(info.group, info.plural)].get((namespace, meta["name"]))
        if existing is None:
            return self._create(info, obj)
        body = copy.deepcopy(obj)
        body["metadata"] = {**existing["metadata"], **meta}
        body["metadata"].pop("resourceVersion", None)
        if info.custom:
            body["status"] = existing.get("status", {})
        return self._update(info, existing, body)

    def apply_all(self, docs: list[Obj]) -> None:
        for doc in docs:
            self.apply(doc)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        info = self._type_for_kind(kind)
        key = (info.group, info.plural)
        obj = self.objects[key].pop((namespace if info.namespaced else "", name))
        self.rv += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._record(key, "DELETED", gone)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        info = self._type_for_kind(kind)
        return self.objects[(info.group, info.plural)].get(
            (namespace if info.namespaced else "", name)
        )

    def all(self, kind: str) -> list[Obj]:
        info = self._type_for_kind(kind)
        return list(self.objects[(info.group, info.plural)].values())

    # --- test hooks ------------------------------------------------------------
    def compact(self) -> None:
        """Forget history up to now: watches from older versions get 410 Gone."""
        self.compacted = self.rv
        for events in self.history.values():
            events.clear()
        self._snapshots.clear()

    def drop_watches(self) -> int:
        """Cut every open watch connection mid-stream (no terminating chunk)."""
        drops, self._drops = self._drops, []
        for drop in drops:
            drop.set()
        return len(drops)

    def fail(
        self,
        method: str,
        path_contains: str,
        status: int,
        times: int = 1,
        reason: str = "",
        watch: bool | None = None,
        query_has: str = "",
    ) -> None:
        self.faults.append(Fault(method, path_contains, status, times, reason, watch, query_has))

    def list_count(self, plural: str) -> int:
        return sum(
            1
            for m, p, q in self.requests
            if m == "GET" and q.get("watch") not in ("true", "1") and p.endswith(f"/{plural}")
        )

    # --- server lifecycle -------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        """Listen on `port` (0: any free one). Objects and history live in this object, so
        `stop()` then `start(port)` is an API server restart with its storage intact."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        port = self.port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._stopping = True
        self.drop_watches()
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)
        if self.runner is not None:
            await self.runner.cleanup()
        self._stopping = False

    def kubeconfig(self, path: Path, token: str | None = None) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # --- storage internals -----------------------------------------------------
    def _stamp(self, info: TypeInfo, obj: Obj) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _create(self, info: TypeInfo, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
        meta.pop("resourceVersion", None)
        if info.custom:
            meta["generation"] = 1
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        self._stamp(info, obj)
        key = (info.group, info.plural)
        self.objects[key][(meta.get("namespace", ""), meta["name"])] = obj
        self._record(key, "ADDED", obj)
        return obj

    def _update(self, info: TypeInfo, old: Obj, new: Obj) -> Obj:
        obj = copy.deepcopy(new)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        meta = obj["metadata"]
        for fixed in ("uid", "creationTimestamp", "namespace", "name"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
        if info.custom:
            generation = old["metadata"].get("generation", 1)
            if obj.get("spec") != old.get("spec"):
                generation += 1
            meta["generation"] = generation
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if _same(obj, old):
            return old  # a no-op write does not bump the version (as the API server)
        self._stamp(info, obj)
        key = (info.group, info.plural)
        self.objects[key][(meta.get("namespace", ""), meta["name"])] = obj
        self._record(key, "MODIFIED", obj)
        return obj

    def _record(self, key: TypeKey, kind: str, obj: Obj) -> None:
        stored = copy.deepcopy(obj)
        rv = int(stored["metadata"]["resourceVersion"])
        self.history[key].append((rv, kind, stored))
        for watcher in list(self.watchers):
            if watcher.tkey != key:
                continue
            if watcher.namespace and stored["metadata"].get("namespace") != watcher.namespace:
                continue
            watcher.queue.put_nowait((kind, stored))
            if self.duplicate_next_event:
                watcher.queue.put_nowait((kind, stored))
        self.duplicate_next_event = False

    def _typed(self, info: TypeInfo, version: str, obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        out["apiVersion"] = f"{info.group}/{version}" if info.group else version
        out["kind"] = info.kind
        return out

    def _bookmark(self, watcher: Watcher) -> Obj:
        info = self.types[watcher.tkey]
        return {
            "kind": info.kind,
            "apiVersion": f"{info.group}/{watcher.version}" if info.group else watcher.version,
            "metadata": {"resourceVersion": str(self.rv)},
        }

    # --- HTTP -------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._stopping:
            # accepted while stopping: a watch started now would never be dropped and
            # hold `stop()` for aiohttp's whole shutdown timeout
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        query = dict(request.query)
        self.requests.append((request.method, request.path, query))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._status(401, "Unauthorized", "no or wrong bearer token")
        is_watch = query.get("watch") in ("true", "1")
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method == request.method
                and fault.path_contains in request.path
                and (fault.watch is None or fault.watch == is_watch)
                and (not fault.query_has or fault.query_has in query)
            ):
                fault.times -= 1
                return self._status(fault.status, fault.reason or "Injected", "injected fault")
        parts = [p for p in request.path.split("/") if p]
        if len(parts) == 2 and parts[0] == "apis":
            return self._discovery(parts[1])
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._status(404, "NotFound", f"no route {request.path}")
        if group == "authentication.k8s.io" and rest == ["tokenreviews"]:
            return await self._token_review(request)
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            return self._status(404, "NotFound", "no resource")
        plural, name, sub = (
            rest[0],
            (rest[1] if len(rest) > 1 else None),
            (rest[2] if len(rest) > 2 else ""),
        )
        info = self.types.get((group, plural))
        if info is None or version not in info.versions:
            return self._status(404, "NotFound", f"the server could not find {request.path}")
        if name is None:
            if request.method == "GET" and is_watch:
                return await self._watch(request, info, version, namespace, query)
            if request.method == "GET":
                return self._list(info, version, namespace, query)
            if request.method == "POST":
                return await self._post(request, info, version, namespace)
            return self._status(405, "MethodNotAllowed", request.method)
        return await self._item(request, info, version, namespace or "", name, sub)

    def _status(self, code: int, reason: str, message: str) -> web.Response:
        return web.json_response(status_body(code, reason, message), status=code)

    def _discovery(self, group: str) -> web.Response:
        versions = sorted({v for t in self.types.values() if t.group == group for v in t.versions})
        if not versions:
            return self._status(404, "NotFound", f"group {group} not served")
        preferred = self.preferred.get(group, versions[-1])
        return web.json_response(
            {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
            }
        )

    def _items(self, info: TypeInfo, namespace: str | None) -> list[Obj]:
        found = [
            o
            for (ns, _), o in sorted(self.objects[(info.group, info.plural)].items())
            if namespace is None or ns == namespace
        ]
        return [copy.deepcopy(o) for o in found]

    def _list(
        self, info: TypeInfo, version: str, namespace: str | None, query: dict[str, str]
    ) -> web.Response:
        token = query.get("continue")
        if token:
            snapshot = self._snapshots.get(token)
            if snapshot is None:
                return self._status(410, "Expired", "the provided continue parameter is too old")
            list_rv, items = snapshot
            start = json.loads(base64.b64decode(token))["start"]
        else:
            list_rv, items, start = self.rv, self._items(info, namespace), 0
        limit = int(query.get("limit") or 0)
        page = items[start : start + limit] if limit else items[start:]
        meta: Obj = {"resourceVersion": str(list_rv)}
        if limit and start + limit < len(items):
            next_token = base64.b64encode(
                json.dumps({"rv": list_rv, "start": start + limit, "n": next(_serial)}).encode()
            ).decode()
            self._snapshots[next_token] = (list_rv, items)
            meta["continue"] = next_token
        if info.custom:
            page = [self._typed(info, version, o) for o in page]
        return web.json_response(
            {
                "kind": f"{info.kind}List",
                "apiVersion": f"{info.group}/{version}" if info.group else version,
                "metadata": meta,
                "items": page,
            }
        )

    async def _watch(
        self,
        request: web.Request,
        info: TypeInfo,
        version: str,
        namespace: str | None,
        query: dict[str, str],
    ) -> web.StreamResponse:
        since = query.get("resourceVersion") or ""
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(query.get("timeoutSeconds") or 1800)
        gone = since not in ("", "0") and int(since) < self.compacted
        if gone and self.gone_as_http:
            return self._status(410, "Gone", f"too old resource version: {since}")
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(kind: str, obj: Obj) -> None:
            out = obj if kind in ("ERROR", "BOOKMARK") else self._typed(info, version, obj)
            await response.write(json.dumps({"type": kind, "object": out}).encode() + b"\n")

        if gone:
            await send("ERROR", status_body(410, "Expired", f"too old resource version: {since}"))
            await response.write_eof()
            return response
        key = (info.group, info.plural)
        watcher = Watcher(key, namespace, version)
        drop = asyncio.Event()
        self._drops.append(drop)
        self.watchers.add(watcher)
        backlog: list[tuple[str, Obj]]
        if since in ("", "0"):
            backlog = [("ADDED", o) for o in self._items(info, namespace)]
        else:
            backlog = [
                (kind, o)
                for rv, kind, o in self.history[key]
                if rv > int(since)
                and (namespace is None or o["metadata"].get("namespace") == namespace)
            ]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = (
            loop.time() + self.bookmark_interval if self.bookmark_interval else float("inf")
        )
        dropped = False
        try:
            for kind, obj in backlog:
                await send(kind, obj)
            dropper = asyncio.ensure_future(drop.wait())
            try:
                while True:
                    now = loop.time()
                    if now >= deadline:
                        break
                    if bookmarks and now >= next_bookmark:
                        await send("BOOKMARK", self._bookmark(watcher))
                        assert self.bookmark_interval is not None
                        next_bookmark = now + self.bookmark_interval
                    wait_for = min(deadline, next_bookmark) - now
                    getter = asyncio.ensure_future(watcher.queue.get())
                    done, _ = await asyncio.wait(
                        {getter, dropper},
                        timeout=max(0.0, wait_for),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if dropper in done:
                        getter.cancel()
                        dropped = True
                        break
                    if getter not in done:
                        getter.cancel()
                        continue
                    item = getter.result()
                    if item is None:
                        break
                    kind, obj = item
                    if kind == "BOOKMARK" and not bookmarks:
                        continue
                    await send(kind, obj)
            finally:
                dropper.cancel()
        finally:
            self.watchers.discard(watcher)
            if drop in self._drops:
                self._drops.remove(drop)
        if dropped:
            transport = request.transport
            if transport is not None:
                transport.abort()  # no terminating chunk: the client sees a broken stream
            return response
        await response.write_eof()
        return response

    async def _body(self, request: web.Request) -> Obj:
        data: Obj = json.loads(await request.read())
        return data

    async def _post(
        self, request: web.Request, info: TypeInfo, version: str, namespace: str | None
    ) -> web.Response:
        body = await self._body(request)
        meta = body.setdefault("metadata", {})
        if info.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        store = self.objects[(info.group, info.plural)]
        if (meta.get("namespace", ""), meta.get("name")) in store:
            return self._status(
                409, "AlreadyExists", f'{info.plural} "{meta.get("name")}" already exists'
            )
        if info.custom:
            body.pop("status", None)
        return web.json_response(self._typed(info, version, self._create(info, body)), status=201)

    async def _item(
        self,
        request: web.Request,
        info: TypeInfo,
        version: str,
        namespace: str,
        name: str,
        sub: str,
    ) -> web.Response:
        store = self.objects[(info.group, info.plural)]
        key = (namespace if info.namespaced else "", name)
        current = store.get(key)
        if current is None:
            return self._status(404, "NotFound", f'{info.plural} "{name}" not found')
        if request.method == "GET":
            return web.json_response(self._typed(info, version, current))
        if request.method == "DELETE":
            self.delete(info.kind, namespace, name)
            return web.json_response(status_body(200, "", "deleted") | {"status": "Success"})
        if request.method not in ("PUT", "PATCH"):
            return self._status(405, "MethodNotAllowed", request.method)
        if request.method == "PATCH" and request.content_type != MERGE_PATCH:
            return self._status(
                415, "UnsupportedMediaType", f"unsupported patch type {request.content_type}"
            )
        body = await self._body(request)
        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            return self._status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {info.plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
            )
        if request.method == "PATCH":
            merged = merge_patch(current, body)
        else:
            merged = copy.deepcopy(body)
            merged.setdefault("metadata", {})
        if info.custom and sub == "status":
            merged = {**copy.deepcopy(current), "status": merged.get("status")}
        elif info.custom:
            merged["status"] = copy.deepcopy(current.get("status"))
            if merged["status"] is None:
                merged.pop("status")
        elif sub:
            return self._status(404, "NotFound", f"no subresource {sub}")
        merged["metadata"] = {**current["metadata"], **(merged.get("metadata") or {})}
        return web.json_response(self._typed(info, version, self._update(info, current, merged)))

    async def _token_review(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return self._status(405, "MethodNotAllowed", request.method)
        body = await self._body(request)
        spec = body.get("spec") or {}
        entry = self.tokens.get(str(spec.get("token")))
        wanted = list(spec.get("audiences") or [])
        status: Obj = {"authenticated": False, "error": "invalid bearer token"}
        if entry is not None:
            audiences = entry.get("audiences", ["https://kubernetes.default.svc"])
            if wanted and not set(wanted) & set(audiences):
                status = {"authenticated": False, "error": "token audiences do not match"}
            else:
                status = {
                    "authenticated": True,
                    "user": entry["user"],
                    "audiences": [a for a in audiences if not wanted or a in wanted],
                }
        return web.json_response(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
            status=201,
        )

    def add_service_account_token(
        self,
        token: str,
        namespace: str,
        service_account: str,
        pod: str | None = None,
        pod_uid: str | None = None,
        audiences: list[str] | None = None,
    ) -> None:
        """A bound (projected) service-account token, as the TokenReview API reports it."""
        extra: Obj = {}
        if pod is not None:
            extra["authentication.kubernetes.io/pod-name"] = [pod]
            extra["authentication.kubernetes.io/pod-uid"] = [pod_uid or ""]
        self.tokens[token] = {
            "user": {
                "username": f"system:serviceaccount:{namespace}:{service_account}",
                "uid": str(uuid.uuid4()),
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "extra": extra,
            },
            "audiences": audiences or ["xdscp"],
        }


def _same(a: Obj, b: Obj) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


_serial = itertools.count()


@asynccontextmanager
async def fake_kube(token: str = "test-token") -> AsyncIterator[FakeKube]:
    server = FakeKube(token)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
