"""Typed, validated Istio objects (pydantic v2)."""

from translators.model.base import ObjectMeta, StringMatch, WorkloadSelector
from translators.model.networking import (
    DestinationRuleSpec,
    ServiceEntrySpec,
    SidecarSpec,
    VirtualServiceSpec,
    WorkloadEntrySpec,
)
from translators.model.objects import KINDS, ConfigError, MeshObject, Origin, parse_object

__all__ = [
    "KINDS",
    "ConfigError",
    "DestinationRuleSpec",
    "MeshObject",
    "ObjectMeta",
    "Origin",
    "ServiceEntrySpec",
    "SidecarSpec",
    "StringMatch",
    "VirtualServiceSpec",
    "WorkloadEntrySpec",
    "WorkloadSelector",
    "parse_object",
]
