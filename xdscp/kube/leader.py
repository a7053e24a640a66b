"""Lease-based leader election (`coordination.k8s.io/v1`), client-go's algorithm, small.

Every replica serves xDS; only the leader *writes* (object status, the CA Secret on
first start, the root-cert ConfigMaps), so replicas never fight over the same status.

* Acquire: create the Lease, or take it over once the holder has not renewed it for
  `lease_duration` — measured on *our* clock from when we last saw the record change,
  never by comparing our clock with the holder's timestamps (clock skew).
* Renew every `retry_period`; every write carries the resourceVersion we read, so two
  candidates racing for one Lease cannot both win: the loser gets 409 and stays a
  follower.
* A leader that cannot renew for `renew_deadline` (< lease_duration) steps down
  *before* anyone else may take over, so two leaders never overlap.
* On shutdown the leader releases the Lease (empty holder) so a successor need not
  wait out the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from xdscp.kube.api import KubeApi
from xdscp.kube.backoff import sleep_or_stop
from xdscp.kube.errors import Conflict, KubeError, NotFound
from xdscp.kube.resources import LEASE

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    namespace: str
    identity: str
    name: str = "xdscp-leader"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def micro_time(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        settings: LeaseSettings,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.on_change = on_change
        self.is_leader = False
        self.became_leader = asyncio.Event()
        self._observed: tuple[str, str, str] | None = None  # holder, renewTime, rv
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self.transitions = 0

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _set_leader(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        self.transitions += 1
        log.info(
            "leader.changed",
            leader=leader,
            identity=self.settings.identity,
            lease=f"{self.settings.namespace}/{self.settings.name}",
        )
        if leader:
            self.became_leader.set()
        else:
            self.became_leader.clear()
        if self.on_change is not None:
            self.on_change(leader)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        try:
            while not stop.is_set():
                try:
                    held = await self.try_acquire_or_renew()
                except KubeError as exc:
                    log.warning("leader.renew_failed", error=str(exc))
                    held = False
                now = self._now()
                if held:
                    self._renewed_at = now
                    self._set_leader(True)
                elif self.is_leader and now - self._renewed_at >= s.renew_deadline:
                    self._set_leader(False)  # step down before the lease can be taken
                if await sleep_or_stop(stop, s.retry_period):
                    break
        finally:
            if self.is_leader:
                with contextlib.suppress(KubeError, asyncio.CancelledError):
                    await asyncio.wait_for(self.release(), timeout=s.retry_period)
            self._set_leader(False)

    def _spec(self, transitions: int, acquired: str) -> dict[str, Any]:
        now = micro_time()
        return {
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": max(1, round(self.settings.lease_duration)),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        s = self.settings
        try:
            lease = await self.api.get(LEASE, s.namespace, s.name)
        except NotFound:
            body = {
                "apiVersion": LEASE.api_version,
                "kind": LEASE.kind,
                "metadata": {"name": s.name, "namespace": s.namespace},
                "spec": self._spec(0, ""),
            }
            try:
                created = await self.api.create(LEASE, s.namespace, body)
            except Conflict:
                return False  # another candidate created it first
            self._observe(created)
            return True
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        self._observe(lease)
        duration = float(spec.get("leaseDurationSeconds") or s.lease_duration)
        expired = self._now() >= self._observed_at + duration
        if holder and holder != s.identity and not expired:
            return False
        mine = holder == s.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        body = {
            **lease,
            "spec": self._spec(transitions, str(spec.get("acquireTime") or "") if mine else ""),
        }
        try:
            updated = await self.api.replace(LEASE, s.namespace, s.name, body)
        except Conflict:
            return False  # someone wrote the Lease since we read it
        self._observe(updated)
        return True

    def _observe(self, lease: dict[str, Any]) -> None:
        spec = lease.get("spec") or {}
        record = (
            str(spec.get("holderIdentity") or ""),
            str(spec.get("renewTime") or ""),
            str((lease.get("metadata") or {}).get("resourceVersion") or ""),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = self._now()

    async def release(self) -> None:
        s = self.settings
        lease = await self.api.get(LEASE, s.namespace, s.name)
        if (lease.get("spec") or {}).get("holderIdentity") != s.identity:
            return
        spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
        with contextlib.suppress(Conflict):
            await self.api.replace(LEASE, s.namespace, s.name, {**lease, "spec": spec})
        log.info("leader.released", identity=s.identity)
