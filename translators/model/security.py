"""security.istio.io specs: PeerAuthentication and AuthorizationPolicy.

Whatever Istio accepts is accepted. CUSTOM (external authorization) policies are
accepted although xdscp defines no extension providers: as Istio does for a provider
it does not know, their rules deny (fail closed), and the analysis reports it.
JWT fields (`requestPrincipals`, `request.auth.*`) match what the RequestAuthentication
of the workload validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from translators.model.base import IstioModel, check_selector_labels
from translators.model.checks import check_ip_or_cidr

# --- shared ------------------------------------------------------------------


class MatchLabelsSelector(IstioModel):
    """`istio.type.v1beta1.WorkloadSelector`: security objects use `matchLabels` only."""

    match_labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return check_selector_labels(labels)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items())


def _as_strings(value: object) -> object:
    """Istio's API has ports and values as strings; YAML authors write `8080`."""
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


Strings = Annotated[list[str], BeforeValidator(_as_strings)]


# --- PeerAuthentication ------------------------------------------------------


class MTLSMode(StrEnum):
    UNSET = "UNSET"
    DISABLE = "DISABLE"
    PERMISSIVE = "PERMISSIVE"
    STRICT = "STRICT"


class MutualTLS(IstioModel):
    mode: MTLSMode = MTLSMode.UNSET


class PeerAuthenticationSpec(IstioModel):
    selector: MatchLabelsSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[Annotated[int, Field(ge=1, le=65535)], MutualTLS] | None = None

    @property
    def mode(self) -> MTLSMode:
        return self.mtls.mode if self.mtls is not None else MTLSMode.UNSET

    @property
    def has_selector(self) -> bool:
        return self.selector is not None and bool(self.selector.match_labels)

    @model_validator(mode="after")
    def _port_level_needs_selector(self) -> PeerAuthenticationSpec:
        # Istio's validation: port-level settings exist only for a selected workload,
        # whose ports are known (mesh- and namespace-wide policies have no ports).
        if self.port_level_mtls is not None:
            if not self.has_selector:
                raise ValueError(
                    "portLevelMtls: only allowed with a workload selector "
                    "(mesh- and namespace-wide policies cannot have port-level mTLS)"
                )
            if not self.port_level_mtls:
                raise ValueError("portLevelMtls: if set, must have at least one port")
        return self


# --- AuthorizationPolicy -----------------------------------------------------


