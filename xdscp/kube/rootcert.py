"""Publishing the mesh root as ConfigMap `istio-ca-root-cert` in every namespace (as
Istio does): sidecars' init step pins it to reach the certificate endpoint, and
applications that speak mTLS themselves can trust the mesh without asking anyone.

Leader-only; namespaces come from the source's Namespace watch, so a new namespace
gets the ConfigMap within one mesh update. What was already published is remembered
(and forgotten on a leadership change and periodically), so a steady cluster costs
no API calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from xdscp.kube.api import KubeApi
from xdscp.kube.backoff import Backoff, sleep_or_stop, wait_either
from xdscp.kube.errors import Conflict, KubeError, NotFound
from xdscp.kube.inject import ROOT_CONFIGMAP, ROOT_KEY
from xdscp.kube.resources import CONFIG_MAP

log = structlog.get_logger()


class RootCertPublisher:
    def __init__(
        self,
        api: KubeApi,
        root_pem: str,
        namespaces: Callable[[], list[str]],
        is_leader: Callable[[], bool],
        resync: float = 300.0,
    ) -> None:
        self.api = api
        self.root_pem = root_pem
        self.namespaces = namespaces
        self.is_leader = is_leader
        self.resync = resync
        self._published: set[str] = set()
        self._poked = asyncio.Event()

    def poke(self) -> None:
        self._poked.set()

    def leadership_changed(self, leader: bool) -> None:
        self._published.clear()
        self.poke()

    async def publish(self) -> int:
        """Create or fix the ConfigMap where needed; returns how many were written."""
        if not self.is_leader():
            return 0
        written = 0
        for namespace in self.namespaces():
            if namespace in self._published:
                continue
            if not self.is_leader():
                break
            if await self._ensure(namespace):
                written += 1
            self._published.add(namespace)
        return written

    async def _ensure(self, namespace: str) -> bool:
        data = {ROOT_KEY: self.root_pem}
        try:
            current = await self.api.get(CONFIG_MAP, namespace, ROOT_CONFIGMAP)
        except NotFound:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": ROOT_CONFIGMAP,
                    "namespace": namespace,
                    "labels": {"istio.io/config": "true", "app.kubernetes.io/part-of": "xdscp"},
                },
                "data": data,
            }
            try:
                await self.api.create(CONFIG_MAP, namespace, body)
                log.info("rootcert.published", namespace=namespace)
                return True
            except Conflict:
                current = await self.api.get(CONFIG_MAP, namespace, ROOT_CONFIGMAP)
        if (current.get("data") or {}).get(ROOT_KEY) == self.root_pem:
            return False
        await self.api.merge_patch(CONFIG_MAP, namespace, ROOT_CONFIGMAP, {"data": data})
        log.info("rootcert.updated", namespace=namespace)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(0.5, 30.0)
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + self.resync
        while not stop.is_set():
            try:
                await self.publish()
                backoff.reset()
                wait = max(0.0, next_resync - loop.time())
            except KubeError as exc:
                log.warning("rootcert.failed", error=str(exc))
                wait = backoff.next()
            await wait_either(stop, self._poked, timeout=wait)
            self._poked.clear()
            if loop.time() >= next_resync:
                self._published.clear()  # someone may have deleted or edited one
                next_resync = loop.time() + self.resync
            if await sleep_or_stop(stop, 0.05):
                return
