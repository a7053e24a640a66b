"""Automated deployment per Gateway API `Gateway` (as Istio's gateway deployment
controller): for every Gateway whose class is ours, its ServiceAccount, Deployment and
Service (`xdscp.kube.gateway_manifests`) exist and say what they should.

Leader-only. A mesh update pokes the loop, which writes only Gateways whose wanted
objects changed since last written; every `resync` seconds all of them are read back
and a user's edit of a field xdscp manages is undone (merge patch of the wanted
object). Objects of the same name that xdscp does not manage are left alone (logged).
Deleting the Gateway deletes them through their ownerReferences (the cluster's
garbage collector), so there is nothing to delete here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from xdscp.kube.api import KubeApi
from xdscp.kube.backoff import Backoff, wait_either
from xdscp.kube.errors import Conflict, KubeError, NotFound
from xdscp.kube.gateway_manifests import (
    MANAGED_LABEL,
    GatewayManifest,
    covers,
    gateway_manifests,
    is_managed,
)
from xdscp.kube.inject import InjectSettings

log = structlog.get_logger()


class GatewayDeployer:
    def __init__(
        self,
        api: KubeApi,
        gateways: Callable[[], list[dict[str, Any]]],
        owns_class: Callable[[str], bool],
        is_leader: Callable[[], bool],
        settings: InjectSettings,
        resync: float = 60.0,
    ) -> None:
        self.api = api
        self.gateways = gateways
        self.owns_class = owns_class
        self.is_leader = is_leader
        self.settings = settings
        self.resync = resync
        # (namespace, gateway) -> the wanted objects last written, as canonical JSON
        self._written: dict[tuple[str, str], str] = {}
        self._poked = asyncio.Event()

    def poke(self) -> None:
        self._poked.set()

    def leadership_changed(self, leader: bool) -> None:
        self._written.clear()
        self.poke()

    def wanted(self) -> dict[tuple[str, str], tuple[GatewayManifest, ...]]:
        out: dict[tuple[str, str], tuple[GatewayManifest, ...]] = {}
        for gateway in self.gateways():
            meta = gateway.get("metadata") or {}
            spec = gateway.get("spec") or {}
            if not meta.get("uid") or not self.owns_class(str(spec.get("gatewayClassName"))):
                continue
            if not is_managed(gateway):
                continue  # deployed by hand where its `spec.addresses` say
            key = (str(meta.get("namespace") or "default"), str(meta.get("name")))
            out[key] = gateway_manifests(gateway, self.settings)
        return out

    async def reconcile(self, full: bool = True) -> int:
        """Make every managed object match; returns how many objects were written.
        `full=False` skips Gateways whose wanted objects were written unchanged before."""
        if not self.is_leader():
            return 0
        written = 0
        failed: KubeError | None = None
        wanted = self.wanted()
        for key in list(self._written):
            if key not in wanted:
                del self._written[key]
        for key, manifests in wanted.items():
            digest = json.dumps([m.body for m in manifests], sort_keys=True)
            if not full and self._written.get(key) == digest:
                continue
            if not self.is_leader():
                break
            try:
                for manifest in manifests:
                    if await self._ensure(manifest):
                        written += 1
            except KubeError as exc:
                # one Gateway's refused object (a name too long, a quota) must not hold
                # up the others; it is retried with backoff
                log.warning(
                    "gateway_deploy.failed", namespace=key[0], gateway=key[1], error=str(exc)
                )
                failed = exc
                continue
            self._written[key] = digest
        if failed is not None:
            raise failed
        return written

    async def _ensure(self, manifest: GatewayManifest) -> bool:
        rtype, namespace, name = manifest.rtype, manifest.namespace, manifest.name
        try:
            current = await self.api.get(rtype, namespace, name)
        except NotFound:
            try:
                await self.api.create(rtype, namespace, manifest.body)
            except Conflict:
                return False  # created meanwhile: the next round compares it
            log.info("gateway_deploy.created", kind=rtype.kind, namespace=namespace, name=name)
            return True
        labels: Mapping[str, Any] = (current.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_LABEL) != manifest.body["metadata"]["labels"][MANAGED_LABEL]:
            log.warning(
                "gateway_deploy.name_taken",
                kind=rtype.kind,
                namespace=namespace,
                name=name,
                fix=f"rename or delete {rtype.kind} {namespace}/{name}: xdscp does not manage it",
            )
            return False
        if covers(manifest.body, current):
            return False
        await self.api.merge_patch(rtype, namespace, name, manifest.body)
        log.info("gateway_deploy.updated", kind=rtype.kind, namespace=namespace, name=name)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(0.5, 30.0)
        loop = asyncio.get_running_loop()
        next_resync = loop.time()
        while not stop.is_set():
            full = loop.time() >= next_resync
            if full:
                next_resync = loop.time() + self.resync
            try:
                await self.reconcile(full=full)
                backoff.reset()
                wait = max(0.0, next_resync - loop.time())
            except KubeError:
                wait = backoff.next()  # logged per Gateway; those written are remembered
            await wait_either(stop, self._poked, timeout=wait)
            self._poked.clear()
