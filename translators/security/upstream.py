"""Client-side TLS of outbound clusters: DestinationRule `tls` and Istio's auto-mTLS.

Istio (pilot/pkg/networking/core/cluster_builder.go `buildAutoMtlsSettings`,
DestinationRule reference `ClientTLSSettings`):

* a DestinationRule `tls` wins: ISTIO_MUTUAL uses the mesh certificates (its `sni`
  and `subjectAltNames` if given, else the Istio SNI and the service's identities),
  DISABLE is plaintext, SIMPLE / MUTUAL originate TLS with files;
* without one, auto-mTLS: mesh TLS to endpoints that have a sidecar, unless the
  destination workload's effective PeerAuthentication is DISABLE, and never for
  MESH_EXTERNAL services; a gateway proxy (selected by an Istio Gateway or running a
  Gateway API Gateway) has no sidecar unless labelled `security.istio.io/tlsMode: istio`:
  Istio's gateway pods do not carry the label its sidecar injector adds;
* the subset's traffic policy overrides the top-level one, port-level settings
  override their level (`MergeTrafficPolicy`).

When only some endpoints of a cluster speak mesh mTLS, Istio marks those with
`tlsMode: istio` endpoint metadata and gives the cluster transport_socket_matches;
xdscp does the same, but when *all* endpoints do (the common case) it uses a plain
transport_socket: the same behaviour, smaller EDS, and a cluster that can never
fall back to plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from translators.ir import EndpointIR, InboundMTLS, UpstreamTLSIR, UpstreamTLSMode
from translators.ir.record import fast_init
from translators.mesh import Endpoint, Service, Workload
from translators.model.networking import (
    ClientTLSMode,
    ClientTLSSettings,
    DestinationRuleSpec,
    Location,
    TrafficPolicy,
)
from translators.model.objects import MeshObject
from translators.naming import (
    INJECTED_ANNOTATIONS,
    SIDECAR_INJECT_ANNOTATION,
    TLS_MODE_ISTIO,
    TLS_MODE_LABEL,
    mtls_sni,
    spiffe_id,
)
from translators.security.peer_authn import PeerAuthentications


@fast_init
@dataclass(frozen=True, slots=True)
class UpstreamPeers:
    """What auto-mTLS needs to know about a service's endpoints; hashable, so it keys
    the memo of the service's clusters (a PeerAuthentication change rebuilds them)."""

    # [service port index][endpoint index]: does the endpoint take mesh mTLS there?
    mesh_tls: tuple[tuple[bool, ...], ...]
    identities: tuple[str, ...]  # SPIFFE IDs the service's endpoints may present
    sources: tuple[str, ...] = ()  # the PeerAuthentications that decided
    # The identities of endpoints with a sidecar: all auto-mTLS may accept.
    mesh_identities: tuple[str, ...] = ()


def workload_has_sidecar(workload: Workload, gateway: bool = False) -> bool:
    """Istio's signal first: the `security.istio.io/tlsMode` label ("istio" or not). Else
    a `gateway` proxy has none, nor one opted out by `sidecar.istio.io/inject: "false"`
    (or without an address). Else a Pod has one only if an injector marked it; a
    WorkloadEntry — in file mode the stand-in for a pod with its sidecar — has one."""
    tls_mode = workload.labels.get(TLS_MODE_LABEL)
    if tls_mode is not None:
        return tls_mode == TLS_MODE_ISTIO
    if (
        gateway
        or not workload.address
        or workload.annotations.get(SIDECAR_INJECT_ANNOTATION) == "false"
    ):
        return False
    if workload.source.startswith("Pod/"):
        return any(workload.annotations.get(a) for a in INJECTED_ANNOTATIONS)
    return True


