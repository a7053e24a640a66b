"""Incremental translation equals a fresh one (translators/memo.py's rules, as a property).

A mesh is a set of slots — one object identity each (kind, namespace, name), every kind
the translators read (`KINDS`) — each absent or in one of a few versions. The proxies
compared are every workload: sidecars (one with EnvoyFilters), an Istio ingress gateway
and a Gateway API gateway's proxy, which edits may turn into sidecars and back. Hypothesis draws a
starting mesh and a sequence of edits (add, change, remove); after each edit the
translator carried over from the previous generation must give, for every proxy,
byte for byte what a translator built from nothing gives, and it must have reused
pieces (else the test would pass trivially).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import replace

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.translators.helpers import mesh_of
from translators.gateway.proxy import gateway_credentials
from translators.mesh import MeshConfig, MeshOptions
from translators.model.objects import KINDS
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE, port_listener
from translators.security.client_credentials import client_credentials
from translators.telemetry.options import TelemetryOptions, TracingKind, TracingProvider
from translators.translate import MeshTranslator

OPTIONS = MeshOptions(
    local_mode=True,
    telemetry=TelemetryOptions(
        access_log_path="/dev/stdout",
        tracing=TracingProvider(TracingKind.ZIPKIN, "127.0.0.9", 9411),
    ),
)


def _doc(api: str, kind: str, namespace: str, name: str, spec: str, meta: str = "") -> str:
    return (
        f"apiVersion: {api}\nkind: {kind}\n"
        f"metadata: {{name: {name}, namespace: {namespace}{meta}}}\nspec:\n{spec}"
    )


NET = "networking.istio.io/v1"
SEC = "security.istio.io/v1"
TEL = "telemetry.istio.io/v1"
EF = "networking.istio.io/v1alpha3"
GW = "gateway.networking.k8s.io/v1"
GW_ALPHA = "gateway.networking.k8s.io/v1alpha2"
GW_BETA = "gateway.networking.k8s.io/v1beta1"
ORDERS = "orders.default.svc.cluster.local"
PAYMENTS = "payments.prod.svc.cluster.local"
JWKS = (
    '{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "alg": "ES256", '
    '"x": "bgoZyV8s9zzpeY7_NP3KEbW3MjxfXn91Uj_3t61lSc4", '
    '"y": "UphNrKsBvmr5ffMlX4a9jJPat1fptPqmZ75ZVtTCHJk"}]}'
)

# slot -> its versions (YAML documents); a slot may also be absent
SLOTS: dict[str, tuple[str, ...]] = {
    "se-orders": tuple(
        _doc(NET, "ServiceEntry", "default", "orders", spec)
        for spec in (
            "  hosts: [orders]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
            "  ports: [{number: 8080, name: http, protocol: HTTP}]\n"
            "  workloadSelector: {labels: {app: orders}}\n",
            "  hosts: [orders]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
            "  ports: [{number: 8080, name: http, protocol: HTTP},"
            " {number: 9090, name: tcp, protocol: TCP}]\n"
            "  workloadSelector: {labels: {app: orders}}\n",
            "  hosts: [orders]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
            "  ports: [{number: 8080, name: http, protocol: HTTP}]\n"
            "  endpoints: [{address: 10.1.0.1, labels: {version: v1}},"
            " {address: 10.1.0.2, labels: {version: v2}}]\n",
        )
    ),
    "se-payments": tuple(
        _doc(NET, "ServiceEntry", "prod", "payments", spec)
        for spec in (
            "  hosts: [payments]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
            "  ports: [{number: 8080, name: http, protocol: HTTP}]\n"
            "  workloadSelector: {labels: {app: payments}}\n",
            "  hosts: [payments]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
            "  exportTo: ['.']\n"
            "  ports: [{number: 8080, name: http, protocol: HTTP}]\n"
            "  workloadSelector: {labels: {app: payments}}\n",
            "  hosts: [payments]\n  location: MESH_INTERNAL\n  resolution: STATIC\n"
            "  ports: [{number: 7070, name: grpc, protocol: GRPC}]\n"
            "  workloadSelector: {labels: {app: payments}}\n",
        )
    ),
    "se-external": tuple(
        _doc(NET, "ServiceEntry", "default", "external", spec)
        for spec in (
            "  hosts: [api.example.com]\n  location: MESH_EXTERNAL\n  resolution: DNS\n"
            "  ports: [{number: 8080, name: http, protocol: HTTP}]\n",
            "  hosts: [api.example.com, web.example.com]\n  location: MESH_EXTERNAL\n"
            "  resolution: DNS\n  ports: [{number: 8080, name: http, protocol: HTTP}]\n",
        )
    ),
    "we-client": tuple(
        _doc(NET, "WorkloadEntry", "default", "client", spec)
        for spec in (
            "  address: 127.0.1.1\n  labels: {app: client}\n",
            "  address: 127.0.1.1\n  labels: {app: client, version: v2}\n",
            "  address: 127.0.1.2\n  serviceAccount: client\n  labels: {app: client}\n",
            "  address: 127.0.1.1\n  locality: r1/z1\n  labels: {app: client}\n",
        )
    ),
    "we-orders-v1": tuple(
        _doc(NET, "WorkloadEntry", "default", "orders-v1", spec, meta)
        for spec, meta in (
            ("  address: 127.0.2.1\n  labels: {app: orders, version: v1}\n", ""),
            ("  address: 127.0.2.1\n  labels: {app: orders, version: v2}\n", ""),
            ("  address: 127.0.2.1\n  locality: r1/z2\n  labels: {app: orders, version: v1}\n", ""),
            (
                "  address: 127.0.2.1\n  labels: {app: orders, version: v1}\n",
                ', annotations: {sidecar.istio.io/inject: "false"}',
            ),
        )
    ),
    "we-orders-v2": (
        _doc(
            NET,
            "WorkloadEntry",
            "default",
            "orders-v2",
            "  address: 127.0.2.2\n  labels: {app: orders, version: v2}\n",
        ),
    ),
    "we-payments": tuple(
        _doc(NET, "WorkloadEntry", "prod", "payments", spec)
        for spec in (
            "  address: 127.0.3.1\n  serviceAccount: payments\n  labels: {app: payments}\n",
            "  address: 127.0.3.1\n"
            "  labels: {app: payments, security.istio.io/tlsMode: disabled}\n",
        )
    ),
    # the gateway proxies: the Istio ingress gateway, and edge/api's proxy (which runs
    # no gateway, a sidecar then, in its last version)
    "we-ingress": tuple(
        _doc(NET, "WorkloadEntry", "edge", "ingress", spec)
        for spec in (
            "  address: 127.0.5.1\n  labels: {istio: ingressgateway}\n",
            "  address: 127.0.5.1\n  serviceAccount: ingress\n"
            "  labels: {istio: ingressgateway, version: v2}\n",
        )
    ),
    "we-api-gateway": tuple(
        _doc(NET, "WorkloadEntry", "edge", "api-gw", spec)
        for spec in (
            "  address: 127.0.5.2\n  labels: {gateway.networking.k8s.io/gateway-name: api}\n",
            "  address: 127.0.5.2\n"
            "  labels: {gateway.networking.k8s.io/gateway-name: api, version: v2}\n",
            "  address: 127.0.5.2\n  labels: {gateway.networking.k8s.io/gateway-name: other}\n",
        )
    ),
    "we-prod-client": (
        _doc(NET, "WorkloadEntry", "prod", "shop", "  address: 127.0.4.1\n  labels: {app: shop}\n"),
    ),
    "vs-orders": tuple(
        _doc(NET, "VirtualService", "default", "orders", spec)
        for spec in (
            "  hosts: [orders]\n  http:\n  - route:\n"
            "    - {destination: {host: orders, subset: v1}, weight: 90}\n"
            "    - {destination: {host: orders, subset: v2}, weight: 10}\n",
            "  hosts: [orders]\n  http:\n  - match: [{sourceLabels: {version: v2}}]\n"
            "    route: [{destination: {host: orders, subset: v2}}]\n"
            "  - route: [{destination: {host: orders, subset: v1}}]\n",
            f"  hosts: [orders]\n  http:\n  - timeout: 3s\n"
            f"    route: [{{destination: {{host: {PAYMENTS}}}}}]\n",
            "  hosts: [orders]\n  tcp:\n  - match: [{port: 9090}]\n"
            "    route: [{destination: {host: orders, port: {number: 9090}}}]\n",
            # a tcp rule for some destination addresses only (destinationSubnets)
            "  hosts: [orders]\n  tcp:\n  - match: [{destinationSubnets: [10.9.0.0/16]}]\n"
            "    route: [{destination: {host: orders, subset: v2, port: {number: 9090}}}]\n",
            # a root delegating /api to prod/orders-routes (delegation)
            "  hosts: [orders]\n  http:\n  - match: [{uri: {prefix: /api}}]\n"
            "    timeout: 2s\n    delegate: {name: orders-routes, namespace: prod}\n"
            "  - route: [{destination: {host: orders, subset: v1}}]\n",
        )
    ),
    "vs-orders-routes": tuple(
        _doc(NET, "VirtualService", "prod", "orders-routes", spec)
        for spec in (
            f"  http:\n  - match: [{{uri: {{prefix: /api/v2}}}}]\n"
            f"    route: [{{destination: {{host: {ORDERS}, subset: v2}}}}]\n"
            f"  - route: [{{destination: {{host: {PAYMENTS}}}}}]\n",
            "  exportTo: ['.']\n  http:\n  - route: [{destination: {host: payments}}]\n",
            f"  exportTo: [default]\n  http:\n  - match: [{{uri: {{prefix: /other}}}}]\n"
            f"    route: [{{destination: {{host: {ORDERS}}}}}]\n"
            f"  - retries: {{attempts: 4}}\n    route: [{{destination: {{host: {ORDERS}}}}}]\n",
        )
    ),
    "vs-orders-prod": tuple(
        _doc(NET, "VirtualService", "prod", "orders-prod", spec, meta)
        for spec, meta in (
            (
                f"  hosts: [{ORDERS}]\n  http:\n  - route: [{{destination: {{host: {ORDERS}}}}}]\n"
                "    retries: {attempts: 5}\n",
                ', creationTimestamp: "2020-01-01T00:00:00Z"',
            ),
            (
                f"  hosts: [{ORDERS}]\n  exportTo: ['.']\n  http:\n"
                f"  - route: [{{destination: {{host: {ORDERS}}}}}]\n    retries: {{attempts: 2}}\n",
                ', creationTimestamp: "2030-01-01T00:00:00Z"',
            ),
        )
    ),
    "vs-wildcard": tuple(
        _doc(NET, "VirtualService", "default", "wildcard", spec)
        for spec in (
            "  hosts: ['*.example.com']\n  http:\n"
            "  - route: [{destination: {host: api.example.com}}]\n    timeout: 1s\n",
            "  hosts: ['*.example.com']\n  http:\n"
            "  - fault: {abort: {httpStatus: 503, percentage: {value: 50}}}\n"
            "    route: [{destination: {host: api.example.com}}]\n",
        )
    ),
    "dr-orders": tuple(
        _doc(NET, "DestinationRule", "default", "orders", spec)
        for spec in (
            "  host: orders\n  subsets: [{name: v1, labels: {version: v1}},"
            " {name: v2, labels: {version: v2}}]\n",
            "  host: orders\n  trafficPolicy:\n    loadBalancer:\n"
            "      consistentHash: {httpHeaderName: x-user}\n"
            "  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n",
            "  host: orders\n  trafficPolicy: {tls: {mode: DISABLE}}\n"
            "  subsets: [{name: v1, labels: {version: v1}}]\n",
            "  host: orders\n  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 2}\n"
            "    loadBalancer: {localityLbSetting: {failoverPriority: [version]}}\n",
        )
    ),
    # issue 9: a second rule for the host, merged with dr-orders as Istio does (or not:
    # another exportTo), older or younger than it
    "dr-orders-more": (
        _doc(
            NET,
            "DestinationRule",
            "default",
            "orders-more",
            "  host: orders\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: 9}}}\n"
            "  subsets: [{name: v3, labels: {version: v3}}, {name: v1, labels: {version: v2}}]\n",
        ),
        _doc(
            NET,
            "DestinationRule",
            "default",
            "orders-more",
            "  host: orders\n  subsets: [{name: v2, labels: {version: v1}}]\n",
            ', creationTimestamp: "2000-01-01T00:00:00Z"',
        ),
        _doc(
            NET,
            "DestinationRule",
            "default",
            "orders-more",
            "  host: orders\n  exportTo: ['.']\n  subsets: [{name: v3, labels: {version: v3}}]\n",
        ),
    ),
    "dr-orders-prod": (
        _doc(
            NET,
            "DestinationRule",
            "prod",
            "orders-prod",
            f"  host: {ORDERS}\n  exportTo: ['.']\n"
            "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n",
        ),
    ),
    # issue 9: a rule with a workloadSelector applies to the proxies it selects
    "dr-orders-selected": tuple(
        _doc(NET, "DestinationRule", "default", "orders-selected", spec)
        for spec in (
            "  host: orders\n  workloadSelector: {matchLabels: {app: client}}\n"
            "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 3}}}\n"
            "  subsets: [{name: v1, labels: {version: v1}}]\n",
            "  host: orders\n  workloadSelector: {matchLabels: {version: v2}}\n"
            "  trafficPolicy:\n    loadBalancer:\n"
            "      consistentHash: {httpHeaderName: x-selected}\n",
        )
    ),
    # a second selector rule: merged with dr-orders-selected when their matchLabels are
    # equal (older or younger than it), apart when not
    "dr-orders-selected-more": tuple(
        _doc(NET, "DestinationRule", "default", "orders-selected-more", spec, meta)
        for spec, meta in (
            (
                "  host: orders\n  workloadSelector: {matchLabels: {app: client}}\n"
                "  trafficPolicy: {connectionPool: {tcp: {maxConnections: 4}}}\n"
                "  subsets: [{name: v2, labels: {version: v2}},"
                " {name: v1, labels: {version: v2}}]\n",
                "",
            ),
            (
                "  host: orders\n  workloadSelector: {matchLabels: {app: client}}\n"
                "  subsets: [{name: v3, labels: {version: v1}}]\n",
                ', creationTimestamp: "2000-01-01T00:00:00Z"',
            ),
            (
                "  host: orders\n  workloadSelector: {matchLabels: {version: v2}}\n"
                "  subsets: [{name: v2, labels: {version: v1}}]\n",
                "",
            ),
        )
    ),
    "dr-payments": tuple(
        _doc(NET, "DestinationRule", "default", "payments", spec)
        for spec in (
            f"  host: {PAYMENTS}\n  trafficPolicy:\n"
            "    loadBalancer: {consistentHash: {useSourceIp: true}}\n",
            f"  host: {PAYMENTS}\n  trafficPolicy:\n"
            "    connectionPool: {tcp: {maxConnections: 7}}\n"
            "    outlierDetection: {consecutive5xxErrors: 3, interval: 5s}\n",
            # TLS origination with a certificate served over SDS (client_credentials)
            f"  host: {PAYMENTS}\n"
            "  trafficPolicy: {tls: {mode: SIMPLE, credentialName: payments-ca}}\n",
        )
    ),
    "sidecar-prod": tuple(
        _doc(NET, "Sidecar", "prod", "default", spec)
        for spec in (
            f"  egress:\n  - hosts: ['./*', 'default/{ORDERS}']\n",
            "  egress:\n  - hosts: ['./*']\n  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n",
            # issue 9: the inbound pool and the egress proxy read the Sidecar too
            "  egress:\n  - hosts: ['./*', 'default/*']\n"
            "  inboundConnectionPool: {tcp: {maxConnections: 5}}\n"
            "  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n"
            f"    egressProxy: {{host: {ORDERS}, port: {{number: 8080}}}}\n",
        )
    ),
    # the proxies' own part: inbound listeners read peer and request authentication,
    # authorization and Telemetry (translators/view/inbound.py)
    "sidecar-orders": tuple(
        _doc(NET, "Sidecar", "default", "orders", spec)
        for spec in (
            "  workloadSelector: {labels: {app: orders}}\n"
            "  ingress:\n  - port: {number: 8080, protocol: HTTP, name: http}\n"
            "    defaultEndpoint: 127.0.0.1:18080\n",
            "  workloadSelector: {labels: {app: orders}}\n"
            "  ingress:\n  - port: {number: 9090, protocol: TCP, name: tcp}\n"
            "    defaultEndpoint: 127.0.0.1:19090\n",
        )
    ),
    "pa-mesh": tuple(
        _doc(SEC, "PeerAuthentication", "istio-system", "default", spec)
        for spec in ("  mtls: {mode: STRICT}\n", "  mtls: {mode: PERMISSIVE}\n")
    ),
    "pa-payments": (
        _doc(
            SEC,
            "PeerAuthentication",
            "prod",
            "payments",
            "  selector: {matchLabels: {app: payments}}\n  mtls: {mode: DISABLE}\n",
        ),
    ),
    "authz-orders": tuple(
        _doc(SEC, "AuthorizationPolicy", "default", "orders", spec)
        for spec in (
            "  selector: {matchLabels: {app: orders}}\n  action: ALLOW\n"
            "  rules: [{from: [{source: {namespaces: [prod]}}]}]\n",
            "  selector: {matchLabels: {app: orders}}\n  action: DENY\n"
            "  rules: [{to: [{operation: {methods: [DELETE]}}]}]\n",
        )
    ),
    "jwt-mesh": (
        _doc(
            SEC,
            "RequestAuthentication",
            "istio-system",
            "idp",
            f"  jwtRules:\n  - issuer: https://idp.example.com/\n    jwks: '{JWKS}'\n",
        ),
    ),
    # authorization of the ingress gateway's pods: enforced on its gateway listeners
    "authz-gateway": tuple(
        _doc(SEC, "AuthorizationPolicy", "edge", "ingress", spec)
        for spec in (
            "  selector: {matchLabels: {istio: ingressgateway}}\n  action: DENY\n"
            "  rules: [{to: [{operation: {paths: [/admin]}}]}]\n",
            "  selector: {matchLabels: {istio: ingressgateway}}\n  action: ALLOW\n"
            "  rules: [{from: [{source: {notNamespaces: [prod]}}]}]\n",
        )
    ),
    # request authentication attached to a gateway by targetRef: the Gateway API one, or
    # the proxies the Istio Gateway edge/public selects (which follow its selector)
    "jwt-gateway": tuple(
        _doc(SEC, "RequestAuthentication", "edge", "gateway-idp", f"  {target}\n{rules}")
        for target, rules in (
            (
                "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: api}",
                f"  jwtRules:\n  - issuer: https://gw.example.com/\n    jwks: '{JWKS}'\n",
            ),
            (
                "targetRefs: [{group: networking.istio.io, kind: Gateway, name: public}]",
                f"  jwtRules:\n  - issuer: https://gw.example.com/\n    jwks: '{JWKS}'\n"
                "    forwardOriginalToken: true\n",
            ),
        )
    ),
    # GAMMA: a producer route for orders (backends: its own port, payments) and a
    # consumer route in default for payments
    "httproute-orders": tuple(
        _doc(GW, "HTTPRoute", "default", "orders-route", spec)
        for spec in (
            "  parentRefs: [{group: '', kind: Service, name: orders}]\n"
            "  rules:\n  - backendRefs: [{name: orders, port: 8080, weight: 3},"
            " {name: payments, namespace: prod, port: 8080, weight: 1}]\n",
            "  parentRefs: [{group: '', kind: Service, name: orders, port: 8080}]\n"
            "  rules:\n  - matches: [{headers: [{name: x-v2, value: 'yes'}]}]\n"
            "    backendRefs: [{name: orders, port: 8080}]\n    timeouts: {request: 2s}\n",
        )
    ),
    "httproute-payments": (
        _doc(
            GW,
            "HTTPRoute",
            "default",
            "payments-consumer",
            "  parentRefs: [{group: '', kind: Service, name: payments, namespace: prod}]\n"
            "  rules: [{backendRefs: [{name: orders, port: 8080}]}]\n",
        ),
    ),
    # issue 12: gateways. The Istio ingress gateway (edge/ingress) runs edge/public, bound
    # by vs-gateway; its ports, hosts and TLS mode change, and its selector may take
    # default/client from sidecar to gateway.
    "gw-public": tuple(
        _doc(NET, "Gateway", "edge", "public", spec)
        for spec in (
            "  selector: {istio: ingressgateway}\n"
            "  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
            "    hosts: ['*/shop.example.com']\n",
            "  selector: {istio: ingressgateway}\n"
            "  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
            "    hosts: ['default/*']\n    tls: {httpsRedirect: true}\n"
            "  - port: {number: 443, name: https, protocol: HTTPS}\n"
            "    hosts: [shop.example.com]\n"
            "    tls: {mode: SIMPLE, credentialName: shop-cert}\n",
            "  selector: {istio: ingressgateway}\n"
            "  servers:\n  - port: {number: 8443, name: tls, protocol: TLS}\n"
            "    hosts: [tls.example.com]\n    tls: {mode: PASSTHROUGH}\n"
            "  - port: {number: 5432, name: tcp, protocol: TCP}\n    hosts: ['*']\n",
            "  selector: {app: client}\n"
            "  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
            "    hosts: ['*']\n",
        )
    ),
    "vs-gateway": tuple(
        _doc(NET, "VirtualService", "default", "shop", spec)
        for spec in (
            "  hosts: [shop.example.com]\n  gateways: [edge/public]\n  http:\n"
            "  - route:\n    - {destination: {host: orders, subset: v1}, weight: 80}\n"
            f"    - {{destination: {{host: {PAYMENTS}}}, weight: 20}}\n",
            # bound to the gateway and the mesh: sidecars see it too
            "  hosts: [shop.example.com, orders]\n  gateways: [edge/public, mesh]\n  http:\n"
            "  - match: [{uri: {prefix: /api}, gateways: [edge/public]}]\n"
            "    route: [{destination: {host: orders, subset: v2}}]\n"
            "  - route: [{destination: {host: orders}}]\n    timeout: 4s\n",
            "  hosts: ['*']\n  gateways: [edge/public]\n"
            "  tls:\n  - match: [{sniHosts: [tls.example.com]}]\n"
            "    route: [{destination: {host: orders, port: {number: 8080}}}]\n"
            "  tcp:\n  - route: [{destination: {host: orders, port: {number: 9090}}}]\n",
        )
    ),
    # the Gateway API: edge/api runs on edge/api-gw (labelled with its name); routes of
    # every kind attach to it, some to backends in prod (allowed by refgrant-prod)
    "gatewayclass": tuple(
        f"apiVersion: {GW}\nkind: GatewayClass\nmetadata: {{name: shop-class}}\n"
        f"spec: {{controllerName: {controller}}}\n"
        for controller in (
            "xdscp.io/gateway-controller",
            "istio.io/gateway-controller",
            "example.com/other",  # not ours: edge/api is not programmed then
        )
    ),
    "k8s-gateway": tuple(
        _doc(GW, "Gateway", "edge", "api", spec)
        for spec in (
            "  gatewayClassName: xdscp\n  listeners:\n"
            "  - {name: http, port: 8080, protocol: HTTP,"
            " allowedRoutes: {namespaces: {from: All}}}\n",
            "  gatewayClassName: shop-class\n  listeners:\n"
            "  - name: http\n    port: 8080\n    protocol: HTTP\n    hostname: shop.example.com\n"
            "    allowedRoutes: {namespaces: {from: All}}\n"
            "  - {name: tls, port: 9443, protocol: TLS, tls: {mode: Passthrough},"
            " allowedRoutes: {namespaces: {from: All}}}\n"
            "  - {name: tcp, port: 5432, protocol: TCP,"
            " allowedRoutes: {namespaces: {from: All}}}\n",
            "  gatewayClassName: istio\n  listeners:\n"
            "  - name: https\n    port: 8443\n    protocol: HTTPS\n    hostname: api.example.com\n"
            "    tls: {certificateRefs: [{name: api-cert}]}\n"
            "    allowedRoutes: {namespaces: {from: All}}\n"
            "  - {name: grpc, port: 9090, protocol: HTTP,"
            " allowedRoutes: {namespaces: {from: Same}}}\n",
        )
    ),
    "httproute-gateway": tuple(
        _doc(GW, "HTTPRoute", "default", "shop-route", spec)
        for spec in (
            "  parentRefs: [{name: api, namespace: edge}]\n"
            "  rules:\n  - backendRefs: [{name: orders, port: 8080, weight: 3},"
            " {name: payments, namespace: prod, port: 8080, weight: 1}]\n",
            "  parentRefs: [{name: api, namespace: edge}]\n  hostnames: [shop.example.com]\n"
            "  rules:\n  - matches: [{path: {type: PathPrefix, value: /v2}}]\n"
            "    filters:\n    - type: RequestHeaderModifier\n"
            "      requestHeaderModifier: {set: [{name: x-via, value: gateway}]}\n"
            "    backendRefs: [{name: orders, port: 8080}]\n",
            "  parentRefs: [{name: api, namespace: edge, sectionName: https}]\n"
            "  rules:\n  - backendRefs: [{name: orders, port: 8080, weight: 1},"
            " {name: orders, port: 9090, weight: 1}]\n",
        )
    ),
    "grpcroute": tuple(
        _doc(GW, "GRPCRoute", "default", "echo", spec)
        for spec in (
            "  parentRefs: [{name: api, namespace: edge}]\n"
            "  rules:\n  - matches: [{method: {service: echo.Echo}}]\n"
            "    backendRefs: [{name: orders, port: 8080}]\n",
            "  parentRefs: [{name: api, namespace: edge}]\n"
            "  rules:\n  - matches: [{method: {service: echo.Echo, method: Say}}]\n"
            "    backendRefs: [{name: payments, namespace: prod, port: 7070}]\n",
        )
    ),
    "tcproute": tuple(
        _doc(GW_ALPHA, "TCPRoute", "default", "db", spec)
        for spec in (
            "  parentRefs: [{name: api, namespace: edge}]\n"
            "  rules: [{backendRefs: [{name: orders, port: 9090}]}]\n",
            "  parentRefs: [{name: api, namespace: edge, sectionName: tcp}]\n"
            "  rules: [{backendRefs: [{name: orders, port: 9090, weight: 3},"
            " {name: payments, namespace: prod, port: 8080, weight: 1}]}]\n",
        )
    ),
    "tlsroute": tuple(
        _doc(GW_ALPHA, "TLSRoute", "default", "secure", spec)
        for spec in (
            "  parentRefs: [{name: api, namespace: edge}]\n  hostnames: [tls.example.com]\n"
            "  rules: [{backendRefs: [{name: orders, port: 8080}]}]\n",
            "  parentRefs: [{name: api, namespace: edge}]\n  hostnames: ['*.example.com']\n"
            "  rules: [{backendRefs: [{name: payments, namespace: prod, port: 8080}]}]\n",
        )
    ),
    "refgrant-prod": tuple(
        _doc(GW_BETA, "ReferenceGrant", "prod", "from-default", spec)
        for spec in (
            "  from:\n"
            "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}\n"
            "  - {group: gateway.networking.k8s.io, kind: TCPRoute, namespace: default}\n"
            "  to: [{group: '', kind: Service}]\n",
            "  from:\n"
            "  - {group: gateway.networking.k8s.io, kind: GRPCRoute, namespace: default}\n"
            "  - {group: gateway.networking.k8s.io, kind: TLSRoute, namespace: default}\n"
            "  to: [{group: '', kind: Service, name: payments}]\n",
        )
    ),
    # EnvoyFilters: one on default/client (a sidecar: its clusters, HTTP filters, its
    # namespace's listeners), one on the gateways
    "ef-client": tuple(
        _doc(EF, "EnvoyFilter", "default", "client-patch", spec)
        for spec in (
            "  workloadSelector: {labels: {app: client}}\n  configPatches:\n"
            "  - applyTo: CLUSTER\n    match:\n      context: SIDECAR_OUTBOUND\n"
            f"      cluster: {{service: {ORDERS}, portNumber: 8080}}\n"
            "    patch:\n      operation: MERGE\n"
            "      value: {connect_timeout: 1.234s}\n",
            "  workloadSelector: {labels: {app: client}}\n  configPatches:\n"
            "  - applyTo: HTTP_FILTER\n    match:\n      context: SIDECAR_OUTBOUND\n"
            "      listener:\n        filterChain:\n          filter:\n"
            "            name: envoy.filters.network.http_connection_manager\n"
            "            subFilter: {name: envoy.filters.http.router}\n"
            "    patch:\n      operation: INSERT_BEFORE\n      value:\n"
            "        name: envoy.lua\n        typed_config:\n"
            "          '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua\n"
            "          inlineCode: 'function envoy_on_request(h) end'\n",
            # no selector: every proxy of default
            "  configPatches:\n"
            "  - applyTo: LISTENER\n    match: {context: SIDECAR_INBOUND}\n"
            "    patch:\n      operation: MERGE\n"
            "      value: {per_connection_buffer_limit_bytes: 32768}\n",
            # a route-class patch: client's outbound virtual hosts for orders
            "  workloadSelector: {labels: {app: client}}\n  configPatches:\n"
            "  - applyTo: VIRTUAL_HOST\n    match:\n      context: SIDECAR_OUTBOUND\n"
            f"      routeConfiguration: {{vhost: {{name: '{ORDERS}:8080'}}}}\n"
            "    patch:\n      operation: MERGE\n"
            "      value: {include_request_attempt_count: true}\n",
        )
    ),
    "ef-gateway": tuple(
        _doc(EF, "EnvoyFilter", "istio-system", "gateway-patch", spec)
        for spec in (
            "  workloadSelector: {labels: {istio: ingressgateway}}\n  configPatches:\n"
            "  - applyTo: HTTP_FILTER\n    match:\n      context: GATEWAY\n"
            "      listener:\n        filterChain:\n          filter:\n"
            "            name: envoy.filters.network.http_connection_manager\n"
            "            subFilter: {name: envoy.filters.http.router}\n"
            "    patch:\n      operation: INSERT_BEFORE\n      value:\n"
            "        name: envoy.lua\n        typed_config:\n"
            "          '@type': type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua\n"
            "          inlineCode: 'function envoy_on_response(h) end'\n",
            "  workloadSelector:\n"
            "    labels: {gateway.networking.k8s.io/gateway-name: api}\n"
            "  configPatches:\n"
            "  - applyTo: CLUSTER\n    match: {context: GATEWAY}\n"
            "    patch:\n      operation: MERGE\n"
            "      value: {connect_timeout: 2.5s}\n",
        )
    ),
    "telemetry-default": tuple(
        _doc(TEL, "Telemetry", "default", "default", spec)
        for spec in (
            "  accessLogging: [{disabled: true}]\n",
            "  tracing: [{randomSamplingPercentage: 50}]\n",
        )
    ),
}
NAMES = sorted(SLOTS)
# always there: the proxies whose translation is compared
FIXED = {"we-client": 0, "we-prod-client": 0, "we-ingress": 0, "we-api-gateway": 0}

state_strategy = st.fixed_dictionaries(
    {name: st.none() | st.integers(0, len(SLOTS[name]) - 1) for name in NAMES}
)
edit_strategy = st.tuples(
    st.sampled_from(NAMES), st.none() | st.integers(0, 3)
)  # version index (mod versions) or None: remove


def _mesh(state: dict[str, int | None], captured: bool = False) -> MeshConfig:
    """`captured`: as injected pods (traffic capture), not WorkloadEntries in file mode."""
    chosen = {**state, **{k: v for k, v in FIXED.items() if state.get(k) is None}}
    texts = [SLOTS[name][index] for name, index in sorted(chosen.items()) if index is not None]
    if not captured:
        return mesh_of("\n---\n".join(texts), OPTIONS, strict=False)
    texts = [
        re.sub(
            r"(kind: WorkloadEntry\nmetadata: \{name: [^,}]+, namespace: [^,}]+)\}",
            r"\1, annotations: {sidecar.istio.io/status: injected}}",
            text,
        )
        for text in texts
    ]
    return mesh_of("\n---\n".join(texts), replace(OPTIONS, local_mode=False), strict=False)


def _config(translator: MeshTranslator) -> dict[str, list[tuple[str, str, bytes]]]:
    out = {}
    for key, workload in sorted(translator.mesh.workloads.items()):
        result = translator.translate(workload)
        out[key] = sorted((r.type_url, r.name, r.body()) for r in result.resources)
        out[key + " warnings"] = [("", w, b"") for w in result.view.warnings]
        # the certificates served over SDS beside the translation (xdscp/gateway_credentials)
        credentials = (
            *gateway_credentials(translator, workload),
            *client_credentials(translator, workload),
        )
        out[key + " credentials"] = [("", repr(c), b"") for c in credentials]
    return out


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(start=state_strategy, edits=st.lists(edit_strategy, min_size=1, max_size=6))
def test_incremental_translation_equals_a_fresh_one(
    start: dict[str, int | None], edits: list[tuple[str, int | None]]
) -> None:
    state = dict(start)
    translator = MeshTranslator(_mesh(state))
    _config(translator)
    for name, version in edits:
        state[name] = None if version is None else version % len(SLOTS[name])
        mesh = _mesh(state)
        translator = MeshTranslator(mesh, previous=translator)
        assert _config(translator) == _config(MeshTranslator(mesh)), (name, version)


@pytest.mark.parametrize(
    ("captured", "start"),
    [(False, 0), (True, 0), (False, 1)],
    ids=["file-mode", "captured", "second-versions"],
)
def test_every_single_edit_of_a_full_mesh(captured: bool, start: int) -> None:
    """Deterministically, beside the random sequences: from a mesh with every slot (but
    the HTTPRoute that would take the VirtualService's place) at its first (or second)
    version, each slot changed to each of its other versions, or removed, gives the
    fresh translation. A proxy's own pieces (its scope, listeners, inbound clusters)
    read several kinds; a dependency one of them forgets shows here whatever hypothesis
    happens to draw. The second versions match on callers' labels (VirtualService
    `sourceLabels`, DestinationRule `workloadSelector`), which a workload edit changes:
    from them, the workloads' edits only (the rest is swept from the first versions)."""
    full: dict[str, int | None] = {name: min(start, len(SLOTS[name]) - 1) for name in NAMES}
    full["httproute-orders"] = None
    first = MeshTranslator(_mesh(full, captured))
    _config(first)
    for name in NAMES if start == 0 else [n for n in NAMES if n.startswith("we-")]:
        for version in [None, *range(len(SLOTS[name]))]:
            if version == full[name]:
                continue
            mesh = _mesh({**full, name: version}, captured)
            translator = MeshTranslator(mesh, previous=first)
            assert _config(translator) == _config(MeshTranslator(mesh)), (name, version)


