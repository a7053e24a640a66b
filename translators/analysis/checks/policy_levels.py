"""Where one setting of a DestinationRule's traffic policy can stand: the rule's policy,
each subset's, and each of their port-level settings, with the field path a message
names (`spec.subsets[1].trafficPolicy.portLevelSettings[0].tls`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from translators.model.networking import DestinationRuleSpec, PortTrafficPolicy, TrafficPolicy

T = TypeVar("T")


def policy_settings(
    spec: DestinationRuleSpec,
    field: str,
    get: Callable[[TrafficPolicy | PortTrafficPolicy], T | None],
) -> Iterator[tuple[str, T]]:
    """Each value `get` finds, with its path; `field` is its name in the YAML."""
    levels = [("spec.trafficPolicy", spec.traffic_policy)] + [
        (f"spec.subsets[{i}].trafficPolicy", s.traffic_policy) for i, s in enumerate(spec.subsets)
    ]
    for path, policy in levels:
        if policy is None:
            continue
        value = get(policy)
        if value is not None:
            yield f"{path}.{field}", value
        for j, level in enumerate(policy.port_level_settings):
            value = get(level)
            if value is not None:
                yield f"{path}.portLevelSettings[{j}].{field}", value
