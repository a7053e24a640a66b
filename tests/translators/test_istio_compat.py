"""Istio compatibility (issue 9): what Istio accepts is accepted with its meaning, what it
refuses is refused with the field — each case written here in Istio's shape.

Acceptance is checked through the loader `xdscp validate` uses; meaning through the
behaviour evaluator over the generated route configuration (gateway-bound parts skipped
by sidecars, header presence, `redirectCode: 0`), and what is accepted but not
translated through the analysis (XDS08xx)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from tests.envoy_validate import find_envoy, validate_resources
from tests.translators.helpers import mesh_of, workload
from translators.analysis import analyze
from translators.behaviour.routing import Request, Resource, route_on_port
from translators.hosts import short_aliases
from translators.model.networking import HTTP_PROTOCOLS, Protocol
from translators.model.objects import MeshObject
from translators.model.untranslated import declared, untranslated_fields
from translators.translate import translate
from xdscp.sources.documents import parse_text

Resources = Sequence[Resource]

HEADS = {
    "VirtualService": "networking.istio.io/v1",
    "DestinationRule": "networking.istio.io/v1",
    "ServiceEntry": "networking.istio.io/v1",
    "Sidecar": "networking.istio.io/v1",
    "AuthorizationPolicy": "security.istio.io/v1",
    "Telemetry": "telemetry.istio.io/v1",
}


def document(kind: str, spec: str, name: str = "x", namespace: str = "shop") -> str:
    return (
        f"apiVersion: {HEADS[kind]}\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        "spec:\n" + textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ") + "\n"
    )


def load(kind: str, spec: str, namespace: str = "shop") -> MeshObject[Any]:
    result = parse_text(document(kind, spec, namespace=namespace), "compat.yaml")
    assert not result.errors, [str(e) for e in result.errors]
    (only,) = result.objects
    return only


def refusal(kind: str, spec: str, namespace: str = "shop") -> tuple[str, str]:
    result = parse_text(document(kind, spec, namespace=namespace), "compat.yaml")
    assert not result.objects, f"accepted: {spec}"
    error = result.errors[0]
    assert str(error).startswith(f"compat.yaml[doc 0]: {kind} {namespace}/x:")
    return error.field, error.message


ROUTE = "http: [{route: [{destination: {host: reviews}}]}]"

# --- accepted, as Istio accepts it ------------------------------------------------------

ACCEPTED = [
    ("VirtualService", f"hosts: ['*']\ngateways: [shop/public]\n{ROUTE}"),
    ("VirtualService", f"hosts: [reviews.example.com]\ngateways: [public, mesh]\n{ROUTE}"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{delegate: {name: reviews-v2}}]"),
    ("VirtualService", ROUTE),  # a delegate: no hosts
    (
        "VirtualService",
        "hosts: [reviews]\nhttp:\n- match: [{headers: {x-user: {}}}]\n"
        "  route: [{destination: {host: reviews}}]",
    ),
    (
        "VirtualService",
        "hosts: [reviews]\nhttp:\n- fault: {delay: {percentage: {value: 10}}}\n"
        "  route: [{destination: {host: reviews}}]",
    ),
    (
        "VirtualService",
        "hosts: [reviews]\nhttp:\n- fault: {delay: {fixedDelay: 5s, percent: 10}}\n"
        "  route: [{destination: {host: reviews}}]",
    ),
    ("VirtualService", "hosts: [reviews]\nhttp: [{redirect: {uri: /new, redirectCode: 0}}]"),
    (
        "VirtualService",
        "hosts: [reviews]\nhttp:\n- mirror_percent: 5\n  mirror: {host: ratings}\n"
        "  route: [{destination: {host: reviews}}]",
    ),
    (
        "VirtualService",
        "hosts: [db]\ntcp:\n- match: [{destinationSubnets: ['2001:db8::/32'], "
        "sourceSubnet: 10.0.0.0/8}]\n  route: [{destination: {host: db}}]",
    ),
    (
        "DestinationRule",
        "host: bank.example.com\ntrafficPolicy: {tls: {mode: MUTUAL, credentialName: bank}}",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, warmup: {duration: 60s, "
        "minimumPercent: 10, aggression: 2}}}",
    ),
    ("DestinationRule", "host: r\ntrafficPolicy: {loadBalancer: {warmupDurationSecs: 30s}}"),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {connectionPool: {http: {http2KeepAlive: {interval: 10s, "
        "timeout: 2s}}}}",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy:\n  loadBalancer:\n    consistentHash:\n      httpCookie:\n"
        "        name: session\n        ttl: 0s\n"
        "        attributes: [{name: SameSite, value: Strict}, {name: Secure}]",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy:\n  outlierDetection: {consecutive5xxErrors: 3}\n"
        "  loadBalancer:\n    localityLbSetting:\n      enabled: true\n"
        "      distribute: [{from: us-west/zone1/*, to: {us-west/zone1/*: 80, "
        "us-west/zone2/*: 20}}]",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: "
        "{failover: [{from: us-east, to: eu-west}]}}}",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {tunnel: {protocol: CONNECT, targetHost: 10.0.0.1, "
        "targetPort: 8443}}",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {retryBudget: {percent: 20, minRetryConcurrency: 3}}",
    ),
    ("DestinationRule", "host: r\ntrafficPolicy: {proxyProtocol: {version: V2}}"),
    (
        "AuthorizationPolicy",
        "rules: [{from: [{source: {trustDomains: [partner.example], "
        "notTrustDomains: ['*.test']}}]}]",
    ),
    (
        "AuthorizationPolicy",
        "rules: [{to: [{operation: {paths: ['/store/{*}/items/{**}'], "
        "notPaths: ['/{*}/admin']}}]}]",
    ),
    ("AuthorizationPolicy", "rules: [{from: [{source: {namespaces: ['team[0]-ns']}}]}]"),
    (
        "Sidecar",
        "inboundConnectionPool: {http: {http1MaxPendingRequests: 100}}\n"
        "ingress:\n- port: {number: 9080, protocol: http, name: http}\n"
        "  defaultEndpoint: 127.0.0.1:8080\n"
        "  connectionPool: {tcp: {maxConnections: 10}}\n"
        "outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress.shop, "
        "port: {number: 3128}}}",
    ),
    (
        "Telemetry",
        "tracing: [{customTags: {request-id: {formatter: {value: '%REQ(x-request-id)%'}}}}]",
    ),
    (
        "ServiceEntry",
        "hosts: [dns.example.com]\nports: [{number: 53, name: dns, protocol: udp}, "
        "{number: 80, name: web, protocol: GRPC-Web}, {number: 3128, name: p, "
        "protocol: http_proxy}]",
    ),
]


ACCEPTED += [
    # removed from Istio's API, still in Istio's own test data: ignored (reported)
    (
        "VirtualService",
        "hosts: [ws]\nhttp: [{websocketUpgrade: true, route: [{destination: {host: ws}}]}]",
    ),
    # a unix domain socket egress listener (port 0): accepted, reported, not translated
    (
        "Sidecar",
        "egress:\n- port: {number: 0, protocol: HTTP, name: uds}\n"
        "  bind: unix:///var/run/app.sock\n  hosts: ['*/*']",
    ),
    ("ServiceEntry", "hosts: [a.example.com]"),  # no ports
    (
        "ServiceEntry",
        "hosts: ['*.example.com']\nresolution: DYNAMIC_DNS\n"
        "ports: [{number: 443, name: tls, protocol: TLS}]",
    ),
    ("ServiceEntry", "hosts: [a.example.com]\nports: [{number: 1, name: sniffed, protocol: ''}]"),
    (
        "VirtualService",
        "hosts: [outbound_.15010_._.istiod.istio-system.svc.cluster.local]\n"
        "gateways: [istio-system/eastwest]\n"
        "tls: [{match: [{sniHosts: [outbound_.15010_._.istiod.istio-system.svc.cluster.local]}],"
        " route: [{destination: {host: istiod.istio-system.svc.cluster.local}}]}]",
    ),
]


@pytest.mark.parametrize(("kind", "spec"), ACCEPTED)
def test_what_istio_accepts_is_accepted(kind: str, spec: str) -> None:
    load(kind, spec)


def test_protocol_names_are_read_in_any_case_with_istios_meaning() -> None:
    entry = load(
        "ServiceEntry",
        "hosts: [a.example.com]\nports: [{number: 80, name: a, protocol: grpc-web}, "
        "{number: 81, name: b, protocol: Http_Proxy}, {number: 82, name: c, protocol: Mongo}]",
    )
    protocols = [p.protocol for p in entry.spec.ports]
    assert protocols == [Protocol.GRPC_WEB, Protocol.HTTP_PROXY, Protocol.MONGO]
    assert {Protocol.GRPC_WEB, Protocol.HTTP_PROXY} <= HTTP_PROTOCOLS


# --- refused, as Istio refuses it, naming the field -----------------------------------

REFUSED = [
    ("VirtualService", f"hosts: ['*']\n{ROUTE}", "spec.hosts[0]", "'*' alone is not allowed"),
    ("VirtualService", f"hosts: ['*']\ngateways: [mesh]\n{ROUTE}", "spec.hosts[0]", "'*' alone"),
    ("VirtualService", "hosts: [reviews]", "spec", "http, tcp or tls must be provided"),
    (
        "VirtualService",
        f"hosts: ['*.shop.com', a.shop.com]\n{ROUTE}",
        "spec.hosts",
        "duplicate hosts",
    ),
    ("VirtualService", f"gateways: [gw]\n{ROUTE}", "spec.gateways", "a delegate"),
    (
        "VirtualService",
        "http: [{delegate: {name: other}}]",
        "spec.http[0].delegate",
        "cannot delegate again",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp: [{delegate: {name: d}, route: [{destination: {host: r}}]}]",
        "spec.http[0]",
        "cannot also have route",
    ),
    ("VirtualService", f"hosts: [r]\ngateways: [a/b/c]\n{ROUTE}", "spec.gateways", "gateway name"),
    ("VirtualService", f"hosts: [r]\nexportTo: ['*', shop]\n{ROUTE}", "spec.exportTo", "both"),
    ("VirtualService", f"hosts: [r]\nexportTo: ['~']\n{ROUTE}", "spec.exportTo", "ServiceEntries"),
    ("VirtualService", f"hosts: [r]\nexportTo: [., shop]\n{ROUTE}", "spec.exportTo", "duplicate"),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{sourceNamespace: Not_A_Namespace}]\n"
        "  route: [{destination: {host: r}}]",
        "spec.http[0].match[0].sourceNamespace",
        "not a namespace name",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- fault: {delay: {exponentialDelay: 1s}}\n"
        "  route: [{destination: {host: r}}]",
        "spec.http[0].fault.delay",
        "exponentialDelay is not supported",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- fault: {abort: {http2Error: CANCEL}}\n"
        "  route: [{destination: {host: r}}]",
        "spec.http[0].fault.abort",
        "http2Error is not supported",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{headers: {x-user: }}]\n  route: [{destination: {host: r}}]",
        "spec.http[0].match[0].headers.x-user",
        "",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {tls: {mode: MUTUAL, credentialName: c, privateKey: /k.pem}}",
        "spec.trafficPolicy.tls",
        "cannot be set beside it",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {tls: {mode: ISTIO_MUTUAL, credentialName: c}}",
        "spec.trafficPolicy.tls",
        "ISTIO_MUTUAL",
    ),
    ("DestinationRule", "host: r\ntrafficPolicy: {}", "spec.trafficPolicy", "at least one field"),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {connectionPool: {}}",
        "spec.trafficPolicy.connectionPool",
        "at least one field",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {portLevelSettings: [{port: {number: 80}}]}",
        "spec.trafficPolicy.portLevelSettings[0]",
        "at least one field",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {connectionPool: {http: {http2KeepAlive: {interval: 1s}}}}",
        "spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout",
        "Field required",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s, "
        "attributes: [{name: Path}, {name: Path}]}}}}",
        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes",
        "duplicate cookie attribute",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {failover: [{from: a, "
        "to: a}]}}}",
        "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]",
        "different regions",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: "
        "[{from: 'a/*/c', to: {b: 100}}]}}}",
        "spec.trafficPolicy.loadBalancer.localityLbSetting",
        "'*' is only allowed as the whole last part",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {tunnel: {protocol: GET, targetHost: a.b, targetPort: 80}}",
        "spec.trafficPolicy.tunnel.protocol",
        "CONNECT or POST",
    ),
    (
        "DestinationRule",
        "host: r\ntrafficPolicy: {tunnel: {targetHost: a.b, targetPort: 80}, "
        "proxyProtocol: {version: V1}}",
        "spec.trafficPolicy",
        "tunnel and proxyProtocol",
    ),
    (
        "DestinationRule",
        "host: r\nworkloadSelector: {matchLabels: {app: r}}\nexportTo: ['*']",
        "spec.exportTo",
        "beyond its own namespace",
    ),
    (
        "AuthorizationPolicy",
        "rules: [{from: [{source: {namespaces: [a], serviceAccounts: [b]}}]}]",
        "spec.rules[0].from[0].source",
        "serviceAccounts cannot be set",
    ),
    (
        "AuthorizationPolicy",
        "rules: [{from: [{source: {trustDomains: [a/b]}}]}]",
        "spec.rules[0].from[0].source.trustDomains",
        "no '/'",
    ),
    (
        "AuthorizationPolicy",
        "rules: [{to: [{operation: {paths: ['/a/{**}/b/{*}']}}]}]",
        "spec.rules[0].to[0].operation.paths",
        "{**} must be the last operator",
    ),
    (
        "AuthorizationPolicy",
        "rules: [{to: [{operation: {paths: ['/a/{x}']}}]}]",
        "spec.rules[0].to[0].operation.paths",
        "beyond a path template",
    ),
    (
        "AuthorizationPolicy",
        "action: DENY\nprovider: {name: ext}\nrules: [{}]",
        "spec",
        "provider is only for action CUSTOM",
    ),
    (
        "Sidecar",
        "inboundConnectionPool: {}",
        "spec.inboundConnectionPool",
        "at least one field",
    ),
    (
        "Telemetry",
        "tracing: [{customTags: {a: {formatter: {value: x}, literal: {value: y}}}}]",
        "spec.tracing[0].customTags.a",
        "exactly one of",
    ),
]


ROUTED = "hosts: [r]\nhttp:\n- route: [{destination: {host: r}}]\n"
REFUSED += [
    (
        "Sidecar",
        "egress:\n- port: {number: 9000, protocol: HTTP, name: uds}\n"
        "  bind: unix:///var/run/app.sock\n  hosts: ['*/*']",
        "spec.egress[0].bind",
        "needs port 0",
    ),
    (
        "Sidecar",
        "egress:\n- port: {number: 0, protocol: HTTP, name: uds}\n  hosts: ['*/*']",
        "spec.egress[0].bind",
        "a port of 0 needs a unix domain socket",
    ),
    (
        "VirtualService",
        ROUTED + "  corsPolicy: {allowMethods: [GET, PUTT]}",
        "spec.http[0].corsPolicy.allowMethods",
        "not a supported HTTP method",
    ),
    (
        "VirtualService",
        ROUTED + "  corsPolicy: {allowOrigins: [{exact: ''}]}",
        "spec.http[0].corsPolicy.allowOrigins",
        "not a valid CORS allow origin",
    ),
    (
        "VirtualService",
        ROUTED + "  retries: {attempts: 0, retryOn: 5xx}",
        "spec.http[0].retries",
        "attempts is 0",
    ),
    (
        "VirtualService",
        ROUTED + "  rewrite: {}",
        "spec.http[0].rewrite",
        "rewrite must specify",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp: [{redirect: {redirectCode: 302}}]",
        "spec.http[0].redirect",
        "redirect must specify",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp: [{redirect: {uri: /a, scheme: ftp}}]",
        "spec.http[0].redirect",
        "http or https",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{method: {prefix: ''}}]\n  route: [{destination: {host: r}}]",
        "spec.http[0].match[0].method",
        "prefix string match should not be empty",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{uri: {regex: ''}}]\n  route: [{destination: {host: r}}]",
        "spec.http[0].match[0].uri.regex",
        "regex string match should not be empty",
    ),
    (
        "VirtualService",
        "hosts: [r]\nhttp:\n- match: [{headers: {x: {prefix: ''}}}]\n"
        "  route: [{destination: {host: r}}]",
        "spec.http[0].match[0].headers.x.prefix",
        "should not be empty",
    ),
    (
        "VirtualService",
        "hosts: [a.example.com]\ntls: [{match: [{sniHosts: [b.example.com]}], "
        "route: [{destination: {host: a.example.com}}]}]",
        "spec.tls[0].match[0].sniHosts[0]",
        "not within any of the hosts",
    ),
    (
        "VirtualService",
        "hosts: [r]\ntls: [{match: [{sniHosts: [outbound_.80_._.r]}], "
        "route: [{destination: {host: r}}]}]",
        "spec.tls[0].match[0].sniHosts[0]",
        "not a valid DNS name",
    ),
    (
        "DestinationRule",
        "host: r\nworkloadSelector: {matchLabels: {app: 'r-*'}}",
        "spec.workloadSelector.matchLabels",
        "wildcard is not supported",
    ),
    (
        "ServiceEntry",
        "hosts: [a.example.com]\nports: [{number: 80, name: http, protocol: HTTP}]\n"
        "endpoints: [{address: 10.0.0.1}]",
        "spec.endpoints",
        "resolution NONE",
    ),
    (
        "ServiceEntry",
        "hosts: [a.example.com]\nresolution: STATIC\n"
        "ports: [{number: 80, name: http, protocol: HTTP}]\n"
        "endpoints: [{address: 10.0.0.1, ports: {https: 8443}}]",
        "spec.endpoints[0].ports.https",
        "not a port of the service entry",
    ),
    (
        "ServiceEntry",
        "hosts: [a.example.com, b.example.com]\nresolution: DNS\n"
        "ports: [{number: 5432, name: pg, protocol: TCP}]",
        "spec.ports",
        "multiple hosts provided with non-HTTP",
    ),
    (
        "ServiceEntry",
        "hosts: [a.example.com]\nresolution: DYNAMIC_DNS\n"
        "ports: [{number: 80, name: http, protocol: HTTP}]",
        "spec.hosts[0]",
        "wildcards for DYNAMIC_DNS",
    ),
    (
        "ServiceEntry",
        "hosts: [a.example.com]\nresolution: DNS\naddresses: [10.0.0.0/8]\n"
        "ports: [{number: 80, name: http, protocol: HTTP}]",
        "spec.addresses",
        "CIDR addresses",
    ),
    (
        "ServiceEntry",
        "hosts: [a.example.com]\nports: [{number: 80, name: Web_Port, protocol: HTTP}]",
        "spec.ports[0].name",
        "invalid port name",
    ),
    ("Sidecar", "{}", "spec", "empty configuration provided"),
    (
        "Sidecar",
        "outboundTrafficPolicy: {egressProxy: {host: proxy.shop, port: {number: 3128}}}",
        "spec.outboundTrafficPolicy",
        "only with mode ALLOW_ANY",
    ),
    (
        "Sidecar",
        "outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: proxy.shop}}",
        "spec.outboundTrafficPolicy.egressProxy.port",
        "needs a port",
    ),
    (
        "Sidecar",
        "egress: [{hosts: ['*/*']}, {port: {number: 80, protocol: HTTP, name: http}, "
        "hosts: [./a]}]",
        "spec.egress[0]",
        "must be the last one",
    ),
    (
        "Sidecar",
        "ingress: [{port: {number: 90, protocol: HTTP, name: h}, "
        "defaultEndpoint: '127.0.0.1:9999', tls: {mode: SIMPLE}}]",
        "spec.ingress[0].tls",
        "HTTPS or TLS port",
    ),
    (
        "Sidecar",
        "ingress: [{port: {number: 90, protocol: HTTPS, name: h}, "
        "defaultEndpoint: '127.0.0.1:9999', tls: {mode: ISTIO_MUTUAL}}]",
        "spec.ingress[0].tls.mode",
        "not allowed in ingress tls",
    ),
    (
        "Sidecar",
        "ingress: [{port: {number: 90, protocol: HTTP, name: h}, defaultEndpoint: 'unix:///'}]",
        "spec.ingress[0].defaultEndpoint",
        "not an absolute path",
    ),
    (
        "Telemetry",
        "metrics: [{overrides: [{tagOverrides: {t: {operation: UPSERT}}}]}]",
        "spec.metrics[0].overrides[0].tagOverrides.t",
        "UPSERT needs a value",
    ),
    (
        "Telemetry",
        "metrics: [{overrides: [{tagOverrides: {t: {operation: REMOVE, value: x}}}]}]",
        "spec.metrics[0].overrides[0].tagOverrides.t",
        "REMOVE takes no value",
    ),
]


@pytest.mark.parametrize(("kind", "spec", "field", "message"), REFUSED)
def test_what_istio_refuses_is_refused_with_the_field(
    kind: str, spec: str, field: str, message: str
) -> None:
    got_field, got_message = refusal(kind, spec)
    assert got_field == field
    assert message in got_message


# --- the meaning: gateway-bound parts, header presence, redirectCode 0 --------------------

MESH = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: http}]
  endpoints:
  - {address: 127.0.9.1, labels: {version: v1}}
  - {address: 127.0.9.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.9.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  gateways: [shop/public, mesh]
  http:
  - match: [{gateways: [shop/public]}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 0}
  - match: [{headers: {x-user: {}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: shop}
spec:
  hosts: ['*']
  gateways: [shop/public]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client, namespace: shop}
spec: {address: 127.0.9.10, labels: {app: client}}
"""

