"""EDS: one ClusterLoadAssignment per outbound EDS cluster of the proxy's scope."""

from __future__ import annotations

from translators.generators.api import ProxyBuild
from translators.resources import ResourceGroup


def generate(build: ProxyBuild) -> tuple[ResourceGroup, ...]:
    return (build.outbound.load_assignments,)
