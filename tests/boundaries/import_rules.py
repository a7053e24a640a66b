"""DESIGN §2's import rules, checked statically over every module's source.

Static (ast) rather than by importing: a forbidden import inside a function body, or
behind `if TYPE_CHECKING:`, never runs at import time but is a dependency all the same
(the function runs later, the type ties the packages together).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    """Modules in `importer` (a dotted package, itself included) never import `imported`."""

    importer: str
    imported: str
    why: str
    allowed: tuple[str, ...] = ()  # modules of `imported` that stay permitted
    exempt: tuple[str, ...] = ()  # importers the rule knowingly lets off (say why)


# The rules DESIGN §2 states. `ca` is the lowest layer: translators name identities
# through `ca.spiffe`, never the other way round.
# Translators are pure functions (DESIGN §1): no I/O, network, processes, clocks,
# randomness, logging or environment reads; options come in as arguments.
IMPURE_MODULES = (
    "aiohttp",
    "asyncio",
    "concurrent",
    "grpc",
    "http",
    "io",
    "kubernetes_asyncio",
    "logging",
    "multiprocessing",
    "os",
    "pathlib",
    "random",
    "secrets",
    "shutil",
    "signal",
    "socket",
    "ssl",
    "structlog",
    "subprocess",
    "tempfile",
    "threading",
    "time",
    "urllib.request",
)

# Modules let off the clock rule (none: explain's JWT expiry takes its instant from the
# ExplainRequest, which the CLI and the debug endpoint stamp).
_CLOCK_EXEMPT: tuple[str, ...] = ()

RULES: tuple[Rule, ...] = (
    Rule("translators", "xdscp", "translators are a library; the service uses them"),
    Rule("ca", "xdscp", "the CA is a library; the service uses it"),
    Rule("ca", "translators", "the CA knows SPIFFE, not meshes (naming lives in ca.spiffe)"),
    Rule("xdscp.server", "translators", "the server knows only the cache interface"),
    Rule(
        "translators",
        "ca",
        "translators take only SPIFFE naming and the error root from ca (no cryptography)",
        allowed=("ca.spiffe", "ca.xdscp_error"),
    ),
    # The xDS type table is read by the server and the translators alike: it imports
    # neither (nor the CA), so importing it never pulls one into the other.
    Rule("xdstypes", "xdscp", "the xDS type table is plain data both sides read"),
    Rule("xdstypes", "translators", "the xDS type table is plain data both sides read"),
    Rule("xdstypes", "ca", "the xDS type table is plain data both sides read"),
    *(
        Rule(
            "translators",
            module,
            "translators are pure: no I/O, clocks or randomness",
            exempt=_CLOCK_EXEMPT if module == "time" else (),
        )
        for module in IMPURE_MODULES
    ),
)


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    module: str
    imported: str
    rule: Rule

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.module} imports {self.imported}"
            f" ({self.rule.importer} never imports {self.rule.imported}: {self.rule.why})"
        )


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import anywhere in the tree, including
    imports inside functions and `importlib.import_module("...")` with a literal name."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            yield node.lineno, base
            # `from pkg import sub` may import the submodule `pkg.sub`.
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                yield node.lineno, name.value


def _absolute(name: str | None, level: int, package: str) -> str:
    if level == 0:
        return name or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, name] if name else base)


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _breaks(imported: str, rule: Rule) -> bool:
    return _within(imported, rule.imported) and not any(
        _within(imported, allowed) for allowed in rule.allowed
    )


def violations(root: Path, rules: Iterable[Rule] = RULES) -> list[Violation]:
    """Every import under `root` (a directory holding the top-level packages) that
    breaks one of `rules`."""
    rules = tuple(rules)
    found: list[Violation] = []
    tops = {rule.importer.partition(".")[0] for rule in rules}
    for top in sorted(tops):
        for path in sorted((root / top).rglob("*.py")):
            module = module_name(root, path)
            applicable = [
                r
                for r in rules
                if _within(module, r.importer) and not any(_within(module, e) for e in r.exempt)
            ]
            if not applicable:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            is_package = path.name == "__init__.py"
            seen: set[tuple[int, Rule]] = set()  # one report per statement and rule
            for line, imported in imported_modules(tree, module, is_package):
                for rule in applicable:
                    if _breaks(imported, rule) and (line, rule) not in seen:
                        seen.add((line, rule))
                        found.append(Violation(path, line, module, imported, rule))
    return found
