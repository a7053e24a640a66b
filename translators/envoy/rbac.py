"""AuthzPolicyIR -> Envoy RBAC filters (HTTP and network), the way Istio generates them
(pilot/pkg/security/authz/builder and model), so policies behave as in Istio:

* one filter per action, evaluated in order CUSTOM, AUDIT (RBAC `LOG`), DENY, ALLOW;
  policy names are `ns[<ns>]-policy[<name>]-rule[<i>]`;
* CUSTOM (external authorization): xdscp defines no extension providers, and Istio,
  for a provider it cannot find, generates a DENY filter of the policy's rules
  (`istio-ext-authz-<provider>-…-deny-due-to-bad-CUSTOM-action`), so that requests meant
  to be checked are refused rather than let through; dry-run CUSTOM policies add
  nothing (Istio's bad-provider rules hold only enforced ones); a policy without rules becomes one
  that never matches (so ALLOW without rules denies everything);
* each rule is a Policy whose principals are its sources (`from`) and whose
  permissions are its operations (`to`), each ANDed with the `when` conditions of
  its kind; values are ORed, `not` values negated;
* principals are peer certificate URI SANs: `cluster.local/ns/a/sa/b` matches
  `spiffe://cluster.local/ns/a/sa/b`, `*` only as prefix / suffix / alone;
  namespaces match `.*/ns/<ns>/.*` on the same SAN;
* on TCP (network filter) HTTP-only attributes cannot be evaluated: an ALLOW rule
  using one is dropped (less is allowed), a DENY / AUDIT rule ignores just those
  values (more is denied) — failing closed either way;
* dry-run policies go to `shadow_rules` (evaluated, logged in stats, not enforced);
* JWT attributes (`requestPrincipals`, `request.auth.*`) match the payload Envoy's
  jwt_authn filter verified (dynamic metadata `envoy.filters.http.jwt_authn` →
  `payload`, as Istio's extended JWT matchers do): a request principal `iss/sub` is
  the pair of claims, claims match a string or any member of a list; HTTP only;
* trust domains (`trustDomains`, `source.trustDomain`) match the start of the peer's
  SPIFFE ID (`spiffe://<td>/`; `*` any SPIFFE ID; a `*` inside the value any run of
  characters but `/`), as Istio's srcTrustDomainGenerator;
* a path template (`{*}` one segment, `{**}` the rest) becomes Envoy's `uri_template`
  permission (`*` / `**` of envoy.path.match.uri_template), as Istio's pathGenerator;
* `experimental.envoy.filters.<f>[<k>]` matches key `k` of filter `f`'s dynamic
  metadata (a value `[v]`: a list holding `v`), as Istio's envoyFilterGenerator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from envoy.config.core.v3 import extension_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2
from envoy.extensions.path.match.uri_template.v3 import uri_template_match_pb2
from envoy.type.matcher.v3 import metadata_pb2, path_pb2, regex_pb2, string_pb2, value_pb2

from translators.envoy.common import cidr_range, pack
from translators.envoy.jwt import claim_value, jwt_metadata
from translators.ir import AuthzAction, AuthzPolicyIR, AuthzRuleIR, ConditionIR
from translators.model.security import (
    MATCH_ANY_TEMPLATE,
    MATCH_ONE_TEMPLATE,
    claim_path,
    envoy_filter_metadata,
    has_path_template,
)
from translators.naming import SPIFFE_PREFIX, custom_deny_policy_name, rbac_policy_name

HTTP_RBAC_FILTER = "envoy.filters.http.rbac"
NETWORK_RBAC_FILTER = "envoy.filters.network.rbac"
TCP_STAT_PREFIX = "tcp."

_ORDER = (AuthzAction.CUSTOM, AuthzAction.AUDIT, AuthzAction.DENY, AuthzAction.ALLOW)
_RBAC_ACTION = {
    # no extension provider is defined: Istio denies what a CUSTOM rule matches
    AuthzAction.CUSTOM: rbac_pb2.RBAC.DENY,
    AuthzAction.ALLOW: rbac_pb2.RBAC.ALLOW,
    AuthzAction.DENY: rbac_pb2.RBAC.DENY,
    AuthzAction.AUDIT: rbac_pb2.RBAC.LOG,
}
_SHADOW_PREFIX = {
    AuthzAction.ALLOW: "istio_dry_run_allow_",
    AuthzAction.DENY: "istio_dry_run_deny_",
    AuthzAction.AUDIT: "",
    AuthzAction.CUSTOM: "",
}
_HTTP_ONLY_KEYS = frozenset({"request.host", "request.method", "request.path"})


class HttpOnly(Exception):
    """An attribute a network (TCP) filter cannot see."""


def _http_only(key: str) -> bool:
    return (
        key in _HTTP_ONLY_KEYS
        or key.startswith("request.headers[")
        or key.startswith("request.auth.")
    )


# --- matchers ------------------------------------------------------------------


def _regex(pattern: str) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))


def string_matcher(
    value: str, prefix: str = "", ignore_case: bool = False
) -> string_pb2.StringMatcher:
    """Istio's StringMatcherWithPrefix: `*` alone is "present" (`.+`), a leading `*`
    a suffix match (without `prefix`), a trailing `*` a prefix match."""
    if value == "*":
        return _regex(".+")
    if value.startswith("*"):
        return string_pb2.StringMatcher(suffix=value[1:], ignore_case=ignore_case)
    if value.endswith("*"):
        return string_pb2.StringMatcher(prefix=prefix + value[:-1], ignore_case=ignore_case)
    return string_pb2.StringMatcher(exact=prefix + value, ignore_case=ignore_case)


def _header(name: str, value: str, ignore_case: bool = False) -> rc.HeaderMatcher:
    if value == "*":
        return rc.HeaderMatcher(name=name, present_match=True)
    return rc.HeaderMatcher(name=name, string_match=string_matcher(value, ignore_case=ignore_case))


def _authenticated(matcher: string_pb2.StringMatcher) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(
        authenticated=rbac_pb2.Principal.Authenticated(principal_name=matcher)
    )


def trust_domain_matcher(value: str) -> string_pb2.StringMatcher:
    """The peer SPIFFE ID is in trust domain `value` (Istio's srcTrustDomainGenerator)."""
    if value == "*":
        return string_pb2.StringMatcher(prefix="spiffe://")
    if "*" not in value:
        return string_pb2.StringMatcher(prefix=f"spiffe://{value}/")
    before, _, after = value.partition("*")
    return _regex(f"spiffe://{re.escape(before)}[^/]*{re.escape(after)}/.*")


# Envoy's uri_template operators for Istio's template segments
_TEMPLATE_OPERATORS = ((MATCH_ANY_TEMPLATE, "**"), (MATCH_ONE_TEMPLATE, "*"))
URI_TEMPLATE_NAME = "uri-template"


def envoy_path_template(value: str) -> str:
    """Istio's sanitizePathTemplate: `{**}` -> `**`, `{*}` -> `*`."""
    for istio, envoy in _TEMPLATE_OPERATORS:
        value = value.replace(istio, envoy)
    return value


def _path_permission(value: str) -> rbac_pb2.Permission:
    if has_path_template(value):
        config = uri_template_match_pb2.UriTemplateMatchConfig(
            path_template=envoy_path_template(value)
        )
        return rbac_pb2.Permission(
            uri_template=extension_pb2.TypedExtensionConfig(
                name=URI_TEMPLATE_NAME, typed_config=pack(config)
            )
        )
    return rbac_pb2.Permission(url_path=path_pb2.PathMatcher(path=string_matcher(value)))


def _principal(key: str, value: str) -> rbac_pb2.Principal:
    if key == "source.trustDomain":
        return _authenticated(trust_domain_matcher(value))
    if key == "source.principal":
        return _authenticated(string_matcher(value, prefix=SPIFFE_PREFIX))
    if key == "source.namespace":
        return _authenticated(_regex(f".*/ns/{value.replace('*', '.*')}/.*"))
    if key == "source.serviceAccount":
        namespace, _, account = value.partition("/")
        account = account.replace(".", r"\.")
        return _authenticated(_regex(f"spiffe://.+/ns/{namespace}/(.+/|)sa/{account}(/.+)?"))
    if key == "source.ip":
        return rbac_pb2.Principal(direct_remote_ip=cidr_range(value))
    if key == "remote.ip":
        return rbac_pb2.Principal(remote_ip=cidr_range(value))
    if key.startswith("request.headers["):
        return rbac_pb2.Principal(header=_header(key[len("request.headers[") : -1], value))
    if key == "request.auth.principal":
        return request_principal(value)
    claim = _JWT_CLAIM_KEYS.get(key) or claim_path(key)
    if claim is not None:
        return _jwt_claim(claim, value)
    raise KeyError(key)


def _envoy_filter_permission(filter_name: str, field: str, value: str) -> rbac_pb2.Permission:
    if value.startswith("[") and value.endswith("]"):
        one = value_pb2.ValueMatcher(string_match=string_matcher(value[1:-1]))
        matcher = value_pb2.ValueMatcher(list_match=value_pb2.ListMatcher(one_of=one))
    else:
        matcher = value_pb2.ValueMatcher(string_match=string_matcher(value))
    return rbac_pb2.Permission(
        metadata=metadata_pb2.MetadataMatcher(
            filter=filter_name,
            path=[metadata_pb2.MetadataMatcher.PathSegment(key=field)],
            value=matcher,
        )
    )


def _permission(key: str, value: str) -> rbac_pb2.Permission:
    if key == "request.host":
        return rbac_pb2.Permission(header=_header(":authority", value, ignore_case=True))
    if key == "request.method":
        return rbac_pb2.Permission(header=_header(":method", value))
    if key == "request.path":
        return _path_permission(value)
    if key == "destination.port":
        return rbac_pb2.Permission(destination_port=int(value))
    if key == "destination.ip":
        return rbac_pb2.Permission(destination_ip=cidr_range(value))
    if key == "connection.sni":
        return rbac_pb2.Permission(requested_server_name=string_matcher(value))
    metadata = envoy_filter_metadata(key)
    if metadata is not None:
        return _envoy_filter_permission(*metadata, value)
    raise KeyError(key)


PRINCIPAL_KEYS = frozenset(
    {
        "source.principal",
        "source.namespace",
        "source.serviceAccount",
        "source.trustDomain",
        "source.ip",
        "remote.ip",
    }
)


def _is_principal(key: str) -> bool:
    return (
        key in PRINCIPAL_KEYS
        or key.startswith("request.headers[")
        or key.startswith("request.auth.")
    )


# --- JWT (jwt_authn's verified payload) ------------------------------------------

_JWT_CLAIM_KEYS = {"request.auth.audiences": ("aud",), "request.auth.presenter": ("azp",)}


def _jwt_claim(path: Sequence[str], value: str) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(metadata=jwt_metadata(path, claim_value(string_matcher(value))))


def _claim_is(claim: str, how: str, text: str) -> rbac_pb2.Principal:
    """The string claim `claim` is `text` (how="exact"), starts with it ("prefix") or ends
    with it ("suffix"); an empty prefix / suffix only asks for the claim to be there."""
    if how != "exact" and not text:
        value = value_pb2.ValueMatcher(present_match=True)
    else:
        matcher = string_pb2.StringMatcher(**{how: text})
        value = value_pb2.ValueMatcher(string_match=matcher)
    return rbac_pb2.Principal(metadata=jwt_metadata((claim,), value))


def _both(first: rbac_pb2.Principal, second: rbac_pb2.Principal) -> rbac_pb2.Principal:
    return rbac_pb2.Principal(and_ids=rbac_pb2.Principal.Set(ids=[first, second]))


def request_principal(value: str) -> rbac_pb2.Principal:
    """Istio's request principal is `<iss>/<sub>` of the verified token. Issuers hold
    `/` themselves (`https://idp/`), so the value is matched as every split of it into
    an issuer and a subject; `*` as a prefix / suffix / alone as in Istio."""
    if value == "*":  # any verified token
        present = value_pb2.ValueMatcher(present_match=True)
        return rbac_pb2.Principal(metadata=jwt_metadata((), present))
    slashes = [i for i, char in enumerate(value) if char == "/"]
    options: list[rbac_pb2.Principal] = []
    if value.endswith("*"):
        prefix = value[:-1]
        options.append(_claim_is("iss", "prefix", prefix))
        options += [
            _both(
                _claim_is("iss", "exact", prefix[:i]), _claim_is("sub", "prefix", prefix[i + 1 :])
            )
            for i in slashes
        ]
    elif value.startswith("*"):
        suffix = value[1:]
        options.append(_claim_is("sub", "suffix", suffix))
        options += [
            _both(
                _claim_is("iss", "suffix", suffix[:i]), _claim_is("sub", "exact", suffix[i + 1 :])
            )
            for i in (j - 1 for j in slashes)
        ]
    else:
        options += [
            _both(_claim_is("iss", "exact", value[:i]), _claim_is("sub", "exact", value[i + 1 :]))
            for i in slashes
        ]
    if not options:  # no `/`: no principal can be this value
        return rbac_pb2.Principal(not_id=_ANY_PRINCIPAL)
    if len(options) == 1:
        return options[0]
    return rbac_pb2.Principal(or_ids=rbac_pb2.Principal.Set(ids=options))


# --- rules -> policies ------------------------------------------------------------


def _conditions(
    conditions: Sequence[ConditionIR],
    make: Callable[[str, str], rbac_pb2.Principal | rbac_pb2.Permission],
    tcp: bool,
    strict: bool,
) -> list[tuple[list[rbac_pb2.Principal | rbac_pb2.Permission], bool]]:
    """Each condition as (ORed matchers, negated). On TCP an HTTP-only condition raises
    HttpOnly when `strict` (ALLOW) and is skipped otherwise (DENY / AUDIT)."""
    out: list[tuple[list[rbac_pb2.Principal | rbac_pb2.Permission], bool]] = []
    for condition in conditions:
        if tcp and _http_only(condition.key):
            if strict:
                raise HttpOnly(condition.key)
            continue
        for values, negated in ((condition.values, False), (condition.not_values, True)):
            if values:
                out.append(([make(condition.key, v) for v in values], negated))
    return out


def _principal_set(
    parts: list[tuple[list[rbac_pb2.Principal | rbac_pb2.Permission], bool]],
) -> rbac_pb2.Principal:
    ids: list[rbac_pb2.Principal] = []
    for matchers, negated in parts:
        either = rbac_pb2.Principal(or_ids=rbac_pb2.Principal.Set(ids=matchers))
        ids.append(rbac_pb2.Principal(not_id=either) if negated else either)
    return rbac_pb2.Principal(and_ids=rbac_pb2.Principal.Set(ids=ids or [_ANY_PRINCIPAL]))


def _permission_set(
    parts: list[tuple[list[rbac_pb2.Principal | rbac_pb2.Permission], bool]],
) -> rbac_pb2.Permission:
    rules: list[rbac_pb2.Permission] = []
    for matchers, negated in parts:
        either = rbac_pb2.Permission(or_rules=rbac_pb2.Permission.Set(rules=matchers))
        rules.append(rbac_pb2.Permission(not_rule=either) if negated else either)
    return rbac_pb2.Permission(and_rules=rbac_pb2.Permission.Set(rules=rules or [_ANY_PERMISSION]))


_ANY_PRINCIPAL = rbac_pb2.Principal(any=True)
_ANY_PERMISSION = rbac_pb2.Permission(any=True)
# Istio's `rbacPolicyMatchNever`, for a policy without rules.
MATCH_NEVER = rbac_pb2.Policy(
    permissions=[rbac_pb2.Permission(not_rule=_ANY_PERMISSION)],
    principals=[rbac_pb2.Principal(not_id=_ANY_PRINCIPAL)],
)


def rule_policy(rule: AuthzRuleIR, tcp: bool, strict: bool) -> rbac_pb2.Policy:
    """One rule as an RBAC policy; raises HttpOnly (ALLOW on TCP) to drop the rule."""
    when_principals = [c for c in rule.when if _is_principal(c.key)]
    when_permissions = [c for c in rule.when if not _is_principal(c.key)]
    principals = [
        _principal_set(_conditions([*source, *when_principals], _principal, tcp, strict))
        for source in rule.sources or [()]
    ]
    permissions = [
        _permission_set(_conditions([*operation, *when_permissions], _permission, tcp, strict))
        for operation in rule.operations or [()]
    ]
    return rbac_pb2.Policy(permissions=permissions, principals=principals)


def _policy_name(policy: AuthzPolicyIR, rule: int) -> str:
    if policy.action is AuthzAction.CUSTOM:
        return custom_deny_policy_name(policy.namespace, policy.name, rule, policy.provider)
    return rbac_policy_name(policy.namespace, policy.name, rule)


def _rules(policies: Sequence[AuthzPolicyIR], action: AuthzAction, tcp: bool) -> rbac_pb2.RBAC:
    rbac = rbac_pb2.RBAC(action=_RBAC_ACTION[action])
    for policy in policies:
        if not policy.rules:
            rbac.policies[_policy_name(policy, 0)].CopyFrom(MATCH_NEVER)
        for i, rule in enumerate(policy.rules):
            try:
                generated = rule_policy(rule, tcp, strict=action is AuthzAction.ALLOW)
            except HttpOnly:
                continue  # an ALLOW rule that cannot be checked on TCP allows nothing
            rbac.policies[_policy_name(policy, i)].CopyFrom(generated)
    return rbac


def _configs(
    policies: Sequence[AuthzPolicyIR], tcp: bool
) -> list[tuple[AuthzAction, rbac_pb2.RBAC | None, rbac_pb2.RBAC | None]]:
    """(action, enforced rules, shadow rules) per action present, in evaluation order."""
    out: list[tuple[AuthzAction, rbac_pb2.RBAC | None, rbac_pb2.RBAC | None]] = []
    for action in _ORDER:
        enforced = [p for p in policies if p.action is action and not p.dry_run]
        shadow = [
            p
            for p in policies
            if p.action is action and p.dry_run and action is not AuthzAction.CUSTOM
        ]
        if enforced or shadow:
            out.append(
                (
                    action,
                    _rules(enforced, action, tcp) if enforced else None,
                    _rules(shadow, action, tcp) if shadow else None,
                )
            )
    return out


def http_rbac_filters(policies: Sequence[AuthzPolicyIR]) -> list[hcm.HttpFilter]:
    """HTTP RBAC filters to put before the router (none without policies)."""
    filters: list[hcm.HttpFilter] = []
    for action, rules, shadow in _configs(policies, tcp=False):
        config = http_rbac_pb2.RBAC()
        if rules is not None:
            config.rules.CopyFrom(rules)
        if shadow is not None:
            config.shadow_rules.CopyFrom(shadow)
            config.shadow_rules_stat_prefix = _SHADOW_PREFIX[action]
        filters.append(hcm.HttpFilter(name=HTTP_RBAC_FILTER, typed_config=pack(config)))
    return filters


def network_rbac_filters(policies: Sequence[AuthzPolicyIR]) -> list[listener_components_pb2.Filter]:
    """Network RBAC filters to put before tcp_proxy (none without policies)."""
    filters: list[listener_components_pb2.Filter] = []
    for action, rules, shadow in _configs(policies, tcp=True):
        config = network_rbac_pb2.RBAC(stat_prefix=TCP_STAT_PREFIX)
        if rules is not None:
            config.rules.CopyFrom(rules)
        if shadow is not None:
            config.shadow_rules.CopyFrom(shadow)
            config.shadow_rules_stat_prefix = _SHADOW_PREFIX[action]
        filters.append(
            listener_components_pb2.Filter(name=NETWORK_RBAC_FILTER, typed_config=pack(config))
        )
    return filters
