"""Istio `Gateway` and Kubernetes Gateway API objects: what Istio's validation and the
Gateway API's CRD rules accept loads, what they refuse is one error naming the field."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from translators.model.gateway import GatewaySpec, ServerTLSMode, TLSProtocolVersion
from translators.model.gateway_api import KUBERNETES_GATEWAY, HTTPRouteSpec
from translators.model.objects import ConfigError, MeshObject
from xdscp.sources.documents import parse_text


def parse(text: str) -> list[MeshObject[Any]]:
    result = parse_text(textwrap.dedent(text), "mesh/gw.yaml")
    assert not result.errors, [str(e) for e in result.errors]
    return list(result.objects)


def one_error(text: str) -> ConfigError:
    result = parse_text(textwrap.dedent(text), "mesh/gw.yaml")
    assert not result.objects
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    return result.errors[0]


ISTIO_GATEWAY = """\
apiVersion: networking.istio.io/{version}
kind: Gateway
metadata: {{name: bookinfo-gateway, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 8080, name: http, protocol: http}}
    hosts: ["*"]
    tls: {{httpsRedirect: true}}
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [shop/bookinfo.example.com, "*.example.org", "./api.example.com", 10.0.0.1]
    tls:
      mode: SIMPLE
      credentialName: bookinfo-cert
      minProtocolVersion: TLSV1_2
      maxProtocolVersion: TLSV1_3
      cipherSuites:
      - ECDHE-RSA-AES128-GCM-SHA256
      - "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"
  - port: {{number: 8443, name: mtls, protocol: HTTPS}}
    hosts: ["*/secure.example.com"]
    tls: {{mode: MUTUAL, credentialName: secure-cert}}
  - port: {{number: 9443, name: tls, protocol: TLS}}
    hosts: [passthrough.example.com]
    tls: {{mode: PASSTHROUGH}}
  - port: {{number: 15443, name: sni, protocol: TLS}}
    hosts: ["*.local"]
    tls: {{mode: AUTO_PASSTHROUGH}}
  - port: {{number: 15012, name: istio-mtls, protocol: HTTPS}}
    hosts: ["*"]
    tls: {{mode: ISTIO_MUTUAL}}
  - port: {{number: 31400, name: tcp, protocol: TCP}}
    hosts: ["*"]
