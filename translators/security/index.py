"""Security lookups over one MeshConfig, built once and shared by every proxy's view."""

from __future__ import annotations

from translators.ir import AuthzPolicyIR, InboundMTLS
from translators.mesh import MeshConfig, Service, Workload
from translators.security.authz import AuthorizationPolicies
from translators.security.peer_authn import EffectiveMTLS, PeerAuthentications
from translators.security.upstream import UpstreamPeers, upstream_peers


class SecurityIndex:
    def __init__(self, mesh: MeshConfig) -> None:
        root = mesh.options.root_namespace
        self.mesh = mesh
        self.peer_authn = PeerAuthentications(mesh.of_kind("PeerAuthentication"), root)
        self.authz = AuthorizationPolicies(mesh.of_kind("AuthorizationPolicy"), root)
        self._peers: dict[str, UpstreamPeers] = {}

    def inbound_mtls(self, workload: Workload) -> EffectiveMTLS:
        return self.peer_authn.effective(workload.namespace, workload.labels)

    def inbound_mode(self, workload: Workload, port: int) -> InboundMTLS:
        return self.inbound_mtls(workload).at(port)

    def authorization(self, workload: Workload) -> tuple[AuthzPolicyIR, ...]:
        return self.authz.for_workload(workload.namespace, workload.labels)

    def upstream_peers(self, service: Service) -> UpstreamPeers:
        """Per service, computed once per mesh generation whatever the number of proxies."""
        found = self._peers.get(service.hostname)
        if found is None:
            found = self._peers[service.hostname] = upstream_peers(
                service, self.mesh.workloads, self.peer_authn, self.mesh.options.trust_domain
            )
        return found
