"""mTLS and TLS mistakes: what a DestinationRule's `tls` makes the caller send, against
what the callee's sidecar accepts (its effective PeerAuthentication), and TLS hidden
behind ports declared HTTP (double encryption).

The caller side is the translator's own decision (`client_tls`, the merge of top-level,
subset and port-level settings, and the clusters `service_clusters` builds from it);
the callee side is the translator's PeerAuthentication composition. Without a
DestinationRule `tls`, auto-mTLS follows the callee, and nothing can conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.capture import inbound_ports
from translators.ir import EndpointIR, InboundMTLS
from translators.mesh import Service
from translators.model.networking import (
    HTTP_PROTOCOLS,
    ClientTLSMode,
    ClientTLSSettings,
    DestinationRuleSpec,
    ServicePort,
)
from translators.model.objects import MeshObject
from translators.naming import TLS_MODE_ISTIO, TLS_MODE_LABEL, outbound_cluster
from translators.security.upstream import client_tls, has_sidecar, workload_has_sidecar

DR = MeshObject[DestinationRuleSpec]
ORIGINATES_TLS = (ClientTLSMode.SIMPLE, ClientTLSMode.MUTUAL)


@dataclass(frozen=True, slots=True)
class Callee:
    """One endpoint of a cluster as its own sidecar sees inbound traffic."""

    name: str  # workload key, or the endpoint's address
    sidecar: bool
    mode: InboundMTLS
    # known to have no sidecar: a workload without one, or an inline endpoint whose
    # `security.istio.io/tlsMode` label says so (an unlabelled one may be a VM that has)
    bare: bool


def tls_field(dr: DR, subset: str, port: int) -> str:
    """Where the `tls` that `client_tls` picked for (subset, port) is written: the most
    specific of subset port-level, subset, top-level port-level, top-level."""
    spec = dr.spec
    for k, candidate in enumerate(spec.subsets):
        if candidate.name == subset and candidate.traffic_policy is not None:
            policy = candidate.traffic_policy
            base = f"spec.subsets[{k}].trafficPolicy"
            for m, level in enumerate(policy.port_level_settings):
                if level.port.number == port and level.tls is not None:
                    return f"{base}.portLevelSettings[{m}].tls.mode"
            if policy.tls is not None:
                return f"{base}.tls.mode"
    top = spec.traffic_policy
    if top is not None:
        for m, level in enumerate(top.port_level_settings):
            if level.port.number == port and level.tls is not None:
                return f"spec.trafficPolicy.portLevelSettings[{m}].tls.mode"
    return "spec.trafficPolicy.tls.mode"


def _has_tls(dr: DR) -> bool:
    policies = [dr.spec.traffic_policy, *(s.traffic_policy for s in dr.spec.subsets)]
    return any(
        p is not None and (p.tls is not None or any(lv.tls for lv in p.port_level_settings))
        for p in policies
    )


def _callees(
    service: Service, members: tuple[EndpointIR, ...], ctx: AnalysisContext
) -> list[Callee]:
    security = ctx.index.security
    workloads = ctx.mesh.workloads
    inline = {e.address: e for e in service.endpoints if not e.workload}
    found = []
    for member in members:
        workload = workloads.get(member.workload) if member.workload else None
        if workload is not None:
            mode = security.inbound_mtls(workload).at(member.port)
            sidecar = workload_has_sidecar(workload, workload.key in security.gateways)
            found.append(Callee(workload.key, sidecar, mode, not sidecar))
            continue
        endpoint = inline.get(member.address)
        if endpoint is None:
            continue
        sidecar = has_sidecar(endpoint, workloads, security.gateways)
        mode = security.peer_authn.effective(service.namespace, endpoint.labels).at(member.port)
        labelled = endpoint.labels.get(TLS_MODE_LABEL)
        found.append(Callee(member.address, sidecar, mode, labelled not in (None, TLS_MODE_ISTIO)))
    return found


def _used(dr: DR, service: Service, ctx: AnalysisContext) -> bool:
    """Does any namespace with proxies get this DestinationRule for the service? (One
    with a workloadSelector: does any proxy it selects get it?)"""
    index = ctx.index
    if dr.spec.workload_selector is not None:
        return any(
            _gets(
                index.destination_rule(
                    service.hostname, service.namespace, w.namespace, index.selecting_rules(w)
                ),
                dr,
            )
            for w in index.mesh.workloads.values()
            if w.namespace == dr.namespace
        )
    return any(
        _gets(ctx.index.destination_rule(service.hostname, service.namespace, ns), dr)
        for ns in ctx.caller_namespaces
    )


def _gets(found: DR | None, dr: DR) -> bool:
    """Is `found` (a lookup's answer) `dr`, or a merge of the rules that include it?"""
    return found is dr or (found is not None and bool(found.merged_from) and dr.ref in found.refs)


def _names(callees: list[Callee]) -> str:
    names = sorted({c.name for c in callees})
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def check_destination_tls(ctx: AnalysisContext) -> Iterable[Message]:
    for dr in ctx.of_kind("DestinationRule"):
        if not _has_tls(dr):
            continue
        service = ctx.mesh.services.get(ctx.resolve(dr.spec.host, dr.namespace))
        if service is None or not _used(dr, service, ctx):
            continue
        seen: set[tuple[str, str]] = set()
        clusters = ctx.clusters(service, dr)
        subsets = {s.name: s.traffic_policy for s in dr.spec.subsets}
        for port in service.ports:
            for subset in ["", *subsets]:
                settings = client_tls(dr.spec.traffic_policy, subsets.get(subset), port.number)
                cluster = clusters.get(outbound_cluster(port.number, service.hostname, subset))
                if settings is None or cluster is None:
                    continue
                callees = _callees(service, cluster[1], ctx)
                field = tls_field(dr, subset, port.number)
                for message in _judge(dr, service, port, subset, settings, callees, field):
                    if (message.code, message.field) not in seen:
                        seen.add((message.code, message.field))
                        yield message
            yield from _unverified(dr, service, port, subsets, seen)


def _judge(
    dr: DR,
    service: Service,
    port: ServicePort,
    subset: str,
    settings: ClientTLSSettings,
    callees: list[Callee],
    field: str,
) -> Iterator[Message]:
    mode = settings.mode
    target = f"{service.hostname}:{port.number}" + (f" subset {subset}" if subset else "")
    meshed = [c for c in callees if c.sidecar]
    strict = [c for c in meshed if c.mode is InboundMTLS.STRICT]
    if mode is ClientTLSMode.ISTIO_MUTUAL:
        bare = [c for c in callees if c.bare]
        if bare:
            yield codes.ISTIO_MUTUAL_WITHOUT_SIDECAR.at(
                dr,
                field,
                f"ISTIO_MUTUAL to {target}, but {_names(bare)} has no sidecar to terminate "
                "mesh mTLS: the TLS handshake fails",
                "drop the tls setting (auto-mTLS sends plaintext to workloads without a "
                "sidecar), or inject a sidecar",
            )
        disabled = [c for c in meshed if c.mode is InboundMTLS.DISABLE]
        if disabled:
            yield codes.MTLS_CONFLICT.at(
                dr,
                field,
                f"ISTIO_MUTUAL to {target}, but the PeerAuthentication of {_names(disabled)} "
                "is DISABLE (plaintext only): connections are reset",
                "make the PeerAuthentication PERMISSIVE or STRICT, or drop the tls setting",
            )
        return
    if strict:
        sent = "plaintext" if mode is ClientTLSMode.DISABLE else f"{mode.value} TLS (not mesh mTLS)"
        yield codes.MTLS_CONFLICT.at(
            dr,
            field,
            f"{mode.value} sends {sent} to {target}, but the PeerAuthentication of "
            f"{_names(strict)} is STRICT (mesh mTLS only): connections are reset",
            "use tls.mode ISTIO_MUTUAL (or drop the tls setting: auto-mTLS follows the "
            "callee), or relax the callee's PeerAuthentication",
        )
    elif mode in ORIGINATES_TLS and meshed and port.protocol in HTTP_PROTOCOLS:
        yield codes.DOUBLE_TLS_ORIGINATION.at(
            dr,
            field,
            f"{mode.value} originates TLS to {target}, an in-mesh port declared "
            f"{port.protocol.value}: its sidecar ({_names(meshed)}) accepts mesh mTLS or "
            "plain HTTP there, not the app's own TLS, so requests fail",
            "let the mesh encrypt (ISTIO_MUTUAL or no tls setting) and serve plain HTTP, or "
            "declare the port TLS/HTTPS if the app terminates TLS itself",
        )


def _unverified(
    dr: DR,
    service: Service,
    port: ServicePort,
    subsets: dict[str, Any],
    seen: set[tuple[str, str]],
) -> Iterator[Message]:
    """Istio's IST0128: TLS origination that checks no server name."""
    for subset in ["", *subsets]:
        settings = client_tls(dr.spec.traffic_policy, subsets.get(subset), port.number)
        if (
            settings is None
            or settings.mode not in ORIGINATES_TLS
            or settings.ca_certificates
            or settings.insecure_skip_verify
        ):
            continue
        field = tls_field(dr, subset, port.number).removesuffix(".mode") + ".caCertificates"
        if (codes.NO_SERVER_CERT_VERIFICATION.code, field) in seen:
            continue
        seen.add((codes.NO_SERVER_CERT_VERIFICATION.code, field))
        yield codes.NO_SERVER_CERT_VERIFICATION.at(
            dr,
            field,
            f"{settings.mode.value} to {service.hostname}:{port.number} without caCertificates: "
            "the chain is checked against the system roots but the server's name is not, so "
            "any publicly trusted certificate is accepted",
            "set caCertificates (and subjectAltNames) to verify the server",
        )


_TLS_NAMES = ("https", "tls")


def _says_tls(name: str, number: int, target: int | None) -> bool:
    prefix = name.lower().split("-", 1)[0]
    return prefix in _TLS_NAMES or 443 in (number, target)


def check_tls_behind_http(ctx: AnalysisContext) -> Iterable[Message]:
    """Ports declared HTTP whose name or number says the app speaks TLS there (Istio's
    port naming: `https-*`/`tls-*`), unless a DestinationRule originates TLS to them."""
    for entry in ctx.of_kind("ServiceEntry"):
        for i, port in enumerate(entry.spec.ports):
            if port.protocol not in HTTP_PROTOCOLS:
                continue
            if not _says_tls(port.name, port.number, port.target_port):
                continue
            host = ctx.resolve(entry.spec.hosts[0], entry.namespace)
            if _originated(ctx, host, port.number):
                continue
            yield _tls_behind_http(entry, f"spec.ports[{i}]", port.name, port.number)
    for sidecar in ctx.of_kind("Sidecar"):
        for i, ingress in enumerate(sidecar.spec.ingress):
            port = ingress.port
            if port.protocol in HTTP_PROTOCOLS and _says_tls(
                port.name, port.number, port.target_port
            ):
                yield _tls_behind_http(sidecar, f"spec.ingress[{i}].port", port.name, port.number)


def _originated(ctx: AnalysisContext, host: str, port: int) -> bool:
    """TLS origination by the caller's sidecar (HTTP on the mesh port, TLS on the wire)."""
    for dr in ctx.index.destination_rules.get(host, []):
        policies = [dr.spec.traffic_policy, *(s.traffic_policy for s in dr.spec.subsets)]
        for policy in policies:
            settings = client_tls(policy, None, port)
            if settings is not None and settings.mode in ORIGINATES_TLS:
                return True
    return False


def _tls_behind_http(obj: MeshObject[Any], field: str, name: str, number: int) -> Message:
    return codes.TLS_BEHIND_HTTP_PORT.at(
        obj,
        field,
        f"port {number} ({name!r}) is declared HTTP but its name/number says the app serves "
        "TLS there: the sidecar parses the TLS handshake as HTTP (400/reset), and the mesh "
        "encrypts it a second time",
        "declare the port protocol HTTPS or TLS (passed through), or serve plain HTTP and let "
        "the mesh encrypt",
    )


def check_port_level_mtls(ctx: AnalysisContext) -> Iterable[Message]:
    """`portLevelMtls` is keyed by the workload's own port: the ports the translator asks
    the composed policy about (`EffectiveMTLS.at`) are the target ports of the services
    the workload backs and its Sidecar's ingress ports."""
    for policy in ctx.of_kind("PeerAuthentication"):
        spec = policy.spec
        if not spec.port_level_mtls or not spec.has_selector:
            continue
        groups = ctx.selected(policy.namespace, spec.selector.match_labels)
        if not groups:
            continue  # XDS0301's finding
        served: set[int] = set()
        for group in groups:
            workload = group.first
            served.update(port for port, _, _ in inbound_ports(ctx.index, workload))
            sidecar = ctx.index.sidecar_for(workload)
            if sidecar is not None:
                served.update(i.port.number for i in sidecar.spec.ingress)
        for port in sorted(spec.port_level_mtls):
            if port in served:
                continue
            yield codes.PORT_LEVEL_MTLS_PORT_NOT_FOUND.at(
                policy,
                f"spec.portLevelMtls.{port}",
                f"port {port} is not a port the selected workloads serve "
                f"({', '.join(map(str, sorted(served))) or 'none'}): this setting never applies",
                "key portLevelMtls by the workload's own (target) port, not the service port",
            )