V1 = "outbound|9080|v1|reviews.shop.svc.cluster.local"
V2 = "outbound|9080|v2|reviews.shop.svc.cluster.local"


@pytest.fixture(scope="module")
def client_resources() -> Resources:
    mesh = mesh_of(MESH)
    return translate(mesh, workload(mesh, "shop/client")).resources


def test_sidecars_skip_gateway_bound_rules_and_apply_the_mesh_ones(
    client_resources: Resources,
) -> None:
    plain = route_on_port(client_resources, 9080, Request("reviews:9080", "/"))
    assert plain is not None and plain.cluster == V1  # not the gateway-only first rule


def test_a_gateway_only_virtual_service_with_host_star_does_not_reach_sidecars(
    client_resources: Resources,
) -> None:
    # applied to sidecars, its `*` would send ratings (which has no VirtualService) to v2
    decision = route_on_port(client_resources, 9080, Request("ratings:9080", "/"))
    assert decision is not None
    assert decision.cluster == "outbound|9080||ratings.shop.svc.cluster.local"


def test_an_empty_header_match_means_the_header_is_present(client_resources: Resources) -> None:
    present = route_on_port(
        client_resources,
        9080,
        Request("reviews:9080", "/", headers={"x-user": "anyone"}),
    )
    assert present is not None and present.cluster == V2
    empty = route_on_port(
        client_resources,
        9080,
        Request("reviews:9080", "/", headers={"x-user": ""}),
    )
    assert empty is not None and empty.cluster == V2


