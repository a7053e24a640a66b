"""MeshConfig: the complete, immutable, validated view of the mesh, and its registry.

Sources (file directory, Kubernetes) produce lists of `MeshObject`s and errors;
`build_mesh` turns them into services, endpoints and workloads. In file mode
ServiceEntries (MESH_INTERNAL) stand in for Kubernetes Services and
WorkloadEntries for Pods.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from translators.hosts import resolve_host
from translators.model.networking import (
    Location,
    Resolution,
    ServiceEntrySpec,
    ServicePort,
    WorkloadEntrySpec,
)
from translators.model.objects import ConfigError, MeshObject, age_order
from translators.naming import DEFAULT_DOMAIN_SUFFIX, DEFAULT_TRUST_DOMAIN
from translators.overlay import Overlay
from translators.telemetry.options import TelemetryOptions


@dataclass(frozen=True, slots=True)
class MeshOptions:
    root_namespace: str = "istio-system"
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    domain_suffix: str = DEFAULT_DOMAIN_SUFFIX
    # Local (file) mode simulates each pod by its own 127.x.y.z address, so the pod
    # loopback 127.0.0.1 in a Sidecar's defaultEndpoint means that workload's address.
    local_mode: bool = False
    # Access logs and tracing for every sidecar (Telemetry objects refine them).
    telemetry: TelemetryOptions = field(default_factory=TelemetryOptions)


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    ports: Mapping[str, int]
    labels: Mapping[str, str]
    service_account: str
    weight: int = 1
    workload: str = ""  # `namespace/name` of the WorkloadEntry, when there is one
    locality: str = ""  # `region/zone/subzone`, for locality load balancing
    network: str = ""

    def port_for(self, port: ServicePort) -> int:
        return self.ports.get(port.name, port.target_port or port.number)


@dataclass(frozen=True, slots=True)
class Service:
    hostname: str
    namespace: str
    ports: tuple[ServicePort, ...]
    location: Location
    resolution: Resolution
    endpoints: tuple[Endpoint, ...]
    source: str  # provenance ref of the defining object
    digest: str  # changes whenever the service or any of its endpoints changes
    export_to: tuple[str, ...] = ()
    # Extra identities (SANs) the service's servers may present (ServiceEntry field).
    subject_alt_names: tuple[str, ...] = ()

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.number == number), None)


@dataclass(frozen=True, slots=True)
class Workload:
    """A proxied workload: a WorkloadEntry in file mode, a Pod in Kubernetes."""

    namespace: str
    name: str
    address: str
    labels: Mapping[str, str]
    service_account: str
    ports: Mapping[str, int]
    annotations: Mapping[str, str]
    source: str
    locality: str = ""  # `region/zone/subzone`: where its sidecar prefers endpoints
    network: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


ObjectKey = tuple[str, str, str]  # (kind, namespace, name), as MeshObject.key

# kinds that make the registry (services, workloads): a change to one rebuilds it
REGISTRY_KINDS = frozenset({"ServiceEntry", "WorkloadEntry"})


@dataclass(frozen=True, slots=True)
class MeshDelta:
    """What changed from the previous generation (see `update_mesh`): whatever read one
    of these must be recomputed, nothing else. A mesh built from scratch has no delta
    (`MeshConfig.delta` is None): everything is new."""

    objects: frozenset[ObjectKey] = frozenset()  # keys added, changed or removed
    services: frozenset[str] = frozenset()  # hostnames added, changed or removed
    workloads: frozenset[str] = frozenset()  # `namespace/name` added, changed or removed
    errors: bool = False  # the error list changed
    # the objects of the generation this one was updated from (`MeshConfig.objects`): a
    # mesh compared with that one finds its changed objects among `objects` alone
    # (translators/mesh_diff.py), not by walking 50,000 of them
    since: tuple[MeshObject[Any], ...] | None = field(default=None, compare=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.objects or self.services or self.workloads or self.errors)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a mesh was built from, so the next generation can be built from it and the
    changed objects alone (never compared: two meshes are equal by their content)."""

    objects: Overlay[ObjectKey, MeshObject[Any]]  # never changed once built
    errors: tuple[ConfigError, ...]  # the source's (the registry adds its own)
    services: tuple[Service, ...]  # platform registry (Kubernetes), as given
    workloads: tuple[Workload, ...]
    keys: tuple[ObjectKey, ...]  # keys of MeshConfig.objects, in order (for bisect)
    registry: _Registry


