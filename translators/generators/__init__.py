"""One generator per xDS type; which one is named by the `xdstypes` table."""

from __future__ import annotations

from functools import cache

import xdstypes
from translators.generators.api import Generator, ProxyBuild
from translators.resources import resolve


@cache
def generators() -> tuple[tuple[str, Generator], ...]:
    """(type URL, generator) for every row that has one, in push order."""
    found: list[tuple[str, Generator]] = []
    for row in xdstypes.TYPES:
        if not row.generator:
            continue
        generator = resolve(row.generator)
        if not callable(generator):
            raise TypeError(f"xdstypes row {row.short}: {row.generator} is not callable")
        found.append((row.type_url, generator))
    return tuple(found)


__all__ = ["Generator", "ProxyBuild", "generators"]
