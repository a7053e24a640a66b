"""EDS: one ClusterLoadAssignment per outbound EDS cluster of the proxy's scope (those with
locality load balancing: as the proxy's locality sees them)."""

from __future__ import annotations

from translators.generators.api import ProxyBuild
from translators.resources import ResourceGroup


def generate(build: ProxyBuild) -> tuple[ResourceGroup, ...]:
    # the assignments whose priorities depend on the proxy's locality come apart
    local = build.translator.localized_group(build.workload, build.outbound_view)
    return (build.outbound.load_assignments,) + ((local,) if local is not None else ())