# what one ServiceEntry defines: its services, or why it cannot be registered at all
Found = tuple["Service", ...] | ConfigError


@dataclass(frozen=True, slots=True)
class _Registry:
    """How the registry was assembled, kept so that the next generation recomputes only
    what an edited ServiceEntry or WorkloadEntry touches (`update_registry`). Never
    changed once built: an update copies the dicts it changes."""

    platform_services: dict[str, Service]  # hostname -> the platform's service
    platform_workloads: dict[str, Workload]  # `namespace/name` -> the platform's
    by_label: LabelIndex  # every workload (platform and WorkloadEntries)
    named: LabelIndex  # WorkloadEntries addressed by a DNS name
    selectors: dict[LabelKey, frozenset[ObjectKey]]  # ServiceEntries by `_selector_slot`
    found: dict[ObjectKey, Found]  # ServiceEntry -> what it defines
    claims: dict[str, frozenset[ObjectKey]]  # hostname -> ServiceEntries defining it
    rejected: dict[ObjectKey, ConfigError]  # ServiceEntry -> why it is not registered


@dataclass(frozen=True, slots=True)
class MeshConfig:
    objects: tuple[MeshObject[Any], ...]
    errors: tuple[ConfigError, ...]
    services: Mapping[str, Service]
    workloads: Mapping[str, Workload]
    options: MeshOptions = field(default_factory=MeshOptions)
    # what changed since the generation this one was updated from (None: built anew)
    delta: MeshDelta | None = field(default=None, compare=False)
    inputs: _Inputs | None = field(default=None, compare=False, repr=False)
    # RequestAuthentication `jwksUri` -> the JSON Web Key Set the control plane fetched
    # from it (the last good one), and -> why the latest fetch failed. Filled by the
    # service (xdscp.jwks), never by the translators, which do no I/O.
    jwks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    jwks_errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # kind -> its objects, in `objects` order: grouped at the first `of_kind`, so the many
    # per-generation lookups (gateways, telemetry, analysis) do not each walk 50,000 objects
    _by_kind: dict[str, tuple[MeshObject[Any], ...]] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    def of_kind(self, kind: str) -> list[MeshObject[Any]]:
        return list(self.by_kind().get(kind, ()))

    def by_kind(self) -> Mapping[str, tuple[MeshObject[Any], ...]]:
        """kind -> its objects, in `objects` order (grouped once per MeshConfig)."""
        by_kind = self._by_kind
        if by_kind is None:
            grouped: dict[str, list[MeshObject[Any]]] = {}
            for obj in self.objects:
                grouped.setdefault(obj.kind, []).append(obj)
            by_kind = {k: tuple(v) for k, v in grouped.items()}
            object.__setattr__(self, "_by_kind", by_kind)  # a cache of immutable content
        return MappingProxyType(by_kind)

    def workload(self, namespace: str, name: str) -> Workload | None:
        return self.workloads.get(f"{namespace}/{name}")


def _workload_from(obj: MeshObject[WorkloadEntrySpec]) -> Workload:
    spec = obj.spec
    labels = {**obj.meta.labels, **spec.labels}
    return Workload(
        namespace=obj.namespace,
        name=obj.name,
        address=spec.address,
        labels=MappingProxyType(labels),
        service_account=spec.service_account or "default",
        ports=MappingProxyType(dict(spec.ports)),
        annotations=MappingProxyType(dict(obj.meta.annotations)),
        source=obj.ref,
        locality=spec.locality or "",
        network=spec.network or "",
    )


