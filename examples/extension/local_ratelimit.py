"""A translator extension: Envoy's local rate limit for selected workloads, configured by
a custom object.

    apiVersion: extensions.xdscp.io/v1alpha1
    kind: LocalRateLimit
    metadata: {name: orders, namespace: default}
    spec:
      selector: {matchLabels: {app: orders}}
      maxTokens: 5          # bucket size: a burst of 5 requests ...
      fillInterval: 60s     # ... refilled every minute
      ports: [8080]         # inbound ports (default: all)

Run it:

    xdscp up examples/extension --extension examples/extension/local_ratelimit.py:extension

The object is a new kind (validated by the pydantic model below, unknown fields
rejected); the patch adds `envoy.filters.http.local_ratelimit` to the inbound HTTP
connection managers of the workloads the object selects, so calls beyond the bucket
get a 429 from the called workload's sidecar. The filter's config is written with
envoy-data-plane (betterproto2) messages; xdscp converts them to protobuf once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    HeaderValue,
    HeaderValueOption,
    RuntimeFractionalPercent,
)
from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
from envoy_data_plane.envoy.type.v3 import (
    FractionalPercent,
    FractionalPercentDenominatorType,
    HttpStatus,
    StatusCode,
    TokenBucket,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from translators import LISTENER_TYPE, Extension, Proxy, Resource, insert_http_filter

KIND = "LocalRateLimit"
GROUP = "extensions.xdscp.io"
FILTER = "envoy.filters.http.local_ratelimit"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class _Model(BaseModel):
    # Like Istio's own kinds: camelCase YAML, frozen, and a typo is an error.
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Selector(_Model):
    match_labels: dict[str, str] = Field(default_factory=dict)


class LocalRateLimitSpec(_Model):
    selector: Selector | None = None
    max_tokens: int = Field(ge=1)
    tokens_per_fill: int | None = Field(default=None, ge=1)  # default: maxTokens
    fill_interval: str = "1s"
    ports: list[int] = Field(default_factory=list)
    status_code: int = Field(default=429, ge=400, le=599)

    @field_validator("status_code")
    @classmethod
    def _status(cls, value: int) -> int:
        if value not in {code.value for code in StatusCode}:
            raise ValueError(f"{value}: not an HTTP status Envoy knows")
        return value

    @field_validator("fill_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value):
            raise ValueError(f"{value!r}: expected a duration such as 500ms, 1s, 1m")
        if seconds(value) < 0.05:
            raise ValueError(f"{value!r}: Envoy needs at least 50ms")
        return value


def seconds(duration: str) -> float:
    found = _DURATION.match(duration)
    assert found is not None
    return float(found.group(1)) * _UNITS[found.group(2)]


def filter_config(name: str, spec: LocalRateLimitSpec) -> LocalRateLimit:
    """The filter's config, in envoy-data-plane types. Enabled and enforced for 100% of
    requests (Envoy's defaults would leave the filter off)."""
    everyone = FractionalPercent(
        numerator=100, denominator=FractionalPercentDenominatorType.HUNDRED
    )
    return LocalRateLimit(
        stat_prefix=f"local_rate_limit_{name}",
        status=HttpStatus(code=StatusCode(spec.status_code)),
        token_bucket=TokenBucket(
            max_tokens=spec.max_tokens,
            tokens_per_fill=spec.tokens_per_fill or spec.max_tokens,
            fill_interval=timedelta(seconds=seconds(spec.fill_interval)),
        ),
        filter_enabled=RuntimeFractionalPercent(
            default_value=everyone, runtime_key="local_rate_limit_enabled"
        ),
        filter_enforced=RuntimeFractionalPercent(
            default_value=everyone, runtime_key="local_rate_limit_enforced"
        ),
        response_headers_to_add=[
            HeaderValueOption(header=HeaderValue(key="x-local-rate-limit", value=name))
        ],
    )


def add_local_rate_limit(proxy: Proxy, listeners: Sequence[Resource]) -> list[Resource] | None:
    """Patch: the inbound listeners of a selected workload get the filter. Other proxies
    (and the outbound listeners) come back untouched, so they stay shared."""
    limits = proxy.selecting(KIND)
    if not limits:
        return None
    limit = limits[-1]  # the most specific: selector over namespace over mesh-wide
    spec: LocalRateLimitSpec = limit.spec
    inbound = {
        listener.name
        for listener in proxy.view.listeners
        if listener.direction == "inbound" and (not spec.ports or listener.port in spec.ports)
    }
    config = filter_config(limit.name, spec)
    for resource in listeners:
        if resource.name in inbound:
            insert_http_filter(resource.message, FILTER, config)
    return list(listeners)


def make_extension() -> Extension:
    """A fresh, explicit registry (nothing is registered on import)."""
    ext = Extension("local-ratelimit")
    ext.add_kind(KIND, GROUP, ["v1alpha1"], LocalRateLimitSpec)
    ext.add_patch(LISTENER_TYPE, add_local_rate_limit)
    return ext


# What `--extension examples/extension/local_ratelimit.py:extension` loads.
extension = make_extension()