class AuthorizationAction(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    AUDIT = "AUDIT"
    CUSTOM = "CUSTOM"


def _check_wildcard(value: str, what: str) -> str:
    """Istio matches `*` only as the whole value, a prefix or a suffix."""
    if not value:
        raise ValueError(f"{what}: empty value")
    if "*" in value.strip("*") or (value.count("*") > 1 and value != "*"):
        raise ValueError(f"{what}: {value!r}: '*' is only allowed as a prefix, suffix or alone")
    return value


def _check_cidr(value: str, what: str) -> str:
    try:
        return check_ip_or_cidr(value)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def _check_port(value: str, what: str) -> str:
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise ValueError(f"{what}: {value!r} is not a port number (0-65535)")
    return value


MATCH_ONE_TEMPLATE = "{*}"
MATCH_ANY_TEMPLATE = "{**}"
# A literal segment of a path template, as Istio's IsValidLiteral accepts it: RFC 3986
# pchar without `*` ('%' unchecked, `=` allowed). A `*` there is refused rather than sent:
# Envoy's uri_template takes it into its regex as a quantifier (`/v*/**` matches `/vv/x`,
# never `/v1/x` nor `/v*/x`).
_TEMPLATE_LITERAL = re.compile(r"[A-Za-z0-9\-._~%!$&'()+,;:@=]+")


def has_path_template(value: str) -> bool:
    return MATCH_ONE_TEMPLATE in value or MATCH_ANY_TEMPLATE in value


def _check_path(value: str, what: str) -> str:
    """A path: exact, `*`-prefix/suffix, or an Istio path template — segments `{*}` (one
    segment) and `{**}` (the rest, last only) between literal segments
    (Istio's CheckValidPathTemplate)."""
    if not has_path_template(value):
        if "{" in value or "}" in value:
            raise ValueError(f"{what}: {value!r}: '{{' or '}}' beyond a path template")
        return _check_wildcard(value, what)
    any_seen = False
    for segment in value.strip("/").split("/"):
        if segment in (MATCH_ONE_TEMPLATE, MATCH_ANY_TEMPLATE):
            if any_seen:
                raise ValueError(f"{what}: {value!r}: {{**}} must be the last operator")
            any_seen = segment == MATCH_ANY_TEMPLATE
            continue
        if "{" in segment or "}" in segment:
            raise ValueError(f"{what}: {value!r}: '{{' or '}}' beyond a path template")
        if not _TEMPLATE_LITERAL.fullmatch(segment):
            bad = "'*'" if "*" in segment else "a character a path segment cannot hold"
            raise ValueError(
                f"{what}: {value!r}: segment {segment!r} of a path template holds {bad}"
                " (only {*} and {**} match segments in a template)"
            )
    return value


def _check_trust_domain(value: str, what: str) -> str:
    if "/" in value:
        raise ValueError(f"{what}: {value!r}: a trust domain has no '/'")
    return _check_wildcard(value, what)


def _check_namespace(value: str, what: str) -> str:
    # Istio checks only that it is not empty; '*' as for other values
    return _check_wildcard(value, what)


def _check_service_account(value: str, what: str) -> str:
    parts = value.split("/")
    if len(parts) > 2 or not all(parts) or "*" in value:
        raise ValueError(f"{what}: {value!r}: expected <name> or <namespace>/<name>, no wildcards")
    return value


def _each(values: list[str], check: Any, what: str) -> list[str]:
    return [check(v, what) for v in values]


class Source(IstioModel):
    principals: Strings = Field(default_factory=list)
    not_principals: Strings = Field(default_factory=list)
    request_principals: Strings = Field(default_factory=list)
    not_request_principals: Strings = Field(default_factory=list)
    namespaces: Strings = Field(default_factory=list)
    not_namespaces: Strings = Field(default_factory=list)
    service_accounts: Strings = Field(default_factory=list)
    not_service_accounts: Strings = Field(default_factory=list)
    ip_blocks: Strings = Field(default_factory=list)
    not_ip_blocks: Strings = Field(default_factory=list)
    remote_ip_blocks: Strings = Field(default_factory=list)
    not_remote_ip_blocks: Strings = Field(default_factory=list)
    trust_domains: Strings = Field(default_factory=list)
    not_trust_domains: Strings = Field(default_factory=list)

    @field_validator("trust_domains", "not_trust_domains")
    @classmethod
    def _trust_domains(cls, values: list[str]) -> list[str]:
        return _each(values, _check_trust_domain, "trust domain")

    @field_validator("principals", "not_principals")
    @classmethod
    def _principals(cls, values: list[str]) -> list[str]:
        return _each(values, _check_wildcard, "principal")

    @field_validator("request_principals", "not_request_principals")
    @classmethod
    def _request_principals(cls, values: list[str]) -> list[str]:
        return _each(values, _check_wildcard, "request principal")

    @field_validator("namespaces", "not_namespaces")
    @classmethod
    def _namespaces(cls, values: list[str]) -> list[str]:
        return _each(values, _check_namespace, "namespace")

    @field_validator("service_accounts", "not_service_accounts")
    @classmethod
    def _service_accounts(cls, values: list[str]) -> list[str]:
        return _each(values, _check_service_account, "service account")

    @field_validator("ip_blocks", "not_ip_blocks", "remote_ip_blocks", "not_remote_ip_blocks")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        return _each(values, _check_cidr, "IP block")

    @model_validator(mode="after")
    def _not_empty(self) -> Source:
        if not any(getattr(self, name) for name in type(self).model_fields):
            raise ValueError("source: must set at least one field")
        if (self.service_accounts or self.not_service_accounts) and (
            self.principals or self.not_principals or self.namespaces or self.not_namespaces
        ):
            raise ValueError("source: serviceAccounts cannot be set with namespaces or principals")
        return self


class From(IstioModel):
    source: Source


class Operation(IstioModel):
    hosts: Strings = Field(default_factory=list)
    not_hosts: Strings = Field(default_factory=list)
    ports: Strings = Field(default_factory=list)
    not_ports: Strings = Field(default_factory=list)
    methods: Strings = Field(default_factory=list)
    not_methods: Strings = Field(default_factory=list)
    paths: Strings = Field(default_factory=list)
    not_paths: Strings = Field(default_factory=list)

    @field_validator("hosts", "not_hosts")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        return _each(values, _check_wildcard, "host")

    @field_validator("ports", "not_ports")
    @classmethod
    def _ports(cls, values: list[str]) -> list[str]:
        return _each(values, _check_port, "port")

    @field_validator("methods", "not_methods")
    @classmethod
    def _methods(cls, values: list[str]) -> list[str]:
        return _each(values, _check_wildcard, "method")

    @field_validator("paths", "not_paths")
    @classmethod
    def _paths(cls, values: list[str]) -> list[str]:
        return _each(values, _check_path, "path")

    @model_validator(mode="after")
    def _not_empty(self) -> Operation:
        if not any(getattr(self, name) for name in type(self).model_fields):
            raise ValueError("operation: must set at least one field")
        return self


class To(IstioModel):
    operation: Operation


# `when` keys xdscp enforces -> how each value is checked (Istio's ValidateAttribute and
# pilot/pkg/security/authz/model); other keys are refused by name.
_HEADER_KEY = re.compile(r"request\.headers\[([^\[\]]+)\]")
# `experimental.envoy.filters.<filter>[<key>]`: Envoy dynamic metadata of that filter
_ENVOY_FILTER_KEY = re.compile(r"experimental\.(envoy\.filters\.[^\[\]]+)\[([^\[\]]+)\]")
# `request.auth.claims[a]` or, for a nested claim, `request.auth.claims[a][b]`
_CLAIM_KEY = re.compile(r"request\.auth\.claims((?:\[[^\[\]]+\])+)")
WHEN_KEYS: dict[str, Any] = {
    "source.principal": _check_wildcard,
    "source.namespace": _check_namespace,
    "source.trustDomain": _check_trust_domain,
    "source.ip": _check_cidr,
    "remote.ip": _check_cidr,
    "destination.ip": _check_cidr,
    "destination.port": _check_port,
    "connection.sni": _check_wildcard,
    "request.auth.principal": _check_wildcard,
    "request.auth.audiences": _check_wildcard,
    "request.auth.presenter": _check_wildcard,
}


def envoy_filter_metadata(key: str) -> tuple[str, str] | None:
    """(filter name, metadata key) of an `experimental.envoy.filters.<f>[<k>]` key."""
    found = _ENVOY_FILTER_KEY.fullmatch(key)
    return (found.group(1), found.group(2)) if found else None


def claim_path(key: str) -> tuple[str, ...] | None:
    """The claim names of a `request.auth.claims[a][b]` key (None for other keys)."""
    found = _CLAIM_KEY.fullmatch(key)
    return tuple(found.group(1)[1:-1].split("][")) if found else None


class Condition(IstioModel):
    key: str
    values: Strings = Field(default_factory=list)
    not_values: Strings = Field(default_factory=list)

    @field_validator("key")
    @classmethod
    def _known(cls, key: str) -> str:
        if (
            key in WHEN_KEYS
            or _HEADER_KEY.fullmatch(key)
            or _CLAIM_KEY.fullmatch(key)
            or _ENVOY_FILTER_KEY.fullmatch(key)
        ):
            return key
        if key.startswith("experimental.envoy.filters."):
            raise ValueError(f"{key!r}: expected experimental.envoy.filters.<filter>[<key>]")
        if key.startswith("request.auth.claims"):
            raise ValueError(f"{key!r}: expected request.auth.claims[<claim>] (nested: [a][b])")
        if key.startswith("request.headers"):
            raise ValueError(f"{key!r}: expected request.headers[<header-name>]")
        supported = ", ".join(
            [
                *WHEN_KEYS,
                "request.headers[<name>]",
                "request.auth.claims[<name>]",
                "experimental.envoy.filters.<filter>[<key>]",
            ]
        )
        raise ValueError(f"unknown key {key!r} (supported: {supported})")

    @model_validator(mode="after")
    def _values(self) -> Condition:
        if not self.values and not self.not_values:
            raise ValueError(f"{self.key}: set values or notValues")
        check = WHEN_KEYS.get(self.key, _check_wildcard)
        for value in [*self.values, *self.not_values]:
            check(value, self.key)
        return self

    @property
    def header(self) -> str | None:
        """The header name of a `request.headers[<name>]` key."""
        found = _HEADER_KEY.fullmatch(self.key)
        return found.group(1) if found else None


class Rule(IstioModel):
    from_: list[From] | None = Field(default=None, alias="from")
    to: list[To] | None = None
    when: list[Condition] | None = None

    @model_validator(mode="after")
    def _not_empty_lists(self) -> Rule:
        # Istio: `from: []` is an error, not "any source" (absent `from` is any source).
        for name, value in (("from", self.from_), ("to", self.to), ("when", self.when)):
            if value is not None and not value:
                raise ValueError(f"{name}: must not be an empty list (omit it instead)")
        return self


# what Istio's validation refuses in the rules of a CUSTOM policy
_CUSTOM_FORBIDDEN_SOURCE = (
    "namespaces",
    "not_namespaces",
    "service_accounts",
    "not_service_accounts",
    "trust_domains",
    "not_trust_domains",
    "principals",
    "not_principals",
    "request_principals",
    "not_request_principals",
)
_CUSTOM_FORBIDDEN_KEYS = frozenset(
    {"source.namespace", "source.serviceAccount", "source.trustDomain", "source.principal"}
)


class AuthorizationPolicySpec(IstioModel):
    selector: MatchLabelsSelector | None = None
    action: AuthorizationAction = AuthorizationAction.ALLOW
    rules: list[Rule] = Field(default_factory=list)
    provider: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _istio_rules(self) -> AuthorizationPolicySpec:
        if self.provider is not None and self.action is not AuthorizationAction.CUSTOM:
            raise ValueError(f"provider is only for action CUSTOM (found {self.action})")
        return self

    @model_validator(mode="after")
    def _deny_needs_rules(self) -> AuthorizationPolicySpec:
        # Istio's validation: such a policy would never match (`rules: []` is absent too)
        if self.action is AuthorizationAction.DENY and not self.rules:
            raise ValueError(
                "DENY action without `rules` is meaningless as it will never be triggered; "
                "add an empty rule `{}` to trigger it for every request"
            )
        return self

    @model_validator(mode="after")
    def _custom_action(self) -> AuthorizationPolicySpec:
        """Istio's validation of CUSTOM (external authorization) policies."""
        if self.action is not AuthorizationAction.CUSTOM:
            return self
        if not self.rules:
            raise ValueError(
                "CUSTOM action without `rules` is meaningless as it will never be triggered; "
                "add an empty rule `{}` to trigger it for every request"
            )
        if not self.provider_name:
            raise ValueError("provider.name: must not be empty for action CUSTOM")
        for i, rule in enumerate(self.rules):
            for from_ in rule.from_ or ():
                for name in _CUSTOM_FORBIDDEN_SOURCE:
                    if getattr(from_.source, name):
                        alias = Source.model_fields[name].alias or name
                        raise ValueError(
                            f"rules[{i}]: from.source.{alias} is not supported with action CUSTOM"
                        )
            for condition in rule.when or ():
                if condition.key in _CUSTOM_FORBIDDEN_KEYS or condition.key.startswith(
                    "request.auth."
                ):
                    raise ValueError(
                        f"rules[{i}]: when key {condition.key!r} is not supported with "
                        "action CUSTOM"
                    )
        return self

    @property
    def provider_name(self) -> str:
        name = (self.provider or {}).get("name")
        return name if isinstance(name, str) else ""

    @property
    def has_selector(self) -> bool:
        return self.selector is not None and bool(self.selector.match_labels)
