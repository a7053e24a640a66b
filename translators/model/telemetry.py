"""telemetry.istio.io `Telemetry`: access logging on/off and tracing tuning per mesh,
namespace or workload.

The whole Istio v1 schema is accepted (unknown fields are errors, as everywhere), so
existing Istio YAML loads; what xdscp cannot translate is reported, not guessed:
`metrics` overrides (Envoy's native stats are always exported), `targetRef(s)`
(gateways and waypoints, which xdscp does not run).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from translators.model.base import IstioModel
from translators.model.cel import check_cel_syntax
from translators.model.security import MatchLabelsSelector


class WorkloadMode(StrEnum):
    CLIENT_AND_SERVER = "CLIENT_AND_SERVER"
    CLIENT = "CLIENT"  # outbound: the sidecar of the calling workload
    SERVER = "SERVER"  # inbound: the sidecar of the called workload


class ProviderRef(IstioModel):
    name: str = Field(min_length=1)


class ModeSelector(IstioModel):
    mode: WorkloadMode = WorkloadMode.CLIENT_AND_SERVER


class PolicyTargetReference(IstioModel):
    group: str = ""
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)
    namespace: str = ""


class LiteralTag(IstioModel):
    value: str


class EnvironmentTag(IstioModel):
    name: str = Field(min_length=1)
    default_value: str = ""


class HeaderTag(IstioModel):
    name: str = Field(min_length=1)
    default_value: str = ""


class FormatterTag(IstioModel):
    """A tag computed by Envoy's formatter (`%REQ(x-id)%`, ...)."""

    value: str = Field(min_length=1)


class CustomTag(IstioModel):
    literal: LiteralTag | None = None
    environment: EnvironmentTag | None = None
    header: HeaderTag | None = None
    formatter: FormatterTag | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomTag:
        kinds = ("literal", "environment", "header", "formatter")
        chosen = [k for k in kinds if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("set exactly one of literal, environment, header, formatter")
        return self


class Tracing(IstioModel):
    match: ModeSelector | None = None
    providers: list[ProviderRef] = Field(default_factory=list)
    random_sampling_percentage: float | None = Field(default=None, ge=0, le=100)
    disable_span_reporting: bool | None = None
    custom_tags: dict[str, CustomTag] = Field(default_factory=dict)
    use_request_id_for_trace_sampling: bool | None = None
    enable_istio_tags: bool | None = None
    disable_context_propagation: bool | None = None


class AccessLogFilter(IstioModel):
    expression: str = Field(min_length=1)  # CEL, evaluated by Envoy per request

    @field_validator("expression")
    @classmethod
    def _parses(cls, expression: str) -> str:
        return check_cel_syntax(expression)


class AccessLogging(IstioModel):
    match: ModeSelector | None = None
    providers: list[ProviderRef] = Field(default_factory=list)
    disabled: bool | None = None
    filter: AccessLogFilter | None = None


class TagOperation(StrEnum):
    UPSERT = "UPSERT"
    REMOVE = "REMOVE"


class TagOverride(IstioModel):
    operation: TagOperation = TagOperation.UPSERT
    value: str = ""

    @model_validator(mode="after")
    def _value(self) -> TagOverride:
        # Istio: UPSERT needs a value (a CEL expression), REMOVE takes none
        if self.operation is TagOperation.UPSERT and not self.value:
            raise ValueError("UPSERT needs a value")
        if self.operation is TagOperation.REMOVE and self.value:
            raise ValueError("REMOVE takes no value")
        return self


class MetricSelector(IstioModel):
    metric: str | None = None
    custom_metric: str | None = None
    mode: WorkloadMode = WorkloadMode.CLIENT_AND_SERVER

    @field_validator("custom_metric")
    @classmethod
    def _custom(cls, name: str | None) -> str | None:
        if name == "":
            raise ValueError("customMetric cannot be empty")
        return name


class MetricsOverrides(IstioModel):
    match: MetricSelector | None = None
    disabled: bool | None = None
    tag_overrides: dict[str, TagOverride] = Field(default_factory=dict)


class Metrics(IstioModel):
    providers: list[ProviderRef] = Field(default_factory=list)
    overrides: list[MetricsOverrides] = Field(default_factory=list)
    reporting_interval: str | None = None


class TelemetrySpec(IstioModel):
    selector: MatchLabelsSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] = Field(default_factory=list)
    tracing: list[Tracing] = Field(default_factory=list)
    metrics: list[Metrics] = Field(default_factory=list)
    access_logging: list[AccessLogging] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> TelemetrySpec:
        targets = [self.selector is not None, self.target_ref is not None, bool(self.target_refs)]
        if sum(targets) > 1:
            raise ValueError("set at most one of selector, targetRef, targetRefs")
        return self