def test_redirect_code_zero_is_istios_default_301(client_resources: Resources) -> None:
    moved = route_on_port(client_resources, 9080, Request("reviews:9080", "/old"))
    assert moved is not None and moved.action == "redirect" and moved.status == 301


def test_gateway_bound_parts_are_reported_not_refused() -> None:
    found = {(m.code, m.ref, m.field) for m in analyze(mesh_of(MESH)).messages}
    assert ("XDS0801", "VirtualService/shop/edge", "spec.gateways") in found
    assert ("XDS0801", "VirtualService/shop/reviews", "spec.http[0].match[0].gateways") in found
    # the gateway-only VirtualService claims no host from the mesh one
    assert not {c for c, _, _ in found} & {"XDS0201", "XDS0105"}


# --- accepted but not translated: reported where it is set --------------------------------


def test_every_untranslated_entry_names_a_model_field() -> None:
    for model, fields in declared().items():
        for name in fields:
            assert name in model.model_fields, f"{model.__name__}.{name}"


def test_untranslated_fields_are_found_with_their_yaml_path() -> None:
    rule = load(
        "DestinationRule",
        "host: r\ntrafficPolicy:\n  tunnel: {targetHost: proxy.example, targetPort: 8080}\n"
        "  portLevelSettings:\n  - port: {number: 80}\n"
        "    loadBalancer: {zoneAwareLbSetting: {enabled: true}}\n"
        "    tls: {mode: SIMPLE, credentialName: bank}",
    )
    paths = [path for path, _ in untranslated_fields(rule.spec)]
    assert paths == [
        "spec.trafficPolicy.portLevelSettings[0].loadBalancer.zoneAwareLbSetting",
    ]


