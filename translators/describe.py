"""What applies to one workload, and which object decided it: `xdscp describe`.

Pure function over a MeshConfig, built from the translator's own lookups
(`MeshIndex` for DestinationRule / VirtualService / Sidecar scoping, the
security index for PeerAuthentication and AuthorizationPolicy, `inbound_ports`
for what the sidecar accepts), so it cannot disagree with what proxies are sent.
"""

from __future__ import annotations

from typing import Any

from translators.analysis import Analysis, analyze
from translators.capture import inbound_ports
from translators.envoyfilter.select import envoy_filters_for
from translators.errors import TranslatorError
from translators.hosts import resolve_host
from translators.index import MeshIndex
from translators.mesh import MeshConfig, Service, Workload
from translators.model.base import WorkloadSelector
from translators.model.networking import DestinationRuleSpec, VirtualServiceSpec
from translators.model.objects import MeshObject
from translators.naming import spiffe_id


class UnknownWorkload(TranslatorError, LookupError):
    """No workload by that name; the message lists the known ones."""


def find_workload(mesh: MeshConfig, name: str) -> Workload:
    """`NS/NAME`, or a bare NAME that is unique across namespaces."""
    if "/" in name:
        namespace, _, short = name.partition("/")
        found = mesh.workload(namespace, short)
        if found is not None:
            return found
    else:
        matches = [w for w in mesh.workloads.values() if w.name == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            keys = ", ".join(sorted(w.key for w in matches))
            raise UnknownWorkload(f"workload {name!r} is ambiguous: {keys}; give NAMESPACE/NAME")
    known = ", ".join(sorted(mesh.workloads)) or "none"
    raise UnknownWorkload(f"no workload {name!r} (known: {known})")


def describe_workload(
    mesh: MeshConfig, workload: Workload, analysis: Analysis | None = None
) -> dict[str, Any]:
    """JSON-ready description; every entry names the object (`Kind/ns/name`) it came from.
    `analysis` of this mesh is computed when not given (the server passes its own)."""
    index = MeshIndex.of(mesh)
    labels = dict(workload.labels)
    served = _served(mesh, workload)
    sidecar = index.sidecar_for(workload)
    mtls = index.security.inbound_mtls(workload)
    ports = inbound_ports(index, workload)
    described: dict[str, Any] = {
        "workload": workload.key,
        "source": workload.source,
        "address": workload.address,
        "identity": spiffe_id(
            workload.namespace, workload.service_account, mesh.options.trust_domain
        ),
        "labels": labels,
        "services": [_service_json(s, workload) for s in served],
        "sidecar": sidecar.ref if sidecar is not None else None,
        "peer_authentication": {
            "mode": str(mtls.mode),
            "ports": {str(port): str(mtls.at(port)) for port, _, _ in ports},
            "port_overrides": {str(p): str(m) for p, m in sorted(mtls.ports.items())},
            "sources": list(mtls.sources),
        },
        "authorization_policies": [
            {
                "policy": f"AuthorizationPolicy/{p.namespace}/{p.name}",
                "action": str(p.action),
                "rules": len(p.rules),
                "dry_run": p.dry_run,
            }
            for p in index.security.authorization(workload)
        ],
        "request_authentication": _request_authentication(mesh, index, workload),
        "destination_rules": [
            entry for s in served if (entry := _destination_rule(index, s, labels)) is not None
        ],
        "virtual_services": [
            entry for s in served for entry in _virtual_services(index, s, labels)
        ],
        "client_destination_rules": _client_destination_rules(index, workload),
        "envoy_filters": envoy_filters_for(mesh, workload),
    }
    if analysis is None:
        analysis = analyze(mesh, index=index, include_schema=True)
    concerned = _refs(described)
    described["analysis"] = [
        m.as_dict()
        for m in analysis.messages
        if m.ref in concerned or any(r in concerned for r in m.related)
    ]
    return described


def _refs(described: dict[str, Any]) -> set[str]:
    """Every object the description names: the analysis messages about them concern it."""
    refs = {described["source"], *described["peer_authentication"]["sources"]}
    if described["sidecar"]:
        refs.add(described["sidecar"])
    refs.update(s["source"] for s in described["services"])
    refs.update(p["policy"] for p in described["authorization_policies"])
    refs.update(r["policy"] for r in described["request_authentication"])
    refs.update(
        ref for r in described["destination_rules"] for ref in (r["rule"], *r["merged_from"])
    )
    refs.update(
        ref for r in described["client_destination_rules"] for ref in (r["rule"], *r["merged_from"])
    )
    refs.update(v["virtual_service"] for v in described["virtual_services"])
    refs.update(f["filter"] for f in described["envoy_filters"])
    return refs


def _request_authentication(
    mesh: MeshConfig, index: MeshIndex, workload: Workload
) -> list[dict[str, Any]]:
    """The JWT rules the workload's sidecar enforces, and where each rule's keys stand."""
    out = []
    for rule in index.security.jwt_rules(workload):
        if not rule.jwks_uri:
            keys = "inline"
        elif not rule.jwks_resolved:
            error = mesh.jwks_errors.get(rule.jwks_uri)
            keys = "not fetched: its tokens are rejected" + (f" ({error})" if error else "")
        elif rule.jwks_uri in mesh.jwks_errors:
            keys = f"last good keys (refresh failing: {mesh.jwks_errors[rule.jwks_uri]})"
        else:
            keys = "fetched"
        locations = [f"header {h}" + (f" ({p!r})" if p else "") for h, p in rule.from_headers]
        locations += [f"query {q}" for q in rule.from_params]
        locations += [f"cookie {c}" for c in rule.from_cookies]
        out.append(
            {
                "policy": rule.provenance[0],
                "issuer": rule.issuer,
                "audiences": list(rule.audiences),
                "jwks": rule.jwks_uri or "inline",
                "keys": keys,
                "token_from": locations or ["header Authorization ('Bearer ')"],
            }
        )
    return out


def _served(mesh: MeshConfig, workload: Workload) -> list[Service]:
    return sorted(
        (s for s in mesh.services.values() if any(e.workload == workload.key for e in s.endpoints)),
        key=lambda s: s.hostname,
    )


def _service_json(service: Service, workload: Workload) -> dict[str, Any]:
    endpoint = next(e for e in service.endpoints if e.workload == workload.key)
    return {
        "host": service.hostname,
        "source": service.source,
        "ports": [
            {
                "name": p.name,
                "port": p.number,
                "protocol": str(p.protocol),
                "target_port": endpoint.port_for(p),
            }
            for p in service.ports
        ],
    }


def _subsets_of(spec: DestinationRuleSpec, labels: dict[str, str]) -> list[str]:
    """The subsets whose labels this workload carries (Istio: label equality)."""
    return [s.name for s in spec.subsets if WorkloadSelector(labels=s.labels).matches(labels)]


def _destination_rule(
    index: MeshIndex, service: Service, labels: dict[str, str]
) -> dict[str, Any] | None:
    # As seen by callers in the service's own namespace (Istio's lookup order).
    rule = index.destination_rule(service.hostname, service.namespace, service.namespace)
    if rule is None:
        return None
    policy = rule.spec.traffic_policy
    tls = policy.tls.mode if policy is not None and policy.tls is not None else None
    return {
        "rule": rule.ref,
        # the later DestinationRules for the host merged into `rule` (Istio's merge)
        "merged_from": list(rule.merged_from),
        "host": service.hostname,
        "subsets": [s.name for s in rule.spec.subsets],
        "workload_subsets": _subsets_of(rule.spec, labels),
        "tls_mode": str(tls) if tls is not None else None,
    }


def _client_destination_rules(index: MeshIndex, workload: Workload) -> list[dict[str, Any]]:
    """For each host a DestinationRule with a workloadSelector selecting `workload` is
    for, the rule its sidecar applies calling that host (the translator's lookup: the
    oldest selecting rule, merged with those of equal selector and the namespace's rules
    exported to ".")."""
    selected = index.selecting_rules(workload)
    if not selected:
        return []
    hosts = sorted(
        host
        for host, rules in index.destination_rules.items()
        if any(dr.ref in selected for dr in rules)
    )
    out = []
    for host in hosts:
        service = index.mesh.services.get(host)
        service_namespace = service.namespace if service is not None else workload.namespace
        rule = index.destination_rule(host, service_namespace, workload.namespace, selected)
        if rule is None or rule.spec.workload_selector is None:
            continue
        out.append(
            {
                "host": host,
                "rule": rule.ref,
                "merged_from": list(rule.merged_from),
                "selector": rule.spec.workload_selector.effective(),
                "subsets": [s.name for s in rule.spec.subsets],
            }
        )
    return out


def _virtual_services(
    index: MeshIndex, service: Service, labels: dict[str, str]
) -> list[dict[str, Any]]:
    winner, shadowed = index.virtual_service(service.hostname, service.namespace)
    if winner is None:
        return []
    rule = index.destination_rule(service.hostname, service.namespace, service.namespace)
    own_subsets = set(_subsets_of(rule.spec, labels)) if rule is not None else set()
    suffix = index.mesh.options.domain_suffix
    out = [_vs_json(winner, service, own_subsets, suffix, shadowed_by=None)]
    out += [_vs_json(vs, service, own_subsets, suffix, shadowed_by=winner.ref) for vs in shadowed]
    return out


def _vs_json(
    vs: MeshObject[VirtualServiceSpec],
    service: Service,
    own_subsets: set[str],
    suffix: str,
    shadowed_by: str | None,
) -> dict[str, Any]:
    """Which HTTP rules reach this workload: a destination on the service host whose
    subset is one the workload falls in (or no subset: every endpoint)."""
    reaching = []
    for number, rule in enumerate(vs.spec.http):
        total = sum(d.weight for d in rule.route) or 100
        for dest in rule.route:
            if resolve_host(dest.destination.host, vs.namespace, suffix) != service.hostname:
                continue
            subset = dest.destination.subset
            if subset and subset not in own_subsets:
                continue
            weight = dest.weight if len(rule.route) > 1 else 100
            reaching.append(
                {
                    "rule": rule.name or f"http[{number}]",
                    "subset": subset,
                    "weight_percent": round(100 * weight / total) if len(rule.route) > 1 else 100,
                }
            )
    return {
        "virtual_service": vs.ref,
        "host": service.hostname,
        "shadowed_by": shadowed_by,
        "routes_here": reaching,
    }
