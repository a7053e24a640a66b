"""Which AuthorizationPolicies apply to a workload, as IR (Istio's semantics).

Istio (AuthorizationPolicy reference, istio.io/latest/docs/reference/config/security/
authorization-policy/, and pilot/pkg/security/authz):

* a policy in the root namespace applies mesh-wide (its selector, if any, is
  matched against workloads of every namespace); elsewhere it applies to its own
  namespace, narrowed by its selector;
* evaluation: CUSTOM — xdscp has no extension providers, so, as Istio does for a
  provider it does not know, any match of a CUSTOM rule denies — then DENY — any match denies — then
  ALLOW — if any ALLOW policy applies to the workload, the request must match one
  — and AUDIT only marks requests for logging;
* "If there are no ALLOW policies for the workload, allow the request": so an
  ALLOW policy with no rules (`spec: {}`) allows nothing — "deny all" — while a
  rule `- {}` matches every request — "allow all" (the reference's
  allow-nothing / allow-all examples); a DENY policy without rules is refused at
  validation, as by Istio;
* an absent `from` / `to` / `when` matches anything; values inside one field are
  ORed, fields of a source / operation and the parts of a rule are ANDed;
* `istio.io/dry-run: "true"` evaluates a policy without enforcing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from translators.ir import AuthzAction, AuthzPolicyIR, AuthzRuleIR, ConditionIR
from translators.model.objects import MeshObject
from translators.model.security import (
    AuthorizationAction,
    AuthorizationPolicySpec,
    Condition,
    Operation,
    Rule,
    Source,
)
from translators.naming import DRY_RUN_ANNOTATION

_ACTIONS = {
    AuthorizationAction.ALLOW: AuthzAction.ALLOW,
    AuthorizationAction.DENY: AuthzAction.DENY,
    AuthorizationAction.AUDIT: AuthzAction.AUDIT,
    AuthorizationAction.CUSTOM: AuthzAction.CUSTOM,
}
# Go's strconv.ParseBool, which Istio uses for the dry-run annotation.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


def _condition(key: str, values: list[str], not_values: list[str]) -> list[ConditionIR]:
    if not values and not not_values:
        return []
    return [ConditionIR(key, tuple(values), tuple(not_values))]


def _service_accounts(values: list[str], namespace: str) -> list[str]:
    """`name` means the policy's namespace (Istio's serviceAccounts field)."""
    return [v if "/" in v else f"{namespace}/{v}" for v in values]


def _source(source: Source, namespace: str) -> tuple[ConditionIR, ...]:
    return tuple(
        _condition("source.principal", source.principals, source.not_principals)
        + _condition(
            "source.serviceAccount",
            _service_accounts(source.service_accounts, namespace),
            _service_accounts(source.not_service_accounts, namespace),
        )
        + _condition(
            "request.auth.principal", source.request_principals, source.not_request_principals
        )
        + _condition("source.trustDomain", source.trust_domains, source.not_trust_domains)
        + _condition("source.namespace", source.namespaces, source.not_namespaces)
        + _condition("remote.ip", source.remote_ip_blocks, source.not_remote_ip_blocks)
        + _condition("source.ip", source.ip_blocks, source.not_ip_blocks)
    )


def _operation(operation: Operation) -> tuple[ConditionIR, ...]:
    return tuple(
        _condition("request.host", operation.hosts, operation.not_hosts)
        + _condition("request.method", operation.methods, operation.not_methods)
        + _condition("request.path", operation.paths, operation.not_paths)
        + _condition("destination.port", operation.ports, operation.not_ports)
    )


def _when(condition: Condition) -> ConditionIR:
    return ConditionIR(condition.key, tuple(condition.values), tuple(condition.not_values))


def rule_ir(rule: Rule, namespace: str) -> AuthzRuleIR:
    return AuthzRuleIR(
        sources=tuple(_source(f.source, namespace) for f in rule.from_ or ()),
        operations=tuple(_operation(t.operation) for t in rule.to or ()),
        when=tuple(_when(c) for c in rule.when or ()),
    )


def policy_ir(policy: MeshObject[AuthorizationPolicySpec]) -> AuthzPolicyIR:
    spec = policy.spec
    return AuthzPolicyIR(
        namespace=policy.namespace,
        name=policy.name,
        action=_ACTIONS[spec.action],
        rules=tuple(rule_ir(r, policy.namespace) for r in spec.rules),
        dry_run=policy.meta.annotations.get(DRY_RUN_ANNOTATION, "") in _TRUE,
        provenance=(policy.ref,),
        provider=str((spec.provider or {}).get("name", "")),
    )


_Entry = tuple[MeshObject[AuthorizationPolicySpec], AuthzPolicyIR]


class AuthorizationPolicies:
    """AuthorizationPolicy lookups for one MeshConfig (IR built once per policy)."""

    def __init__(
        self, policies: Iterable[MeshObject[AuthorizationPolicySpec]], root_namespace: str
    ) -> None:
        self.root_namespace = root_namespace
        self._by_namespace: dict[str, list[_Entry]] = {}
        for policy in sorted(policies, key=lambda p: (p.namespace, p.name)):
            self._by_namespace.setdefault(policy.namespace, []).append((policy, policy_ir(policy)))

    def for_workload(self, namespace: str, labels: Mapping[str, str]) -> tuple[AuthzPolicyIR, ...]:
        """The policies applying to a workload, root namespace's first, then by name."""
        scopes = [self.root_namespace]
        if namespace != self.root_namespace:
            scopes.append(namespace)
        found: list[AuthzPolicyIR] = []
        for scope in scopes:
            for policy, ir in self._by_namespace.get(scope, ()):
                selector = policy.spec.selector
                if not policy.spec.has_selector or (
                    selector is not None and selector.matches(labels)
                ):
                    found.append(ir)
        return tuple(found)