def _endpoint_from_spec(spec: WorkloadEntrySpec, workload: str = "") -> Endpoint:
    return Endpoint(
        address=spec.address,
        ports=MappingProxyType(dict(spec.ports)),
        labels=MappingProxyType(dict(spec.labels)),
        service_account=spec.service_account or "default",
        weight=spec.weight or 1,
        workload=workload,
        locality=spec.locality or "",
        network=spec.network or "",
    )


# by_label key under which every workload of a namespace is listed (an empty selector
# selects them all, labelled or not; label keys are never empty)
_EVERY = ("", "")

LabelKey = tuple[str, str, str]  # (namespace, label key, label value)
# (namespace, label) -> the workloads carrying it, by `namespace/name` (a dict, so one
# workload comes and goes without walking the others)
LabelIndex = dict[LabelKey, dict[str, Workload]]


def _selected(selector: Mapping[str, str], namespace: str, by_label: LabelIndex) -> list[Workload]:
    """Workloads in `namespace` carrying every label of `selector` (an index lookup on the
    first label, then a filter, so 10,000 ServiceEntries stay linear)."""
    if not selector:
        return list(by_label.get((namespace, *_EVERY), {}).values())
    (first_key, first_value), *rest = sorted(selector.items())
    candidates = by_label.get((namespace, first_key, first_value), {}).values()
    return [w for w in candidates if all(w.labels.get(k) == v for k, v in rest)]


def _selector_slot(entry: MeshObject[ServiceEntrySpec]) -> LabelKey | None:
    """Where `_selected` looks first for this entry's workloads (None: no selector): a
    changed workload concerns only the entries in the slots of its labels."""
    if entry.spec.workload_selector is None:
        return None
    selector = entry.spec.workload_selector.effective()
    if not selector:
        return (entry.namespace, *_EVERY)
    return (entry.namespace, *min(selector.items()))


def _index(index: LabelIndex, workload: Workload) -> None:
    for label in (_EVERY, *workload.labels.items()):
        index.setdefault((workload.namespace, *label), {})[workload.key] = workload


def _services_from(
    entry: MeshObject[ServiceEntrySpec],
    by_label: LabelIndex,
    options: MeshOptions,
    named: LabelIndex | None = None,
) -> list[Service]:
    """`named`: the WorkloadEntries whose address is a DNS name, by label — endpoints of a
    DNS-resolved ServiceEntry only (Istio leaves them out of EDS, which needs IPs)."""
    spec = entry.spec
    if spec.workload_selector is not None:
        selector = spec.workload_selector.effective()
        selected = _selected(selector, entry.namespace, by_label)
        if named and spec.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
            selected = selected + _selected(selector, entry.namespace, named)
        selected = sorted({w.key: w for w in selected}.values(), key=lambda w: w.key)
        endpoints = tuple(
            Endpoint(
                address=w.address,
                ports=w.ports,
                labels=w.labels,
                service_account=w.service_account,
                workload=w.key,
                locality=w.locality,
                network=w.network,
            )
            for w in selected
        )
        digest = entry.digest + "".join(
            f"|{w.key}@{w.address}{sorted(w.labels.items())}{sorted(w.ports.items())}"
            f"{w.service_account}{w.locality}/{w.network}"
            for w in selected
        )
    else:
        # an endpoint known only by its network (no address) is reached through that
        # network's gateway, which xdscp does not translate (XDS0807)
        endpoints = tuple(_endpoint_from_spec(e) for e in spec.endpoints if e.address)
        digest = entry.digest
    suffix = options.domain_suffix
    return [
        Service(
            hostname=hostname,
            namespace=entry.namespace,
            ports=tuple(spec.ports),
            location=spec.location,
            resolution=spec.resolution,
            endpoints=endpoints or _self_resolved(spec, hostname),
            source=entry.ref,
            digest=digest,
            export_to=tuple(spec.export_to),
            subject_alt_names=tuple(spec.subject_alt_names),
        )
        for hostname in (resolve_host(h, entry.namespace, suffix) for h in spec.hosts)
    ]