def test_trust_domains_and_path_templates_are_enforced_not_reported() -> None:
    mesh = mesh_of(
        MESH
        + "---\n"
        + document(
            "AuthorizationPolicy",
            "selector: {matchLabels: {app: client}}\n"
            "rules: [{from: [{source: {trustDomains: [partner.example]}}],"
            " to: [{operation: {paths: ['/api/{*}']}}]}]",
            name="partners",
        )
    )
    found = {
        (m.code, m.field, m.severity.label)
        for m in analyze(mesh).messages
        if m.ref == "AuthorizationPolicy/shop/partners"
    }
    assert not {code for code, _, _ in found} & {"XDS0804", "XDS0803"}, found


# --- what is accepted translates into configuration Envoy accepts -------------------------

NOT_TRANSLATED = """\
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: ratings-client}
    loadBalancer:
      simple: LEAST_REQUEST
      warmup: {duration: 30s}
      localityLbSetting: {enabled: true, failover: [{from: us-east, to: eu-west}]}
    connectionPool: {http: {http2KeepAlive: {interval: 10s, timeout: 2s}}}
    outlierDetection: {consecutive5xxErrors: 5}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  inboundConnectionPool: {tcp: {maxConnections: 10}}
  outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: reviews, port: {number: 9080}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: legacy, namespace: shop}
spec: {address: legacy.example.com, labels: {app: reviews}}
"""


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_accepted_but_untranslated_fields_give_config_envoy_accepts() -> None:
    mesh = mesh_of(MESH + NOT_TRANSLATED)
    assert "shop/legacy" not in mesh.workloads  # a DNS-named WorkloadEntry is no proxy
    resources = translate(mesh, workload(mesh, "shop/client")).resources
    verdict = validate_resources(resources, validate_clusters=True)
    assert verdict.ok, str(verdict)
    found = {(m.code, m.ref) for m in analyze(mesh).messages}
    assert ("XDS0803", "DestinationRule/shop/ratings") in found
    assert ("XDS0807", "WorkloadEntry/shop/legacy") in found


