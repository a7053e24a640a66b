"""LDS: the proxy's own listeners (virtual outbound/inbound and per-port)."""

from __future__ import annotations

from translators.generators.api import ProxyBuild
from translators.resources import ResourceGroup


def generate(build: ProxyBuild) -> tuple[ResourceGroup, ...]:
    return (build.translator.listeners(build.local),)