def _self_resolved(spec: ServiceEntrySpec, hostname: str) -> tuple[Endpoint, ...]:
    """Istio: a DNS-resolved ServiceEntry without endpoints (and without a selector)
    resolves its own host name, on each service port."""
    if (
        spec.endpoints
        or spec.workload_selector is not None
        or spec.resolution not in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN)
    ):
        return ()
    empty: Mapping[str, str] = MappingProxyType({})
    return (Endpoint(hostname, MappingProxyType({}), empty, "default"),)


def build_mesh(
    objects: Iterable[MeshObject[Any]] | Mapping[ObjectKey, MeshObject[Any]],
    errors: Iterable[ConfigError] = (),
    options: MeshOptions | None = None,
    services: Iterable[Service] = (),
    workloads: Iterable[Workload] = (),
) -> MeshConfig:
    """Assemble the registry. Cross-object conflicts reject the later object alone.

    `services` and `workloads` come from a platform registry (Kubernetes Services and
    Pods) and are taken as given; ServiceEntries select those workloads too, and a
    ServiceEntry host that a platform service already defines is rejected.
    `objects` given by key (each its `key`) spares making every key again.
    """
    options = options or MeshOptions()
    # each object's key made once (a property building a tuple: 10,000 services read it
    # 150,000 times over), sorted by it
    pairs = objects.items() if isinstance(objects, Mapping) else ((o.key, o) for o in objects)
    keyed = sorted(pairs, key=itemgetter(0))
    ordered = [o for _, o in keyed]
    source_errors = tuple(errors)
    services = tuple(services)
    workloads = tuple(workloads)
    platform_workloads = {w.key: w for w in workloads}
    all_workloads = dict(platform_workloads)
    named: LabelIndex = {}
    for obj in ordered:
        # a WorkloadEntry without an IP address is no proxied workload (XDS0807); one
        # named by DNS is still an endpoint of the DNS-resolved ServiceEntries selecting it
        if obj.kind == "WorkloadEntry" and obj.spec.proxied:
            workload = _workload_from(obj)
            all_workloads[workload.key] = workload
        elif obj.kind == "WorkloadEntry" and obj.spec.dns_named:
            _index(named, _workload_from(obj))
    by_label: LabelIndex = {}
    for workload in all_workloads.values():
        _index(by_label, workload)
    platform_services = {s.hostname: s for s in services}
    found: dict[ObjectKey, Found] = {}
    claims: dict[str, set[ObjectKey]] = {}
    selectors: dict[LabelKey, set[ObjectKey]] = {}
    for key, obj in keyed:
        if obj.kind != "ServiceEntry":
            continue
        slot = _selector_slot(obj)
        if slot is not None:
            selectors.setdefault(slot, set()).add(key)
        found[key] = entry_found = _found(obj, by_label, options, named)
        if not isinstance(entry_found, ConfigError):
            for service in entry_found:
                claims.setdefault(service.hostname, set()).add(key)
    # Hosts are claimed oldest first (Istio's rule), so a new ServiceEntry never takes a
    # host from an established one; the services are then listed in key order as before.
    entries = sorted((o for o in ordered if o.kind == "ServiceEntry"), key=age_order)
    rejected = _claim(entries, found, platform_services, {})
    registry = _Registry(
        platform_services=platform_services,
        platform_workloads=platform_workloads,
        by_label=by_label,
        named=named,
        selectors={slot: frozenset(keys) for slot, keys in selectors.items()},
        found=found,
        claims={host: frozenset(keys) for host, keys in claims.items()},
        rejected=rejected,
    )
    all_services = dict(platform_services)
    kept: list[MeshObject[Any]] = []
    kept_keys: list[tuple[str, str, str]] = []
    for key, obj in keyed:
        if obj.kind == "ServiceEntry":
            if key in rejected:
                continue
            all_services.update((s.hostname, s) for s in found[key])  # type: ignore[union-attr]
        kept.append(obj)
        kept_keys.append(key)
    registry_errors = [rejected[o.key] for o in entries if o.key in rejected]
    return MeshConfig(
        objects=tuple(kept),
        errors=source_errors + tuple(registry_errors),
        services=MappingProxyType(all_services),
        workloads=MappingProxyType(all_workloads),
        options=options,
        inputs=_Inputs(
            objects=Overlay(dict(keyed)),
            errors=source_errors,
            services=services,
            workloads=workloads,
            keys=tuple(kept_keys),
            registry=registry,
        ),
    )


