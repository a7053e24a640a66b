"""What Envoy would do with a request, answered from the generated config (DESIGN §7:
test meaning, not only bytes).

Given a RouteConfiguration (or a proxy's resources and a listener port) and a described
request, `route` answers which virtual host, which route and which weighted cluster(s)
Envoy would pick, following Envoy's own rules:

* virtual host by the Host/:authority header, lower-cased, its port dropped when the
  configuration sets `ignore_port_in_host_matching` (sidecars: domains carry no port),
  else compared as sent: exact domain first, then suffix wildcards
  (`*.example.com`, longest first), then prefix wildcards (`api.*`, longest first),
  then `*`; a wildcard never matches an empty remainder;
* the first route, in order, whose path matcher, every header matcher and every query
  parameter matcher match; `prefix` sees the whole :path, `path` and `safe_regex` the
  path without query or fragment; regexes must match fully (RE2, approximated by
  Python's `re`); `case_sensitive: false` lower-cases prefix/path matching (never
  regexes); header matchers see the pseudo-headers `:authority`, `:method`, `:scheme`
  and `:path` too; a missing header fails a string matcher, inverted or not, unless
  `treat_missing_header_as_empty` (Envoy's HeaderUtility::matchHeaders); a query
  parameter matcher tests the parameter's first value;
* among weighted clusters, those with weight 0 are never picked;
* a route that redirects or answers directly says so (`Decision.action`), with the
  status, the `Location` Envoy would send and the body; `upstream_request` tells what a
  forwarded request looks like to the chosen cluster (path and authority rewrites,
  header edits of the route and of the weighted cluster);
* outbound TCP/TLS listeners: `tcp_route` picks the filter chain by SNI (exact name,
  then the longest `*.` wildcard, then the chain without server names).

Anything in a route this model does not know (runtime fractions, gRPC matchers, ...)
raises `Unsupported` instead of being silently ignored.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.type.matcher.v3 import metadata_pb2, string_pb2, value_pb2
from google.protobuf.message import Message

from translators.errors import TranslatorError
from translators.naming import (
    ALLOW_ANY,
    ALLOW_ANY_DYNAMIC_DNS,
    BLOCK_ALL,
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    JWT_AUTHN_FILTER,
    JWT_PAYLOAD_METADATA_KEY,
    LISTENER_TYPE,
    ROUTE_TYPE,
)


class Unsupported(TranslatorError, NotImplementedError):
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
    method: str = "GET"
    scheme: str = "http"
    # the claims of the JWT this sidecar's jwt_authn verified (None: none), which
    # `@request.auth.claims` route matches (dynamic metadata) see
    jwt: Mapping[str, object] | None = None

    def all_headers(self) -> dict[str, str]:
        """Lower-cased headers with the pseudo-headers Envoy matchers see."""
        found = {k.lower(): v for k, v in self.headers.items()}
        found.update({":authority": self.host, ":method": self.method, ":scheme": self.scheme})
        found[":path"] = self.path
        return found


@dataclass(frozen=True, slots=True)
class Decision:
    virtual_host: str
    route: str
    # (cluster, weight) Envoy may pick, in config order; a plain `cluster` action is
    # one entry of weight 100; empty for a redirect or a direct response
    clusters: tuple[tuple[str, int], ...]
    # "route" (forwarded), "redirect" or "direct_response"
    action: str = "route"
    status: int = 0  # the answer's status, for a redirect or a direct response
    location: str = ""  # a redirect's Location header
    body: str | None = None  # a direct response's body
    raw: rc.Route | None = field(default=None, compare=False, repr=False)

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


def host_without_port(host: str) -> str:
    """Envoy's HeaderUtility::getHostWithoutPort: the text after the last `:` is dropped
    when it is a uint32 and not inside `[...]` (`name:80` -> `name`, `[::1]:80` ->
    `[::1]`, `[::1]` as it is)."""
    head, colon, port = host.rpartition(":")
    if not colon or "]" in port or not port.isdigit() or int(port) >= 2**32:
        return host
    return head


def select_virtual_host(config: route_pb2.RouteConfiguration, host: str) -> rc.VirtualHost | None:
    """Envoy's RouteMatcher::findVirtualHost."""
    host = host.lower()
    if config.ignore_port_in_host_matching:
        host = host_without_port(host)
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


