"""Shared pydantic base types for Istio objects.

Every model is frozen (a MeshConfig is immutable and shared across proxies) and
forbids unknown fields: a typo in YAML must be an error, never silently ignored.
Field names follow Istio's camelCase YAML through aliases.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class IstioModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )


class StringMatch(IstioModel):
    """Istio's StringMatch: exactly one of exact / prefix / regex."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StringMatch:
        chosen = [k for k in ("exact", "prefix", "regex") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("set exactly one of exact, prefix, regex")
        return self


class PortSelector(IstioModel):
    number: int = Field(ge=1, le=65535)


class WorkloadSelector(IstioModel):
    """`workloadSelector` / `selector`: label equality; empty selects everything."""

    labels: dict[str, str] = Field(default_factory=dict)
    match_labels: dict[str, str] | None = None

    def effective(self) -> dict[str, str]:
        return self.match_labels if self.match_labels is not None else self.labels

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.effective().items())


class ObjectMeta(BaseModel):
    """Kubernetes object metadata: the fields a mesh object may carry.

    Kubernetes-managed fields are accepted (objects read back from a cluster
    carry them); anything else is a typo and rejected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resourceVersion: str | None = None
    generation: int | None = None
    creationTimestamp: str | None = None
    generateName: str | None = None
    deletionTimestamp: str | None = None
    finalizers: list[str] = Field(default_factory=list)
    ownerReferences: list[dict[str, Any]] = Field(default_factory=list)
    managedFields: list[dict[str, Any]] = Field(default_factory=list)
