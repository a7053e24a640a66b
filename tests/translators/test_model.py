"""Parsing Istio YAML into typed objects: every rejection names file, document index,
kind, namespace/name and field path, and says what is wrong."""

from __future__ import annotations

import textwrap

import pytest

from translators.model.objects import ConfigError, MeshObject, Origin, parse_object
from xdscp.sources.documents import duplicate_errors, parse_text


def errors_of(text: str, source: str = "mesh/routes.yaml") -> list[ConfigError]:
    result = parse_text(textwrap.dedent(text), source)
    assert not result.objects, [o.ref for o in result.objects]
    return list(result.errors)


def one_error(text: str, source: str = "mesh/routes.yaml") -> ConfigError:
    errors = errors_of(text, source)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


VS_HEAD = """\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
"""


def test_unknown_field_names_the_full_path() -> None:
    error = one_error(
        VS_HEAD
        + """\
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subsett: v1}
"""
    )
    assert error.origin == Origin("mesh/routes.yaml", 0)
    assert (error.kind, error.namespace, error.name) == ("VirtualService", "shop", "reviews")
    assert error.field == "spec.http[0].route[0].destination.subsett"
    assert error.message == "unknown field"
    assert str(error) == (
        "mesh/routes.yaml[doc 0]: VirtualService shop/reviews: "
        "field spec.http[0].route[0].destination.subsett: unknown field"
    )
    assert error.ref == "VirtualService/shop/reviews"


def test_wrong_type() -> None:
    error = one_error(
        VS_HEAD
        + """\
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: ninety
"""
    )
    assert error.field == "spec.http[0].route[0].weight"
    assert "valid integer" in error.message


def test_missing_required_field() -> None:
    error = one_error(VS_HEAD + "spec:\n  hosts: [reviews]\n  http:\n  - route:\n    - {}\n")
    assert error.field == "spec.http[0].route[0].destination"
    assert error.message == "Field required"


def test_no_rules_at_all_is_refused() -> None:
    # Istio: "http, tcp or tls must be provided in virtual service"
    error = one_error(VS_HEAD + "spec:\n  hosts: [reviews]\n  http: []\n")
    assert error.field == "spec"
    assert "http, tcp or tls must be provided" in error.message


def test_several_errors_in_one_document_are_all_reported() -> None:
    errors = errors_of(
        """\
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews}
        spec:
          trafficPolicy: {loadBalancer: {simple: FASTEST}}
          subsets: [{name: v1}, {name: v1}]
        """
    )
    by_field = {e.field: e.message for e in errors}
    assert set(by_field) == {"spec.host", "spec.trafficPolicy.loadBalancer.simple", "spec.subsets"}
    assert "ROUND_ROBIN" in by_field["spec.trafficPolicy.loadBalancer.simple"]
    assert by_field["spec.subsets"] == "duplicate subset name(s): v1"
    assert all(e.namespace == "default" and e.name == "reviews" for e in errors)


@pytest.mark.parametrize("version", ["v1alpha3", "v1beta1", "v1"])
def test_accepted_api_versions(version: str) -> None:
    parsed = parse_object(
        {
            "apiVersion": f"networking.istio.io/{version}",
            "kind": "Sidecar",
            "metadata": {"name": "default", "namespace": "shop"},
            "spec": {"egress": [{"hosts": ["./*"]}]},
        },
        Origin("x.yaml", 3),
    )
    assert isinstance(parsed, MeshObject)
    assert parsed.ref == "Sidecar/shop/default"
    assert parsed.origin == Origin("x.yaml", 3)


@pytest.mark.parametrize(
    ("api_version", "shown"),
    [
        ("networking.istio.io/v2", "networking.istio.io/v2"),
        ("security.istio.io/v1", "security.istio.io/v1"),
        (None, "missing"),
    ],
)
def test_bad_api_version(api_version: str | None, shown: str) -> None:
    doc = {"kind": "VirtualService", "metadata": {"name": "r"}, "spec": {"hosts": ["r"]}}
    if api_version is not None:
        doc["apiVersion"] = api_version
    parsed = parse_object(doc, Origin("v.yaml", 1))
    assert isinstance(parsed, list)
    (error,) = parsed
    assert error.field == "apiVersion"
    assert error.message.startswith(f"{shown}: expected one of networking.istio.io/v1, ")
    assert (error.kind, error.name) == ("VirtualService", "r")


