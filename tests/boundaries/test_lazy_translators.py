"""`import translators` is cheap and its lazy public API is complete and exact."""

from __future__ import annotations

import pytest

import ca
import translators
from tests.boundaries.lazy_api import eager_imports, type_checking_imports
from tests.boundaries.loaded import REPO, modules_loaded, within


def test_import_translators_loads_only_the_package() -> None:
    loaded = modules_loaded("translators")
    assert within(loaded, "translators") == ["translators"]
    for heavy in ("pydantic", "google.protobuf", "envoy", "yaml", "ca"):
        assert within(loaded, heavy) == [], heavy


def test_naming_alone_stays_light() -> None:
    # The service's server needs only names (type URLs): it must not pay for protobuf.
    loaded = modules_loaded("translators.naming")
    assert within(loaded, "translators") == ["translators", "translators.naming"]
    assert within(loaded, "ca") == ["ca", "ca.errors", "ca.spiffe", "ca.xdscp_error"]
    for heavy in ("pydantic", "google.protobuf", "cryptography"):
        assert within(loaded, heavy) == [], heavy


def test_every_public_name_loads_in_a_fresh_interpreter() -> None:
    loaded = modules_loaded("translators", touch=tuple(translators.__all__))
    assert "translators.translate" in loaded
    assert within(loaded, "pydantic")  # the touch really reached the models
    assert within(loaded, "xdscp") == []


@pytest.mark.parametrize("package", ["translators", "ca"])
def test_lazy_table_matches_type_checking_imports_and_all(package: str) -> None:
    init = REPO / package / "__init__.py"
    module = {"translators": translators, "ca": ca}[package]
    declared = type_checking_imports(init)
    assert declared == module._LAZY
    assert sorted(declared) == sorted(module.__all__)
    # Nothing heavy sneaks back in at module level.
    assert set(eager_imports(init)) <= {"__future__", "importlib", "sys", "types", "typing"}


def test_public_names_are_the_defining_objects() -> None:
    from translators.mesh import build_mesh
    from translators.translate import MeshTranslator, translate

    assert translators.MeshTranslator is MeshTranslator
    assert translators.build_mesh is build_mesh
    # `translate` is also a submodule: the public function wins even after the
    # submodule was imported (it was, above).
    assert translators.translate is translate
    assert callable(translators.translate)
    assert set(dir(translators)) >= set(translators.__all__)


def test_translate_can_still_be_replaced_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    from translators.translate import translate

    def fake(*args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(translators, "translate", fake)
    replaced: object = translators.translate
    assert replaced is fake
    monkeypatch.undo()
    assert translators.translate is translate


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        translators.no_such_name  # noqa: B018


def test_the_server_loads_no_translator_engine() -> None:
    # DESIGN: the server knows only the cache. With `import translators` lazy, that holds
    # at run time too: serving xDS loads no models, IR or generators (only names).
    loaded = modules_loaded("xdscp.server")
    assert within(loaded, "pydantic") == []
    for engine in ("model", "translate", "view", "mesh", "traffic", "security"):
        assert within(loaded, f"translators.{engine}") == [], engine
