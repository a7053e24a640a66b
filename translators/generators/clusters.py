"""CDS: the outbound clusters of the proxy's scope, its inbound clusters, span collectors."""

from __future__ import annotations

from translators.generators.api import ProxyBuild
from translators.resources import ResourceGroup


def generate(build: ProxyBuild) -> tuple[ResourceGroup, ...]:
    translator = build.translator
    return (
        build.outbound.clusters,
        translator.inbound_clusters(build.local),
        *translator.collectors(build.local),
    )