def string_matches(matcher: string_pb2.StringMatcher, value: str) -> bool:
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


def header_matches(matcher: rc.HeaderMatcher, headers: Mapping[str, str]) -> bool:
    """Envoy's HeaderUtility::matchHeaders, including its rule for a missing header: only
    a presence matcher can be satisfied by absence (inverted `present_match: true`, or
    `present_match: false`); an inverted string matcher is *not*, unless
    `treat_missing_header_as_empty`."""
    kind = matcher.WhichOneof("header_match_specifier")
    if kind not in ("present_match", "string_match", None):
        raise Unsupported(f"header matcher {kind}")
    value = headers.get(matcher.name.lower())
    if value is None and not matcher.treat_missing_header_as_empty:
        presence = kind == "present_match"
        if matcher.invert_match:
            return presence and bool(matcher.present_match)
        return presence and not matcher.present_match
    value = value or ""
    if kind == "present_match":
        matched = matcher.present_match
    elif kind == "string_match":
        matched = string_matches(matcher.string_match, value)
    else:
        matched = True  # no specifier: presence
    return bool(matched) != bool(matcher.invert_match)


def _query_matches(matcher: rc.QueryParameterMatcher, path: str) -> bool:
    """Envoy's QueryParameterMatcher: the parameter's first (decoded) value."""
    query = urllib.parse.urlsplit(path).query
    values = [
        v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k == matcher.name
    ]
    if not values:
        return False
    kind = matcher.WhichOneof("query_parameter_match_specifier")
    if kind == "present_match":
        return bool(matcher.present_match)
    if kind == "string_match":
        return string_matches(matcher.string_match, values[0])
    raise Unsupported(f"query parameter matcher {kind}")


_MODELLED_MATCH_FIELDS = frozenset(
    {
        "prefix",
        "path",
        "safe_regex",
        "case_sensitive",
        "headers",
        "query_parameters",
        "dynamic_metadata",
    }
)


def value_matches(matcher: value_pb2.ValueMatcher, value: object) -> bool:
    """Envoy's ValueMatcher on a metadata value (None: absent)."""
    kind = matcher.WhichOneof("match_pattern")
    if kind == "present_match":
        return value is not None
    if kind == "string_match":
        return isinstance(value, str) and string_matches(matcher.string_match, value)
    if kind == "list_match":
        return isinstance(value, list) and any(
            value_matches(matcher.list_match.one_of, item) for item in value
        )
    if kind == "or_match":
        return any(value_matches(m, value) for m in matcher.or_match.value_matchers)
    raise Unsupported(f"value matcher {kind}")


def jwt_claim_path(matcher: metadata_pb2.MetadataMatcher) -> list[str]:
    """The claim names a matcher on jwt_authn's verified payload reads (Unsupported for
    any other metadata)."""
    keys = [segment.key for segment in matcher.path]
    if matcher.filter != JWT_AUTHN_FILTER or keys[:1] != [JWT_PAYLOAD_METADATA_KEY]:
        raise Unsupported(f"metadata {matcher.filter} {keys}")
    return keys[1:]


def jwt_metadata_matches(
    matcher: metadata_pb2.MetadataMatcher, payload: Mapping[str, object] | None
) -> bool:
    found: object = payload
    for key in jwt_claim_path(matcher):
        found = found.get(key) if isinstance(found, Mapping) else None
    return value_matches(matcher.value, found) != bool(matcher.invert)


def _is_set(message: Message, name: str) -> bool:
    try:
        return message.HasField(name)
    except ValueError:  # repeated field
        return len(getattr(message, name)) > 0


def _describe(matcher: string_pb2.StringMatcher) -> str:
    kind = matcher.WhichOneof("match_pattern") or "?"
    value = matcher.safe_regex.regex if kind == "safe_regex" else getattr(matcher, kind, "")
    label = "regex" if kind == "safe_regex" else kind
    return f"{label} {value!r}" + (" (ignoring case)" if matcher.ignore_case else "")


def _header_expectation(matcher: rc.HeaderMatcher) -> str:
    kind = matcher.WhichOneof("header_match_specifier")
    if kind == "string_match":
        wanted = _describe(matcher.string_match)
    elif kind == "present_match" and not matcher.present_match:
        wanted = "absent"
    else:
        wanted = "present"
    return f"not {wanted}" if matcher.invert_match else wanted