"""


@pytest.mark.parametrize("version", ["v1alpha3", "v1beta1", "v1"])
def test_istio_gateway_every_version_and_tls_mode(version: str) -> None:
    (gateway,) = parse(ISTIO_GATEWAY.format(version=version))
    assert gateway.ref == "Gateway/shop/bookinfo-gateway"
    spec = gateway.spec
    assert isinstance(spec, GatewaySpec)
    assert spec.selector == {"istio": "ingressgateway"}
    assert spec.servers[0].port.protocol == "HTTP"  # case-insensitive
    modes = [s.tls.mode for s in spec.servers if s.tls is not None]
    assert modes == [
        ServerTLSMode.PASSTHROUGH,  # the default mode: httpsRedirect only
        ServerTLSMode.SIMPLE,
        ServerTLSMode.MUTUAL,
        ServerTLSMode.PASSTHROUGH,
        ServerTLSMode.AUTO_PASSTHROUGH,
        ServerTLSMode.ISTIO_MUTUAL,
    ]
    https = spec.servers[1]
    assert https.tls is not None and https.tls.credential_name == "bookinfo-cert"
    assert https.tls.min_protocol_version is TLSProtocolVersion.TLSV1_2


def server(body: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
        "metadata: {name: gw, namespace: shop}\nspec:\n  servers:\n"
        + textwrap.indent(textwrap.dedent(body), "  ")
    )


@pytest.mark.parametrize(
    "body,field,message",
    [
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: [reviews]\n",
            "spec.servers[0].hosts",
            "short names (not fully qualified) are not allowed",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: [a.*.example.com]\n",
            "spec.servers[0].hosts",
            "partial wildcard",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: [Bad_NS/a.example.com]\n",
            "spec.servers[0].hosts",
            "invalid namespace",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: []\n",
            "spec.servers[0].hosts",
            "at least 1 item",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n",
            "spec.servers[0]",
            "tls: required for HTTPS and TLS servers",
        ),
        (
            "- port: {number: 80, name: tcp, protocol: TCP}\n  hosts: ['*']\n"
            "  tls: {mode: SIMPLE, credentialName: c}\n",
            "spec.servers[0]",
            "not allowed on a non HTTPS/TLS server",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: SIMPLE}\n",
            "spec.servers[0].tls",
            "SIMPLE TLS requires a server certificate",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem}\n",
            "spec.servers[0].tls",
            "MUTUAL TLS requires a client CA bundle",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: ISTIO_MUTUAL, credentialName: c}\n",
            "spec.servers[0].tls",
            "ISTIO_MUTUAL uses the mesh certificates: credentialName cannot be set",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: SIMPLE, credentialName: c, minProtocolVersion: TLSV1_3,"
            " maxProtocolVersion: TLSV1_2}\n",
            "spec.servers[0].tls",
            "minProtocolVersion is higher than maxProtocolVersion",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: SIMPLE, credentialName: c, cipherSuites: [NOT-A-CIPHER]}\n",
            "spec.servers[0].tls.cipherSuites",
            "'NOT-A-CIPHER' is not a cipher suite Envoy knows",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: SIMPLE, credentialName: ../etc}\n",
            "spec.servers[0].tls.credentialName",
            "not a path",
        ),
        (
            "- port: {number: 80, name: http, protocol: FTP}\n  hosts: ['*']\n",
            "spec.servers[0].port.protocol",
            "Input should be",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}\n  hosts: ['*']\n",
            "spec.servers[0].port.targetPort",
            "targetPort has no effect on gateways",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['*']\n"
            "- port: {number: 81, name: http, protocol: HTTP}\n  hosts: ['*']\n",
            "spec",
            "port names must be unique (duplicate: http)",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['*']\n"
            "- port: {number: 80, name: tcp, protocol: TCP}\n  hosts: ['*']\n",
            "spec",
            "port 80 is used with incompatible protocols HTTP and TCP",
        ),
        (
            "- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ['*']\n  bind: 10.0.0.1\n",
            "spec.servers[0].bind",
            "a gateway listens on its workload's address",
        ),
        (
            "- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ['*']\n"
            "  tls: {mode: MUTUAL, credentialName: c, verifyCertificateSpki: [abc]}\n",
            "spec.servers[0].tls.verifyCertificateSpki",
            "not supported by xdscp",
        ),
        (
            "- port: {number: 9000, name: tcp, protocol: TCP}\n  hosts: ['*']\n"
            "  tls: {httpsRedirect: true}\n",
            "spec.servers[0]",
            "not allowed on a non HTTPS/TLS server",
        ),
    ],
)
def test_istio_gateway_refusals(body: str, field: str, message: str) -> None:
    error = one_error(server(body))
    assert (error.kind, error.namespace, error.name) == ("Gateway", "shop", "gw")
    assert error.field == field, str(error)
    assert message in error.message, str(error)


def test_istio_gateway_needs_servers() -> None:
    error = one_error(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
        "spec: {selector: {istio: ingressgateway}}\n"
    )
    assert error.field == "spec.servers"


GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: xdscp}
spec: {controllerName: xdscp.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: xdscp
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com",
     allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {shared: "yes"}}}}}
  - name: https
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: edge-cert}]}
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: tcp, port: 9000, protocol: TCP, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: shop}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: http}]
  hostnames: [reviews.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /api}
      headers: [{name: end-user, value: jason}]
      queryParams: [{name: v, type: RegularExpression, value: "^[0-9]+$"}]
      method: GET
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: b}], remove: [x-c]}
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
    backendRefs:
    - {name: reviews-v1, port: 9080, weight: 80}
    - {name: reviews-v2, port: 9080, weight: 20}
    timeouts: {request: 10s}
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: shop}
spec:
  parentRefs: [{name: edge, namespace: infra}]
  rules:
  - matches: [{method: {service: echo.Echo, method: Say}}]
    backendRefs: [{name: echo, port: 50051}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: db, namespace: infra}
spec:
  parentRefs: [{name: edge, sectionName: tcp}]
  rules: [{backendRefs: [{name: db, port: 5432}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: secure, namespace: infra}
spec:
  parentRefs: [{name: edge, sectionName: tls}]
  hostnames: [secure.example.com]
  rules: [{backendRefs: [{name: secure, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-shop, namespace: infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: shop}]
  to: [{group: "", kind: Service}]
"""


def test_gateway_api_objects_load_and_gateway_is_keyed_apart_from_istios() -> None:
    objects = parse(GATEWAY_API + "---\n" + ISTIO_GATEWAY.format(version="v1"))
    kinds = [o.kind for o in objects]
    assert kinds == [
        "GatewayClass",
        KUBERNETES_GATEWAY,
        "HTTPRoute",
        "GRPCRoute",
        "TCPRoute",
        "TLSRoute",
        "ReferenceGrant",
        "Gateway",
    ]
    route = objects[2].spec
    assert isinstance(route, HTTPRouteSpec)
    assert [b.weight for b in route.rules[0].backend_refs] == [80, 20]
    # a rule without matches matches every path, as the CRD's default says
    assert route.rules[1].matches[0].path.value == "/"
    assert route.rules[1].matches[0].path.type == "PathPrefix"


def route(rule: str, head: str = "") -> str:
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: r, namespace: shop}\nspec:\n  parentRefs: [{name: edge}]\n"
        + head
        + "  rules:\n"
        + textwrap.indent(textwrap.dedent(rule), "  ")
    )


