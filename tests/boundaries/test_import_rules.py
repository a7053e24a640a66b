"""The import rules of DESIGN §2 hold in the repository, and the checker can fail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.boundaries.import_rules import IMPURE_MODULES, RULES, violations

REPO = Path(__file__).resolve().parents[2]


def test_repository_keeps_design_import_rules() -> None:
    broken = violations(REPO)
    assert not broken, "\n".join(str(v) for v in broken)


def test_every_rule_checks_an_existing_package() -> None:
    # A renamed package would make its rule vacuous; keep the rules pointing at real code.
    for rule in RULES:
        importer = REPO / rule.importer.replace(".", "/")
        assert (importer / "__init__.py").is_file(), rule
        assert list(importer.rglob("*.py")), rule


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _clean_tree(root: Path) -> None:
    for package in ("xdscp", "xdscp/server", "translators", "translators/envoy", "ca"):
        _write(root, f"{package}/__init__.py", "")
    _write(root, "ca/spiffe.py", "import re\n")
    _write(root, "translators/envoy/tls.py", "from ca.spiffe import re\nfrom . import other\n")
    _write(root, "xdscp/server/ads.py", "from xdscp.cache import store\nfrom .. import runtime\n")
    _write(root, "xdscp/runtime.py", "import translators\nimport ca\n")


def test_clean_tree_has_no_violation(tmp_path: Path) -> None:
    _clean_tree(tmp_path)
    assert violations(tmp_path) == []


def test_planted_violations_are_each_found(tmp_path: Path) -> None:
    _clean_tree(tmp_path)
    # One violation per rule, in the forms that hide best: a function-level import,
    # a TYPE_CHECKING import, a relative import of a sibling top-level name, a dynamic one.
    _write(
        tmp_path,
        "translators/envoy/routes.py",
        "def build() -> None:\n    from xdscp.runtime import Runtime\n",
    )
    _write(
        tmp_path,
        "ca/authority.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import xdscp.identity\n",
    )
    _write(tmp_path, "ca/rotation.py", "from translators import naming\n")
    _write(tmp_path, "translators/envoy/secrets.py", "import ca.authority\n")
    _write(
        tmp_path,
        "xdscp/server/stream.py",
        "import importlib\n\ndef load() -> object:\n"
        "    return importlib.import_module('translators.naming')\n",
    )
    _write(tmp_path, "xdstypes/__init__.py", "import xdscp.cache\nimport ca\n")
    _write(tmp_path, "xdstypes/rows.py", "from translators.naming import ROUTE_TYPE\n")
    _write(
        tmp_path,
        "translators/envoy/impure.py",
        "".join(f"import {module}\n" for module in IMPURE_MODULES),
    )
    found = {(v.module, v.imported, v.line) for v in violations(tmp_path)}
    assert ("xdstypes", "xdscp.cache", 1) in found
    assert ("xdstypes.rows", "translators.naming", 1) in found
    assert ("translators.envoy.routes", "xdscp.runtime", 2) in found
    assert ("ca.authority", "xdscp.identity", 3) in found
    assert ("ca.rotation", "translators", 1) in found
    assert ("xdscp.server.stream", "translators.naming", 4) in found
    assert ("translators.envoy.secrets", "ca.authority", 1) in found
    broken_rules = {(v.rule.importer, v.rule.imported) for v in violations(tmp_path)}
    assert broken_rules == {(r.importer, r.imported) for r in RULES}


def test_an_exemption_covers_only_its_module(tmp_path: Path) -> None:
    _clean_tree(tmp_path)
    _write(tmp_path, "translators/explain/jwt.py", "import time\n")
    _write(tmp_path, "translators/explain/other.py", "import time\nimport os\n")
    rules = [
        replace(r, exempt=("translators.explain.jwt",)) if r.imported == "time" else r
        for r in RULES
    ]
    found = sorted((v.module, v.imported) for v in violations(tmp_path, rules))
    assert found == [("translators.explain.other", "os"), ("translators.explain.other", "time")]
    # with no exemption (the real rules), both modules break the clock rule
    found = sorted((v.module, v.imported) for v in violations(tmp_path))
    assert ("translators.explain.jwt", "time") in found


def test_relative_import_resolves_against_its_package(tmp_path: Path) -> None:
    _clean_tree(tmp_path)
    # `from ...translators import x` in xdscp/server/wire.py climbs to the root: it is
    # `translators.x`, whatever the spelling.
    _write(tmp_path, "xdscp/server/wire.py", "from ...translators import naming\n")
    assert [(v.module, v.imported) for v in violations(tmp_path)][:1] == [
        ("xdscp.server.wire", "translators")
    ]
