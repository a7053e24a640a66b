"""localityLbSetting where xdscp does not apply it: a DNS-resolved destination's endpoints
sit inline in its cluster, which every caller shares, so they get no per-caller
priorities (Istio applies them there too). Reported (XDS0803), not refused."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from translators.analysis import codes
from translators.analysis.checks.policy_levels import policy_settings
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.hosts import resolve_host
from translators.model.networking import DestinationRuleSpec, Resolution
from translators.model.objects import MeshObject

_DNS = (Resolution.DNS, Resolution.DNS_ROUND_ROBIN)


def check_locality_on_dns(ctx: AnalysisContext, rule: MeshObject[Any]) -> Iterable[Message]:
    """Per DestinationRule; reads the services."""
    spec: DestinationRuleSpec = rule.spec
    suffix = ctx.mesh.options.domain_suffix
    service = ctx.service(resolve_host(spec.host, rule.namespace, suffix))
    if service is None or service.resolution not in _DNS:
        return
    for path, lb in policy_settings(spec, "loadBalancer", lambda policy: policy.load_balancer):
        setting = lb.locality_lb_setting
        if setting is not None and setting.enabled is not False:
            yield codes.FIELD_NOT_TRANSLATED.at(
                rule,
                f"{path}.localityLbSetting",
                f"{service.hostname} is resolved by DNS: its endpoints are not ranked by "
                "the caller's locality in xdscp (Istio does rank them)",
                "use resolution STATIC with the endpoints' IPs for locality failover",
            )
