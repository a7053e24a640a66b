"""Fields Istio accepts that xdscp does not translate (yet).

Such a field is accepted — a valid Istio object is never refused — and the analysis
reports it where it is set (XDS0803, or XDS0804 when ignoring it makes an authorization
policy admit or deny other requests than written). The table names model classes and
their Python field names; a test checks every entry still names a field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from translators.model.networking import (
    HTTPRoute,
    LoadBalancerSettings,
    RetryBudget,
)
from translators.model.telemetry import Tracing
from translators.model.traffic import L4MatchAttributes


@dataclass(frozen=True, slots=True)
class Untranslated:
    why: str
    # ignoring it changes who an authorization policy admits or denies
    security: bool = False


# model class -> Python field name -> why it is not translated
_REGISTRY: dict[type[BaseModel], dict[str, Untranslated]] = {
    LoadBalancerSettings: {
        "zone_aware_lb_setting": Untranslated(
            "zoneAwareLbSetting is translated in part, as Istio without proxy self-discovery: "
            "endpoints of the caller's region first (then the failover region, then the "
            "rest); Envoy's zone-aware routing inside the region needs each proxy to know "
            "its own service's endpoints (Envoy's local cluster), which xdscp's proxies are "
            "not given, so traffic spreads over the region's zones"
        ),
    },
    HTTPRoute: {
        "websocket_upgrade": Untranslated(
            "websocketUpgrade is no longer part of Istio's API (Istio ignores it): WebSocket "
            "upgrades are allowed on every route, as in Istio"
        )
    },
    RetryBudget: {
        "budget_interval": Untranslated(
            "budgetInterval is not translated (Envoy 1.40's API has no such field): the "
            "budget is a share of the requests active now"
        )
    },
    L4MatchAttributes: {
        "source_subnet": Untranslated(
            "sourceSubnet is not applied (Istio's pilot does not apply it to sidecars "
            "either): the rule matches every source address"
        ),
    },
    Tracing: {
        "disable_context_propagation": Untranslated(
            "disableContextPropagation is not translated (Envoy 1.40's tracing config has no "
            "no_context_propagation): trace headers are still propagated"
        )
    },
}


def declared() -> dict[type[BaseModel], dict[str, Untranslated]]:
    return _REGISTRY


def _alias(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value not in ("", [], {})


def untranslated_fields(value: Any, path: str = "spec") -> Iterator[tuple[str, Untranslated]]:
    """(field path, reason) for every untranslated field set in `value`, depth first."""
    if isinstance(value, BaseModel):
        model = type(value)
        own = _REGISTRY.get(model, {})
        for field in sorted(value.model_fields_set):
            child = getattr(value, field)
            where = f"{path}.{_alias(model, field)}"
            if field in own:
                if _is_set(child):
                    yield where, own[field]
            else:
                yield from untranslated_fields(child, where)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from untranslated_fields(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from untranslated_fields(item, f"{path}.{key}")
