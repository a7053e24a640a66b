"""Kubernetes Gateway API v1 (`gateway.networking.k8s.io`): GatewayClass, Gateway,
HTTPRoute, GRPCRoute, TCPRoute, TLSRoute, ReferenceGrant.

The rules are the spec's own (the CRDs' OpenAPI patterns, limits and CEL rules in
apis/v1/*_types.go), so an object the API server would refuse is refused here too, in
file mode as in Kubernetes. What the spec reports through status rather than refusing
(a listener with a protocol this implementation does not support, a backend that does
not exist, a reference another namespace did not grant) is accepted here and judged by
`translators.gateway.status`.

Fields the spec has that xdscp does not implement (CORS and ExtensionRef filters,
retries, session persistence, listener-level frontend TLS validation, infrastructure
parameters) are refused at load time: a route must never look accepted while part of it
is silently ignored.

The Gateway API's `Gateway` shares its kind name with Istio's; the registry keys it as
`KubernetesGateway` (Istio's own internal name for it), see `KIND_ALIASES`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from translators.model.base import IstioModel, check_re2

GATEWAY_API = "gateway.networking.k8s.io"
KUBERNETES_GATEWAY = "KubernetesGateway"

_HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_PRECISE_HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_SECTION_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_GROUP = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
_NAMESPACE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$"
_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_CONTROLLER = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    r"\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$"
)
_PROTOCOL = (
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
    r"|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
)
_PATH_CHARS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")

Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=_HOSTNAME)]
PreciseHostname = Annotated[str, Field(min_length=1, max_length=253, pattern=_PRECISE_HOSTNAME)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253)]
SectionName = Annotated[str, Field(min_length=1, max_length=253, pattern=_SECTION_NAME)]
Group = Annotated[str, Field(max_length=253, pattern=_GROUP)]
Kind = Annotated[str, Field(min_length=1, max_length=63, pattern=_KIND)]
Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=_NAMESPACE)]
HeaderName = Annotated[str, Field(min_length=1, max_length=256, pattern=_HEADER_NAME)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]


def duration_seconds(value: str) -> float:
    """A Gateway API Duration (`1h30m`, `500ms`, `0s`) in seconds."""
    total = 0.0
    for number, unit in re.findall(r"([0-9]+)(h|ms|m|s)", value):
        total += int(number) * {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}[unit]
    return total


def check_duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{value!r} is not a duration (e.g. 10s, 1m30s, 500ms)")
    return value


class LabelSelector(IstioModel):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        return all(e.matches(labels) for e in self.match_expressions)


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(IstioModel):
    key: str = Field(min_length=1)
    operator: SelectorOperator
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        needs_values = self.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError(f"values: required for operator {self.operator}")
        if not needs_values and self.values:
            raise ValueError(f"values: must be empty for operator {self.operator}")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        match self.operator:
            case SelectorOperator.IN:
                return labels.get(self.key) in self.values
            case SelectorOperator.NOT_IN:
                return labels.get(self.key) not in self.values
            case SelectorOperator.EXISTS:
                return self.key in labels
            case _:
                return self.key not in labels


LabelSelector.model_rebuild()


# --- GatewayClass ----------------------------------------------------------------------


class ParametersReference(IstioModel):
    group: Group
    kind: Kind
    name: ObjectName
    namespace: Namespace | None = None


class GatewayClassSpec(IstioModel):
    controller_name: str = Field(min_length=1, max_length=253, pattern=_CONTROLLER)
    parameters_ref: ParametersReference | None = None
    description: str | None = Field(default=None, max_length=64)

    @field_validator("parameters_ref")
    @classmethod
    def _no_parameters(cls, ref: ParametersReference | None) -> ParametersReference | None:
        if ref is not None:
            raise ValueError("not supported by xdscp (gateways take no class parameters)")
        return ref


# --- Gateway ---------------------------------------------------------------------------


class FromNamespaces(StrEnum):
    ALL = "All"
    SELECTOR = "Selector"
    SAME = "Same"


class RouteNamespaces(IstioModel):
    from_: FromNamespaces = Field(default=FromNamespaces.SAME, alias="from")
    selector: LabelSelector | None = None

    @model_validator(mode="after")
    def _selector(self) -> RouteNamespaces:
        if self.from_ is FromNamespaces.SELECTOR and self.selector is None:
            raise ValueError("selector: required when from is Selector")
        return self


class RouteGroupKind(IstioModel):
    group: Group = GATEWAY_API
    kind: Kind


class AllowedRoutes(IstioModel):
    namespaces: RouteNamespaces = Field(default_factory=RouteNamespaces)
    kinds: list[RouteGroupKind] = Field(default_factory=list, max_length=8)


class TLSModeType(StrEnum):
    TERMINATE = "Terminate"
    PASSTHROUGH = "Passthrough"


class SecretObjectReference(IstioModel):
    group: Group = ""
    kind: Kind = "Secret"
    name: ObjectName
    namespace: Namespace | None = None


class ListenerTLSConfig(IstioModel):
    mode: TLSModeType = TLSModeType.TERMINATE
    certificate_refs: list[SecretObjectReference] = Field(default_factory=list, max_length=64)
    options: dict[str, str] = Field(default_factory=dict, max_length=16)

    @field_validator("certificate_refs")
    @classmethod
    def _one_certificate(cls, refs: list[SecretObjectReference]) -> list[SecretObjectReference]:
        if len(refs) > 1:
            raise ValueError("xdscp serves one certificate per listener (the spec's core support)")
        return refs

    @model_validator(mode="after")
    def _refs(self) -> ListenerTLSConfig:
        if self.mode is TLSModeType.TERMINATE and not self.certificate_refs and not self.options:
            raise ValueError("certificateRefs or options must be specified when mode is Terminate")
        return self


class Listener(IstioModel):
    name: SectionName
    hostname: Hostname | None = None
    port: PortNumber
    protocol: str = Field(min_length=1, max_length=255, pattern=_PROTOCOL)
    tls: ListenerTLSConfig | None = None
    allowed_routes: AllowedRoutes = Field(default_factory=AllowedRoutes)


class AddressType(StrEnum):
    IP_ADDRESS = "IPAddress"
    HOSTNAME = "Hostname"
    NAMED_ADDRESS = "NamedAddress"


class GatewaySpecAddress(IstioModel):
    type: AddressType = AddressType.IP_ADDRESS
    value: str = Field(default="", max_length=253)


class GatewaySpec(IstioModel):
    gateway_class_name: ObjectName
    listeners: list[Listener] = Field(min_length=1, max_length=64)
    addresses: list[GatewaySpecAddress] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _listeners(self) -> GatewaySpec:
        """The CEL rules on `spec.listeners`."""
        for listener in self.listeners:
            if listener.protocol in ("HTTP", "TCP", "UDP") and listener.tls is not None:
                raise ValueError(
                    f"listeners: {listener.name}: tls must not be specified for protocols "
                    "['HTTP', 'TCP', 'UDP']"
                )
            if listener.protocol == "HTTPS" and listener.tls is None:
                raise ValueError(f"listeners: {listener.name}: tls is required for HTTPS")
            if (
                listener.protocol == "HTTPS"
                and listener.tls is not None
                and listener.tls.mode is not TLSModeType.TERMINATE
            ):
                raise ValueError(
                    f"listeners: {listener.name}: tls mode must be Terminate for protocol HTTPS"
                )
            if listener.protocol == "TLS" and listener.tls is None:
                raise ValueError(
                    f"listeners: {listener.name}: tls mode must be set for protocol TLS"
                )
            if listener.protocol in ("TCP", "UDP") and listener.hostname:
                raise ValueError(
                    f"listeners: {listener.name}: hostname must not be specified for protocols "
                    "['TCP', 'UDP']"
                )
        names = [listener.name for listener in self.listeners]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"listeners: listener name must be unique: {', '.join(duplicates)}")
        combos = [(lst.port, lst.protocol, lst.hostname) for lst in self.listeners]
        if len(set(combos)) != len(combos):
            raise ValueError(
                "listeners: combination of port, protocol and hostname must be unique for each "
                "listener"
            )
        return self


# --- shared route parts ----------------------------------------------------------------


class ParentReference(IstioModel):
    group: Group = GATEWAY_API
    kind: Kind = "Gateway"
    namespace: Namespace | None = None
    name: ObjectName
    section_name: SectionName | None = None
    port: PortNumber | None = None


class BackendRef(IstioModel):
    group: Group = ""
    kind: Kind = "Service"
    name: ObjectName
    namespace: Namespace | None = None
    port: PortNumber | None = None
    weight: int = Field(default=1, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _port(self) -> BackendRef:
        if self.group == "" and self.kind == "Service" and self.port is None:
            raise ValueError("port: must have port for Service reference")
        return self


class CommonRouteSpec(IstioModel):
    parent_refs: list[ParentReference] = Field(default_factory=list, max_length=32)

    @field_validator("parent_refs")
    @classmethod
    def _unique_parents(cls, refs: list[ParentReference]) -> list[ParentReference]:
        keys = [(r.group, r.kind, r.namespace, r.name, r.section_name, r.port) for r in refs]
        if len(set(keys)) != len(keys):
            raise ValueError(
                "sectionName or port must be specified when parentRefs includes 2 or more "
                "references to the same parent"
            )
        return refs


# --- HTTPRoute -------------------------------------------------------------------------


class PathMatchType(StrEnum):
    EXACT = "Exact"
    PATH_PREFIX = "PathPrefix"
    REGULAR_EXPRESSION = "RegularExpression"


class HTTPPathMatch(IstioModel):
    type: PathMatchType = PathMatchType.PATH_PREFIX
    value: str = Field(default="/", max_length=1024)

    @model_validator(mode="after")
    def _value(self) -> HTTPPathMatch:
        if self.type is PathMatchType.REGULAR_EXPRESSION:
            check_re2(self.value)
            return self
        value = self.value
        if not value.startswith("/"):
            raise ValueError("value must be an absolute path and start with '/'")
        for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
            if bad in value:
                raise ValueError(f"value must not contain {bad!r}")
        if value.endswith(("/..", "/.")):
            raise ValueError("value must not end with '/..' or '/.'")
        if not _PATH_CHARS.fullmatch(value):
            raise ValueError("value must only contain valid path characters")
        return self


class MatchType(StrEnum):
    EXACT = "Exact"
    REGULAR_EXPRESSION = "RegularExpression"


class HTTPHeaderMatch(IstioModel):
    type: MatchType = MatchType.EXACT
    name: HeaderName
    value: str = Field(min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _regex(self) -> HTTPHeaderMatch:
        if self.type is MatchType.REGULAR_EXPRESSION:
            check_re2(self.value)
        return self


class HTTPQueryParamMatch(IstioModel):
    type: MatchType = MatchType.EXACT
    name: HeaderName
    value: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _regex(self) -> HTTPQueryParamMatch:
        if self.type is MatchType.REGULAR_EXPRESSION:
            check_re2(self.value)
        return self


class HTTPMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    CONNECT = "CONNECT"
    OPTIONS = "OPTIONS"
    TRACE = "TRACE"
    PATCH = "PATCH"


def _unique_names(items: list[HTTPHeaderMatch] | list[HTTPQueryParamMatch], what: str) -> None:
    names = [i.name.lower() for i in items]
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: names must be unique within a match")


class HTTPRouteMatch(IstioModel):
    path: HTTPPathMatch = Field(default_factory=HTTPPathMatch)
    headers: list[HTTPHeaderMatch] = Field(default_factory=list, max_length=16)
    query_params: list[HTTPQueryParamMatch] = Field(default_factory=list, max_length=16)
    method: HTTPMethod | None = None

    @model_validator(mode="after")
    def _unique(self) -> HTTPRouteMatch:
        _unique_names(self.headers, "headers")
        _unique_names(self.query_params, "queryParams")
        return self


class HTTPHeader(IstioModel):
    name: HeaderName
    value: str = Field(max_length=4096)


class HTTPHeaderFilter(IstioModel):
    set: list[HTTPHeader] = Field(default_factory=list, max_length=16)
    add: list[HTTPHeader] = Field(default_factory=list, max_length=16)
    remove: list[str] = Field(default_factory=list, max_length=16)


class PathModifierType(StrEnum):
    REPLACE_FULL_PATH = "ReplaceFullPath"
    REPLACE_PREFIX_MATCH = "ReplacePrefixMatch"


class HTTPPathModifier(IstioModel):
    type: PathModifierType
    replace_full_path: str | None = Field(default=None, max_length=1024)
    replace_prefix_match: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one(self) -> HTTPPathModifier:
        full = self.type is PathModifierType.REPLACE_FULL_PATH
        if full != (self.replace_full_path is not None):
            raise ValueError("replaceFullPath must be set exactly when type is ReplaceFullPath")
        if (not full) != (self.replace_prefix_match is not None):
            raise ValueError(
                "replacePrefixMatch must be set exactly when type is ReplacePrefixMatch"
            )
        return self


class RedirectScheme(StrEnum):
    HTTP = "http"
    HTTPS = "https"


class HTTPRequestRedirectFilter(IstioModel):
    scheme: RedirectScheme | None = None
    hostname: PreciseHostname | None = None
    path: HTTPPathModifier | None = None
    port: PortNumber | None = None
    status_code: int = 302

    @field_validator("status_code")
    @classmethod
    def _code(cls, code: int) -> int:
        if code not in (301, 302, 303, 307, 308):
            raise ValueError(f"{code}: must be one of 301, 302, 303, 307, 308")
        return code


class HTTPURLRewriteFilter(IstioModel):
    hostname: PreciseHostname | None = None
    path: HTTPPathModifier | None = None


class BackendObjectReference(IstioModel):
    group: Group = ""
    kind: Kind = "Service"
    name: ObjectName
    namespace: Namespace | None = None
    port: PortNumber | None = None


class Fraction(IstioModel):
    numerator: int = Field(ge=0)
    denominator: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _proper(self) -> Fraction:
        if self.numerator > self.denominator:
            raise ValueError("numerator must be less than or equal to denominator")
        return self


class HTTPRequestMirrorFilter(IstioModel):
    backend_ref: BackendObjectReference
    percent: int | None = Field(default=None, ge=0, le=100)
    fraction: Fraction | None = None

    @model_validator(mode="after")
    def _one(self) -> HTTPRequestMirrorFilter:
        if self.percent is not None and self.fraction is not None:
            raise ValueError("Only one of percent or fraction may be specified")
        return self


class HTTPRouteFilterType(StrEnum):
    REQUEST_HEADER_MODIFIER = "RequestHeaderModifier"
    RESPONSE_HEADER_MODIFIER = "ResponseHeaderModifier"
    REQUEST_MIRROR = "RequestMirror"
    REQUEST_REDIRECT = "RequestRedirect"
    URL_REWRITE = "URLRewrite"


_FILTER_FIELDS = {
    HTTPRouteFilterType.REQUEST_HEADER_MODIFIER: "request_header_modifier",
    HTTPRouteFilterType.RESPONSE_HEADER_MODIFIER: "response_header_modifier",
    HTTPRouteFilterType.REQUEST_MIRROR: "request_mirror",
    HTTPRouteFilterType.REQUEST_REDIRECT: "request_redirect",
    HTTPRouteFilterType.URL_REWRITE: "url_rewrite",
}


class HTTPRouteFilter(IstioModel):
    type: HTTPRouteFilterType
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None
    request_redirect: HTTPRequestRedirectFilter | None = None
    url_rewrite: HTTPURLRewriteFilter | None = Field(default=None, alias="urlRewrite")

    @field_validator("type", mode="before")
    @classmethod
    def _known(cls, value: object) -> object:
        if value in ("ExtensionRef", "CORS", "ExternalAuth"):
            raise ValueError(f"{value}: filter not supported by xdscp")
        return value

    @model_validator(mode="after")
    def _matching_field(self) -> HTTPRouteFilter:
        for kind, attribute in _FILTER_FIELDS.items():
            present = getattr(self, attribute) is not None
            if present and kind is not self.type:
                raise ValueError(f"filter.{attribute} must be nil if the filter.type is not {kind}")
            if not present and kind is self.type:
                raise ValueError(f"filter.{attribute} must be specified for {kind} filter.type")
        return self


def check_filters(filters: list[HTTPRouteFilter]) -> list[HTTPRouteFilter]:
    kinds = [f.type for f in filters]
    if HTTPRouteFilterType.REQUEST_REDIRECT in kinds and HTTPRouteFilterType.URL_REWRITE in kinds:
        raise ValueError("May specify either RequestRedirect or URLRewrite, but not both")
    for kind in kinds:
        if kind is not HTTPRouteFilterType.REQUEST_MIRROR and kinds.count(kind) > 1:
            raise ValueError(f"{kind} filter cannot be repeated")
    return filters


class HTTPBackendRef(BackendRef):
    filters: list[HTTPRouteFilter] = Field(default_factory=list, max_length=16)

    @field_validator("filters")
    @classmethod
    def _filters(cls, filters: list[HTTPRouteFilter]) -> list[HTTPRouteFilter]:
        if filters:
            raise ValueError(
                "filters on a backendRef are not supported by xdscp (put them on the rule)"
            )
        return filters


class HTTPRouteTimeouts(IstioModel):
    request: str | None = None
    backend_request: str | None = None

    @field_validator("request", "backend_request")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else check_duration(value)

    @field_validator("backend_request")
    @classmethod
    def _not_translated(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("not supported by xdscp (use timeouts.request)")
        return value

    @model_validator(mode="after")
    def _order(self) -> HTTPRouteTimeouts:
        if self.request is not None and self.backend_request is not None:
            request = duration_seconds(self.request)
            if request and duration_seconds(self.backend_request) > request:
                raise ValueError("backendRequest timeout cannot be longer than request timeout")
        return self


def _prefix_rewrite_needs_one_prefix_match(
    matches: list[HTTPRouteMatch], filters: list[HTTPRouteFilter]
) -> None:
    for f in filters:
        action = f.request_redirect or f.url_rewrite
        modifier = action.path if action is not None else None
        one_prefix = len(matches) == 1 and matches[0].path.type is PathMatchType.PATH_PREFIX
        if (
            modifier is not None
            and modifier.type is PathModifierType.REPLACE_PREFIX_MATCH
            and not one_prefix
        ):
            raise ValueError(
                f"When using {f.type} filter with path.replacePrefixMatch, exactly one "
                "PathPrefix match must be specified"
            )


class HTTPRouteRule(IstioModel):
    name: SectionName | None = None
    matches: list[HTTPRouteMatch] = Field(default_factory=lambda: [HTTPRouteMatch()], max_length=64)
    filters: list[HTTPRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[HTTPBackendRef] = Field(default_factory=list, max_length=16)
    timeouts: HTTPRouteTimeouts | None = None

    @field_validator("filters")
    @classmethod
    def _filters(cls, filters: list[HTTPRouteFilter]) -> list[HTTPRouteFilter]:
        return check_filters(filters)

    @model_validator(mode="after")
    def _consistent(self) -> HTTPRouteRule:
        if self.backend_refs and any(
            f.type is HTTPRouteFilterType.REQUEST_REDIRECT for f in self.filters
        ):
            raise ValueError("RequestRedirect filter must not be used together with backendRefs")
        _prefix_rewrite_needs_one_prefix_match(self.matches, self.filters)
        for ref in self.backend_refs:
            _prefix_rewrite_needs_one_prefix_match(self.matches, ref.filters)
        return self


class HTTPRouteSpec(CommonRouteSpec):
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[HTTPRouteRule] = Field(
        default_factory=lambda: [HTTPRouteRule()], min_length=1, max_length=16
    )

    @model_validator(mode="after")
    def _limits(self) -> HTTPRouteSpec:
        if sum(len(r.matches) for r in self.rules) > 128:
            raise ValueError("rules: the total number of matches across all rules must be <= 128")
        names = [r.name for r in self.rules if r.name]
        if len(set(names)) != len(names):
            raise ValueError("rules: rule name must be unique within the route")
        return self


# --- GRPCRoute -------------------------------------------------------------------------


class GRPCMethodMatch(IstioModel):
    type: MatchType = MatchType.EXACT
    service: str | None = Field(default=None, max_length=1024)
    method: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one(self) -> GRPCMethodMatch:
        if self.service is None and self.method is None:
            raise ValueError("One or both of 'service' or 'method' must be specified")
        if self.type is MatchType.EXACT:
            if self.service is not None and not re.fullmatch(r"[^/]+", self.service):
                raise ValueError("service must only contain valid characters (no '/')")
            if self.method is not None and not re.fullmatch(r"[^/]+", self.method):
                raise ValueError("method must only contain valid characters (no '/')")
        else:
            for value in (self.service, self.method):
                if value is not None:
                    check_re2(value)
        return self


class GRPCHeaderMatch(IstioModel):
    type: MatchType = MatchType.EXACT
    name: HeaderName
    value: str = Field(min_length=1, max_length=4096)


class GRPCRouteMatch(IstioModel):
    method: GRPCMethodMatch | None = None
    headers: list[GRPCHeaderMatch] = Field(default_factory=list, max_length=16)


class GRPCRouteFilterType(StrEnum):
    REQUEST_HEADER_MODIFIER = "RequestHeaderModifier"
    RESPONSE_HEADER_MODIFIER = "ResponseHeaderModifier"
    REQUEST_MIRROR = "RequestMirror"


class GRPCRouteFilter(IstioModel):
    type: GRPCRouteFilterType
    request_header_modifier: HTTPHeaderFilter | None = None
    response_header_modifier: HTTPHeaderFilter | None = None
    request_mirror: HTTPRequestMirrorFilter | None = None

    @model_validator(mode="after")
    def _matching_field(self) -> GRPCRouteFilter:
        fields = {
            GRPCRouteFilterType.REQUEST_HEADER_MODIFIER: self.request_header_modifier,
            GRPCRouteFilterType.RESPONSE_HEADER_MODIFIER: self.response_header_modifier,
            GRPCRouteFilterType.REQUEST_MIRROR: self.request_mirror,
        }
        for kind, value in fields.items():
            if (value is not None) != (kind is self.type):
                raise ValueError(f"the filter's field must match its type {self.type}")
        return self


class GRPCBackendRef(BackendRef):
    filters: list[GRPCRouteFilter] = Field(default_factory=list, max_length=16)

    @field_validator("filters")
    @classmethod
    def _filters(cls, filters: list[GRPCRouteFilter]) -> list[GRPCRouteFilter]:
        if filters:
            raise ValueError(
                "filters on a backendRef are not supported by xdscp (put them on the rule)"
            )
        return filters


class GRPCRouteRule(IstioModel):
    name: SectionName | None = None
    matches: list[GRPCRouteMatch] = Field(default_factory=list, max_length=64)
    filters: list[GRPCRouteFilter] = Field(default_factory=list, max_length=16)
    backend_refs: list[GRPCBackendRef] = Field(default_factory=list, max_length=16)


class GRPCRouteSpec(CommonRouteSpec):
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[GRPCRouteRule] = Field(default_factory=list, max_length=16)


# --- TCPRoute / TLSRoute ---------------------------------------------------------------


class TCPRouteRule(IstioModel):
    name: SectionName | None = None
    backend_refs: list[BackendRef] = Field(min_length=1, max_length=16)


class TCPRouteSpec(CommonRouteSpec):
    rules: list[TCPRouteRule] = Field(min_length=1, max_length=16)


class TLSRouteSpec(CommonRouteSpec):
    hostnames: list[Hostname] = Field(default_factory=list, max_length=16)
    rules: list[TCPRouteRule] = Field(min_length=1, max_length=16)


# --- ReferenceGrant --------------------------------------------------------------------


class ReferenceGrantFrom(IstioModel):
    group: Group
    kind: Kind
    namespace: Namespace


class ReferenceGrantTo(IstioModel):
    group: Group
    kind: Kind
    name: ObjectName | None = None


class ReferenceGrantSpec(IstioModel):
    from_: list[ReferenceGrantFrom] = Field(alias="from", min_length=1, max_length=16)
    to: list[ReferenceGrantTo] = Field(min_length=1, max_length=16)


# --- registration ----------------------------------------------------------------------

V1 = frozenset({"v1"})
V1_BETA = frozenset({"v1", "v1beta1"})
ALPHA_TO_V1 = frozenset({"v1", "v1alpha2", "v1alpha3"})

# kind (registry key) -> (accepted versions, spec model). TCPRoute and TLSRoute graduated
# to v1 late; their alpha versions are still what most clusters serve.
GATEWAY_API_KINDS: dict[str, tuple[frozenset[str], type[IstioModel]]] = {
    "GatewayClass": (V1_BETA, GatewayClassSpec),
    KUBERNETES_GATEWAY: (V1_BETA, GatewaySpec),
    "HTTPRoute": (V1_BETA, HTTPRouteSpec),
    "GRPCRoute": (frozenset({"v1", "v1alpha2"}), GRPCRouteSpec),
    "TCPRoute": (ALPHA_TO_V1, TCPRouteSpec),
    "TLSRoute": (ALPHA_TO_V1, TLSRouteSpec),
    "ReferenceGrant": (frozenset({"v1", "v1beta1", "v1alpha2"}), ReferenceGrantSpec),
}

# (API group, kind as written in YAML) -> registry key, where two groups use one kind.
KIND_ALIASES: dict[tuple[str, str], str] = {(GATEWAY_API, "Gateway"): KUBERNETES_GATEWAY}
# registry key -> the kind the API server knows, when they differ
API_KIND = {KUBERNETES_GATEWAY: "Gateway"}
# kinds that are cluster-scoped in Kubernetes
CLUSTER_SCOPED = frozenset({"GatewayClass"})