def has_sidecar(
    endpoint: Endpoint,
    workloads: Mapping[str, Workload],
    gateways: AbstractSet[str] = frozenset(),
) -> bool:
    """An endpoint backed by a known workload follows `workload_has_sidecar` (`gateways`:
    the keys of the gateway proxies); an inline ServiceEntry endpoint has a sidecar only
    when labelled `security.istio.io/tlsMode: istio` (as in Istio)."""
    workload = workloads.get(endpoint.workload) if endpoint.workload else None
    if workload is None:
        return endpoint.labels.get(TLS_MODE_LABEL) == TLS_MODE_ISTIO
    # (its key is formatted only when there are gateways: 20,000 endpoints, most meshes none)
    return workload_has_sidecar(workload, bool(gateways) and workload.key in gateways)


def bare_workloads(
    workloads: Mapping[str, Workload], gateways: AbstractSet[str] = frozenset()
) -> frozenset[str]:
    """The keys of the workloads without a sidecar (`workload_has_sidecar`; `gateways`:
    the keys of the gateway proxies), told once per mesh for every service's endpoints."""
    return frozenset(
        key for key, w in workloads.items() if not workload_has_sidecar(w, key in gateways)
    )


def upstream_peers(
    service: Service,
    workloads: Mapping[str, Workload],
    peer_authn: PeerAuthentications,
    trust_domain: str,
    bare: AbstractSet[str] = frozenset(),
) -> UpstreamPeers:
    """`bare`: `bare_workloads(workloads, gateways)`. An endpoint has a sidecar as
    `has_sidecar` tells: by its workload when known, else by its label."""
    # once per service of the mesh (10,000 in a large one): one pass over the endpoints
    sources: set[str] = set()
    identities: set[str] = set()
    meshed: set[str] = set()
    ports = service.ports
    plain = (False,) * len(ports)
    columns: list[tuple[bool, ...]] = []  # per endpoint: mesh mTLS per service port
    # without any PeerAuthentication every endpoint with a sidecar has one answer, the
    # mesh default's, on every port (most meshes: the lookup per endpoint is skipped)
    unset = (
        None
        if peer_authn
        else (peer_authn.effective(service.namespace, {}).mode is not InboundMTLS.DISABLE,)
        * len(ports)
    )
    for e in service.endpoints:
        namespace = e.workload.partition("/")[0] if e.workload else service.namespace
        identity = spiffe_id(namespace, e.service_account, trust_domain)
        identities.add(identity)
        if not (
            e.workload not in bare
            if e.workload and e.workload in workloads
            else e.labels.get(TLS_MODE_LABEL) == TLS_MODE_ISTIO
        ):
            columns.append(plain)
            continue
        meshed.add(identity)
        if unset is not None:
            columns.append(unset)
            continue
        effective = peer_authn.effective(namespace, e.labels)
        if ports:  # (named only where a port uses it)
            sources.update(effective.sources)
        if not effective.ports:  # (no port-level mode: one answer for every port)
            columns.append((effective.mode is not InboundMTLS.DISABLE,) * len(ports))
            continue
        if len(ports) == 1:  # (most services)
            columns.append((effective.at(e.port_for(ports[0])) is not InboundMTLS.DISABLE,))
            continue
        columns.append(
            tuple(effective.at(e.port_for(port)) is not InboundMTLS.DISABLE for port in ports)
        )
    rows = tuple(zip(*columns, strict=True)) if columns else tuple(() for _ in ports)
    extra = set(service.subject_alt_names)
    return UpstreamPeers(
        rows,
        tuple(sorted(identities | extra)),
        tuple(sorted(sources)),
        tuple(sorted(meshed | extra)),
    )


def client_tls(
    top: TrafficPolicy | None, subset: TrafficPolicy | None, port: int
) -> ClientTLSSettings | None:
    """The DestinationRule `tls` for one port of one subset (Istio's merge order)."""
    found: ClientTLSSettings | None = None
    for policy in (top, subset):
        if policy is None:
            continue
        if policy.tls is not None:
            found = policy.tls
        for level in policy.port_level_settings:
            if level.port.number == port and level.tls is not None:
                found = level.tls
    return found


