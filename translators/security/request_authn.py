"""Which RequestAuthentication JWT rules apply to a workload, as IR (Istio's semantics).

Istio (RequestAuthentication reference and pilot/pkg/security/authn): policies of the
root namespace apply mesh-wide, others to their namespace, narrowed by `selector`;
every applicable policy's rules are merged (sorted by issuer) into one jwt_authn
filter. A request with an invalid token is rejected (401); one without a token passes
and is left to AuthorizationPolicy (`requestPrincipals`).

`targetRef(s)` bind a policy to gateways instead (Istio's WorkloadPolicyMatcher,
pilot/pkg/model/policyattachment.go): a `gateway.networking.k8s.io` `Gateway` named X
takes the workloads of the policy's namespace labelled
`gateway.networking.k8s.io/gateway-name: X` (the Gateway API gateway's pods); a
`networking.istio.io` `Gateway` named X takes the workloads that Istio Gateway of the
policy's namespace selects. A targeted policy never applies to a sidecar, nor through
the root namespace; targets of other kinds (Service, waypoints) take no workload here.

A `jwksUri`'s keys come from `MeshConfig.jwks` (fetched by the control plane, as
Istio's istiod does by default). While they were never fetched, the rule carries a key
no token verifies with: its tokens are rejected rather than let through unverified.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace

from translators.gateway.attach import GATEWAY_NAME_LABEL
from translators.ir import Direction, ListenerIR
from translators.ir.jwt import JwtRuleIR
from translators.model.gateway import GatewaySpec
from translators.model.objects import MeshObject, age_order
from translators.model.request_authn import (
    JWTPresence,
    JWTRule,
    RequestAuthenticationSpec,
    TargetReference,
)

KUBERNETES_GATEWAY_GROUP = "gateway.networking.k8s.io"
ISTIO_GATEWAY_GROUP = "networking.istio.io"

# A public key whose private half was discarded: the JWKS of a `jwksUri` that could not be
# fetched (Istio's `FakeJwks`): Envoy accepts the config, no signature ever verifies.
UNREACHABLE_JWKS = json.dumps(
    {
        "keys": [
            {
                "kty": "RSA",
                "kid": "xdscp-jwks-unavailable",
                "alg": "RS256",
                "e": "AQAB",
                "n": (
                    "kgfzfnTTxUyYVurlXg6ZVA14IXq4yFeBSTBqONje8CjOHYSUINv4a9DYOMXJqTfqoSsXin19"
                    "QdXEaFC7WUBPpcGz2PLWUcjVDwP0FI41NRO2-VA3EuMfDiTKRUGSjxox9RsV1vDFGnjQ1nlO"
                    "7KYaAllI7JmYgm2wpDA0jy-RADNjPDfE2ZmyzLdgNih7mgyhAuAaahiE3tYoJgL5eYpt2UOk"
                    "AQER3mUwWoIUG7lhgj90C53iF_ujX4hq8XiTC13BrE78AMsxxXHOnU-EEcKjdm-tMBwT9l4Q"
                    "xeycGLxGLcxxp1YlZPnD-L2smgT2VYe1ED7-1xCUnX5R4MJd5JDZZw"
                ),
            }
        ]
    },
    separators=(",", ":"),
)


def rule_ir(rule: JWTRule, ref: str, jwks: Mapping[str, str]) -> JwtRuleIR:
    resolved = True
    if rule.jwks:
        keys = rule.jwks
    elif rule.keys_from in jwks:
        keys = jwks[rule.keys_from]
    else:
        keys, resolved = UNREACHABLE_JWKS, False
    return JwtRuleIR(
        issuer=rule.issuer,
        jwks=keys,
        audiences=tuple(rule.audiences),
        jwks_uri=rule.keys_from,
        jwks_resolved=resolved,
        from_headers=tuple((h.name, h.prefix) for h in rule.from_headers),
        from_params=tuple(rule.from_params),
        from_cookies=tuple(rule.from_cookies),
        output_payload_to_header=rule.output_payload_to_header,
        output_claim_to_headers=tuple((c.header, c.claim) for c in rule.output_claim_to_headers),
        forward_original_token=rule.forward_original_token,
        space_delimited_claims=tuple(rule.space_delimited_claims),
        required=rule.presence is JWTPresence.REQUIRED,
        provenance=(ref,),
    )


def target_refs(spec: RequestAuthenticationSpec) -> list[TargetReference]:
    """`targetRefs`, or the older single `targetRef`."""
    if spec.target_refs:
        return list(spec.target_refs)
    return [spec.target_ref] if spec.target_ref is not None else []


def _attaches(
    policy: MeshObject[RequestAuthenticationSpec],
    namespace: str,
    gateway_name: str | None,
    istio_gateways: frozenset[tuple[str, str]],
) -> bool:
    """Does targeted `policy` take a workload of `namespace` that is the Gateway API
    gateway `gateway_name` (None: none) and an instance of `istio_gateways` (ns, name)?"""
    for ref in target_refs(policy.spec):
        if ref.kind != "Gateway" or ref.namespace not in ("", policy.namespace):
            continue
        if ref.group == ISTIO_GATEWAY_GROUP and (policy.namespace, ref.name) in istio_gateways:
            return True
        if (
            ref.group == KUBERNETES_GATEWAY_GROUP
            and policy.namespace == namespace
            and ref.name == gateway_name
        ):
            return True
    return False


class RequestAuthentications:
    """RequestAuthentication lookups for one MeshConfig."""

    def __init__(
        self,
        policies: Iterable[MeshObject[RequestAuthenticationSpec]],
        root_namespace: str,
        jwks: Mapping[str, str],
        istio_gateways: Iterable[MeshObject[GatewaySpec]] = (),
    ) -> None:
        self.root_namespace = root_namespace
        self._jwks = jwks
        self._by_namespace: dict[str, list[MeshObject[RequestAuthenticationSpec]]] = {}
        # targetRef(s) policies, by their namespace (the namespace of what they target)
        self._targeted: dict[str, list[MeshObject[RequestAuthenticationSpec]]] = {}
        for policy in sorted(policies, key=age_order):
            table = self._targeted if policy.spec.targets_gateway else self._by_namespace
            table.setdefault(policy.namespace, []).append(policy)
        # Istio Gateways a targeted policy may name: (namespace, name, selector)
        self._istio_gateways = [
            (g.namespace, g.name, dict(g.spec.selector))
            for g in istio_gateways
            if g.spec.selector and g.namespace in self._targeted
        ]
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[JwtRuleIR, ...]] = {}

    def policies_for(
        self, namespace: str, labels: Mapping[str, str]
    ) -> list[MeshObject[RequestAuthenticationSpec]]:
        scopes = [self.root_namespace]
        if namespace != self.root_namespace:
            scopes.append(namespace)
        found = []
        for scope in scopes:
            for policy in self._by_namespace.get(scope, ()):
                selector = policy.spec.selector
                if not policy.spec.has_selector or (
                    selector is not None and selector.matches(labels)
                ):
                    found.append(policy)
        return found + self._targeting(namespace, labels)

    def _targeting(
        self, namespace: str, labels: Mapping[str, str]
    ) -> list[MeshObject[RequestAuthenticationSpec]]:
        """The targeted policies that attach to this workload (gateways only)."""
        if not self._targeted:
            return []
        istio = frozenset(
            (ns, name)
            for ns, name, selector in self._istio_gateways
            if all(labels.get(k) == v for k, v in selector.items())
        )
        gateway_name = labels.get(GATEWAY_NAME_LABEL)
        if gateway_name is None and not istio:
            return []  # a sidecar: targeted policies never apply to it
        candidates = {namespace, *(ns for ns, _ in istio)}
        return [
            policy
            for ns in sorted(candidates)
            for policy in self._targeted.get(ns, ())
            if _attaches(policy, namespace, gateway_name, istio)
        ]

    def for_workload(self, namespace: str, labels: Mapping[str, str]) -> tuple[JwtRuleIR, ...]:
        """The workload's JWT rules, sorted by issuer as pilot sorts them (stable)."""
        key = (namespace, tuple(sorted(labels.items())))
        found = self._cache.get(key)
        if found is None:
            rules = [
                rule_ir(rule, policy.ref, self._jwks)
                for policy in self.policies_for(namespace, labels)
                for rule in policy.spec.jwt_rules
            ]
            found = self._cache[key] = tuple(sorted(rules, key=lambda r: r.issuer))
        return found


def _http(listener: ListenerIR) -> bool:
    if listener.capture_fallback or listener.tcp_routes:
        return False
    if listener.direction is Direction.INBOUND:
        return listener.inbound is not None and not listener.inbound.tcp
    return bool(listener.route_table)


def attach_jwt(
    listeners: tuple[ListenerIR, ...], rules: tuple[JwtRuleIR, ...]
) -> tuple[ListenerIR, ...]:
    """The workload's HTTP listeners with its JWT rules (and their provenance)."""
    if not rules:
        return listeners
    refs = tuple(dict.fromkeys(ref for rule in rules for ref in rule.provenance))
    return tuple(
        replace(li, jwt=rules, provenance=li.provenance + refs) if _http(li) else li
        for li in listeners
    )
