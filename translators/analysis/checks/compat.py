"""Istio configuration that is valid, accepted, and not (yet) applied by xdscp's sidecars:
VirtualServices bound to gateways that do not exist, delegation that cannot
apply, fields not translated, CUSTOM authorization (no extension providers: denied), UDP ports.
Each is a message, never a refusal: the object stays loaded and shown as Istio has it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.model.base import MESH_GATEWAY
from translators.model.delegation import delegate_key, merge_rule, visible_delegate
from translators.model.networking import Protocol, VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.model.security import AuthorizationAction, AuthorizationPolicySpec
from translators.model.traffic import SourceMatch
from translators.model.untranslated import untranslated_fields
from translators.security.ingress_tls import not_applied_reason

VS = MeshObject[VirtualServiceSpec]


def check_gateway_bound(ctx: AnalysisContext, vs: VS) -> Iterable[Message]:
    """Per VirtualService; reads the Gateways."""
    defined = ctx.gateway_names

    def missing(names: list[str], namespace: str) -> list[str]:
        out = []
        for name in names:
            if name == MESH_GATEWAY:
                continue
            ns, slash, short = name.partition("/")
            key = (ns, short) if slash else (namespace, name)
            if key not in defined:
                out.append(name)
        return out

    spec: VirtualServiceSpec = vs.spec
    if spec.is_delegate:
        return  # no gateways
    absent = missing(spec.gateways, vs.namespace)
    if absent:
        yield codes.GATEWAY_NOT_FOUND.at(
            vs,
            "spec.gateways",
            f"no Gateway {', '.join(absent)} exists: the rules bound to it apply nowhere",
            "create the Gateway, or fix the name (`name` in this namespace, or `namespace/name`)",
        )
    for path, match in _match_blocks(spec):
        absent = missing(match.gateways, vs.namespace)
        if absent:
            yield codes.GATEWAY_NOT_FOUND.at(
                vs,
                f"{path}.gateways",
                f"this match block is bound to {', '.join(absent)}, which no Gateway "
                "defines: it applies nowhere there",
                "create the Gateway, or fix the name",
            )


def _match_blocks(spec: VirtualServiceSpec) -> Iterator[tuple[str, SourceMatch]]:
    sections: list[tuple[str, list[list[SourceMatch]]]] = [
        ("http", [list(rule.match) for rule in spec.http]),
        ("tcp", [list(rule.match) for rule in spec.tcp]),
        ("tls", [list(rule.match) for rule in spec.tls]),
    ]
    for section, rules in sections:
        for i, matches in enumerate(rules):
            for j, match in enumerate(matches):
                yield f"spec.{section}[{i}].match[{j}]", match


def check_delegation(ctx: AnalysisContext, vs: VS) -> Iterable[Message]:
    """Per VirtualService; reads the other VirtualServices when it delegates."""
    if not vs.spec.delegates:
        return
    table = ctx.delegates
    hosted = ctx.hosted_virtual_services
    for i, rule in enumerate(vs.spec.http):
        if rule.delegate is None:
            continue
        key = delegate_key(vs.namespace, rule.delegate)
        where = f"spec.http[{i}].delegate"
        found = table.get(key)
        if found is None:
            what = "has hosts (not a delegate)" if key in hosted else "does not exist"
            yield codes.DELEGATE_NOT_APPLIED.at(
                vs,
                where,
                f"delegate VirtualService {key[0]}/{key[1]} {what}: this rule is dropped",
                "create the delegate VirtualService without hosts, or fix the name",
            )
            continue
        if visible_delegate(vs, rule.delegate, table) is None:
            yield codes.DELEGATE_NOT_APPLIED.at(
                vs,
                where,
                f"delegate VirtualService {key[0]}/{key[1]} is not exported to namespace "
                f"{vs.namespace}: this rule is dropped",
                f"add {vs.namespace!r} (or '*') to the delegate's exportTo",
            )
            continue
        for j, leaf in enumerate(found.spec.http):
            if merge_rule(rule, leaf) is None:
                yield codes.DELEGATE_NOT_APPLIED.at(
                    found,
                    f"spec.http[{j}].match",
                    f"this rule matches outside the match of {vs.ref} http[{i}], "
                    "which delegates to it: it does not take effect there",
                    "make each match block a subset of the root rule's (a uri prefix "
                    "within its prefix, no regex, no contradicting header)",
                )


def check_untranslated_fields(ctx: AnalysisContext, obj: MeshObject[Any]) -> Iterable[Message]:
    """Per object (every kind); reads nothing else."""
    for path, why in untranslated_fields(obj.spec):
        if why.security:
            yield codes.AUTHORIZATION_FIELD_NOT_ENFORCED.at(
                obj, path, why.why, "express the condition with principals or namespaces"
            )
        else:
            yield codes.FIELD_NOT_TRANSLATED.at(
                obj, path, why.why, "remove it, or expect Istio's behaviour only under Istio"
            )
    if obj.kind == "AuthorizationPolicy" and obj.spec.action is AuthorizationAction.CUSTOM:
        yield _custom_not_enforced(obj)
    if obj.kind == "Sidecar":
        for i, egress in enumerate(obj.spec.egress):
            if egress.unix_socket:
                yield codes.FIELD_NOT_TRANSLATED.at(
                    obj,
                    f"spec.egress[{i}].bind",
                    f"a unix domain socket egress listener ({egress.bind}) is not translated: "
                    "the sidecar does not listen there",
                    "bind the egress listener to an IP address and port, or expect the "
                    "socket only under Istio",
                )


def check_ingress_tls(ctx: AnalysisContext) -> Iterator[Message]:
    """A Sidecar's ingress `tls` that some workload it applies to does not terminate
    (Istio's condition: the port's mTLS mode is DISABLE; a terminating mode with files)."""
    for sidecar in ctx.of_kind("Sidecar"):
        users = ctx.sidecar_users.get(sidecar.ref, [])
        for i, ingress in enumerate(sidecar.spec.ingress):
            if not ingress.tls:
                continue
            reasons: dict[str, list[str]] = {}
            for group in users:
                mtls = ctx.index.security.inbound_mtls(group.first).at(ingress.port.number)
                reason = not_applied_reason(ingress.tls, mtls)
                if reason:
                    reasons.setdefault(reason, []).append(group.first.key)
            for reason, keys in reasons.items():
                yield codes.FIELD_NOT_TRANSLATED.at(
                    sidecar,
                    f"spec.ingress[{i}].tls",
                    f"not applied on port {ingress.port.number} of {', '.join(keys[:3])}"
                    f"{' ...' if len(keys) > 3 else ''}: {reason}; the port keeps the mesh's "
                    "mTLS/plaintext",
                    "set PeerAuthentication portLevelMtls DISABLE for the port (as Istio "
                    "requires), or drop the ingress tls",
                )


def _custom_not_enforced(policy: MeshObject[AuthorizationPolicySpec]) -> Message:
    provider = policy.spec.provider_name
    return codes.AUTHORIZATION_FIELD_NOT_ENFORCED.at(
        policy,
        "spec.provider.name",
        f"action CUSTOM: xdscp defines no extension provider {provider!r} (no external "
        "authorization): as Istio does for a provider it does not know, the requests its "
        "rules match are denied, not checked",
        "express the check with ALLOW/DENY rules, or expect the external authorization "
        "only under Istio",
    )


def check_service_entries(ctx: AnalysisContext, entry: MeshObject[Any]) -> Iterable[Message]:
    """Per ServiceEntry; reads nothing else."""
    for i, port in enumerate(entry.spec.ports):
        if port.protocol is Protocol.UDP:
            yield codes.PORT_PROTOCOL_NOT_PROXIED.at(
                entry,
                f"spec.ports[{i}].protocol",
                f"port {port.number} is UDP: Istio does not proxy it; xdscp's sidecars "
                "listen on it as TCP",
                "leave UDP ports out of the mesh's services",
            )


def check_unproxied_workloads(ctx: AnalysisContext, entry: MeshObject[Any]) -> Iterable[Message]:
    """Per WorkloadEntry (reads the services: which DNS ServiceEntries resolve it) and
    ServiceEntry (reads nothing else)."""
    if entry.kind == "ServiceEntry":
        yield from _endpoints_without_address(entry)
        return
    if entry.spec.dns_named and f"{entry.namespace}/{entry.name}" in ctx.dns_endpoints:
        return
    if entry.spec.dns_named:
        yield codes.WORKLOAD_NOT_PROXIED.at(
            entry,
            "spec.address",
            f"address {entry.spec.address} is a DNS name: no sidecar, and it is an "
            "endpoint only of a ServiceEntry with resolution DNS selecting it (none does)",
            "select it from a ServiceEntry with resolution DNS, or give its IP address",
        )
    elif not entry.spec.proxied:
        yield codes.WORKLOAD_NOT_PROXIED.at(
            entry,
            "spec.address",
            f"address {entry.spec.address or '(none, network ' + str(entry.spec.network) + ')'}"
            " is not an IP: xdscp does not translate such workloads yet (no sidecar, "
            "and ServiceEntries do not select it)",
            "give the workload's IP address",
        )


def _endpoints_without_address(service_entry: MeshObject[Any]) -> Iterator[Message]:
    for i, endpoint in enumerate(service_entry.spec.endpoints):
        if not endpoint.address:
            yield codes.WORKLOAD_NOT_PROXIED.at(
                service_entry,
                f"spec.endpoints[{i}].address",
                f"an endpoint known only by its network ({endpoint.network}) is reached "
                "through that network's gateway, which xdscp does not translate: it is "
                "left out",
                "give the endpoint's address",
            )