def _header_label(name: str) -> str:
    """Pseudo-headers by the name a VirtualService match uses for them."""
    return {":method": "method", ":authority": "authority", ":scheme": "scheme"}.get(
        name, f"header {name}"
    )


def match_failures(match: rc.RouteMatch, request: Request) -> list[str]:
    """Why `match` does not take `request`, one line per failing field (empty: it
    matches), in the order Envoy checks them: path, headers, query parameters."""
    for descriptor in match.DESCRIPTOR.fields:
        if descriptor.name not in _MODELLED_MATCH_FIELDS and _is_set(match, descriptor.name):
            raise Unsupported(f"route match {descriptor.name}")
    insensitive = match.HasField("case_sensitive") and not match.case_sensitive.value
    path = request.path
    bare = re.split(r"[?#]", path, maxsplit=1)[0]
    kind = match.WhichOneof("path_specifier")
    if kind == "prefix":
        if insensitive:
            matched = path.lower().startswith(match.prefix.lower())
        else:
            matched = path.startswith(match.prefix)
        wanted = f"prefix {match.prefix!r}"
    elif kind == "path":
        matched = bare.lower() == match.path.lower() if insensitive else bare == match.path
        wanted = f"exact {match.path!r}"
    elif kind == "safe_regex":
        matched = _full_match(match.safe_regex.regex, bare)  # case_sensitive: no effect
        wanted = f"regex {match.safe_regex.regex!r}"
    else:
        raise Unsupported(f"path specifier {kind}")
    failures: list[str] = []
    if not matched:
        failures.append(f"uri: wants {wanted}, got {path!r}")
    headers = request.all_headers()
    for header in match.headers:
        if not header_matches(header, headers):
            sent = headers.get(header.name.lower())
            got = "none" if sent is None else repr(sent)
            failures.append(
                f"{_header_label(header.name.lower())}: wants {_header_expectation(header)},"
                f" got {got}"
            )
    for claim in match.dynamic_metadata:
        if not jwt_metadata_matches(claim, request.jwt):
            name = ".".join(jwt_claim_path(claim))
            failures.append(
                f"JWT claim {name}: no match"
                + (" (no verified token)" if request.jwt is None else "")
            )
    for query in match.query_parameters:
        if not _query_matches(query, path):
            specifier = query.WhichOneof("query_parameter_match_specifier")
            wanted = _describe(query.string_match) if specifier == "string_match" else "present"
            failures.append(f"query {query.name}: wants {wanted}")
    return failures


def _route_matches(match: rc.RouteMatch, request: Request) -> bool:
    return not match_failures(match, request)


def _clusters(route: rc.Route) -> tuple[tuple[str, int], ...]:
    action = route.WhichOneof("action")
    if action in ("redirect", "direct_response"):
        return ()
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


# The `*` virtual hosts that catch authorities no service claims (outboundTrafficPolicy
# ALLOW_ANY / REGISTRY_ONLY, translators/traffic/outbound.py).
CATCH_ALL = frozenset({ALLOW_ANY_DYNAMIC_DNS, ALLOW_ANY, BLOCK_ALL})


def to_service(decision: Decision | None) -> Decision | None:
    """`decision`, or None when the request only reached the outbound catch-all: no
    service took it."""
    if decision is None or decision.virtual_host in CATCH_ALL:
        return None
    return decision


def route(config: route_pb2.RouteConfiguration, request: Request) -> Decision | None:
    """Where Envoy sends `request` under `config`; None is Envoy's 404 (no virtual host,
    or no route of it matches)."""
    vhost = select_virtual_host(config, request.host)
    if vhost is None:
        return None
    for candidate in vhost.routes:
        if _route_matches(candidate.match, request):
            return _decide(vhost, candidate, request)
    return None


_REDIRECT_CODES = {
    rc.RedirectAction.MOVED_PERMANENTLY: 301,
    rc.RedirectAction.FOUND: 302,
    rc.RedirectAction.SEE_OTHER: 303,
    rc.RedirectAction.TEMPORARY_REDIRECT: 307,
    rc.RedirectAction.PERMANENT_REDIRECT: 308,
}