def _found(
    entry: MeshObject[ServiceEntrySpec],
    by_label: LabelIndex,
    options: MeshOptions,
    named: LabelIndex,
) -> Found:
    try:
        return tuple(_services_from(entry, by_label, options, named))
    except Exception as exc:  # one bad entry must not take the registry down
        return ConfigError(
            entry.origin, entry.kind, entry.namespace, entry.name, "spec",
            f"cannot be registered ({type(exc).__name__}: {str(exc)[:200]})",
        )  # fmt: skip


def _claim(
    entries: Iterable[MeshObject[ServiceEntrySpec]],
    found: Mapping[ObjectKey, Found],
    platform: Mapping[str, Service],
    claimed: dict[str, Service],
) -> dict[ObjectKey, ConfigError]:
    """Let `entries` (oldest first) claim their hosts into `claimed`: one whose host a
    platform service or an older entry defines is rejected alone. -> the rejections."""
    rejected: dict[ObjectKey, ConfigError] = {}
    for obj in entries:
        key = obj.key
        entry_found = found[key]
        if isinstance(entry_found, ConfigError):
            rejected[key] = entry_found
            continue
        clash = next(
            (s for s in entry_found if s.hostname in platform or s.hostname in claimed), None
        )
        if clash is not None:
            other = (platform.get(clash.hostname) or claimed[clash.hostname]).source
            rejected[key] = ConfigError(
                obj.origin,
                obj.kind,
                obj.namespace,
                obj.name,
                "spec.hosts",
                f"host {clash.hostname} is already defined by {other} (the oldest wins)",
            )
            continue
        claimed.update((s.hostname, s) for s in entry_found)
    return rejected


