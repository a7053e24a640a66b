"""One exception tree (DESIGN §8): every deliberate error of `ca`, `translators` and
`xdscp` derives from XdscpError, keeps the built-in base it had, and is documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator

import pytest

from ca.xdscp_error import XdscpError
from tests.boundaries.loaded import REPO

# Control-flow signals caught inside the module that raises them (never user-facing).
INTERNAL = frozenset(
    {
        "ca.chain.ChainProblem",
        "ca.chain.ChainExpired",
        "translators.envoy.rbac.HttpOnly",
        "xdscp.sources.safe_yaml.LimitError",
    }
)


def defined_exceptions() -> Iterator[type[BaseException]]:
    for top in ("ca", "translators", "xdscp"):
        package = importlib.import_module(top)
        names = [top, *(m.name for m in pkgutil.walk_packages(package.__path__, f"{top}."))]
        for name in names:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == name
                ):
                    yield value


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.fixture(scope="module")
def exceptions() -> list[type[BaseException]]:
    return sorted(set(defined_exceptions()), key=qualified)


def test_every_exception_is_in_the_tree_or_declared_internal(
    exceptions: list[type[BaseException]],
) -> None:
    outside = [qualified(c) for c in exceptions if not issubclass(c, XdscpError)]
    assert sorted(outside) == sorted(INTERNAL)
    assert len(exceptions) > 25  # the walk really found the packages' errors


def test_public_roots_are_the_one_class() -> None:
    import ca
    import translators.errors
    import xdscp.errors

    assert xdscp.errors.XdscpError is translators.errors.XdscpError is XdscpError
    assert issubclass(ca.CAError, XdscpError)
    assert issubclass(translators.errors.TranslatorError, XdscpError)


def test_built_in_bases_are_kept() -> None:
    # Callers (and pydantic, for FieldValueError) catch these by their built-in base.
    from ca.errors import InvalidSpiffeID
    from translators.behaviour.routing import Unsupported
    from translators.describe import UnknownWorkload
    from translators.explain.request import ExplainError
    from translators.model.checks import FieldValueError
    from xdscp.local.envoy_process import EnvoyNotFound

    assert issubclass(InvalidSpiffeID, ValueError)
    assert issubclass(FieldValueError, ValueError)
    assert issubclass(ExplainError, ValueError)
    assert issubclass(UnknownWorkload, LookupError)
    assert issubclass(Unsupported, NotImplementedError)
    assert issubclass(EnvoyNotFound, RuntimeError)
    err = FieldValueError("spec.port", "bad")
    assert (err.field, str(err)) == ("spec.port", "bad")


def test_readme_documents_every_class(exceptions: list[type[BaseException]]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Errors\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"\b[A-Z][A-Za-z]+\b", section))
    missing = [qualified(c) for c in exceptions if c.__name__ not in documented]
    assert missing == []