def test_unknown_kind() -> None:
    error = one_error(
        """\
        apiVersion: extensions.istio.io/v1alpha1
        kind: WasmPlugin
        metadata: {name: ingress, namespace: edge}
        spec: {}
        """
    )
    assert (error.kind, error.namespace, error.name, error.field) == (
        "WasmPlugin",
        "edge",
        "ingress",
        "kind",
    )
    assert error.message.startswith("unsupported kind (supported: VirtualService,")


def test_missing_kind_and_unknown_top_level_field() -> None:
    errors = errors_of(
        """\
        apiVersion: networking.istio.io/v1
        metadata: {name: a}
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata: {name: b}
        specs: {}
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        spec: {}
        """
    )
    assert [(e.origin.document, e.field, e.message) for e in errors] == [
        (0, "kind", "missing"),
        (1, "specs", "unknown field"),
        (2, "metadata", "missing or not a mapping"),
    ]


def test_metadata_errors() -> None:
    errors = errors_of(
        """\
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata: {name: Bad_Name, namespace: shop, labelz: {}}
        spec: {egress: [{hosts: [./*]}]}
        """
    )
    assert [(e.field, e.name) for e in errors] == [
        ("metadata.name", "Bad_Name"),
        ("metadata.labelz", "Bad_Name"),
    ]
    assert "is not a Kubernetes object name" in errors[0].message
    assert errors[1].message == "unknown field"


def test_document_index_counts_every_document_of_the_file() -> None:
    good = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: w%d}
spec: {address: 10.0.0.%d}
"""
    text = "\n---\n".join([good % (1, 1), "", good % (2, 2), VS_HEAD + "spec: {hosts: 7}\n"])
    result = parse_text(text, "dir/mixed.yaml")
    assert [o.name for o in result.objects] == ["w1", "w2"]
    assert [o.origin for o in result.objects] == [
        Origin("dir/mixed.yaml", 0),
        Origin("dir/mixed.yaml", 2),
    ]
    (error,) = result.errors
    assert error.origin == Origin("dir/mixed.yaml", 3)
    assert error.field == "spec.hosts"
    assert str(error).startswith("dir/mixed.yaml[doc 3]: VirtualService shop/reviews: ")
    assert result.failed_keys == frozenset({("VirtualService", "shop", "reviews")})


def test_yaml_syntax_error_names_line_and_column() -> None:
    result = parse_text(
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: a\n"
        "spec: {egress: [\n",
        "broken.yaml",
    )
    assert not result.syntax_ok
    assert not result.objects
    (error,) = result.errors
    assert error.origin == Origin("broken.yaml")
    assert "YAML syntax error (line 6, column 1)" in error.message
    assert str(error).startswith("broken.yaml: document: YAML syntax error (line 6")


def test_yaml_syntax_error_in_the_middle() -> None:
    (error,) = parse_text("a: b\n  c: d\n", "bad.yaml").errors
    assert error.message == (
        "YAML syntax error (line 2, column 4): mapping values are not allowed in this context"
    )


def test_a_document_that_is_not_a_mapping() -> None:
    error = one_error("- just\n- a list\n")
    assert error.origin == Origin("mesh/routes.yaml", 0)
    assert error.message == "document is not a mapping"


def test_duplicate_object_first_wins() -> None:
    first = parse_text(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
        "metadata: {name: w}\nspec: {address: 10.0.0.1}\n",
        "a.yaml",
    )
    second = parse_text(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"
        "metadata: {name: w, namespace: default}\nspec: {address: 10.0.0.2}\n",
        "b.yaml",
    )
    kept, errors = duplicate_errors([*first.objects, *second.objects])
    assert [o.origin.source for o in kept] == ["a.yaml"]
    (error,) = errors
    assert error.origin == Origin("b.yaml", 0)
    assert (error.kind, error.namespace, error.name) == ("WorkloadEntry", "default", "w")
    assert error.field == "metadata.name"
    assert error.message == "duplicate: already defined at a.yaml[doc 0]"


def test_error_as_dict_is_complete() -> None:
    error = one_error(VS_HEAD + "spec: {}\n")
    assert error.as_dict() == {
        "source": "mesh/routes.yaml",
        "document": 0,
        "kind": "VirtualService",
        "namespace": "shop",
        "name": "reviews",
        "field": "spec",
        "message": "http, tcp or tls must be provided",
        "text": str(error),
    }


def test_digest_ignores_formatting_and_origin_but_not_content() -> None:
    rule = "tcp: [{route: [{destination: {host: reviews}}]}]"
    compact = parse_text(VS_HEAD + f"spec: {{hosts: [reviews], {rule}}}\n", "a.yaml").objects[0]
    verbose = parse_text(
        VS_HEAD + f"spec:\n  hosts:\n  - reviews\n  http: []\n  {rule}\n", "b.yaml"
    )
    other = parse_text(VS_HEAD + f"spec: {{hosts: [ratings], {rule}}}\n", "a.yaml").objects[0]
    assert compact.digest == verbose.objects[0].digest
    assert compact.digest != other.digest


# --- what Envoy would NACK is rejected at load time, with the field -----------------

ROUTE_WITH = (
    VS_HEAD
    + """\
