"""networking.istio.io EnvoyFilter: patches applied to the Envoy config of selected proxies.

Validation is Istio's (pkg/config/validation/envoyfilter): every patch has an `applyTo`,
a `patch` with an `operation`, and a `value` unless it removes; the proxy version is a
valid regex; a listener-class patch (LISTENER, FILTER_CHAIN, NETWORK_FILTER, HTTP_FILTER)
matches only a listener, a filter match names its filter, a subFilter match only goes
with HTTP_FILTER and the HTTP connection manager; route-class patches match only a route
configuration, CLUSTER only a cluster. The `value` must convert into the Envoy message
the patch applies to (fields Istio's non-strict parse ignores are ignored here too), and
every `@type` in it must be a type Envoy's API defines: an unknown one is refused here,
naming the field, instead of reaching Envoy as a NACK.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import Field, field_validator, model_validator

from translators.model.base import IstioModel
from translators.model.checks import INT32_MAX, FieldValueError, UInt32
from translators.model.request_authn import TargetReference

HCM_NAMES = frozenset(
    {"envoy.filters.network.http_connection_manager", "envoy.http_connection_manager"}
)
ANY_TYPE_PREFIX = "type.googleapis.com/"


class ApplyTo(StrEnum):
    INVALID = "INVALID"
    LISTENER = "LISTENER"
    FILTER_CHAIN = "FILTER_CHAIN"
    NETWORK_FILTER = "NETWORK_FILTER"
    HTTP_FILTER = "HTTP_FILTER"
    ROUTE_CONFIGURATION = "ROUTE_CONFIGURATION"
    VIRTUAL_HOST = "VIRTUAL_HOST"
    HTTP_ROUTE = "HTTP_ROUTE"
    CLUSTER = "CLUSTER"
    EXTENSION_CONFIG = "EXTENSION_CONFIG"
    BOOTSTRAP = "BOOTSTRAP"
    LISTENER_FILTER = "LISTENER_FILTER"


class PatchContext(StrEnum):
    ANY = "ANY"
    SIDECAR_INBOUND = "SIDECAR_INBOUND"
    SIDECAR_OUTBOUND = "SIDECAR_OUTBOUND"
    GATEWAY = "GATEWAY"


class Operation(StrEnum):
    INVALID = "INVALID"
    MERGE = "MERGE"
    ADD = "ADD"
    REMOVE = "REMOVE"
    INSERT_BEFORE = "INSERT_BEFORE"
    INSERT_AFTER = "INSERT_AFTER"
    INSERT_FIRST = "INSERT_FIRST"
    REPLACE = "REPLACE"


class FilterClass(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    AUTHN = "AUTHN"
    AUTHZ = "AUTHZ"
    STATS = "STATS"


class RouteAction(StrEnum):
    ANY = "ANY"
    ROUTE = "ROUTE"
    REDIRECT = "REDIRECT"
    DIRECT_RESPONSE = "DIRECT_RESPONSE"


class SubFilterMatch(IstioModel):
    name: str = ""


class FilterMatch(IstioModel):
    name: str = ""
    sub_filter: SubFilterMatch | None = None


class FilterChainMatch(IstioModel):
    name: str = ""
    sni: str = ""
    transport_protocol: str = ""
    application_protocols: str = ""
    filter: FilterMatch | None = None
    destination_port: UInt32 = 0


class ListenerFilterMatch(IstioModel):
    name: str = ""


class ListenerMatch(IstioModel):
    port_number: UInt32 = 0
    port_name: str = ""
    filter_chain: FilterChainMatch | None = None
    listener_filter: str = ""
    name: str = ""


class RouteMatch(IstioModel):
    name: str = ""
    action: RouteAction = RouteAction.ANY


class VirtualHostMatch(IstioModel):
    name: str = ""
    route: RouteMatch | None = None
    domain_name: str = ""


class RouteConfigurationMatch(IstioModel):
    port_number: UInt32 = 0
    port_name: str = ""
    gateway: str = ""
    vhost: VirtualHostMatch | None = None
    name: str = ""


class ClusterMatch(IstioModel):
    port_number: UInt32 = 0
    service: str = ""
    subset: str = ""
    name: str = ""


class ProxyMatch(IstioModel):
    proxy_version: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("proxy_version")
    @classmethod
    def _regex(cls, value: str) -> str:
        if value:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(
                    f"Envoy filter: invalid regex for proxy version, [{error}]"
                ) from None
        return value


class ObjectMatch(IstioModel):
    context: PatchContext = PatchContext.ANY
    proxy: ProxyMatch | None = None
    listener: ListenerMatch | None = None
    route_configuration: RouteConfigurationMatch | None = None
    cluster: ClusterMatch | None = None

    @model_validator(mode="after")
    def _one_object_type(self) -> ObjectMatch:
        set_ = [n for n in ("listener", "routeConfiguration", "cluster") if self._has(n)]
        if len(set_) > 1:
            raise ValueError(
                f"only one of listener, routeConfiguration, cluster may be set: {set_}"
            )
        return self

    def _has(self, name: str) -> bool:
        attribute = {"routeConfiguration": "route_configuration"}.get(name, name)
        return getattr(self, attribute) is not None


class Patch(IstioModel):
    operation: Operation = Operation.INVALID
    value: dict[str, Any] | None = None
    filter_class: FilterClass = FilterClass.UNSPECIFIED


class ConfigPatch(IstioModel):
    apply_to: ApplyTo = ApplyTo.INVALID
    match: ObjectMatch | None = None
    patch: Patch | None = None

    @model_validator(mode="after")
    def _istio_rules(self) -> ConfigPatch:
        if self.apply_to is ApplyTo.INVALID:
            raise FieldValueError("applyTo", "Envoy filter: missing applyTo")
        if self.patch is None:
            raise FieldValueError("patch", "Envoy filter: missing patch")
        if self.patch.operation is Operation.INVALID:
            raise FieldValueError("patch.operation", "Envoy filter: missing patch operation")
        if self.patch.operation is not Operation.REMOVE and self.patch.value is None:
            raise FieldValueError(
                "patch.value", "Envoy filter: missing patch value for non-remove operation"
            )
        self._match_lines_up()
        if self.patch.value is not None:
            try:
                patch_message(self.apply_to, self.patch.value)
            except ValueError as error:
                raise FieldValueError("patch.value", str(error)) from None
        return self

    def _match_lines_up(self) -> None:
        match = self.match
        if match is None:
            return
        has_object = match.listener or match.route_configuration or match.cluster
        if self.apply_to in LISTENER_CLASS and has_object:
            if match.listener is None:
                raise FieldValueError(
                    "match",
                    "Envoy filter: applyTo for listener class objects cannot have non "
                    "listener match",
                )
            chain = match.listener.filter_chain
            network = chain.filter if chain is not None else None
            if network is not None:
                if not network.name:
                    raise FieldValueError(
                        "match.listener.filterChain.filter.name",
                        "Envoy filter: filter match has no name to match on",
                    )
                if network.sub_filter is not None:
                    if self.apply_to is not ApplyTo.HTTP_FILTER:
                        raise FieldValueError(
                            "match.listener.filterChain.filter.subFilter",
                            "Envoy filter: subfilter match can be used with applyTo "
                            "HTTP_FILTER only",
                        )
                    if network.name not in HCM_NAMES:
                        raise FieldValueError(
                            "match.listener.filterChain.filter.subFilter",
                            "Envoy filter: subfilter match requires filter match with "
                            "envoy.filters.network.http_connection_manager",
                        )
                    if not network.sub_filter.name:
                        raise FieldValueError(
                            "match.listener.filterChain.filter.subFilter.name",
                            "Envoy filter: subfilter match has no name to match on",
                        )
        elif self.apply_to in ROUTE_CLASS and has_object and match.route_configuration is None:
            raise FieldValueError(
                "match",
                "Envoy filter: applyTo for http route class objects cannot have non route "
                "configuration match",
            )
        elif self.apply_to is ApplyTo.CLUSTER and has_object and match.cluster is None:
            raise FieldValueError(
                "match",
                "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
            )


LISTENER_CLASS = frozenset(
    {ApplyTo.LISTENER, ApplyTo.FILTER_CHAIN, ApplyTo.NETWORK_FILTER, ApplyTo.HTTP_FILTER}
)
# patched on listeners too (Istio's validation leaves its match unchecked)
LISTENER_PATCHED = LISTENER_CLASS | {ApplyTo.LISTENER_FILTER}
ROUTE_CLASS = frozenset({ApplyTo.ROUTE_CONFIGURATION, ApplyTo.VIRTUAL_HOST, ApplyTo.HTTP_ROUTE})


class EnvoyFilterSelector(IstioModel):
    labels: dict[str, str] = Field(default_factory=dict)


class EnvoyFilterSpec(IstioModel):
    workload_selector: EnvoyFilterSelector | None = None
    target_refs: list[TargetReference] = Field(default_factory=list)
    config_patches: list[ConfigPatch] = Field(default_factory=list)
    priority: int = Field(default=0, ge=-INT32_MAX - 1, le=INT32_MAX)

    @model_validator(mode="after")
    def _one_scope(self) -> EnvoyFilterSpec:
        if self.workload_selector is not None and self.target_refs:
            raise ValueError("only one of targetRefs or workloadSelector can be set")
        return self


# --- patch values as Envoy messages ------------------------------------------------

_MESSAGE_OF: dict[ApplyTo, tuple[str, str]] = {
    ApplyTo.LISTENER: ("envoy.config.listener.v3.listener_pb2", "Listener"),
    ApplyTo.FILTER_CHAIN: ("envoy.config.listener.v3.listener_components_pb2", "FilterChain"),
    ApplyTo.NETWORK_FILTER: ("envoy.config.listener.v3.listener_components_pb2", "Filter"),
    ApplyTo.LISTENER_FILTER: ("envoy.config.listener.v3.listener_components_pb2", "ListenerFilter"),
    ApplyTo.HTTP_FILTER: (
        "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
        "HttpFilter",
    ),
    ApplyTo.ROUTE_CONFIGURATION: ("envoy.config.route.v3.route_pb2", "RouteConfiguration"),
    ApplyTo.VIRTUAL_HOST: ("envoy.config.route.v3.route_components_pb2", "VirtualHost"),
    ApplyTo.HTTP_ROUTE: ("envoy.config.route.v3.route_components_pb2", "Route"),
    ApplyTo.CLUSTER: ("envoy.config.cluster.v3.cluster_pb2", "Cluster"),
    ApplyTo.EXTENSION_CONFIG: ("envoy.config.core.v3.extension_pb2", "TypedExtensionConfig"),
    ApplyTo.BOOTSTRAP: ("envoy.config.bootstrap.v3.bootstrap_pb2", "Bootstrap"),
}


def message_class(apply_to: ApplyTo) -> type[Message]:
    import importlib

    module, name = _MESSAGE_OF[apply_to]
    found: type[Message] = getattr(importlib.import_module(module), name)
    return found


def _type_urls(value: object) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "@type" and isinstance(item, str):
                found.append(item)
            else:
                found += _type_urls(item)
    elif isinstance(value, list):
        for item in value:
            found += _type_urls(item)
    return found


def patch_message(apply_to: ApplyTo, value: dict[str, Any]) -> Message:
    """`value` as the Envoy message `apply_to` patches (a fresh, mutable copy). ValueError
    naming an unknown `@type` or what json_format refused."""
    from translators.extensions.convert import protobuf_class

    for url in _type_urls(value):
        full_name = url.rsplit("/", 1)[-1]
        try:
            protobuf_class(full_name)
        except TypeError:
            hint = " (hint: try using the v3 XDS API)" if ".v2." in full_name else ""
            raise ValueError(f"referenced type unknown: @type {url!r}{hint}") from None
    return _parsed(apply_to, _frozen_json(value)).__deepcopy__()


def _frozen_json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value, sort_keys=True)


@lru_cache(maxsize=512)
def _parsed(apply_to: ApplyTo, text: str) -> Message:
    import json

    message = message_class(apply_to)()
    try:
        # Istio's non-strict parse: unknown fields are dropped (a warning there)
        json_format.ParseDict(json.loads(text), message, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise ValueError(f"cannot convert to {message.DESCRIPTOR.full_name}: {error}") from None
    return message
