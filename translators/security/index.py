"""Security lookups over one MeshConfig, built once and shared by every proxy's view."""

from __future__ import annotations

import hashlib

from translators.gateway.attach import GATEWAY_NAME_LABEL, owns_class
from translators.ir import AuthzPolicyIR
from translators.ir.jwt import JwtRuleIR
from translators.mesh import MeshConfig, Service, Workload
from translators.model.gateway_api import KUBERNETES_GATEWAY
from translators.security.authz import AuthorizationPolicies
from translators.security.peer_authn import EffectiveMTLS, PeerAuthentications
from translators.security.request_authn import RequestAuthentications
from translators.security.upstream import UpstreamPeers, bare_workloads, upstream_peers


class SecurityIndex:
    # the kinds this index is built from: a change to one rebuilds it (gateways decide
    # which workloads are gateway proxies, which auto-mTLS leaves in plain text)
    KINDS = frozenset(
        {
            "PeerAuthentication",
            "AuthorizationPolicy",
            "RequestAuthentication",
            "Gateway",
            KUBERNETES_GATEWAY,
            "GatewayClass",  # which Gateway API Gateways are ours (`gateway_proxies`)
        }
    )

    def __init__(self, mesh: MeshConfig) -> None:
        root = mesh.options.root_namespace
        self.mesh = mesh
        self.peer_authn = PeerAuthentications(mesh.of_kind("PeerAuthentication"), root)
        self.authz = AuthorizationPolicies(mesh.of_kind("AuthorizationPolicy"), root)
        self.request_authn = RequestAuthentications(
            mesh.of_kind("RequestAuthentication"), root, mesh.jwks, mesh.of_kind("Gateway")
        )
        self.gateways = gateway_proxies(mesh)
        self.bare = bare_workloads(mesh.workloads, self.gateways)
        self._peers: dict[str, UpstreamPeers] = {}
        self.key = _upstream_key(mesh, self.bare)

    def inbound_mtls(self, workload: Workload) -> EffectiveMTLS:
        return self.peer_authn.effective(workload.namespace, workload.labels)

    def authorization(self, workload: Workload) -> tuple[AuthzPolicyIR, ...]:
        return self.authz.for_workload(workload.namespace, workload.labels)

    def jwt_rules(self, workload: Workload) -> tuple[JwtRuleIR, ...]:
        return self.request_authn.for_workload(workload.namespace, workload.labels)

    def for_mesh(self, mesh: MeshConfig, changed_services: frozenset[str]) -> SecurityIndex:
        """This index for a mesh with the same policies and workloads (only services and
        other kinds changed): the policy tables are shared, the per-service peers kept
        for the unchanged services."""
        if mesh.jwks != self.mesh.jwks:  # fetched key sets are inputs of request_authn
            return SecurityIndex(mesh)
        other = SecurityIndex.__new__(SecurityIndex)
        other.mesh = mesh
        other.peer_authn = self.peer_authn
        other.authz = self.authz
        other.request_authn = self.request_authn
        other.gateways = self.gateways
        other.bare = self.bare
        other.key = self.key
        # copied at C speed, then the few changed dropped (a filtering walk of 10,000
        # entries was ~2.5 ms of every edit's setup)
        other._peers = dict(self._peers)
        for host in changed_services:
            other._peers.pop(host, None)
        return other

    def upstream_peers(self, service: Service) -> UpstreamPeers:
        """Per service, computed once per mesh generation whatever the number of proxies."""
        found = self._peers.get(service.hostname)
        if found is None:
            found = self._peers[service.hostname] = upstream_peers(
                service,
                self.mesh.workloads,
                self.peer_authn,
                self.mesh.options.trust_domain,
                self.bare,
            )
        return found


def gateway_proxies(mesh: MeshConfig) -> frozenset[str]:
    """The keys of the workloads that are gateway proxies: selected by an Istio Gateway
    (any namespace, as `translators/gateway` selects them) or labelled with the name of a
    Gateway API Gateway of their namespace whose class is ours (another controller's
    Gateway runs no proxy here: its workloads keep their sidecars, as the translator
    sees them). Auto-mTLS does not reach them (no sidecar)."""
    selectors = [g.spec.selector for g in mesh.of_kind("Gateway") if g.spec.selector]
    api = {
        (g.namespace, g.name)
        for g in mesh.of_kind(KUBERNETES_GATEWAY)
        if owns_class(mesh, g.spec.gateway_class_name)
    }
    if not selectors and not api:  # (most meshes: no gateway proxy to look for)
        return frozenset()
    found = set()
    for key, workload in mesh.workloads.items():
        labels = workload.labels
        if (workload.namespace, labels.get(GATEWAY_NAME_LABEL)) in api or any(
            all(labels.get(k) == v for k, v in s.items()) for s in selectors
        ):
            found.add(key)
    return frozenset(found)


def _upstream_key(mesh: MeshConfig, bare: frozenset[str]) -> str:
    """What a service's auto-mTLS depends on besides the service itself (whose digest
    covers its endpoints, their labels and service accounts): every PeerAuthentication
    (content and age), which workloads have no sidecar (gateway proxies included), the
    trust domain and the root namespace. Clusters are memoized under it: only a change
    of these rebuilds them all."""
    policies = tuple(
        sorted(
            (p.ref, p.digest, p.meta.creationTimestamp or "", p.first_seen)
            for p in mesh.of_kind("PeerAuthentication")
        )
    )
    state = (policies, tuple(sorted(bare)), mesh.options.trust_domain, mesh.options.root_namespace)
    # A short digest, not the tuple: it is part of every service's memo key.
    return hashlib.blake2b(repr(state).encode(), digest_size=8).hexdigest()
