"""RDS: the outbound route configuration of each HTTP port of the proxy's scope."""

from __future__ import annotations

from translators.generators.api import ProxyBuild
from translators.resources import ResourceGroup


def generate(build: ProxyBuild) -> tuple[ResourceGroup, ...]:
    return (build.outbound.route_configs,)