UDS_SIDECAR = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 10.1.0.1}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: uds, namespace: shop}
spec:
  egress:
  - port: {number: 0, protocol: HTTP, name: uds}
    bind: unix:///var/run/app.sock
    hosts: ['*/*']
  - port: {number: 8080, protocol: HTTP, name: http}
    hosts: ['*/*']
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client, namespace: shop}
spec: {address: 10.0.0.1}
"""


def test_a_unix_socket_egress_listener_is_reported_and_the_rest_translated() -> None:
    mesh = mesh_of(UDS_SIDECAR)
    resources = translate(mesh, workload(mesh, "shop/client")).resources
    listeners = [r.name for r in resources if r.type_url.endswith("Listener")]
    assert listeners == ["10.0.0.1_8080"]
    found = {(m.code, m.ref, m.field) for m in analyze(mesh).messages}
    assert ("XDS0803", "Sidecar/shop/uds", "spec.egress[0].bind") in found


WILDCARD_ENTRIES = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: news, namespace: shop}
spec:
  hosts: ['*.nytimes.com', '*washingtonpost.com']
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cluster-wide, namespace: shop}
spec:
  hosts: ['*.svc.cluster.local']
  ports: [{number: 9090, name: grpc, protocol: GRPC}]
  resolution: DYNAMIC_DNS
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client, namespace: shop}
spec: {address: 10.0.0.1}
"""


