"""RouteConfigIR -> envoy.config.route.v3.RouteConfiguration."""

from __future__ import annotations

from functools import lru_cache

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from translators.envoy.common import duration, length_delimited, pack, provenance
from translators.ir import (
    MatchKind,
    RouteConfigIR,
    RouteIR,
    RouteMatchIR,
    StringMatchIR,
    VirtualHostIR,
)

# Istio's default retry policy for mesh routes (applies when a VirtualService sets none).
_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


@lru_cache(maxsize=1)
def default_retry_policy() -> rc.RetryPolicy:
    """Shared and cached: copy it, never mutate it."""
    policy = rc.RetryPolicy(
        retry_on=_RETRY_ON,
        num_retries={"value": 2},
        host_selection_retry_max_attempts=5,
        retriable_status_codes=[503],
    )
    policy.retry_host_predicate.add(
        name="envoy.retry_host_predicates.previous_hosts",
        typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate()),
    )
    return policy


def _string_matcher(match: StringMatchIR) -> string_pb2.StringMatcher:
    if match.kind is MatchKind.EXACT:
        return string_pb2.StringMatcher(exact=match.value)
    if match.kind is MatchKind.PREFIX:
        return string_pb2.StringMatcher(prefix=match.value)
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=match.value))


def _match(ir: RouteMatchIR) -> rc.RouteMatch:
    match = rc.RouteMatch()
    if ir.path.kind is MatchKind.EXACT:
        match.path = ir.path.value
    elif ir.path.kind is MatchKind.PREFIX:
        match.prefix = ir.path.value
    else:
        match.safe_regex.regex = ir.path.value
    for header in ir.headers:
        match.headers.add(name=header.name, string_match=_string_matcher(header.match))
    return match


def _route(ir: RouteIR) -> rc.Route:
    action = rc.RouteAction(timeout=duration(0), retry_policy=default_retry_policy())
    if len(ir.clusters) == 1:
        action.cluster = ir.clusters[0].cluster
    else:
        for wc in ir.clusters:
            action.weighted_clusters.clusters.add(name=wc.cluster, weight={"value": wc.weight})
    route = rc.Route(name=ir.name, match=_match(ir.match), route=action)
    if ir.provenance:
        route.metadata.CopyFrom(provenance(ir.provenance))
    return route


def build_virtual_host(ir: VirtualHostIR) -> rc.VirtualHost:
    vhost = rc.VirtualHost(
        name=ir.name, domains=list(ir.domains), routes=[_route(r) for r in ir.routes]
    )
    if ir.provenance:
        vhost.metadata.CopyFrom(provenance(ir.provenance))
    return vhost


def build_route_config(ir: RouteConfigIR) -> route_pb2.RouteConfiguration:
    config = route_pb2.RouteConfiguration(
        name=ir.name, virtual_hosts=[build_virtual_host(v) for v in ir.virtual_hosts]
    )
    sources = {s for v in ir.virtual_hosts for s in v.provenance}
    if sources:
        config.metadata.CopyFrom(provenance(sources))
    return config


def virtual_host_bytes(ir: VirtualHostIR) -> bytes:
    encoded: bytes = build_virtual_host(ir).SerializeToString(deterministic=True)
    return encoded


# RouteConfiguration field numbers, for assembling one from pre-serialized virtual hosts.
_RC_NAME, _RC_VIRTUAL_HOSTS, _RC_METADATA = 1, 2, 17


def route_config_bytes(name: str, virtual_hosts: list[bytes], sources: tuple[str, ...]) -> bytes:
    """A serialized RouteConfiguration made by concatenating encoded fields in field-number
    order — byte-identical to serializing `build_route_config` deterministically."""
    parts = [length_delimited(_RC_NAME, name.encode())]
    parts += [length_delimited(_RC_VIRTUAL_HOSTS, v) for v in virtual_hosts]
    if sources:
        metadata = provenance(sources).SerializeToString(deterministic=True)
        parts.append(length_delimited(_RC_METADATA, metadata))
    return b"".join(parts)