def test_every_kind_is_in_the_meshes() -> None:
    """Every kind the translators read (`KINDS`: a new kind fails here until it has a
    slot) is in the meshes, and every version is valid (a rejected object would shrink
    what is tested)."""
    kinds: set[str] = set()
    for name, versions in SLOTS.items():
        for version in versions:
            mesh = mesh_of(version, OPTIONS, strict=False)
            assert not mesh.errors, (name, [str(e) for e in mesh.errors])
            assert len(mesh.objects) == 1, name
            kinds.add(mesh.objects[0].kind)
    assert kinds == set(KINDS)


def test_the_gateways_run_on_their_proxies() -> None:
    """The compared proxies include gateways of both APIs and an EnvoyFilter'd sidecar:
    with every slot at its first version, edge/ingress runs edge/public and edge/api-gw
    the Gateway API gateway edge/api, each with its gateway listener."""
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    translator = MeshTranslator(_mesh(state))
    ingress = translator.mesh.workloads["edge/ingress"]
    api = translator.mesh.workloads["edge/api-gw"]
    client = translator.mesh.workloads["default/client"]
    assert translator.is_gateway(ingress) and translator.is_gateway(api)
    assert not translator.is_gateway(client)
    listeners = {
        key: {r.name: r for r in translator.translate(w).resources if r.type_url == LISTENER_TYPE}
        for key, w in (("ingress", ingress), ("api", api))
    }
    assert port_listener(8080, api.address) in listeners["api"]
    # ef-gateway's HTTP filter is on the Istio gateway's listener
    assert b"envoy.lua" in listeners["ingress"][port_listener(80, ingress.address)].body()
    assert not any(b"envoy.lua" in r.body() for r in listeners["api"].values())
    # ef-client's cluster patch is on client's orders cluster, not on a prod proxy's
    patched = [
        r
        for r in translator.translate(client).resources
        if r.type_url == CLUSTER_TYPE and r.name == f"outbound|8080||{ORDERS}"
    ]
    assert len(patched) == 1
    cluster = patched[0].message
    assert isinstance(cluster, cluster_pb2.Cluster)
    assert cluster.connect_timeout.ToMilliseconds() == 1234