@pytest.mark.skipif(find_envoy() is None, reason="no envoy binary")
def test_wildcard_hosts_istio_accepts_give_config_envoy_accepts() -> None:
    """Found by scripts/istio_compat.py: a partial-wildcard host (Istio warns, accepts)
    cannot be an SNI name, and `*.svc.cluster.local` has no short names (its would-be
    short name `*` is the catch-all's domain): both used to make Envoy refuse the config."""
    mesh = mesh_of(WILDCARD_ENTRIES)
    result = translate(mesh, workload(mesh, "shop/client"))
    verdict = validate_resources(result.resources)
    assert verdict.ok, str(verdict)
    assert any("*washingtonpost.com" in w for w in result.view.warnings)
    assert short_aliases("*.svc.cluster.local") == ["*.svc.cluster.local"]
    assert short_aliases("*.ns.svc.cluster.local") == [
        "*.ns.svc.cluster.local",
        "*.ns.svc",
        "*.ns",
    ]


INGRESS_TLS = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure, namespace: shop}
spec:
  hosts: [secure]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8443, name: https, protocol: HTTPS}, {number: 9443, name: tls, protocol: TLS}]
  workloadSelector: {labels: {app: secure}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: secure, namespace: shop}
spec: {address: 10.0.0.9, labels: {app: secure}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: secure, namespace: shop}
spec:
  selector: {matchLabels: {app: secure}}
  mtls: {mode: STRICT}
  portLevelMtls: {8443: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: secure, namespace: shop}