spec:
  hosts: [reviews]
  http:
  - match:
    - %s
    route:
    - destination: {host: reviews}
"""
)


@pytest.mark.parametrize(
    ("match", "field", "message"),
    [
        ('uri: {regex: "/items/(a"}', "spec.http[0].match[0].uri.regex", "invalid regex"),
        ('uri: {regex: "[0-9"}', "spec.http[0].match[0].uri.regex", "invalid regex"),
        (
            'headers: {x-user: {regex: "(?!admin).*"}}',
            "spec.http[0].match[0].headers.x-user.regex",
            "not supported by RE2",
        ),
        (
            r'uri: {regex: "/(a)\\1"}',
            "spec.http[0].match[0].uri.regex",
            "not supported by RE2",
        ),
    ],
)
def test_regexes_envoy_would_refuse(match: str, field: str, message: str) -> None:
    error = one_error(ROUTE_WITH % match)
    assert error.field == field
    assert message in error.message


@pytest.mark.parametrize("regex", ["/items/[0-9]+", "(yes|true)", r"\\pL+", r"/v\\d/.*\\z"])
def test_regexes_re2_accepts(regex: str) -> None:
    result = parse_text(ROUTE_WITH % f'uri: {{regex: "{regex}"}}', "ok.yaml")
    assert not result.errors, [str(e) for e in result.errors]


SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: %s
  resolution: %s
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: %s
"""


@pytest.mark.parametrize(
    ("hosts", "resolution", "endpoints", "message"),
    [
        (
            "[api.example.com]",
            "STATIC",
            "[{address: 10.0.0.1}, {address: a.example.com}]",
            "spec.endpoints[1].address: 'a.example.com' is not an IP address",
        ),
        (
            "[api.example.com]",
            "DNS_ROUND_ROBIN",
            "[{address: a.example.com}, {address: b.example.com}]",
            "at most one endpoint",
        ),
        ('["*.example.com"]', "DNS", "[]", "wildcard host cannot be resolved by DNS"),
    ],
)
def test_service_entries_envoy_would_refuse(
    hosts: str, resolution: str, endpoints: str, message: str
) -> None:
    error = one_error(SE % (hosts, resolution, endpoints))
    assert error.field.startswith("spec")
    assert message in f"{error.field}: {error.message}"


@pytest.mark.parametrize(
    ("hosts", "resolution", "endpoints"),
    [
        ("[api.example.com]", "STATIC", "[{address: 10.0.0.1}, {address: 'unix:///sock'}]"),
        ("[api.example.com]", "DNS_ROUND_ROBIN", "[{address: a.example.com}]"),
        ("[api.example.com]", "DNS", "[]"),
        ('["*.example.com"]', "NONE", "[]"),
    ],
)
def test_service_entries_that_are_fine(hosts: str, resolution: str, endpoints: str) -> None:
    result = parse_text(SE % (hosts, resolution, endpoints), "ok.yaml")
    assert not result.errors, [str(e) for e in result.errors]