def test_an_edit_reuses_the_pieces_it_did_not_touch() -> None:
    """The carried-over translator really is incremental: after a VirtualService edit the
    clusters (which do not read VirtualServices) are the previous generation's objects."""
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    state["httproute-orders"] = None  # it would take the VirtualService's place
    first = MeshTranslator(_mesh(state))
    client = first.mesh.workloads["default/client"]
    before = {(r.type_url, r.name): r for r in first.translate(client).resources}
    state["vs-orders"] = 1
    second = MeshTranslator(_mesh(state), previous=first)
    after = {(r.type_url, r.name): r for r in second.translate(client).resources}
    clusters = [k for k in after if k[0].endswith("Cluster") and k[1].startswith("outbound|")]
    assert clusters
    assert all(after[k] is before[k] for k in clusters)
    routes = [k for k in after if k[0].endswith("RouteConfiguration")]
    assert any(after[k] is not before[k] for k in routes)


def test_a_virtual_service_edit_leaves_every_proxys_own_part_and_scope_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy's own part (listeners, inbound clusters) and its scope (Sidecar, caller
    labels) are pieces per workload that read no VirtualService: after an edit every
    proxy sees, none is worked out again (the push benchmark's 1,000 proxies), while
    the translation still equals a fresh one."""
    translate_module = importlib.import_module("translators.translate")
    state: dict[str, int | None] = {name: 0 for name in NAMES}
    state["httproute-orders"] = None
    first = MeshTranslator(_mesh(state))
    _config(first)
    calls = {"build_local": 0, "proxy_source": 0}

    def counted(name: str) -> Callable[..., object]:
        original = getattr(translate_module, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in calls:
        monkeypatch.setattr(translate_module, name, counted(name))
    state["vs-orders"] = 2  # orders' routes: every proxy sees them
    mesh = _mesh(state)
    incremental = _config(MeshTranslator(mesh, previous=first))
    assert calls == {"build_local": 0, "proxy_source": 0}
    assert incremental == _config(MeshTranslator(mesh))
    assert calls["build_local"] and calls["proxy_source"]  # (a fresh one works them out)
