"""The registry of the next generation, updated in place (`update_registry`): a
ServiceEntry, WorkloadEntry or platform Service/Pod change recomputes only the services
and workloads it touches, reuses the rest, and gives what `build_mesh` gives from scratch
(`tests/translators/test_registry_update.py`). `update_mesh` calls it."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from translators.mesh import (
    _EVERY,
    Found,
    LabelIndex,
    LabelKey,
    ObjectKey,
    Service,
    Workload,
    _claim,
    _found,
    _Registry,
    _selector_slot,
    _workload_from,
)
from translators.model.networking import WorkloadEntrySpec
from translators.model.objects import ConfigError, MeshObject, age_order

if TYPE_CHECKING:
    from translators.mesh import MeshConfig

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RegistryPatch:
    """The registry of the next generation, from `update_registry`."""

    registry: _Registry
    services: Mapping[str, Service]  # the right content; in build order unless moved
    workloads: Mapping[str, Workload]
    errors: tuple[ConfigError, ...]  # the registry's own, oldest ServiceEntry first
    flipped: frozenset[ObjectKey] = frozenset()  # ServiceEntries that won or lost hosts
    changed_services: frozenset[str] = frozenset()
    changed_workloads: frozenset[str] = frozenset()
    # a key was added or a host changed hands: the order build_mesh lists them in (the
    # platform's, then by object key) is made again once the object keys are known
    services_moved: bool = False
    workloads_moved: bool = False


def _hostnames(found: Found | None) -> tuple[str, ...]:
    if found is None or isinstance(found, ConfigError):
        return ()
    return tuple(s.hostname for s in found)


def _dns_named(obj: MeshObject[WorkloadEntrySpec] | None) -> Workload | None:
    """The entry of a WorkloadEntry named by DNS in the `named` index (see build_mesh)."""
    if obj is None or obj.spec.proxied or not obj.spec.dns_named:
        return None
    return _workload_from(obj)


class _Reindex:
    """Moves workloads in a label index copied from the previous generation: each inner
    dict is copied before its first change (the previous generation keeps its own)."""

    def __init__(self, index: LabelIndex) -> None:
        self.index = index
        self._copied: set[LabelKey] = set()

    def move(self, old: Workload | None, new: Workload | None) -> None:
        if not self._copied:
            self.index = dict(self.index)  # at the first move: most edits move none
        for workload, present in ((old, False), (new, True)):
            if workload is None:
                continue
            for label in (_EVERY, *workload.labels.items()):
                slot = (workload.namespace, *label)
                members = self.index.get(slot)
                if slot not in self._copied:
                    members = dict(members or {})
                    self._copied.add(slot)
                    self.index[slot] = members
                assert members is not None
                if present:
                    members[workload.key] = workload
                else:
                    members.pop(workload.key, None)

    def done(self) -> LabelIndex:
        for slot in self._copied:  # as build_mesh: no empty slots
            if not self.index[slot]:
                del self.index[slot]
        return self.index


def update_registry(
    previous: MeshConfig,
    objects: Mapping[ObjectKey, MeshObject[Any]],
    keys: frozenset[ObjectKey],
    platform_services: tuple[Service, ...] | None = None,
    platform_workloads: tuple[Workload, ...] | None = None,
) -> RegistryPatch:
    """The registry after the ServiceEntries and WorkloadEntries among `keys` changed to
    what `objects` holds (and the platform's services and workloads, when given, replaced
    — each compared with the one it replaces): the workloads they define, the
    ServiceEntries selecting those, and every ServiceEntry sharing a host with one of
    these (transitively: who wins a host depends on its rivals alone), claimed again
    oldest first. Everything else is reused as it was; the result is what build_mesh
    gives (tested)."""
    assert previous.inputs is not None
    before = previous.inputs.objects
    reg = previous.inputs.registry
    options = previous.options
    hosts: set[str] = set()
    services_moved = workloads_moved = False
    platform_hosts = reg.platform_services
    if platform_services is not None:
        platform_hosts = _reusing({s.hostname: s for s in platform_services}, reg.platform_services)
        services_moved = list(platform_hosts) != list(reg.platform_services)
        hosts.update(
            host
            for host in platform_hosts.keys() | reg.platform_services.keys()
            if platform_hosts.get(host) is not reg.platform_services.get(host)
        )
    # `namespace/name` -> its WorkloadEntry's key: the workloads to look at again
    names = {f"{key[1]}/{key[2]}": key for key in keys if key[0] == "WorkloadEntry"}
    platform_names = reg.platform_workloads
    if platform_workloads is not None:
        platform_names = _reusing({w.key: w for w in platform_workloads}, reg.platform_workloads)
        workloads_moved = list(platform_names) != list(reg.platform_workloads)
        for wkey in platform_names.keys() | reg.platform_workloads.keys():
            if platform_names.get(wkey) is not reg.platform_workloads.get(wkey):
                namespace, _, name = wkey.partition("/")
                names.setdefault(wkey, ("WorkloadEntry", namespace, name))
    # 1. the workloads: the WorkloadEntries' own, or the platform's of the same name
    by_label = _Reindex(reg.by_label)
    named = _Reindex(reg.named)
    workloads: Mapping[str, Workload] = previous.workloads
    copied_workloads: dict[str, Workload] | None = None
    touched: list[Workload] = []
    changed_workloads: set[str] = set()
    for wkey, key in names.items():
        obj = objects.get(key)
        old = workloads.get(wkey)
        new = platform_names.get(wkey)
        if obj is not None and obj.spec.proxied:
            new = _workload_from(obj)
        if old != new:
            if copied_workloads is None:
                copied_workloads = dict(workloads)
                workloads = MappingProxyType(copied_workloads)
            by_label.move(old, new)
            if new is None:
                del copied_workloads[wkey]
            else:
                workloads_moved = workloads_moved or old is None
                copied_workloads[wkey] = new
            changed_workloads.add(wkey)
            touched += [w for w in (old, new) if w is not None]
        old_named, new_named = _dns_named(before.get(key)), _dns_named(obj)
        if old_named != new_named:
            named.move(old_named, new_named)
            touched += [w for w in (old_named, new_named) if w is not None]
    label_index, named_index = by_label.done(), named.done()
    # 2. the ServiceEntries to define again: the changed ones, those selecting a
    # changed workload
    selectors = reg.selectors
    dirty = {key for key in keys if key[0] == "ServiceEntry"}
    for workload in touched:
        for label in (_EVERY, *workload.labels.items()):
            for key in selectors.get((workload.namespace, *label), ()):
                entry = objects.get(key)
                selector = entry.spec.workload_selector if entry is not None else None
                if selector is not None and all(
                    workload.labels.get(k) == v for k, v in selector.effective().items()
                ):
                    dirty.add(key)
    if any(key[0] == "ServiceEntry" for key in keys):
        selectors = dict(selectors)
        for key in keys:
            if key[0] != "ServiceEntry":
                continue
            old_entry, new_entry = before.get(key), objects.get(key)
            old_slot = _selector_slot(old_entry) if old_entry is not None else None
            new_slot = _selector_slot(new_entry) if new_entry is not None else None
            if old_slot is not None:
                selectors[old_slot] = selectors[old_slot] - {key}
                if not selectors[old_slot]:
                    del selectors[old_slot]
            if new_slot is not None:
                selectors[new_slot] = selectors.get(new_slot, frozenset()) | {key}
    # copied at their first change (10,000 entries each: most edits change one or none)
    found = reg.found
    claims = reg.claims
    for key in dirty:
        entry = objects.get(key)
        old_found = reg.found.get(key)
        new_found = None if entry is None else _found(entry, label_index, options, named_index)
        if new_found == old_found:
            new_found = old_found  # the very services, as everything the edit left alone
        elif found is reg.found:
            found = dict(found)
        if new_found is None:
            found.pop(key, None)
        elif new_found is not old_found:
            found[key] = new_found
        old_hosts, new_hosts = _hostnames(old_found), _hostnames(new_found)
        # a winner listing its hosts in another order lists its services so too
        services_moved = services_moved or (
            bool(old_hosts) and bool(new_hosts) and old_hosts != new_hosts
        )
        if set(old_hosts) != set(new_hosts) and claims is reg.claims:
            claims = dict(claims)
        for host in set(old_hosts) - set(new_hosts):
            claims[host] = claims[host] - {key}
            if not claims[host]:
                del claims[host]
        for host in set(new_hosts) - set(old_hosts):
            claims[host] = claims.get(host, frozenset()) | {key}
        hosts.update(old_hosts)
        hosts.update(new_hosts)
    # 3. every ServiceEntry whose hosts meet theirs, claimed again oldest first
    rivals = {key for key in dirty if key in objects}
    queue = list(hosts)
    while queue:
        for key in claims.get(queue.pop(), ()):
            if key not in rivals:
                rivals.add(key)
                for host in _hostnames(found[key]):
                    if host not in hosts:
                        hosts.add(host)
                        queue.append(host)
    claimed: dict[str, Service] = {}
    entries = sorted((objects[key] for key in rivals), key=age_order)
    rejections = _claim(entries, found, platform_hosts, claimed)
    rejected = dict(reg.rejected)
    flipped: set[ObjectKey] = set()
    for key in rivals | dirty:
        won = key in reg.found and key not in reg.rejected
        rejected.pop(key, None)
        if key in rejections:
            rejected[key] = rejections[key]
        wins = key in found and key not in rejected
        if won != wins:
            flipped.add(key)
    # 4. the services of those hosts
    services: Mapping[str, Service] = previous.services
    changed_services: set[str] = set()
    if hosts:
        copied_services = dict(services)
        for host in hosts:
            old_service = copied_services.get(host)
            new_service = platform_hosts.get(host) or claimed.get(host)
            if new_service == old_service:
                continue
            if new_service is None:
                copied_services.pop(host, None)
            else:
                # a new host, or one that changed hands, takes its place in the order
                services_moved = services_moved or (
                    old_service is None or old_service.source != new_service.source
                )
                copied_services[host] = new_service
            changed_services.add(host)
        services = MappingProxyType(copied_services)
    errors = tuple(
        rejected[obj.key] for obj in sorted((objects[key] for key in rejected), key=age_order)
    )
    registry = _Registry(
        platform_services=platform_hosts,
        platform_workloads=platform_names,
        by_label=label_index,
        named=named_index,
        selectors=selectors,
        found=found,
        claims=claims,
        rejected=rejected,
    )
    return RegistryPatch(
        registry,
        services,
        workloads,
        errors,
        frozenset(flipped),
        frozenset(changed_services),
        frozenset(changed_workloads),
        services_moved=services_moved,
        workloads_moved=workloads_moved,
    )


def _reusing(new: dict[str, _T], old: Mapping[str, _T]) -> dict[str, _T]:
    """`new`, with the very objects of `old` where they are equal (the platform hands
    over its whole registry at each change: what did not change stays what it was)."""
    for name, value in new.items():
        before = old.get(name)
        if before is not None and before is not value and before == value:
            new[name] = before
    return new


def _run(listed_keys: list[ObjectKey], kind: str) -> list[ObjectKey]:
    """The keys of one kind: one run of the sorted keys."""
    start = bisect.bisect_left(listed_keys, kind, key=itemgetter(0))
    end = bisect.bisect_right(listed_keys, kind, lo=start, key=itemgetter(0))
    return listed_keys[start:end]


def ordered_services(registry: _Registry, listed_keys: list[ObjectKey]) -> dict[str, Service]:
    """The services in build_mesh's order: the platform's, then the registered
    ServiceEntries' in key order (`listed_keys`: the mesh's objects)."""
    ordered = dict(registry.platform_services)
    for key in _run(listed_keys, "ServiceEntry"):
        ordered.update((s.hostname, s) for s in registry.found[key])  # type: ignore[union-attr]
    return ordered


def ordered_workloads(
    registry: _Registry, workloads: Mapping[str, Workload], listed_keys: list[ObjectKey]
) -> dict[str, Workload]:
    """`workloads` in build_mesh's order: the platform's names (a WorkloadEntry of the
    same name takes the platform's place), then the WorkloadEntries' in key order."""
    ordered = {name: workloads[name] for name in registry.platform_workloads}
    for _, namespace, name in _run(listed_keys, "WorkloadEntry"):
        key = f"{namespace}/{name}"
        workload = workloads.get(key)
        if workload is not None and key not in ordered:
            ordered[key] = workload
    return ordered