def credential_names(spec: DestinationRuleSpec) -> frozenset[str]:
    """Every `credentialName` of a rule (top level, port levels, subsets)."""
    out: set[str] = set()
    for policy in (spec.traffic_policy, *(s.traffic_policy for s in spec.subsets)):
        if policy is None:
            continue
        for tls in (policy.tls, *(level.tls for level in policy.port_level_settings)):
            if tls is not None and tls.credential_name:
                out.add(tls.credential_name)
    return frozenset(out)


def credential_namespace(
    dr: MeshObject[DestinationRuleSpec] | None, gateway_namespace: str = ""
) -> str | None:
    """Where a proxy reads a DestinationRule's `credentialName`: a sidecar only from a
    rule with a workloadSelector (which applies in its own namespace, where the Secret
    must be); from any other rule a sidecar ignores it and originates no TLS at all. A
    gateway (`gateway_namespace`, Istio's egress gateway) reads it from any rule, in its
    own namespace (where Istio's gateway agent reads Secrets)."""
    if dr is None:
        return None
    if dr.spec.workload_selector is not None:
        return dr.namespace
    return gateway_namespace or None


def cluster_tls(
    service: Service,
    port: int,
    subset: str,
    settings: ClientTLSSettings | None,
    peers: UpstreamPeers | None,
    mesh_tls: Sequence[bool],
    endpoints: Sequence[EndpointIR],
    credentials: str | None = None,
) -> tuple[UpstreamTLSIR | None, tuple[EndpointIR, ...]]:
    """The cluster's TLS and its endpoints (tagged `tls_mode` when only some take mTLS).
    `mesh_tls[i]` says whether `endpoints[i]` takes mesh mTLS on this port. `credentials`:
    the namespace a `credentialName` is read in (None: the rule's credentialName does
    not apply to sidecars, see `credential_namespace`)."""
    selected = tuple(endpoints)
    identities = peers.identities if peers is not None else ()
    if settings is not None:
        if settings.mode is ClientTLSMode.DISABLE:
            return None, selected
        if settings.mode is ClientTLSMode.ISTIO_MUTUAL:
            return (
                UpstreamTLSIR(
                    UpstreamTLSMode.ISTIO_MUTUAL,
                    sni=settings.sni or mtls_sni(port, service.hostname, subset),
                    subject_alt_names=tuple(settings.subject_alt_names) or identities,
                ),
                selected,
            )
        mode = (
            UpstreamTLSMode.MUTUAL
            if settings.mode is ClientTLSMode.MUTUAL
            else UpstreamTLSMode.SIMPLE
        )
        default_sni = "" if "*" in service.hostname else service.hostname
        if settings.credential_name:
            if credentials is None:
                # Istio's buildUpstreamClusterTLSContext: no TLS context at all
                return None, selected
            return (
                UpstreamTLSIR(
                    mode,
                    sni=settings.sni or default_sni,
                    subject_alt_names=tuple(settings.subject_alt_names),
                    credential=f"{credentials}/{settings.credential_name}",
                ),
                selected,
            )
        return (
            UpstreamTLSIR(
                mode,
                sni=settings.sni or default_sni,
                subject_alt_names=tuple(settings.subject_alt_names),
                ca_certificates=settings.ca_certificates,
                client_certificate=settings.client_certificate,
                private_key=settings.private_key,
                insecure_skip_verify=settings.insecure_skip_verify,
                ca_crl=settings.ca_crl if settings.ca_certificates else "",
            ),
            selected,
        )
    if peers is None or service.location is Location.MESH_EXTERNAL or not any(mesh_tls):
        return None, selected
    tls = UpstreamTLSIR(
        UpstreamTLSMode.ISTIO_MUTUAL,
        sni=mtls_sni(port, service.hostname, subset),
        subject_alt_names=peers.mesh_identities,
        mesh_endpoints_only=not all(mesh_tls),
    )
    if not tls.mesh_endpoints_only:
        return tls, selected
    tagged = tuple(
        replace(e, tls_mode=TLS_MODE_ISTIO) if on else e
        for e, on in zip(selected, mesh_tls, strict=True)
    )
    return tls, tagged
