"""MeshConfig: the complete, immutable, validated view of the mesh, and its registry.

Sources (file directory, Kubernetes) produce lists of `MeshObject`s and errors;
`build_mesh` turns them into services, endpoints and workloads. In file mode
ServiceEntries (MESH_INTERNAL) stand in for Kubernetes Services and
WorkloadEntries for Pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class MeshConfig:
    objects: tuple[MeshObject[Any], ...]
    errors: tuple[ConfigError, ...]
    services: Mapping[str, Service]
    workloads: Mapping[str, Workload]
    options: MeshOptions = field(default_factory=MeshOptions)
    # RequestAuthentication `jwksUri` -> the JSON Web Key Set the control plane fetched
    # from it (the last good one), and -> why the latest fetch failed. Filled by the
    # service (xdscp.jwks), never by the translators, which do no I/O.
    jwks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    jwks_errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def of_kind(self, kind: str) -> list[MeshObject[Any]]:
        return [o for o in self.objects if o.kind == kind]

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
    )


def _endpoint_from_spec(spec: WorkloadEntrySpec, workload: str = "") -> Endpoint:
    return Endpoint(
        address=spec.address,
        ports=MappingProxyType(dict(spec.ports)),
        labels=MappingProxyType(dict(spec.labels)),
        service_account=spec.service_account or "default",
        weight=spec.weight or 1,
        workload=workload,
    )


# by_label key under which every workload of a namespace is listed (an empty selector
# selects them all, labelled or not; label keys are never empty)
_EVERY = ("", "")


def _selected(
    selector: dict[str, str], namespace: str, by_label: dict[tuple[str, str, str], list[Workload]]
) -> list[Workload]:
    """Workloads in `namespace` carrying every label of `selector` (an index lookup on the
    first label, then a filter, so 10,000 ServiceEntries stay linear)."""
    if not selector:
        return by_label.get((namespace, *_EVERY), [])
    (first_key, first_value), *rest = sorted(selector.items())
    candidates = by_label.get((namespace, first_key, first_value), [])
    return [w for w in candidates if all(w.labels.get(k) == v for k, v in rest)]


def _services_from(
    entry: MeshObject[ServiceEntrySpec],
    by_label: dict[tuple[str, str, str], list[Workload]],
    options: MeshOptions,
) -> list[Service]:
    spec = entry.spec
    if spec.workload_selector is not None:
        selected = _selected(spec.workload_selector.effective(), entry.namespace, by_label)
        selected = sorted({w.key: w for w in selected}.values(), key=lambda w: w.key)
        endpoints = tuple(
            Endpoint(
                address=w.address,
                ports=w.ports,
                labels=w.labels,
                service_account=w.service_account,
                workload=w.key,
            )
            for w in selected
        )
        digest = entry.digest + "".join(
            f"|{w.key}@{w.address}{sorted(w.labels.items())}{sorted(w.ports.items())}"
            f"{w.service_account}"
            for w in selected
        )
    else:
        endpoints = tuple(_endpoint_from_spec(e) for e in spec.endpoints)
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
    objects: Iterable[MeshObject[Any]],
    errors: Iterable[ConfigError] = (),
    options: MeshOptions | None = None,
    services: Iterable[Service] = (),
    workloads: Iterable[Workload] = (),
) -> MeshConfig:
    """Assemble the registry. Cross-object conflicts reject the later object alone.

    `services` and `workloads` come from a platform registry (Kubernetes Services and
    Pods) and are taken as given; ServiceEntries select those workloads too, and a
    ServiceEntry host that a platform service already defines is rejected.
    """
    options = options or MeshOptions()
    ordered = sorted(objects, key=lambda o: o.key)
    all_errors = list(errors)
    all_workloads: dict[str, Workload] = {w.key: w for w in workloads}
    for obj in ordered:
        if obj.kind == "WorkloadEntry":
            workload = _workload_from(obj)
            all_workloads[workload.key] = workload
    by_label: dict[tuple[str, str, str], list[Workload]] = {}
    for workload in all_workloads.values():
        for label in (_EVERY, *workload.labels.items()):
            by_label.setdefault((workload.namespace, *label), []).append(workload)
    all_services: dict[str, Service] = {s.hostname: s for s in services}
    # Hosts are claimed oldest first (Istio's rule), so a new ServiceEntry never takes a
    # host from an established one; the services are then listed in key order as before.
    claimed: dict[str, Service] = {}
    winners: dict[tuple[str, str, str], list[Service]] = {}
    entries = sorted((o for o in ordered if o.kind == "ServiceEntry"), key=age_order)
    for obj in entries:
        try:
            found = _services_from(obj, by_label, options)
        except Exception as exc:  # one bad entry must not take the registry down
            all_errors.append(
                ConfigError(
                    obj.origin, obj.kind, obj.namespace, obj.name, "spec",
                    f"cannot be registered ({type(exc).__name__}: {str(exc)[:200]})",
                )
            )  # fmt: skip
            continue
        clash = next(
            (s for s in found if s.hostname in all_services or s.hostname in claimed), None
        )
        if clash is not None:
            other = (all_services.get(clash.hostname) or claimed[clash.hostname]).source
            all_errors.append(
                ConfigError(
                    obj.origin,
                    obj.kind,
                    obj.namespace,
                    obj.name,
                    "spec.hosts",
                    f"host {clash.hostname} is already defined by {other} (the oldest wins)",
                )
            )
            continue
        claimed.update((s.hostname, s) for s in found)
        winners[obj.key] = found
    kept: list[MeshObject[Any]] = []
    for obj in ordered:
        if obj.kind == "ServiceEntry":
            if obj.key not in winners:
                continue
            all_services.update((s.hostname, s) for s in winners[obj.key])
        kept.append(obj)
    return MeshConfig(
        objects=tuple(kept),
        errors=tuple(all_errors),
        services=MappingProxyType(all_services),
        workloads=MappingProxyType(all_workloads),
        options=options,
    )