def update_mesh(
    previous: MeshConfig,
    changed: Iterable[MeshObject[Any]] = (),
    removed: Iterable[ObjectKey] = (),
    errors: Iterable[ConfigError] | None = None,
    services: Iterable[Service] | None = None,
    workloads: Iterable[Workload] | None = None,
) -> MeshConfig:
    """The next generation: `previous` with `changed` objects added or replaced and the
    `removed` keys gone, equal to `build_mesh` over the whole resulting input (tested),
    without looking at the objects that did not change. `errors` replaces the source's
    errors (None: unchanged); `services`/`workloads` replace the platform registry.

    Routing and policy objects (everything but ServiceEntry/WorkloadEntry) never touch
    the registry: the previous services and workloads are reused as they are and the
    object tuple is patched in place of the old entries. A ServiceEntry or WorkloadEntry
    change, or a platform service or workload that differs from the one it replaces,
    recomputes only the services and workloads it touches (`update_registry`) and
    reports which actually differ. `delta` says what changed."""
    # imported here, not at the top: translators.registry_update builds on this module
    from translators.registry_update import (
        RegistryPatch,
        ordered_services,
        ordered_workloads,
        update_registry,
    )

    inputs = previous.inputs
    if inputs is None:  # not built by build_mesh: nothing to update from
        raise ValueError("update_mesh needs a mesh made by build_mesh or update_mesh")
    changed = list(changed)
    removed = [k for k in dict.fromkeys(removed) if k in inputs.objects]
    upserts = {o.key: o for o in changed}
    keys = frozenset(upserts) | frozenset(removed)
    source_errors = inputs.errors if errors is None else tuple(errors)
    # the next version of every input object, without copying 50,000 of them
    objects = inputs.objects.updated(upserts, removed)
    platform_services = None if services is None else tuple(services)
    platform_workloads = None if workloads is None else tuple(workloads)
    platform = platform_services is not None or platform_workloads is not None
    if platform or any(key[0] in REGISTRY_KINDS for key in keys):
        patch = update_registry(previous, objects, keys, platform_services, platform_workloads)
    else:  # the registry did not change: its services, workloads and errors stand
        patch = RegistryPatch(
            inputs.registry,
            previous.services,
            previous.workloads,
            previous.errors[len(inputs.errors) :],
        )
    registry = patch.registry
    touched = keys | patch.flipped
    listed = list(previous.objects)
    # the keys as they are: copied only when one is added or removed (an edit keeps them)
    listed_keys: Sequence[ObjectKey] = inputs.keys
    for key in sorted(touched):
        at = bisect.bisect_left(listed_keys, key)
        present = at < len(listed_keys) and listed_keys[at] == key
        obj = objects.get(key)
        if obj is not None and key[0] == "ServiceEntry" and key in registry.rejected:
            obj = None  # a rejected ServiceEntry is left out of the mesh
        if obj is not None and present:
            listed[at] = obj
        elif obj is not None or present:
            if not isinstance(listed_keys, list):
                listed_keys = list(listed_keys)
            if obj is not None:
                listed.insert(at, obj)
                listed_keys.insert(at, key)
            else:
                del listed[at]
                del listed_keys[at]
    all_errors = source_errors + patch.errors
    mesh_services = patch.services
    if patch.services_moved:
        mesh_services = MappingProxyType(ordered_services(registry, list(listed_keys)))
    mesh_workloads = patch.workloads
    if patch.workloads_moved:
        mesh_workloads = MappingProxyType(
            ordered_workloads(registry, patch.workloads, list(listed_keys))
        )
    mesh = MeshConfig(
        objects=tuple(listed),
        errors=all_errors,
        services=mesh_services,
        workloads=mesh_workloads,
        options=previous.options,
        delta=MeshDelta(
            objects=touched,
            services=patch.changed_services,
            workloads=patch.changed_workloads,
            errors=all_errors != previous.errors,
            since=previous.objects,
        ),
        inputs=_Inputs(
            objects=objects,
            errors=source_errors,
            services=inputs.services if platform_services is None else platform_services,
            workloads=inputs.workloads if platform_workloads is None else platform_workloads,
            keys=listed_keys if isinstance(listed_keys, tuple) else tuple(listed_keys),
            registry=registry,
        ),
    )
    if previous._by_kind is not None:
        # Objects are in key order, kind first: each kind is one run of the list, so
        # only the changed kinds are sliced out again (grouping 50,000 objects anew
        # would cost an edit more than the rest of its update).
        by_kind = dict(previous._by_kind)
        for kind in {key[0] for key in touched}:
            start = bisect.bisect_left(listed_keys, kind, key=itemgetter(0))
            end = bisect.bisect_right(listed_keys, kind, lo=start, key=itemgetter(0))
            if end > start:
                by_kind[kind] = mesh.objects[start:end]
            else:
                by_kind.pop(kind, None)
        # in kind order, as grouping the objects gives it (a kind may have been added)
        by_kind = dict(sorted(by_kind.items()))
        object.__setattr__(mesh, "_by_kind", by_kind)  # a cache of immutable content
    return mesh
