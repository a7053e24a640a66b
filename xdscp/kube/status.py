"""Writing problems back where operators look: each Istio object's `status`.

Two conditions per object, Kubernetes-style:

* `Accepted` — the object passed validation (False/`Invalid` with the error text,
  field included, when it did not; the mesh then runs on its last good version);
* `Applied` — no proxy rejected what was generated from it (False/`ProxyRejected`
  with Envoy's error and the proxy when a NACK's provenance names the object);
* `Analyzed` — what the analysis (`translators.analysis`) found about the object:
  True/`NoProblems` (or `Info`), False/`Warnings` or `Errors` with the messages. The
  messages themselves go to `status.validationMessages`, where Istio's analysis writes
  them (`type.code`/`type.name`, `level`, with our message text and field added). They
  are written once the current mesh's analysis is done, never from an older mesh's.

Status goes through the `status` subresource with a JSON merge patch, so xdscp never
touches a spec. Only the leader writes, and only what differs from what the object
already carries (the watch brings our own writes back), so a steady mesh writes
nothing and replicas never ping-pong.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from translators.analysis import Analysis, Message, Severity
from translators.mesh import MeshConfig
from translators.naming import object_ref
from xdscp.kube.api import KubeApi
from xdscp.kube.backoff import Backoff, sleep_or_stop, wait_either
from xdscp.kube.errors import KubeError, NotFound
from xdscp.kube.gateway_status import (
    GatewayAddresses,
    GatewayAPIStatuses,
    has_gateway_api_status,
)
from xdscp.kube.resources import ResourceType
from xdscp.server.status import NackRecord

log = structlog.get_logger()

MAX_MESSAGE = 1024


class IstioObjects(Protocol):
    def raw_istio_objects(self) -> list[tuple[ResourceType, dict[str, Any]]]: ...


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str

    def as_dict(self, generation: int | None, transition: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message[:MAX_MESSAGE],
            "lastTransitionTime": transition,
        }
        if generation is not None:
            out["observedGeneration"] = generation
        return out


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def desired_conditions(
    ref: str, errors: Mapping[str, list[str]], nacks: Mapping[str, list[NackRecord]]
) -> list[Condition]:
    problems = errors.get(ref)
    accepted = (
        Condition("Accepted", "False", "Invalid", "; ".join(problems))
        if problems
        else Condition("Accepted", "True", "Accepted", "valid")
    )
    rejected = nacks.get(ref)
    if rejected:
        first = rejected[0]
        proxies = sorted({n.proxy for n in rejected})
        message = f"rejected by {', '.join(proxies)}: {first.error}"
        applied = Condition("Applied", "False", "ProxyRejected", message)
    else:
        applied = Condition("Applied", "True", "Applied", "no proxy rejected its configuration")
    return [accepted, applied]


ANALYZED = "Analyzed"
# messages the status already says otherwise: schema errors are the `Accepted` condition
_NOT_IN_STATUS = frozenset({"XDS0002"})
_ISTIO_DOCS = "https://istio.io/latest/docs/reference/config/analysis/"


def analysis_status(messages: list[Message]) -> tuple[Condition, list[dict[str, Any]]]:
    """The `Analyzed` condition and `validationMessages` for one object's messages."""
    shown = [m for m in messages if m.code not in _NOT_IN_STATUS]
    worst = max((m.severity for m in shown), default=None)
    if worst is None or worst is Severity.INFO:
        reason = "Info" if shown else "NoProblems"
        summary = "; ".join(_line(m) for m in shown) or "no problems found"
        condition = Condition(ANALYZED, "True", reason, summary)
    else:
        reason = "Errors" if worst is Severity.ERROR else "Warnings"
        condition = Condition(ANALYZED, "False", reason, "; ".join(_line(m) for m in shown))
    validation = []
    for message in shown:
        entry: dict[str, Any] = {
            "type": {"code": message.code, "name": message.type.name},
            "level": message.severity.name,
            "message": _line(message),
        }
        if message.type.istio_code:
            entry["istioCode"] = message.type.istio_code
            entry["documentationUrl"] = f"{_ISTIO_DOCS}{message.type.istio_code.lower()}/"
        validation.append(entry)
    return condition, validation


def _line(message: Message) -> str:
    where = f"{message.field}: " if message.field else ""
    return f"{message.code} {where}{message.text} (fix: {message.hint})"


