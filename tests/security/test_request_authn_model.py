"""RequestAuthentication: accepted as Istio writes it, refused with Istio's reasons
(pkg/config/validation `validateJwtRule`), naming the field; JWT fields of
AuthorizationPolicy and `@request.auth.claims` route matches are accepted."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from translators.model.objects import ConfigError, MeshObject
from translators.model.request_authn import RequestAuthenticationSpec
from translators.model.security import AuthorizationPolicySpec, claim_path
from translators.naming import routing_claim
from xdscp.sources.documents import parse_text

JWKS = '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}'


def parse(text: str) -> tuple[list[MeshObject[Any]], list[ConfigError]]:
    result = parse_text(textwrap.dedent(text), "mesh/ra.yaml")
    return list(result.objects), list(result.errors)


def ra(spec: str, version: str = "v1") -> str:
    return (
        f"apiVersion: security.istio.io/{version}\n"
        "kind: RequestAuthentication\n"
        "metadata: {name: jwt, namespace: prod}\n"
        f"spec:\n{textwrap.indent(textwrap.dedent(spec), '  ')}"
    )


@pytest.mark.parametrize("version", ["v1beta1", "v1"])
def test_request_authentication_as_istio_writes_it(version: str) -> None:
    objects, errors = parse(
        ra(
            """
            selector:
              matchLabels: {app: orders}
            jwtRules:
            - issuer: "testing@secure.istio.io"
              audiences: [orders, web]
              jwksUri: "https://raw.githubusercontent.com/istio/istio/release-1.24/security/tools/jwt/samples/jwks.json"
              fromHeaders:
              - {name: x-jwt-assertion, prefix: "Bearer "}
              fromParams: [my_token]
              fromCookies: [session]
              outputPayloadToHeader: x-jwt-payload
              outputClaimToHeaders:
              - {header: x-jwt-group, claim: group}
              forwardOriginalToken: true
              timeout: 3s
            - jwksUri: http://idp.local:8080/keys
            - issuer: inline
              jwks: 'JWKS'
            """.replace("JWKS", JWKS),
            version,
        )
    )
    assert not errors, [str(e) for e in errors]
    spec: RequestAuthenticationSpec = objects[0].spec
    first, second, third = spec.jwt_rules
    assert first.from_headers[0].prefix == "Bearer "
    assert first.timeout_s == 3.0
    assert second.issuer == "" and second.timeout_s == 5.0  # Istio's default
    assert third.jwks == JWKS


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("jwtRules: [{audiences: [a]}]", "spec.jwtRules[0]", "issuer or jwksUri must be"),
        ("jwtRules: [{issuer: a, audiences: ['']}]", "spec.jwtRules[0].audiences", "non-empty"),
        ("jwtRules: [{issuer: a, jwksUri: 'ftp://x/k'}]", "spec.jwtRules[0].jwksUri", "http or"),
        ("jwtRules: [{issuer: a, jwksUri: 'https:///k'}]", "spec.jwtRules[0].jwksUri", "no host"),
        (
            "jwtRules: [{issuer: a, jwksUri: 'http://h:99999/'}]",
            "spec.jwtRules[0].jwksUri",
            "Port out of range",
        ),
        ("jwtRules: [{issuer: a, jwks: 'nope'}]", "spec.jwtRules[0].jwks", "jwks parse error"),
        ("jwtRules: [{issuer: a, jwks: '{\"keys\": [{}]}'}]", "spec.jwtRules[0].jwks", "kty"),
        (
            "jwtRules: [{issuer: a, fromHeaders: [{name: ''}]}]",
            "spec.jwtRules[0].fromHeaders[0].name",
            "non-empty",
        ),
        ("jwtRules: [{issuer: a, fromParams: ['']}]", "spec.jwtRules[0].fromParams", "non-empty"),
        ("jwtRules: [{issuer: a, fromCookies: ['']}]", "spec.jwtRules[0].fromCookies", "non-empty"),
        (
            "jwtRules: [{issuer: a, outputClaimToHeaders: [{header: 'bad header', claim: c}]}]",
            "spec.jwtRules[0].outputClaimToHeaders[0]",
            "not a valid header name",
        ),
        (
            "jwtRules: [{issuer: a, outputClaimToHeaders: [{header: x, claim: ''}]}]",
            "spec.jwtRules[0].outputClaimToHeaders[0]",
            "must be non-empty",
        ),
        ("jwtRules: [{issuer: a, timeout: 5}]", "spec.jwtRules[0].timeout", "needs a unit"),
        ("jwtRules: [{issuer: a, jwksURI: x}]", "spec.jwtRules[0].jwksURI", "unknown field"),
        (
            "selector: {matchLabels: {a: b}}\ntargetRef: {kind: Service, name: s}",
            "spec",
            "only one of targetRefs or selector",
        ),
    ],
)
def test_request_authentication_errors(spec: str, field: str, message: str) -> None:
    objects, errors = parse(ra(spec))
    assert not objects
    assert len(errors) == 1, [str(e) for e in errors]
    assert errors[0].kind == "RequestAuthentication"
    assert errors[0].field == field, str(errors[0])
    assert message in errors[0].message, str(errors[0])


def test_authorization_policy_jwt_fields_are_accepted() -> None:
    objects, errors = parse(
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: jwt, namespace: prod}
        spec:
          rules:
          - from:
            - source:
                requestPrincipals: ["https://idp/*"]
                notRequestPrincipals: ["*/blocked"]
            when:
            - {key: "request.auth.claims[groups]", values: [admin]}
            - {key: "request.auth.claims[nested][role]", values: ["ops*"]}
            - {key: request.auth.audiences, values: [web]}
            - {key: request.auth.presenter, notValues: [bad]}
            - {key: request.auth.principal, values: ["*"]}
        """
    )
    assert not errors, [str(e) for e in errors]
    spec: AuthorizationPolicySpec = objects[0].spec
    assert spec.rules[0].from_ is not None
    assert spec.rules[0].from_[0].source.request_principals == ["https://idp/*"]


def test_claim_keys() -> None:
    assert claim_path("request.auth.claims[groups]") == ("groups",)
    assert claim_path("request.auth.claims[a][b]") == ("a", "b")
    assert claim_path("request.auth.claims") is None
    assert routing_claim("@request.auth.claims.group") == ("group",)
    assert routing_claim("@request.auth.claims.a.b") == ("a", "b")
    assert routing_claim("@request.auth.claims[a.b][c]") == ("a.b", "c")
    assert routing_claim("@request.auth.claims") is None
    assert routing_claim("x-group") is None


def test_virtual_service_routes_on_claims() -> None:
    _, errors = parse(
        """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: vs, namespace: prod}
        spec:
          hosts: [orders]
          http:
          - match:
            - headers: {"@request.auth.claims.Group": {exact: admin}}
              withoutHeaders: {"@request.auth.claims[tier]": {prefix: free}}
            route: [{destination: {host: orders}}]
        """
    )
    assert not errors, [str(e) for e in errors]