spec:
  workloadSelector: {labels: {app: secure}}
  ingress:
  - port: {number: 8443, protocol: HTTPS, name: https}
    defaultEndpoint: 127.0.0.1:8080
    tls: {mode: MUTUAL, serverCertificate: /etc/c.pem, privateKey: /etc/k.pem,
          caCertificates: /etc/ca.pem, minProtocolVersion: TLSV1_2}
  - port: {number: 9443, protocol: TLS, name: tls}
    defaultEndpoint: 127.0.0.1:9090
    tls: {mode: SIMPLE, serverCertificate: /etc/c.pem, privateKey: /etc/k.pem}
"""


def test_ingress_tls_is_terminated_only_where_mesh_mtls_is_disabled() -> None:
    """Istio (ENABLE_TLS_ON_SIDECAR_INGRESS): 8443 is DISABLE, so the sidecar presents the
    user's certificate and requires a client one (MUTUAL) and serves HTTP behind it; 9443
    is STRICT, so mesh mTLS stays and the analysis says the tls is not applied."""
    mesh = mesh_of(INGRESS_TLS)
    resources = translate(mesh, workload(mesh, "shop/secure")).resources
    listeners = {
        r.name: r.message for r in resources if isinstance(r.message, listener_pb2.Listener)
    }
    (chain,) = listeners["10.0.0.9_8443"].filter_chains
    assert chain.name == "inbound|8443|tls"
    assert chain.filters[0].name == "envoy.filters.network.http_connection_manager"
    context = tls_pb2.DownstreamTlsContext()
    assert chain.transport_socket.typed_config.Unpack(context)
    common = context.common_tls_context
    assert common.tls_certificates[0].certificate_chain.filename == "/etc/c.pem"
    assert common.validation_context.trusted_ca.filename == "/etc/ca.pem"
    assert context.require_client_certificate.value is True
    (mesh_chain,) = listeners["10.0.0.9_9443"].filter_chains
    assert mesh_chain.name == "inbound|9443|mtls"  # STRICT: the mesh's mTLS, not the user's
    found = {(m.code, m.field): m.text for m in analyze(mesh).messages}
    assert "STRICT" in found[("XDS0803", "spec.ingress[1].tls")]
    assert ("XDS0803", "spec.ingress[0].tls") not in found
