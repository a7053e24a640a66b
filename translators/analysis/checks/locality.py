"""localityLbSetting where xdscp does not apply it: a DNS-resolved destination's endpoints
sit inline in its cluster, which every caller shares, so they get no per-caller
priorities (Istio applies them there too). Reported (XDS0803), not refused."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.hosts import resolve_host
from translators.model.networking import DestinationRuleSpec, LoadBalancerSettings, Resolution

_DNS = (Resolution.DNS, Resolution.DNS_ROUND_ROBIN)


def _settings(spec: DestinationRuleSpec) -> Iterator[tuple[str, LoadBalancerSettings]]:
    levels = [("spec.trafficPolicy", spec.traffic_policy)] + [
        (f"spec.subsets[{i}].trafficPolicy", s.traffic_policy) for i, s in enumerate(spec.subsets)
    ]
    for path, policy in levels:
        if policy is None:
            continue
        if policy.load_balancer is not None:
            yield f"{path}.loadBalancer", policy.load_balancer
        for j, level in enumerate(policy.port_level_settings):
            if level.load_balancer is not None:
                yield f"{path}.portLevelSettings[{j}].loadBalancer", level.load_balancer


def check_locality_on_dns(ctx: AnalysisContext) -> Iterable[Message]:
    suffix = ctx.mesh.options.domain_suffix
    for rule in ctx.of_kind("DestinationRule"):
        spec: DestinationRuleSpec = rule.spec
        service = ctx.mesh.services.get(resolve_host(spec.host, rule.namespace, suffix))
        if service is None or service.resolution not in _DNS:
            continue
        for path, lb in _settings(spec):
            setting = lb.locality_lb_setting
            if setting is not None and setting.enabled is not False:
                yield codes.FIELD_NOT_TRANSLATED.at(
                    rule,
                    f"{path}.localityLbSetting",
                    f"{service.hostname} is resolved by DNS: its endpoints are not ranked by "
                    "the caller's locality in xdscp (Istio does rank them)",
                    "use resolution STATIC with the endpoints' IPs for locality failover",
                )