@pytest.mark.parametrize(
    "text,field,message",
    [
        (
            route("- backendRefs: [{name: a}]\n"),
            "spec.rules[0].backendRefs[0]",
            "must have port for Service reference",
        ),
        (
            route("- matches: [{path: {type: PathPrefix, value: api}}]\n"),
            "spec.rules[0].matches[0].path",
            "must be an absolute path",
        ),
        (
            route("- matches: [{path: {value: /a//b}}]\n"),
            "spec.rules[0].matches[0].path",
            "must not contain '//'",
        ),
        (
            route("- matches: [{path: {type: RegularExpression, value: '(?=x)'}}]\n"),
            "spec.rules[0].matches[0].path",
            "not supported by RE2",
        ),
        (
            route(
                "- filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n"
                "  backendRefs: [{name: a, port: 80}]\n"
            ),
            "spec.rules[0]",
            "RequestRedirect filter must not be used together with backendRefs",
        ),
        (
            route(
                "- filters:\n"
                "  - {type: RequestRedirect, requestRedirect: {scheme: https}}\n"
                "  - {type: URLRewrite, urlRewrite: {hostname: a.example.com}}\n"
            ),
            "spec.rules[0].filters",
            "either RequestRedirect or URLRewrite, but not both",
        ),
        (
            route("- filters: [{type: URLRewrite, requestRedirect: {scheme: https}}]\n"),
            "spec.rules[0].filters[0]",
            "must be nil if the filter.type is not RequestRedirect",
        ),
        (
            route("- filters: [{type: CORS}]\n"),
            "spec.rules[0].filters[0].type",
            "CORS: filter not supported by xdscp",
        ),
        (
            route(
                "- matches: [{path: {type: Exact, value: /a}}]\n"
                "  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch,"
                " replacePrefixMatch: /b}}}]\n"
            ),
            "spec.rules[0]",
            "exactly one PathPrefix match must be specified",
        ),
        (
            route("- timeouts: {request: 1s, backendRequest: 2s}\n"),
            "spec.rules[0].timeouts.backendRequest",
            "not supported by xdscp (use timeouts.request)",
        ),
        (
            route(
                "- backendRefs:\n"
                "  - name: a\n"
                "    port: 80\n"
                "    filters:\n"
                "    - {type: RequestHeaderModifier, requestHeaderModifier: {remove: [x]}}\n"
            ),
            "spec.rules[0].backendRefs[0].filters",
            "filters on a backendRef are not supported by xdscp",
        ),
        (
            route("- timeouts: {request: 1 second}\n"),
            "spec.rules[0].timeouts.request",
            "is not a duration",
        ),
        (
            route("- filters: [{type: RequestRedirect, requestRedirect: {statusCode: 304}}]\n"),
            "spec.rules[0].filters[0].requestRedirect.statusCode",
            "must be one of 301, 302, 303, 307, 308",
        ),
        (
            route("- backendRefs: [{name: a, port: 80, weight: 1000001}]\n"),
            "spec.rules[0].backendRefs[0].weight",
            "less than or equal to 1000000",
        ),
        (
            route("- {}\n", head="  hostnames: ['a.*.example.com']\n"),
            "spec.hostnames[0]",
            "String should match pattern",
        ),
        (
            route("- retry: {attempts: 2}\n"),
            "spec.rules[0].retry",
            "unknown field",
        ),
    ],
)
def test_httproute_refusals(text: str, field: str, message: str) -> None:
    error = one_error(text)
    assert (error.kind, error.name) == ("HTTPRoute", "r")
    assert error.field == field, str(error)
    assert message in error.message, str(error)


def listeners(body: str) -> str:
    return (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: edge, namespace: infra}\nspec:\n  gatewayClassName: xdscp\n"
        "  listeners:\n" + textwrap.indent(textwrap.dedent(body), "  ")
    )


@pytest.mark.parametrize(
    "body,message",
    [
        (
            "- {name: a, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: c}]}}\n",
            "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
        ),
        ("- {name: a, port: 443, protocol: HTTPS}\n", "tls is required for HTTPS"),
        (
            "- {name: a, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}\n",
            "tls mode must be Terminate for protocol HTTPS",
        ),
        ("- {name: a, port: 443, protocol: TLS}\n", "tls mode must be set for protocol TLS"),
        (
            "- {name: a, port: 9000, protocol: TCP, hostname: a.example.com}\n",
            "hostname must not be specified",
        ),
        (
            "- {name: a, port: 80, protocol: HTTP}\n- {name: a, port: 81, protocol: HTTP}\n",
            "listener name must be unique",
        ),
        (
            "- {name: a, port: 80, protocol: HTTP}\n- {name: b, port: 80, protocol: HTTP}\n",
            "combination of port, protocol and hostname must be unique",
        ),
    ],
)
def test_gateway_api_listener_refusals(body: str, message: str) -> None:
    error = one_error(listeners(body))
    assert (error.kind, error.name) == (KUBERNETES_GATEWAY, "edge")
    assert message in error.message, str(error)


def test_one_certificate_per_listener() -> None:
    error = one_error(
        listeners(
            "- name: a\n  port: 443\n  protocol: HTTPS\n"
            "  tls: {certificateRefs: [{name: rsa}, {name: ecdsa}]}\n"
        )
    )
    assert error.field == "spec.listeners[0].tls.certificateRefs"
    assert "one certificate per listener" in error.message


def test_https_listener_needs_certificates() -> None:
    error = one_error(listeners("- {name: a, port: 443, protocol: HTTPS, tls: {}}\n"))
    assert error.field == "spec.listeners[0].tls"
    assert "certificateRefs or options must be specified when mode is Terminate" in error.message
