"""Shared pydantic base types for Istio objects.

Every model is frozen (a MeshConfig is immutable and shared across proxies) and
forbids unknown fields: a typo in YAML must be an error, never silently ignored.
Field names follow Istio's camelCase YAML through aliases.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from translators.model.checks import check_fqdn, is_dns1123_label


class IstioModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
        # schemas are built on first use, not at import: a start pays only for the kinds
        # its config has (most of ~200 model classes are kinds it may never see)
        defer_build=True,
    )


# Envoy matches with RE2. Python's `re` accepts constructs RE2 refuses (lookaround,
# backreferences, atomic groups, possessive quantifiers, conditionals, `\\Z`): one such
# regex NACKs the whole route config of every proxy that gets it, so they are refused
# here, by a small scanner, before `re` checks the rest of the syntax.
_RE2_ESCAPES = frozenset("aftnrvxdDsSwWbBAzpPQEC0")
_RE2_GROUPS = (
    ("(?=", "lookahead"),
    ("(?!", "negative lookahead"),
    ("(?<=", "lookbehind"),
    ("(?<!", "negative lookbehind"),
    ("(?>", "atomic groups"),
    ("(?(", "conditionals"),
    ("(?P=", "backreferences"),
    ("(?#", "comments"),
)
_FLAGS = re.compile(r"\(\?([A-Za-z-]+)[:)]")


def _re2_refuses(pattern: str) -> str | None:
    """What in `pattern` RE2 would refuse, or None. Conservative: `\\1`..`\\9` are always
    taken as backreferences (RE2 reads `\\12` as octal, Python as a backreference)."""
    i, n = 0, len(pattern)
    after_quantifier = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped == "Q":  # \Q...\E quotes literally
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
            elif escaped.isdigit() and escaped != "0":
                return "backreferences"
            elif escaped.isalnum() and escaped not in _RE2_ESCAPES:
                return f"the escape \\{escaped}"
            else:
                i += 2
            after_quantifier = False
            continue
        if c == "[":  # a character class: skip it ([]...] and [^]...] start with a literal ])
            i += 1
            if pattern.startswith("^", i):
                i += 1
            if pattern.startswith("]", i):
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            after_quantifier = False
            continue
        if c == "(":
            for prefix, what in _RE2_GROUPS:
                if pattern.startswith(prefix, i):
                    return what
            flags = _FLAGS.match(pattern, i)
            if flags and set(flags.group(1)) - set("imsU-"):
                return f"the flag(s) {flags.group(1)!r}"
        if c in "*+?}":
            if after_quantifier and c == "+":
                return "possessive quantifiers"
            # `x*?` is lazy (fine); the `?` ends the quantifier
            after_quantifier = not (after_quantifier and c == "?")
        else:
            after_quantifier = False
        i += 1
    return None


def check_re2(pattern: str) -> str:
    """Reject a regex Envoy would refuse (one bad regex NACKs the whole route config of
    every proxy that gets it). RE2-only constructs Python's parser does not know (`\\z`,
    `\\pL`, `\\C`) are let through rather than rejected."""
    refused = _re2_refuses(pattern)
    if refused is not None:
        raise ValueError(f"{pattern!r}: {refused}: not supported by RE2 (Envoy's regex engine)")
    try:
        with warnings.catch_warnings():  # "possible nested set": fine in RE2 too
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
    except re.error as exc:
        if not str(exc).startswith("bad escape"):
            raise ValueError(f"{pattern!r}: invalid regex: {exc}") from None
    return pattern


class StringMatch(IstioModel):
    """Istio's StringMatch: exactly one of exact / prefix / regex."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _re2(cls, value: str | None) -> str | None:
        if value == "":
            raise ValueError("regex string match should not be empty")
        return None if value is None else check_re2(value)

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

    @field_validator("labels", "match_labels")
    @classmethod
    def _labels(cls, labels: dict[str, str] | None) -> dict[str, str] | None:
        return None if labels is None else check_selector_labels(labels)

    def effective(self) -> dict[str, str]:
        return self.match_labels if self.match_labels is not None else self.labels

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.effective().items())


_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class ObjectMeta(BaseModel):
    """Kubernetes object metadata: the fields a mesh object may carry.

    Kubernetes-managed fields are accepted (objects read back from a cluster
    carry them); anything else is a typo and rejected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=253)
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

    @field_validator("name")
    @classmethod
    def _object_name(cls, name: str) -> str:
        # Istio's own validation never sees such a name: the Kubernetes API server refuses
        # it first (only Istio's file loader for tests takes one, e.g. `BACKEND`)
        if not _OBJECT_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a Kubernetes object name (lowercase letters, digits, '-' "
                "and '.', starting and ending with a letter or digit): Kubernetes refuses it"
            )
        return name


MESH_GATEWAY = "mesh"


def check_selector_labels(labels: dict[str, str]) -> dict[str, str]:
    """Istio's workload selector rules: no empty key, no wildcard in keys or values."""
    for key, value in labels.items():
        if not key:
            raise ValueError(f"empty key is not supported in selector: {key}={value}")
        if "*" in key or "*" in value:
            raise ValueError(f"wildcard is not supported in selector: {key}={value}")
    return labels


def check_gateway_names(gateways: list[str]) -> list[str]:
    """Istio's validateGatewayNames: `mesh`, `<namespace>/<name>` (both DNS labels) or a
    legacy FQDN-style name. Gateways other than `mesh` are accepted: the parts of a
    VirtualService bound only to them do not apply to sidecars (and are reported)."""
    for gateway in gateways:
        namespace, slash, name = gateway.partition("/")
        if not slash:
            check_fqdn(gateway)
            continue
        if not namespace or not name:
            raise ValueError(f"{gateway!r}: namespace and gateway name cannot be empty")
        if not is_dns1123_label(namespace):
            raise ValueError(f"{gateway!r}: {namespace!r} is not a namespace name")
        if not is_dns1123_label(name):
            raise ValueError(f"{gateway!r}: {name!r} is not a gateway name")
    return gateways


def applies_to_mesh(gateways: list[str]) -> bool:
    """Whether something bound to `gateways` applies to sidecars: no gateways means the
    mesh; otherwise only when `mesh` is listed."""
    return not gateways or MESH_GATEWAY in gateways
