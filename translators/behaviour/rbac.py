"""What a sidecar's inbound port would do with a described connection and request,
answered from the generated Listener (DESIGN §7: test meaning, not only bytes).

`inbound_verdict` follows Envoy:

* filter chain by transport: a plaintext connection reaches only a chain without a
  TLS transport socket (matched `raw_buffer` or unmatched); a TLS connection only a
  chain with one. No chain: the connection is refused;
* a mutual-TLS chain requires a client certificate (`require_client_certificate`);
* RBAC filters (HTTP or network) in order, as Envoy's RBAC filter decides: ALLOW
  denies what matches no policy, DENY denies what matches one, LOG never denies,
  absent `rules` enforce nothing (shadow rules are only evaluated);
* `authenticated.principal_name` sees the peer certificate's URI SAN — nothing on
  plaintext;
* `uri_template` permissions match the path (without query) as Envoy's
  uri_template matcher: `*` one non-empty segment, `**` any rest (with `/`);
* `metadata` principals on `envoy.filters.http.jwt_authn` see `Call.jwt`, the payload
  of the token jwt_authn verified (None: no valid token; jwt_authn itself is not run).

Anything else in an RBAC rule raises `Unsupported`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from envoy.config.core.v3 import address_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac_pb2
from envoy.extensions.path.match.uri_template.v3 import uri_template_match_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from translators.behaviour.routing import (
    Unsupported,
    header_matches,
    jwt_metadata_matches,
    string_matches,
)
from translators.naming import LISTENER_TYPE
from translators.translate import ProxyResources


@dataclass(frozen=True, slots=True)
class Call:
    """A connection (and, on HTTP ports, a request) arriving at an inbound port."""

    port: int
    peer: str | None = None  # the client certificate's SPIFFE ID; None: plaintext
    tls: bool | None = None  # TLS without a client certificate when peer is None
    source_ip: str = "10.9.9.9"
    method: str = "GET"
    path: str = "/"
    host: str = "orders"
    headers: Mapping[str, str] = field(default_factory=dict)
    # the claims of the JWT the sidecar's jwt_authn verified (None: no valid token)
    jwt: Mapping[str, object] | None = None

    @property
    def uses_tls(self) -> bool:
        return self.peer is not None or bool(self.tls)

    def request_headers(self) -> dict[str, str]:
        return {
            ":method": self.method,
            ":path": self.path,
            ":authority": self.host,
            **{k.lower(): v for k, v in self.headers.items()},
        }


REFUSED = "refused"  # no filter chain, or TLS handshake failed
ALLOWED = "allowed"
DENIED = "denied"


def _in_cidr(cidr: address_pb2.CidrRange, ip: str) -> bool:
    network = ipaddress.ip_network(f"{cidr.address_prefix}/{cidr.prefix_len.value}", strict=False)
    return ipaddress.ip_address(ip) in network


# What Envoy 1.40's uri_template globs match in a segment: RFC 3986 pchar, `=` and `*`
# included (measured through real Envoy: tests/security/test_authz_trust_domains_templates.py)
_TEMPLATE_LITERAL = r"A-Za-z0-9\-._~%!$&'()*+,;=:@"
_TEMPLATE_OPERATORS = {"**": f"[{_TEMPLATE_LITERAL}/]*", "*": f"[{_TEMPLATE_LITERAL}]+"}


def uri_template_regex(template: str) -> str:
    """The regular expression Envoy's uri_template matcher compiles `template` into
    (operators `*` / `**` only — the forms xdscp generates)."""
    parts = re.split(r"(\*\*|\*)", template)
    return "".join(_TEMPLATE_OPERATORS.get(part) or re.escape(part) for part in parts)


def _uri_template_matches(permission: rbac_pb2.Permission, path: str) -> bool:
    config = uri_template_match_pb2.UriTemplateMatchConfig()
    if not permission.uri_template.typed_config.Unpack(config):
        raise Unsupported(f"uri_template {permission.uri_template.typed_config.type_url}")
    if "{" in config.path_template:
        raise Unsupported("uri_template with variables")
    without_query = re.split(r"[?#]", path, maxsplit=1)[0]
    return re.fullmatch(uri_template_regex(config.path_template), without_query) is not None


def principal_matches(principal: rbac_pb2.Principal, call: Call, http: bool) -> bool:
    kind = principal.WhichOneof("identifier")
    if kind == "any":
        return True
    if kind == "and_ids":
        return all(principal_matches(p, call, http) for p in principal.and_ids.ids)
    if kind == "or_ids":
        return any(principal_matches(p, call, http) for p in principal.or_ids.ids)
    if kind == "not_id":
        return not principal_matches(principal.not_id, call, http)
    if kind == "authenticated":
        if call.peer is None:
            return False
        if not principal.authenticated.HasField("principal_name"):
            return True
        return string_matches(principal.authenticated.principal_name, call.peer)
    if kind in ("direct_remote_ip", "remote_ip"):
        return _in_cidr(getattr(principal, kind), call.source_ip)
    if kind == "header":
        if not http:
            raise Unsupported("header principal on a network filter")
        return header_matches(principal.header, call.request_headers())
    if kind == "metadata":
        return jwt_metadata_matches(principal.metadata, call.jwt)
    raise Unsupported(f"principal {kind}")


def permission_matches(permission: rbac_pb2.Permission, call: Call, http: bool) -> bool:
    kind = permission.WhichOneof("rule")
    if kind == "any":
        return True
    if kind == "and_rules":
        return all(permission_matches(p, call, http) for p in permission.and_rules.rules)
    if kind == "or_rules":
        return any(permission_matches(p, call, http) for p in permission.or_rules.rules)
    if kind == "not_rule":
        return not permission_matches(permission.not_rule, call, http)
    if kind == "destination_port":
        return bool(permission.destination_port == call.port)
    if not http:
        raise Unsupported(f"permission {kind} on a network filter")
    if kind == "header":
        return header_matches(permission.header, call.request_headers())
    if kind == "url_path":
        path = call.path.split("?", 1)[0]
        return string_matches(permission.url_path.path, path)
    if kind == "uri_template":
        return _uri_template_matches(permission, call.path)
    raise Unsupported(f"permission {kind}")


def matching_policies(rules: rbac_pb2.RBAC, call: Call, http: bool) -> list[str]:
    """The names of the policies whose principals and permissions both match `call`."""
    return sorted(
        name
        for name, policy in rules.policies.items()
        if any(principal_matches(p, call, http) for p in policy.principals)
        and any(permission_matches(p, call, http) for p in policy.permissions)
    )


def rbac_allows(rules: rbac_pb2.RBAC, call: Call, http: bool) -> bool:
    matched = bool(matching_policies(rules, call, http))
    if rules.action == rbac_pb2.RBAC.ALLOW:
        return matched
    if rules.action == rbac_pb2.RBAC.DENY:
        return not matched
    return True  # LOG


def select_chain(
    listener: listener_pb2.Listener, call: Call
) -> listener_components_pb2.FilterChain:
    for chain in listener.filter_chains:
        tls_chain = chain.HasField("transport_socket")
        wanted = chain.filter_chain_match.transport_protocol
        if wanted and wanted != ("tls" if call.uses_tls else "raw_buffer"):
            continue
        if tls_chain != call.uses_tls:
            continue
        return chain
    raise LookupError("no filter chain")


def rbac_configs(
    chain: listener_components_pb2.FilterChain,
) -> tuple[bool, list[http_rbac_pb2.RBAC | network_rbac_pb2.RBAC]]:
    configs: list[http_rbac_pb2.RBAC | network_rbac_pb2.RBAC] = []
    http = False
    for network_filter in chain.filters:
        packed = network_filter.typed_config
        if packed.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
            http = True
            manager = hcm_pb2.HttpConnectionManager()
            packed.Unpack(manager)
            for http_filter in manager.http_filters:
                if http_filter.typed_config.Is(http_rbac_pb2.RBAC.DESCRIPTOR):
                    config = http_rbac_pb2.RBAC()
                    http_filter.typed_config.Unpack(config)
                    configs.append(config)
        elif packed.Is(network_rbac_pb2.RBAC.DESCRIPTOR):
            network = network_rbac_pb2.RBAC()
            packed.Unpack(network)
            configs.append(network)
    return http, configs


def listener_verdict(listener: listener_pb2.Listener, call: Call) -> str:
    try:
        chain = select_chain(listener, call)
    except LookupError:
        return REFUSED
    if chain.HasField("transport_socket"):
        context = tls_pb2.DownstreamTlsContext()
        chain.transport_socket.typed_config.Unpack(context)
        if context.require_client_certificate.value and call.peer is None:
            return REFUSED
    http, configs = rbac_configs(chain)
    for config in configs:
        if config.HasField("rules") and not rbac_allows(config.rules, call, http):
            return DENIED
    return ALLOWED


def inbound_listener(
    resources: ProxyResources | Iterable[object], port: int
) -> listener_pb2.Listener:
    items = resources.resources if isinstance(resources, ProxyResources) else resources
    for resource in items:
        if getattr(resource, "type_url", None) != LISTENER_TYPE:
            continue
        message = resource.message  # type: ignore[attr-defined]
        if message.traffic_direction == 1 and message.address.socket_address.port_value == port:
            assert isinstance(message, listener_pb2.Listener)
            return message
    raise LookupError(f"no inbound listener on port {port}")


def inbound_verdict(resources: ProxyResources, call: Call) -> str:
    return listener_verdict(inbound_listener(resources, call.port), call)