def _decide(vhost: rc.VirtualHost, chosen: rc.Route, request: Request) -> Decision:
    action = chosen.WhichOneof("action")
    if action == "direct_response":
        body = chosen.direct_response.body
        text = body.inline_string if body.HasField("inline_string") else None
        if body.HasField("inline_bytes"):
            text = body.inline_bytes.decode(errors="replace")
        return Decision(
            vhost.name,
            chosen.name,
            (),
            "direct_response",
            chosen.direct_response.status,
            body=text,
            raw=chosen,
        )
    if action == "redirect":
        redirect = chosen.redirect
        return Decision(
            vhost.name,
            chosen.name,
            (),
            "redirect",
            _REDIRECT_CODES[redirect.response_code],
            location=_location(redirect, chosen.match, request),
            raw=chosen,
        )
    return Decision(vhost.name, chosen.name, _clusters(chosen), raw=chosen)


def _location(redirect: rc.RedirectAction, match: rc.RouteMatch, request: Request) -> str:
    """The Location of Envoy's redirect: each part the redirect does not rewrite is the
    request's own (the port goes with the host unless a port or scheme is given)."""
    if redirect.https_redirect or redirect.HasField("regex_rewrite"):
        raise Unsupported("https_redirect / regex_rewrite redirects")
    scheme = redirect.scheme_redirect or request.scheme
    host, _, port = request.host.partition(":")
    host = redirect.host_redirect or host
    if redirect.port_redirect:
        port = str(redirect.port_redirect)
    elif redirect.scheme_redirect and (request.scheme, port) in (("http", "80"), ("https", "443")):
        port = ""  # Envoy drops only the old scheme's default port
    path, _, query = request.path.partition("?")
    if redirect.path_redirect:
        path = redirect.path_redirect
    elif redirect.prefix_rewrite:
        path = redirect.prefix_rewrite + path[len(match.prefix) :]
    authority = f"{host}:{port}" if port else host
    return f"{scheme}://{authority}{path}" + (
        f"?{query}" if query and not redirect.strip_query else ""
    )


@dataclass(frozen=True, slots=True)
class Upstream:
    """A forwarded request as the destination cluster receives it."""

    cluster: str
    host: str
    path: str
    headers: Mapping[str, str]


def _edit_headers(
    target: rc.Route | rc.WeightedCluster.ClusterWeight, headers: dict[str, str]
) -> None:
    """One level's edits: removals, then additions (Envoy's HeaderParser)."""
    for name in target.request_headers_to_remove:
        headers.pop(name.lower(), None)
    option = base_pb2.HeaderValueOption
    for add in target.request_headers_to_add:
        key = add.header.key.lower()
        if add.append_action == option.APPEND_IF_EXISTS_OR_ADD and key in headers:
            headers[key] = f"{headers[key]},{add.header.value}"
        elif add.append_action == option.ADD_IF_ABSENT and key in headers:
            continue
        else:
            headers[key] = add.header.value


def upstream_request(decision: Decision, request: Request, cluster: str | None = None) -> Upstream:
    """What `cluster` (default: the decision's only one) receives for `request`."""
    chosen = decision.raw
    if chosen is None or decision.action != "route":
        raise ValueError(f"{decision.route} does not forward")
    action = chosen.route
    cluster = cluster or decision.cluster
    headers = {k.lower(): v for k, v in request.headers.items()}
    host = request.host
    weighted = next((c for c in action.weighted_clusters.clusters if c.name == cluster), None)
    # Envoy edits from the most specific level out (weighted cluster, then route), so the
    # route's `set` wins over the weighted cluster's for the same header
    if weighted is not None:
        _edit_headers(weighted, headers)
        if weighted.host_rewrite_literal:
            host = weighted.host_rewrite_literal
    _edit_headers(chosen, headers)
    if action.host_rewrite_literal:
        host = action.host_rewrite_literal
    path = request.path
    if action.HasField("regex_rewrite"):
        bare, sep, query = path.partition("?")
        # RE2 substitutions use \1; Python's re.sub reads them the same way
        bare = re.sub(action.regex_rewrite.pattern.regex, action.regex_rewrite.substitution, bare)
        path = bare + sep + query
    elif action.prefix_rewrite:
        kind = chosen.match.WhichOneof("path_specifier")
        matched = chosen.match.prefix if kind == "prefix" else chosen.match.path
        if kind not in ("prefix", "path"):
            raise Unsupported("prefix_rewrite after a regex match")
        path = action.prefix_rewrite + path[len(matched) :]
    return Upstream(cluster, host, path, headers)


