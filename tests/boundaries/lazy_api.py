"""The shape every lazy package `__init__` (PEP 562) keeps: the names imported under
`if TYPE_CHECKING:` (what mypy sees), the `_LAZY` table (what runs) and `__all__`
(what is public) list the same names from the same modules."""

from __future__ import annotations

import ast
from pathlib import Path


def type_checking_imports(init: Path) -> dict[str, str]:
    """name -> module of every `from m import name` under `if TYPE_CHECKING:`."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module, statement
                for alias in statement.names:
                    found[alias.asname or alias.name] = statement.module
    return found


def eager_imports(init: Path) -> list[str]:
    """Modules the package imports at module level outside TYPE_CHECKING (the cost of
    `import package`)."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    modules: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    return modules