def status_patch(
    obj: Mapping[str, Any],
    conditions: list[Condition],
    validation_messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The merge patch that makes `obj`'s status say `conditions` (and, when given,
    `validation_messages`), or None if it already does (transition times are kept for
    conditions whose status did not change). Conditions not in `conditions` that the
    object carries (`Analyzed` while the current mesh is still being analyzed) are kept."""
    meta = obj.get("metadata") or {}
    generation = meta.get("generation")
    status = obj.get("status") or {}
    current = {c.get("type"): c for c in status.get("conditions") or []}
    given = {c.type for c in conditions}
    kept = [c for t, c in current.items() if t not in given and t == ANALYZED]
    wanted: list[dict[str, Any]] = []
    same = len(current) == len(conditions) + len(kept)
    if validation_messages is not None:
        same = same and status.get("validationMessages") == validation_messages
    for condition in conditions:
        old = current.get(condition.type) or {}
        transition = (
            str(old["lastTransitionTime"])
            if old.get("status") == condition.status and old.get("lastTransitionTime")
            else _now()
        )
        new = condition.as_dict(generation, transition)
        same = same and all(old.get(k) == v for k, v in new.items())
        wanted.append(new)
    if same and status.get("observedGeneration") == generation:
        return None
    patch: dict[str, Any] = {"observedGeneration": generation, "conditions": wanted + kept}
    if validation_messages is not None:
        patch["validationMessages"] = validation_messages
    return {"status": patch}


class StatusWriter:
    """Reconciles object status with the latest mesh and NACKs, when leader."""

    def __init__(
        self,
        api: KubeApi,
        objects: IstioObjects,
        is_leader: Callable[[], bool],
        current_nacks: Callable[[], Iterable[NackRecord]] = list,
        settle: float = 0.2,
        namespace_labels: Callable[[], Mapping[str, Mapping[str, str]]] = dict,
        gateway_addresses: GatewayAddresses | None = None,
    ) -> None:
        self.namespace_labels = namespace_labels
        self.gateway_addresses = gateway_addresses
        self.api = api
        self.objects = objects
        self.is_leader = is_leader
        self.current_nacks = current_nacks
        self.settle = settle
        self.mesh: MeshConfig | None = None
        # the latest analysis and the mesh it is of (used only while that mesh is current)
        self.analysis: tuple[MeshConfig, Analysis] | None = None
        # how long a reconcile waits for the analysis of a new mesh, so each object is
        # written once with all its conditions rather than twice (0: no analyzer attached)
        self.analysis_grace = 0.0
        self._analyzed = asyncio.Event()
        self._poked = asyncio.Event()
        self.writes = 0

    # --- triggers --------------------------------------------------------------
    def mesh_updated(self, mesh: MeshConfig) -> None:
        self.mesh = mesh
        self.poke()

    def analysis_updated(self, mesh: MeshConfig, analysis: Analysis) -> None:
        self.analysis = (mesh, analysis)
        self._analyzed.set()
        self.poke()

    def _analysis_pending(self) -> bool:
        return self.mesh is not None and (
            self.analysis is None or self.analysis[0] is not self.mesh
        )

    async def _await_analysis(self, stop: asyncio.Event) -> None:
        self._analyzed.clear()
        if not self._analysis_pending():
            return
        await wait_either(self._analyzed, stop, timeout=self.analysis_grace)

    def on_nack(self, record: NackRecord) -> None:
        """A StatusBook NACK listener."""
        self.poke()

    def poke(self) -> None:
        self._poked.set()

    # --- loop ------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(0.2, 10.0)
        while not stop.is_set():
            await wait_either(stop, self._poked)
            if stop.is_set() or await sleep_or_stop(stop, self.settle):
                return
            if self.analysis_grace:
                await self._await_analysis(stop)
                if stop.is_set():
                    return
            self._poked.clear()
            try:
                await self.reconcile()
                backoff.reset()
            except KubeError as exc:
                log.warning("status.write_failed", error=str(exc))
                self.poke()
                if await sleep_or_stop(stop, backoff.next()):
                    return

    async def reconcile(self) -> int:
        """Write every status that differs; returns how many were written."""
        if not self.is_leader() or self.mesh is None:
            return 0
        errors: dict[str, list[str]] = {}
        for error in self.mesh.errors:
            text = f"{error.field}: {error.message}" if error.field else error.message
            errors.setdefault(error.ref, []).append(text)
        nacks: dict[str, list[NackRecord]] = {}
        for record in self.current_nacks():
            for ref in dict.fromkeys(record.provenance):
                nacks.setdefault(ref, []).append(record)
        by_object: dict[str, list[Message]] | None = None
        if self.analysis is not None and self.analysis[0] is self.mesh:
            by_object = self.analysis[1].by_object()
        written = 0
        failed: KubeError | None = None
        gateway_api = GatewayAPIStatuses(
            self.mesh, errors, self.namespace_labels(), self.gateway_addresses
        )
        for rtype, obj in self.objects.raw_istio_objects():
            meta = obj.get("metadata") or {}
            namespace, name = str(meta.get("namespace") or ""), str(meta.get("name"))
            # a cluster-scoped object (GatewayClass) is parsed into namespace `default`
            ref = object_ref(rtype.kind, namespace or "default", name)
            if has_gateway_api_status(rtype.kind):
                patch = gateway_api.patch(rtype.kind, ref, obj)
            else:
                conditions = desired_conditions(ref, errors, nacks)
                validation = None
                if by_object is not None:
                    analyzed, validation = analysis_status(by_object.get(ref, []))
                    conditions.append(analyzed)
                patch = status_patch(obj, conditions, validation)
            if patch is None:
                continue
            if not self.is_leader():
                return written  # lost the lease mid-way: the new leader takes over
            try:
                await self.api.merge_patch(rtype, namespace, name, patch, subresource="status")
            except NotFound:
                continue  # deleted meanwhile
            except KubeError as exc:
                failed = exc  # e.g. 409/5xx: the rest still get written, then retry
                continue
            written += 1
            self.writes += 1
            log.info("status.written", object=ref, status=patch["status"])
        if failed is not None:
            raise failed
        return written
