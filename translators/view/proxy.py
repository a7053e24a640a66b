"""One proxy's IR from its outbound and local parts."""

from __future__ import annotations

from translators.ir import ProxyView
from translators.mesh import Workload
from translators.traffic.locality import for_proxy
from translators.view.inbound import LocalView
from translators.view.outbound import OutboundView


def combine(workload: Workload, outbound: OutboundView, local: LocalView) -> ProxyView:
    return ProxyView(
        proxy=workload.key,
        destinations=outbound.clusters + local.clusters,
        endpoint_sets=for_proxy(workload, outbound.load_assignments, outbound.localized),
        listeners=local.listeners,
        route_tables=outbound.route_configs,
        warnings=outbound.warnings + local.warnings,
    )