# --- outbound TCP/TLS listeners ------------------------------------------------------


def _sni_matches(names: Iterable[str], sni: str) -> int:
    """How specifically `sni` matches `names`: exact > longer wildcard > none (-1)."""
    best = -1
    for name in names:
        if name == sni:
            return 10_000
        if name.startswith("*.") and sni.endswith(name[1:]) and len(sni) > len(name) - 1:
            best = max(best, len(name))
    return best


def _specific_ip(address: str) -> str | None:
    try:
        return None if ipaddress.ip_address(address).is_unspecified else address
    except ValueError:  # not an IP (a pipe)
        return None


def _by_destination(
    chains: Iterable[listener_components_pb2.FilterChain], destination: str | None
) -> list[listener_components_pb2.FilterChain]:
    """Envoy's first filter-chain step: the chains whose prefix ranges hold the destination
    address most specifically, else those without prefix ranges."""
    best = -1
    found: list[listener_components_pb2.FilterChain] = []
    plain: list[listener_components_pb2.FilterChain] = []
    ip = ipaddress.ip_address(destination) if destination else None
    for chain in chains:
        ranges = chain.filter_chain_match.prefix_ranges
        if not ranges:
            plain.append(chain)
            continue
        lengths = [
            r.prefix_len.value
            for r in ranges
            if ip is not None
            and ip in ipaddress.ip_network(f"{r.address_prefix}/{r.prefix_len.value}", False)
        ]
        if lengths and max(lengths) > best:
            best, found = max(lengths), [chain]
        elif lengths and max(lengths) == best:
            found.append(chain)
    return found or plain


def tcp_route(
    resources: Iterable[Resource],
    port: int,
    sni: str | None = None,
    address: str | None = None,
    destination: str | None = None,
) -> tuple[str, tuple[tuple[str, int], ...]] | None:
    """(filter chain, (cluster, weight)...) a TCP connection to `port` with `sni` reaches
    on the listener there, or None when no chain takes it (Envoy closes it).
    `destination`: the connection's destination IP (by default the listener's address,
    unless that is a wildcard), which VirtualService `destinationSubnets` match on."""
    listeners = [
        m
        for m in _messages(list(resources), LISTENER_TYPE)
        if isinstance(m, listener_pb2.Listener)
        and m.address.socket_address.port_value == port
        and (address is None or m.address.socket_address.address == address)
    ]
    if len(listeners) != 1:
        raise LookupError(f"{len(listeners)} listeners on port {port}")
    if destination is None:
        destination = _specific_ip(listeners[0].address.socket_address.address)
    best: tuple[int, listener_components_pb2.FilterChain] | None = None
    for chain in _by_destination(listeners[0].filter_chains, destination):
        names = list(chain.filter_chain_match.server_names)
        score = 0 if not names else (_sni_matches(names, sni) if sni else -1)
        if score >= 0 and (best is None or score > best[0]):
            best = (score, chain)
    if best is None:
        return None
    chain = best[1]
    for network_filter in chain.filters:
        if network_filter.typed_config.Is(tcp_proxy_pb2.TcpProxy.DESCRIPTOR):
            proxy = tcp_proxy_pb2.TcpProxy()
            network_filter.typed_config.Unpack(proxy)
            if proxy.cluster:
                return chain.name, ((proxy.cluster, 100),)
            return chain.name, tuple(
                (c.name, c.weight) for c in proxy.weighted_clusters.clusters if c.weight
            )
    raise LookupError(f"filter chain {chain.name} has no tcp_proxy")


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


def lb_endpoints(
    resources: Iterable[Resource], cluster_name: str
) -> list[endpoint_components_pb2.LbEndpoint]:
    """Every endpoint of a cluster, with its metadata: its EDS assignment, or the inline
    load_assignment of a STATIC/DNS cluster."""
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
    return [e for locality in assignment.endpoints for e in locality.lb_endpoints]


def endpoints(resources: Iterable[Resource], cluster_name: str) -> list[tuple[str, int, int]]:
    """(address, port, weight) of every endpoint of a cluster."""
    return [
        (
            e.endpoint.address.socket_address.address,
            e.endpoint.address.socket_address.port_value,
            e.load_balancing_weight.value or 1,
        )
        for e in lb_endpoints(resources, cluster_name)
    ]
