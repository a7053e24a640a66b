"""What Envoy would do with a request, answered from the generated config (DESIGN §7:
test meaning, not only bytes).

Given a RouteConfiguration (or a proxy's resources and a listener port) and a described
request, `route` answers which virtual host, which route and which weighted cluster(s)
Envoy would pick, following Envoy's own rules:

* virtual host by the Host/:authority header, lower-cased and compared as sent (port
  included: xdscp sets no port stripping): exact domain first, then suffix wildcards
  (`*.example.com`, longest first), then prefix wildcards (`api.*`, longest first),
  then `*`; a wildcard never matches an empty remainder;
* the first route, in order, whose path matcher and every header matcher match;
  `prefix` sees the whole :path, `path` and `safe_regex` the path without query or
  fragment; regexes must match fully (RE2, approximated by Python's `re`);
* among weighted clusters, those with weight 0 are never picked.

Anything in a route this model does not know (query parameter matchers, runtime
fractions, ...) raises `Unsupported` instead of being silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import string_pb2
from google.protobuf.message import Message

from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE


class Unsupported(NotImplementedError):
    """The config uses a matcher or action this evaluator does not model."""


class Resource(Protocol):
    @property
    def type_url(self) -> str: ...

    @property
    def message(self) -> Message: ...


@dataclass(frozen=True, slots=True)
class Request:
    host: str
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    virtual_host: str
    route: str
    # (cluster, weight) Envoy may pick, in config order; a plain `cluster` action is
    # one entry of weight 100
    clusters: tuple[tuple[str, int], ...]

    @property
    def cluster(self) -> str:
        """The only cluster this request can reach (fails if it is split)."""
        if len(self.clusters) != 1:
            raise AssertionError(f"route {self.route} splits over {self.clusters}")
        return self.clusters[0][0]

    def share(self, cluster: str) -> float:
        """The fraction of requests going to `cluster`."""
        total = sum(w for _, w in self.clusters)
        return sum(w for c, w in self.clusters if c == cluster) / total if total else 0.0


# --- virtual host selection ----------------------------------------------------------


def select_virtual_host(config: route_pb2.RouteConfiguration, host: str) -> rc.VirtualHost | None:
    """Envoy's RouteMatcher::findVirtualHost."""
    host = host.lower()
    exact: dict[str, rc.VirtualHost] = {}
    suffixes: list[tuple[str, rc.VirtualHost]] = []
    prefixes: list[tuple[str, rc.VirtualHost]] = []
    default: rc.VirtualHost | None = None
    for vhost in config.virtual_hosts:
        for domain in vhost.domains:
            domain = domain.lower()
            if domain == "*":
                default = vhost
            elif domain.startswith("*"):
                suffixes.append((domain[1:], vhost))
            elif domain.endswith("*"):
                prefixes.append((domain[:-1], vhost))
            else:
                exact[domain] = vhost
    if host in exact:
        return exact[host]
    for suffix, vhost in sorted(suffixes, key=lambda s: -len(s[0])):  # stable: config order
        if len(host) > len(suffix) and host.endswith(suffix):
            return vhost
    for prefix, vhost in sorted(prefixes, key=lambda p: -len(p[0])):
        if len(host) > len(prefix) and host.startswith(prefix):
            return vhost
    return default


# --- route matching ------------------------------------------------------------------


