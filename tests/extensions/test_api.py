"""The registry: explicit, validated, and what config sources accept from it."""

from __future__ import annotations

import pytest

from tests.extensions.fixtures import BACKEND, ExternalBackendSpec, backend_extension, mesh
from translators.extensions import Extension, ExtensionSet, Proxy
from translators.model.objects import KINDS
from translators.naming import LISTENER_TYPE, SECRET_TYPE
from translators.translate import MeshTranslator
from xdscp.sources.documents import parse_text


def test_creating_an_extension_registers_nothing_globally() -> None:
    before = dict(KINDS)
    backend_extension()
    assert before == KINDS
    errors = parse_text(BACKEND, "x.yaml").errors
    assert [e.message for e in errors] == [f"unsupported kind (supported: {', '.join(KINDS)})"]


def test_extension_kinds_are_parsed_and_validated_like_istio_kinds() -> None:
    kinds = ExtensionSet((backend_extension(),)).kinds()
    assert set(KINDS) < set(kinds)
    parsed = parse_text(BACKEND, "x.yaml", kinds)
    (obj,) = parsed.objects
    assert obj.kind == "ExternalBackend" and obj.spec.port == 443
    bad = BACKEND.replace("port: 443", "port: 443\n  weight: 3").replace("/v1", "/v2")
    errors = parse_text(bad, "x.yaml", kinds).errors
    assert [(e.field, e.message) for e in errors] == [
        ("apiVersion", "extensions.example.io/v2: expected one of extensions.example.io/v1")
    ]
    extra_field = BACKEND.replace("port: 443", "port: 443\n  weight: 3")
    errors = parse_text(extra_field, "x.yaml", kinds).errors
    assert [(e.field, e.message) for e in errors] == [("spec.weight", "unknown field")]


def test_kind_conflicts_are_refused() -> None:
    ext = Extension("x")
    with pytest.raises(ValueError, match="built in"):
        ext.add_kind("VirtualService", "a.io", ["v1"], ExternalBackendSpec)
    ext.add_kind("Thing", "a.io", ["v1"], ExternalBackendSpec)
    with pytest.raises(ValueError, match="twice"):
        ext.add_kind("Thing", "a.io", ["v1"], ExternalBackendSpec)
    with pytest.raises(ValueError, match="needs a version"):
        ext.add_kind("Other", "a.io", [], ExternalBackendSpec)
    other = Extension("y")
    other.add_kind("Thing", "b.io", ["v1"], ExternalBackendSpec)
    with pytest.raises(ValueError, match="registered by both 'x' and 'y'"):
        ExtensionSet((ext, other))
    with pytest.raises(ValueError, match="two extensions named"):
        ExtensionSet((Extension("x"), Extension("x")))


def test_only_xds_resource_types_may_be_patched() -> None:
    ext = Extension("x")
    with pytest.raises(ValueError, match="cannot patch"):
        ext.add_patch(SECRET_TYPE, lambda proxy, resources: None)

    @ext.patch(LISTENER_TYPE)
    def noop(proxy: object, resources: object) -> None:
        return None

    assert [(p.name, p.type_url) for p in ext.patches] == [("noop", LISTENER_TYPE)]


def test_an_extension_set_without_functions_is_falsy() -> None:
    kinds_only = Extension("kinds-only")
    kinds_only.add_kind("Thing", "a.io", ["v1"], ExternalBackendSpec)
    assert not ExtensionSet((kinds_only,))
    assert ExtensionSet((backend_extension(),))


def test_selecting_follows_istio_scoping() -> None:
    extra = BACKEND + BACKEND.replace("name: billing", "name: everyone").replace(
        "  selector: {matchLabels: {app: api}}\n", ""
    )
    built = mesh(extra)
    translator = MeshTranslator(built)
    api = built.workload("default", "api-1")
    web = built.workload("default", "web")
    assert api is not None and web is not None
    seen_api = Proxy(built, api, translator.view(api)).selecting("ExternalBackend")
    seen_web = Proxy(built, web, translator.view(web)).selecting("ExternalBackend")
    assert [o.name for o in seen_api] == ["everyone", "billing"]  # least specific first
    assert [o.name for o in seen_web] == ["everyone"]
