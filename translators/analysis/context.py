"""What every check reads, built once per analysis: the translators' own `MeshIndex`
(host, DestinationRule, VirtualService, Sidecar, PeerAuthentication and
AuthorizationPolicy lookups) plus a few tables the checks share, so each check stays
a linear pass and no check re-derives Istio's rules on its own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from translators.hosts import host_matches, resolve_host
from translators.index import MeshIndex
from translators.ir import DestinationIR, EndpointIR
from translators.mesh import MeshConfig, Service, Workload
from translators.model.delegation import DelegateKey, delegate_table, with_delegation
from translators.model.networking import (
    DestinationRuleSpec,
    Resolution,
    SidecarSpec,
    VirtualServiceSpec,
)
from translators.model.objects import MeshObject
from translators.naming import spiffe_id
from translators.view.clusters import service_clusters

# an outbound cluster and the endpoints it balances over
ServiceCluster = tuple[DestinationIR, tuple[EndpointIR, ...]]


@dataclass(frozen=True, slots=True)
class WorkloadGroup:
    """Workloads of one namespace with identical labels: every selector-based lookup
    gives them the same answer, so it runs once per group (1,000 replicas, one lookup)."""

    namespace: str
    labels: Mapping[str, str]
    workloads: tuple[Workload, ...]

    @property
    def first(self) -> Workload:
        return self.workloads[0]


# what `recording` notes beside hostnames (none contains a space)
ANY_SERVICE = "any service"
WILDCARD_SERVICES = "wildcard services"

# tables worked out from the mesh's workloads alone, and from its workloads and services:
# the next generation's context takes them over when those did not change (`carry`)
_FROM_WORKLOADS = ("groups", "groups_by_namespace", "_by_label", "caller_namespaces")
_FROM_REGISTRY = ("namespaces", "identities", "wildcard_services", "dns_endpoints")


class AnalysisContext:
    def __init__(
        self,
        mesh: MeshConfig,
        index: MeshIndex | None = None,
        carry: AnalysisContext | None = None,
    ) -> None:
        """`carry`: the context of a previous mesh with the same options, whose tables
        this one takes over where their inputs are the same objects."""
        self.mesh = mesh
        self.index = index if index is not None else MeshIndex.of(mesh)
        self.suffix = mesh.options.domain_suffix
        self.root_namespace = mesh.options.root_namespace
        self._clusters: dict[tuple[str, str, bool], dict[str, ServiceCluster]] = {}
        self._visible: dict[tuple[str, tuple[str, ...]], list[Service]] = {}
        # called inside the longer table builds (incremental.py: the service's pause)
        self.checkpoint: Callable[[], None] = _no_checkpoint
        self._service_reads: set[str] | None = None  # see `recording`
        if carry is not None and carry.mesh.workloads is mesh.workloads:
            names: tuple[str, ...] = _FROM_WORKLOADS
            if carry.mesh.services is mesh.services:
                names += _FROM_REGISTRY
            for name in names:
                if name in carry.__dict__:  # worked out there (cached_property)
                    self.__dict__[name] = carry.__dict__[name]

    def release(self) -> None:
        """Drop the per-generation memos the next context does not take over (clusters
        and visibility lookups): a context kept for `carry` holds only its tables."""
        self._clusters.clear()
        self._visible.clear()

    def resolve(self, host: str, namespace: str) -> str:
        return resolve_host(host, namespace, self.suffix)

    def of_kind(self, kind: str) -> list[MeshObject[Any]]:
        return list(self.mesh.by_kind().get(kind, ()))

    @cached_property
    def sidecar_virtual_services(self) -> list[MeshObject[VirtualServiceSpec]]:
        """The VirtualServices sidecars apply (not those bound only to gateways, which
        XDS0801 reports), delegating roots with their delegates' rules merged in."""
        merged = with_delegation(self.of_kind("VirtualService"), self.suffix)
        return [vs for vs in merged if vs.spec.for_sidecars]

    @cached_property
    def delegates(self) -> dict[DelegateKey, MeshObject[VirtualServiceSpec]]:
        """Every delegate VirtualService (no hosts) by (namespace, name)."""
        return delegate_table(self.of_kind("VirtualService"))

    @cached_property
    def hosted_virtual_services(self) -> frozenset[DelegateKey]:
        """(namespace, name) of the VirtualServices with hosts (no delegates)."""
        return frozenset(
            (vs.namespace, vs.name) for vs in self.of_kind("VirtualService") if vs.spec.hosts
        )

    @cached_property
    def dns_endpoints(self) -> frozenset[str]:
        """`namespace/name` of the workloads a DNS-resolved ServiceEntry has as endpoints
        (a DNS-named WorkloadEntry it selects)."""
        return frozenset(
            e.workload
            for s in self.mesh.services.values()
            if s.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN)
            for e in s.endpoints
            if e.workload
        )

    @cached_property
    def gateways_by_name(self) -> dict[tuple[str, str], MeshObject[Any]]:
        """Gateways by (namespace, name)."""
        return {(g.namespace, g.name): g for g in self.of_kind("Gateway")}

    @cached_property
    def gateway_names(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.gateways_by_name)

    @cached_property
    def verifies_tokens(self) -> bool:
        """Some workload verifies JWTs (a RequestAuthentication applies to it)."""
        security = self.index.security
        return any(security.jwt_rules(w) for w in self.mesh.workloads.values())

    @cached_property
    def groups(self) -> tuple[WorkloadGroup, ...]:
        by_key: dict[tuple[str, frozenset[tuple[str, str]]], list[Workload]] = defaultdict(list)
        for n, workload in enumerate(self.mesh.workloads.values()):
            if n % 2048 == 2047:
                self.checkpoint()  # 20,000 workloads are ~50 ms: give way on the way
            by_key[(workload.namespace, frozenset(workload.labels.items()))].append(workload)
        groups: list[WorkloadGroup] = []
        for n, ((ns, _), ws) in enumerate(sorted(by_key.items(), key=lambda kv: kv[1][0].key)):
            if n % 1024 == 1023:
                self.checkpoint()  # 20,000 groups are ~100 ms too
            groups.append(WorkloadGroup(ns, ws[0].labels, tuple(sorted(ws, key=lambda w: w.key))))
        return tuple(groups)

    @cached_property
    def groups_by_namespace(self) -> dict[str, list[WorkloadGroup]]:
        found: dict[str, list[WorkloadGroup]] = defaultdict(list)
        for group in self.groups:
            found[group.namespace].append(group)
        return dict(found)

    @cached_property
    def _by_label(self) -> dict[tuple[str, str, str], list[WorkloadGroup]]:
        found: dict[tuple[str, str, str], list[WorkloadGroup]] = defaultdict(list)
        for n, group in enumerate(self.groups):
            if n % 2048 == 2047:
                self.checkpoint()
            for key, value in group.labels.items():
                found[(group.namespace, key, value)].append(group)
        return dict(found)

    def selected(self, namespace: str, labels: Mapping[str, str]) -> list[WorkloadGroup]:
        """Groups in `namespace` carrying every label of `labels` (label equality, as every
        Istio selector is): an index lookup on one label, then a filter."""
        if not labels:
            return list(self.groups_by_namespace.get(namespace, []))
        (first_key, first_value), *rest = sorted(labels.items())
        candidates = self._by_label.get((namespace, first_key, first_value), [])
        return [g for g in candidates if all(g.labels.get(k) == v for k, v in rest)]

    @cached_property
    def namespaces(self) -> frozenset[str]:
        """Namespaces with at least one workload or service endpoint."""
        found = {w.namespace for w in self.mesh.workloads.values()}
        found.update(s.namespace for s in self.mesh.services.values() if s.endpoints)
        return frozenset(found)

    @cached_property
    def caller_namespaces(self) -> tuple[str, ...]:
        """Namespaces that have proxies: whose DestinationRule choice matters."""
        return tuple(sorted({w.namespace for w in self.mesh.workloads.values()}))

    @cached_property
    def identities(self) -> frozenset[str]:
        """Every principal a peer can present (`<trust-domain>/ns/<ns>/sa/<sa>`, the form
        AuthorizationPolicy `principals` use): workloads' and service endpoints'."""
        trust = self.mesh.options.trust_domain
        found = {
            spiffe_id(w.namespace, w.service_account, trust) for w in self.mesh.workloads.values()
        }
        for service in self.mesh.services.values():
            for endpoint in service.endpoints:
                namespace = endpoint.workload.partition("/")[0] or service.namespace
                found.add(spiffe_id(namespace, endpoint.service_account, trust))
        return frozenset(i.removeprefix("spiffe://") for i in found)

    @cached_property
    def wildcard_services(self) -> tuple[Service, ...]:
        return tuple(s for s in self.mesh.services.values() if "*" in s.hostname)

    # Which services one object's findings read (`recording`): the hostnames looked up,
    # ANY_SERVICE when every service was, WILDCARD_SERVICES when the wildcard ones were.
    # Per-object checks that find services only through these (`Check.services_by_host`)
    # are re-evaluated after a service edit for the objects that looked at it alone.

    def recording(self) -> set[str]:
        """Start recording the service lookups (into the set returned) until `stop`."""
        self._service_reads = set()
        return self._service_reads

    def stop_recording(self) -> None:
        self._service_reads = None

    def service(self, hostname: str) -> Service | None:
        if self._service_reads is not None:
            self._service_reads.add(hostname)
        return self.mesh.services.get(hostname)

    def service_names(self) -> list[str]:
        if self._service_reads is not None:
            self._service_reads.add(ANY_SERVICE)
        return list(self.mesh.services)

    def services_matching(self, pattern: str) -> list[Service]:
        """Services a (possibly wildcard) host covers, or whose wildcard host covers it."""
        exact = self.service(pattern)
        if exact is not None:
            return [exact]
        reads = self._service_reads
        if "*" in pattern:
            if reads is not None:
                reads.add(ANY_SERVICE)
            return [s for s in self.mesh.services.values() if host_matches(pattern, s.hostname)]
        if reads is not None:
            reads.add(WILDCARD_SERVICES)
        return [s for s in self.wildcard_services if host_matches(s.hostname, pattern)]

    def clusters(
        self, service: Service, dr: MeshObject[DestinationRuleSpec] | None, tls: bool = True
    ) -> dict[str, ServiceCluster]:
        """The translator's outbound clusters of `service` under `dr` (with auto-mTLS as
        the destinations' PeerAuthentications allow), by name, each with its endpoints:
        exactly what a caller that sees `dr` receives. `tls` False skips working out
        auto-mTLS (which reads every PeerAuthentication) when only endpoints matter."""
        key = (service.hostname, "+".join(dr.refs) if dr is not None else "", tls)
        found = self._clusters.get(key)
        if found is None:
            peers = self.index.security.upstream_peers(service) if tls else None
            clusters, assignments = service_clusters(service, dr, peers)
            members = {a.destination: a.endpoints for a in assignments}
            found = self._clusters[key] = {
                c.name: (c, members.get(c.name, c.endpoints)) for c in clusters
            }
        return found

    def visible(self, namespace: str, egress_hosts: list[str]) -> list[Service]:
        """`MeshIndex.visible_services`, once per (namespace, hosts): Sidecars of one
        namespace mostly share their egress hosts, and each lookup scans the registry."""
        key = (namespace, tuple(egress_hosts))
        found = self._visible.get(key)
        if found is None:
            found = self._visible[key] = self.index.visible_services(namespace, egress_hosts)
        return found

    @cached_property
    def sidecar_claims(self) -> dict[int, list[MeshObject[SidecarSpec]]]:
        """id(group) -> the Sidecars whose non-empty workloadSelector selects it, oldest
        first (as `MeshIndex.sidecars` keeps them): found from the selectors' side, through
        the label index, so a namespace of 1,000 Sidecars is not 1,000 x 1,000 matches."""
        found: dict[int, list[MeshObject[SidecarSpec]]] = defaultdict(list)
        for namespace, sidecars in self.index.sidecars.items():
            for sidecar in sidecars:
                selector = sidecar.spec.workload_selector
                labels = selector.effective() if selector is not None else {}
                if labels:
                    for group in self.selected(namespace, labels):
                        found[id(group)].append(sidecar)
        return dict(found)

    @cached_property
    def sidecar_users(self) -> dict[str, list[WorkloadGroup]]:
        """Sidecar ref -> the workload groups it applies to: `MeshIndex.sidecar_for`'s
        choice (the oldest selecting one, else the namespace's default, else the root
        namespace's), worked out per group from `sidecar_claims` (test_context checks
        it against `sidecar_for` itself)."""
        found: dict[str, list[WorkloadGroup]] = defaultdict(list)
        if not self.index.sidecars:
            return {}
        defaults = {
            ns: next((s for s in sidecars if not _selects(s)), None)
            for ns, sidecars in self.index.sidecars.items()
        }
        root = next(
            (
                s
                for s in self.index.sidecars.get(self.root_namespace, [])
                if s.spec.workload_selector is None
            ),
            None,
        )
        for group in self.groups:
            claims = self.sidecar_claims.get(id(group))
            chosen = claims[0] if claims else defaults.get(group.namespace) or root
            if chosen is not None:
                found[chosen.ref].append(group)
        return dict(found)


def _no_checkpoint() -> None:
    """Nothing to give way to."""


def _selects(sidecar: MeshObject[SidecarSpec]) -> bool:
    selector = sidecar.spec.workload_selector
    return selector is not None and bool(selector.effective())
