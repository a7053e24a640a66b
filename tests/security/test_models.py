"""security.istio.io objects and DestinationRule `tls`: accepted as Istio writes them,
refused — with the field path and a reason — when xdscp could not enforce them."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from translators.model.objects import ConfigError, MeshObject
from translators.model.security import AuthorizationPolicySpec, MTLSMode, PeerAuthenticationSpec
from xdscp.sources.documents import parse_text


def parse(text: str) -> tuple[list[MeshObject[Any]], list[ConfigError]]:
    result = parse_text(textwrap.dedent(text), "mesh/security.yaml")
    return list(result.objects), list(result.errors)


def one_error(text: str) -> ConfigError:
    objects, errors = parse(text)
    assert not objects, [o.ref for o in objects]
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def pa(spec: str, version: str = "v1") -> str:
    return (
        f"apiVersion: security.istio.io/{version}\n"
        "kind: PeerAuthentication\n"
        "metadata: {name: pa, namespace: prod}\n"
        f"spec:\n{textwrap.indent(textwrap.dedent(spec), '  ')}"
    )


def authz(spec: str) -> str:
    return (
        "apiVersion: security.istio.io/v1beta1\n"
        "kind: AuthorizationPolicy\n"
        "metadata: {name: ap, namespace: prod}\n"
        f"spec:\n{textwrap.indent(textwrap.dedent(spec), '  ')}"
    )


def dr_tls(tls: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: DestinationRule\n"
        "metadata: {name: dr, namespace: prod}\n"
        "spec:\n"
        "  host: api\n"
        "  trafficPolicy:\n"
        f"    tls: {tls}\n"
    )


@pytest.mark.parametrize("version", ["v1beta1", "v1"])
def test_peer_authentication_as_istio_writes_it(version: str) -> None:
    objects, errors = parse(
        pa(
            """\
            selector: {matchLabels: {app: api}}
            mtls: {mode: STRICT}
            portLevelMtls:
              8080: {mode: DISABLE}
              "9090": {mode: PERMISSIVE}
            """,
            version,
        )
    )
    assert not errors, [str(e) for e in errors]
    spec = objects[0].spec
    assert isinstance(spec, PeerAuthenticationSpec)
    assert spec.mode is MTLSMode.STRICT
    assert spec.port_level_mtls is not None and sorted(spec.port_level_mtls) == [8080, 9090]


def test_unsupported_version_is_refused() -> None:
    error = one_error(pa("mtls: {mode: STRICT}", "v1alpha1"))
    assert error.field == "apiVersion"
    assert "security.istio.io/v1" in error.message


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("mtls: {mode: STRICTER}", "spec.mtls.mode", "Input should be"),
        ("mtls: {mode: STRICT, extra: 1}", "spec.mtls.extra", "unknown field"),
        ("selector: {labels: {app: api}}", "spec.selector.labels", "unknown field"),
        (
            "portLevelMtls: {8080: {mode: DISABLE}}",
            "spec",
            "portLevelMtls: only allowed with a workload selector",
        ),
        (
            "selector: {matchLabels: {app: a}}\nportLevelMtls: {0: {mode: DISABLE}}",
            "spec.portLevelMtls.0.[key]",
            "greater than or equal to 1",
        ),
    ],
)
def test_peer_authentication_errors(spec: str, field: str, message: str) -> None:
    error = one_error(pa(spec))
    assert (error.kind, error.namespace, error.name) == ("PeerAuthentication", "prod", "pa")
    assert error.field == field
    assert message in error.message, error.message


def test_authorization_policy_as_istio_writes_it() -> None:
    objects, errors = parse(
        authz(
            """\
            selector: {matchLabels: {app: orders}}
            action: DENY
            rules:
            - from:
              - source: {principals: ["cluster.local/ns/a/sa/*"], notNamespaces: [ops]}
              - source: {ipBlocks: [10.0.0.0/8, 192.168.1.1], serviceAccounts: [a/b, c]}
              to:
              - operation: {methods: [GET], paths: ["/admin*", "*.png"], ports: [8080, "9090"]}
              - operation: {notHosts: ["*.internal"]}
              when:
              - {key: "request.headers[x-user]", values: [alice]}
              - {key: source.namespace, notValues: [kube-*]}
              - {key: destination.port, values: ["8080"]}
              - {key: connection.sni, values: ["*.example.com"]}
            - {}
            """
        )
    )
    assert not errors, [str(e) for e in errors]
    spec = objects[0].spec
    assert isinstance(spec, AuthorizationPolicySpec)
    assert spec.rules[0].to is not None and spec.rules[0].to[0].operation.ports == ["8080", "9090"]


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ("action: CUSTOM\nprovider: {name: ext}", "spec", "CUSTOM action without `rules`"),
        ("action: CUSTOM\nrules: [{}]", "spec", "provider.name: must not be empty"),
        ("action: DENY", "spec", "DENY action without `rules`"),
        ("action: DENY\nrules: []", "spec", "DENY action without `rules`"),
        (
            "action: CUSTOM\nprovider: {name: ext}\nrules: [{from: [{source: {principals: [a]}}]}]",
            "spec",
            "from.source.principals is not supported with action CUSTOM",
        ),
        (
            "action: CUSTOM\nprovider: {name: ext}\n"
            "rules: [{when: [{key: 'request.auth.claims[iss]', values: [a]}]}]",
            "spec",
            "not supported with action CUSTOM",
        ),
        ("action: REJECT", "spec.action", "Input should be"),
        ("rules: [{from: []}]", "spec.rules[0]", "from: must not be an empty list"),
        ("rules: [{from: [{source: {}}]}]", "spec.rules[0].from[0].source", "at least one field"),
        ("rules: [{to: [{operation: {}}]}]", "spec.rules[0].to[0].operation", "at least one"),
        (
            "rules: [{from: [{source: {requestPrincipals: ['a*b']}}]}]",
            "spec.rules[0].from[0].source.requestPrincipals",
            "'*' is only allowed as a prefix, suffix or alone",
        ),
        (
            "rules: [{from: [{source: {principals: ['a*b']}}]}]",
            "spec.rules[0].from[0].source.principals",
            "'*' is only allowed as a prefix, suffix or alone",
        ),
        (
            "rules: [{from: [{source: {ipBlocks: [10.0.0.300]}}]}]",
            "spec.rules[0].from[0].source.ipBlocks",
            "not an IP address or CIDR range",
        ),
        (
            "rules: [{to: [{operation: {ports: [http]}}]}]",
            "spec.rules[0].to[0].operation.ports",
            "not a port number",
        ),
        (
            "rules: [{to: [{operation: {paths: ['/api/{**}/{*}']}}]}]",
            "spec.rules[0].to[0].operation.paths",
            "{**} must be the last operator",
        ),
        # Istio's IsValidLiteral: no `*` in a literal segment of a template
        (
            "rules: [{to: [{operation: {paths: ['/v*/{**}']}}]}]",
            "spec.rules[0].to[0].operation.paths",
            "segment 'v*' of a path template holds '*'",
        ),
        (
            "rules: [{to: [{operation: {paths: ['/*/{*}']}}]}]",
            "spec.rules[0].to[0].operation.paths",
            "segment '*' of a path template holds '*'",
        ),
        (
            "rules: [{to: [{operation: {paths: ['/{*}/a b']}}]}]",
            "spec.rules[0].to[0].operation.paths",
            "holds a character a path segment cannot hold",
        ),
        (
            "rules: [{when: [{key: 'request.auth.claims[]', values: [x]}]}]",
            "spec.rules[0].when[0].key",
            "expected request.auth.claims[<claim>]",
        ),
        (
            "rules: [{when: [{key: source.user, values: [x]}]}]",
            "spec.rules[0].when[0].key",
            "unknown key 'source.user' (supported: source.principal",
        ),
        (
            "rules: [{when: [{key: request.headers, values: [x]}]}]",
            "spec.rules[0].when[0].key",
            "expected request.headers[<header-name>]",
        ),
        (
            "rules: [{when: [{key: source.ip}]}]",
            "spec.rules[0].when[0]",
            "set values or notValues",
        ),
        (
            "rules: [{when: [{key: destination.port, values: ['99999']}]}]",
            "spec.rules[0].when[0]",
            "not a port number",
        ),
        (
            "rules: [{from: [{source: {principals: [a], serviceAccounts: [b]}}]}]",
            "spec.rules[0].from[0].source",
            "serviceAccounts cannot be set with namespaces or principals",
        ),
        (
            "rules: [{from: [{source: {namespaces: [a], serviceAccounts: [b]}}]}]",
            "spec.rules[0].from[0].source",
            "serviceAccounts cannot be set with namespaces or principals",
        ),
        ("targetRefs: [{kind: Service, name: x}]", "spec.targetRefs", "unknown field"),
    ],
)
def test_authorization_policy_errors(spec: str, field: str, message: str) -> None:
    error = one_error(authz(spec))
    assert error.field == field
    assert message in error.message, error.message


@pytest.mark.parametrize(
    ("tls", "field", "message"),
    [
        ("{mode: MUTUAL, privateKey: /k}", "spec.trafficPolicy.tls", "clientCertificate: required"),
        ("{mode: MUTUAL, clientCertificate: /c}", "spec.trafficPolicy.tls", "privateKey: required"),
        (
            "{mode: ISTIO_MUTUAL, caCertificates: /ca}",
            "spec.trafficPolicy.tls",
            "ISTIO_MUTUAL uses the mesh certificates",
        ),
        (
            "{mode: SIMPLE, insecureSkipVerify: true, caCertificates: /ca}",
            "spec.trafficPolicy.tls",
            "insecureSkipVerify: cannot be combined",
        ),
        (
            "{mode: SIMPLE, subjectAltNames: [a.example]}",
            "spec.trafficPolicy.tls",
            "subjectAltNames: needs caCertificates",
        ),
        (
            "{mode: SIMPLE, credentialName: bank, caCertificates: /ca.pem}",
            "spec.trafficPolicy.tls",
            "cannot be set beside it",
        ),
        ("{mode: TLS}", "spec.trafficPolicy.tls.mode", "Input should be"),
    ],
)
def test_destination_rule_tls_errors(tls: str, field: str, message: str) -> None:
    error = one_error(dr_tls(tls))
    assert error.field == field
    assert message in error.message, error.message


def test_destination_rule_tls_accepted() -> None:
    for tls in (
        "{mode: ISTIO_MUTUAL, sni: x, subjectAltNames: [spiffe://td/ns/a/sa/b]}",
        "{mode: SIMPLE}",
        "{mode: SIMPLE, caCertificates: /ca.pem, subjectAltNames: [a.example], sni: a.example}",
        "{mode: MUTUAL, clientCertificate: /c, privateKey: /k, caCertificates: /ca}",
        "{mode: DISABLE}",
    ):
        objects, errors = parse(dr_tls(tls))
        assert objects and not errors, (tls, [str(e) for e in errors])