def _full_match(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _string_matches(matcher: string_pb2.StringMatcher, value: str) -> bool:
    kind = matcher.WhichOneof("match_pattern")
    if matcher.ignore_case and kind != "safe_regex":
        value = value.lower()
    if kind == "exact":
        expected = matcher.exact.lower() if matcher.ignore_case else matcher.exact
        return bool(value == expected)
    if kind == "prefix":
        return value.startswith(matcher.prefix.lower() if matcher.ignore_case else matcher.prefix)
    if kind == "suffix":
        return value.endswith(matcher.suffix.lower() if matcher.ignore_case else matcher.suffix)
    if kind == "contains":
        return (matcher.contains.lower() if matcher.ignore_case else matcher.contains) in value
    if kind == "safe_regex":
        return _full_match(matcher.safe_regex.regex, value)
    raise Unsupported(f"string matcher {kind}")


def _header_matches(matcher: rc.HeaderMatcher, headers: Mapping[str, str]) -> bool:
    kind = matcher.WhichOneof("header_match_specifier")
    value = headers.get(matcher.name.lower())
    if value is None and matcher.treat_missing_header_as_empty:
        value = ""
    if kind == "present_match":
        matched = (value is not None) == matcher.present_match
    elif kind == "string_match":
        matched = value is not None and _string_matches(matcher.string_match, value)
    elif kind is None:
        matched = value is not None  # no specifier: presence
    else:
        raise Unsupported(f"header matcher {kind}")
    return bool(matched) != bool(matcher.invert_match)


_MODELLED_MATCH_FIELDS = frozenset({"prefix", "path", "safe_regex", "case_sensitive", "headers"})


def _is_set(message: Message, name: str) -> bool:
    try:
        return message.HasField(name)
    except ValueError:  # repeated field
        return len(getattr(message, name)) > 0


def _route_matches(match: rc.RouteMatch, request: Request) -> bool:
    for descriptor in match.DESCRIPTOR.fields:
        if descriptor.name not in _MODELLED_MATCH_FIELDS and _is_set(match, descriptor.name):
            raise Unsupported(f"route match {descriptor.name}")
    if match.HasField("case_sensitive") and not match.case_sensitive.value:
        raise Unsupported("case-insensitive path matching")
    path = request.path
    bare = re.split(r"[?#]", path, maxsplit=1)[0]
    kind = match.WhichOneof("path_specifier")
    if kind == "prefix":
        matched = path.startswith(match.prefix)
    elif kind == "path":
        matched = bare == match.path
    elif kind == "safe_regex":
        matched = _full_match(match.safe_regex.regex, bare)
    else:
        raise Unsupported(f"path specifier {kind}")
    headers = {k.lower(): v for k, v in request.headers.items()}
    return bool(matched) and all(_header_matches(h, headers) for h in match.headers)


def _clusters(route: rc.Route) -> tuple[tuple[str, int], ...]:
    action = route.WhichOneof("action")
    if action != "route":
        raise Unsupported(f"route action {action}")
    specifier = route.route.WhichOneof("cluster_specifier")
    if specifier == "cluster":
        return ((route.route.cluster, 100),)
    if specifier == "weighted_clusters":
        return tuple(
            (c.name, c.weight.value)
            for c in route.route.weighted_clusters.clusters
            if c.weight.value > 0
        )
    raise Unsupported(f"cluster specifier {specifier}")


def route(config: route_pb2.RouteConfiguration, request: Request) -> Decision | None:
    """Where Envoy sends `request` under `config`; None is Envoy's 404 (no virtual host,
    or no route of it matches)."""
    vhost = select_virtual_host(config, request.host)
    if vhost is None:
        return None
    for candidate in vhost.routes:
        if _route_matches(candidate.match, request):
            return Decision(vhost.name, candidate.name, _clusters(candidate))
    return None


# --- whole proxies -------------------------------------------------------------------


def _messages(resources: Iterable[Resource], type_url: str) -> list[Message]:
    return [r.message for r in resources if r.type_url == type_url]


def route_config_for_port(
    resources: Iterable[Resource], port: int, address: str | None = None
) -> route_pb2.RouteConfiguration:
    """The route configuration the HTTP listener on `port` (and `address`, if given) uses:
    its RDS config from `resources`, or its inline one."""
    resources = list(resources)
    listeners = [
        m
        for m in _messages(resources, LISTENER_TYPE)
        if isinstance(m, listener_pb2.Listener)
        and m.address.socket_address.port_value == port
        and (address is None or m.address.socket_address.address == address)
    ]
    if len(listeners) != 1:
        raise LookupError(f"{len(listeners)} listeners on port {port} (address {address})")
    (listener,) = listeners
    for chain in listener.filter_chains:
        for network_filter in chain.filters:
            if network_filter.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                manager = hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                if manager.HasField("route_config"):
                    return manager.route_config
                name = manager.rds.route_config_name
                for message in _messages(resources, ROUTE_TYPE):
                    if isinstance(message, route_pb2.RouteConfiguration) and message.name == name:
                        return message
                raise LookupError(f"listener {listener.name} uses missing route config {name}")
    raise LookupError(f"listener {listener.name} has no HTTP connection manager")


def route_on_port(
    resources: Iterable[Resource], port: int, request: Request, address: str | None = None
) -> Decision | None:
    """`route` through the listener a request to `port` would enter."""
    return route(route_config_for_port(resources, port, address), request)


def endpoints(resources: Iterable[Resource], cluster_name: str) -> list[tuple[str, int, int]]:
    """(address, port, weight) of every endpoint of a cluster: its EDS assignment, or the
    inline load_assignment of a STATIC/DNS cluster."""
    resources = list(resources)
    assignment: endpoint_pb2.ClusterLoadAssignment | None = None
    for message in _messages(resources, CLUSTER_TYPE):
        if isinstance(message, cluster_pb2.Cluster) and message.name == cluster_name:
            if message.type != cluster_pb2.Cluster.EDS:
                assignment = message.load_assignment
            else:
                service = message.eds_cluster_config.service_name or message.name
                for cla in _messages(resources, ENDPOINT_TYPE):
                    if (
                        isinstance(cla, endpoint_pb2.ClusterLoadAssignment)
                        and cla.cluster_name == service
                    ):
                        assignment = cla
            break
    else:
        raise LookupError(f"no cluster {cluster_name}")
    if assignment is None:
        raise LookupError(f"no load assignment for {cluster_name}")
    return [
        (
            e.endpoint.address.socket_address.address,
            e.endpoint.address.socket_address.port_value,
            e.load_balancing_weight.value or 1,
        )
        for locality in assignment.endpoints
        for e in locality.lb_endpoints
    ]
