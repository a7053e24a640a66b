"""Typed mesh objects with their origin, and the parser from YAML-shaped dicts.

`parse_object` is pure: it takes a decoded document and where it came from and
returns either a `MeshObject` or a `ConfigError` naming file, document, kind,
namespace/name and the field path — never both, never an exception.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from translators.model.base import ObjectMeta
from translators.model.checks import FieldValueError
from translators.model.envoy_filter import EnvoyFilterSpec
from translators.model.gateway import GatewaySpec
from translators.model.gateway_api import GATEWAY_API, GATEWAY_API_KINDS, KIND_ALIASES
from translators.model.networking import (
    DestinationRuleSpec,
    ServiceEntrySpec,
    SidecarSpec,
    VirtualServiceSpec,
    WorkloadEntryObjectSpec,
)
from translators.model.request_authn import RequestAuthenticationSpec
from translators.model.security import AuthorizationPolicySpec, PeerAuthenticationSpec
from translators.model.telemetry import TelemetrySpec
from translators.naming import object_ref

SpecT = TypeVar("SpecT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object came from: a file and document index, or a Kubernetes object."""

    source: str
    document: int | None = None

    def __str__(self) -> str:
        return self.source if self.document is None else f"{self.source}[doc {self.document}]"


# An error echoes what was wrong, and a value may be a 1 MB string (fuzzing wrote
# 4.8 GB of log in 22 minutes): each part is clipped, so one bad object costs at most
# a few KB in a log line, in /debug/config and in `validate`'s output.
MAX_ERROR_MESSAGE_CHARS = 1000
MAX_ERROR_PART_CHARS = 253  # the longest valid Kubernetes name; kinds and paths are shorter


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


@dataclass(frozen=True, slots=True)
class ConfigError:
    origin: Origin
    kind: str
    namespace: str
    name: str
    field: str
    message: str

    def __post_init__(self) -> None:
        for part in ("kind", "namespace", "name", "field"):
            value = getattr(self, part)
            if len(value) > MAX_ERROR_PART_CHARS:
                object.__setattr__(self, part, clip(value, MAX_ERROR_PART_CHARS))
        if len(self.message) > MAX_ERROR_MESSAGE_CHARS:
            object.__setattr__(self, "message", clip(self.message, MAX_ERROR_MESSAGE_CHARS))

    def __str__(self) -> str:
        what = f"{self.kind} {self.namespace}/{self.name}" if self.name else self.kind or "document"
        where = f" field {self.field}:" if self.field else ""
        return f"{self.origin}: {what}:{where} {self.message}"

    @property
    def ref(self) -> str:
        return object_ref(self.kind, self.namespace, self.name)

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "source": self.origin.source,
            "document": self.origin.document,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "field": self.field,
            "message": self.message,
            "text": str(self),
        }


@dataclass(frozen=True, slots=True, eq=False)
class MeshObject(Generic[SpecT]):
    """One validated Istio object. `digest` is a hash of its canonical content, used
    to key translation memos so unchanged objects are never translated twice."""

    kind: str
    api_version: str
    meta: ObjectMeta
    spec: SpecT
    origin: Origin
    digest: str = field(default="")
    # When this control plane first saw this definition (a load number; 0 = unknown, as in
    # Kubernetes where creationTimestamp tells). Not content: never part of `digest`.
    first_seen: int = 0
    # Istio merges the DestinationRules for one host of one namespace (see
    # translators/index.py `merged_rule`): the refs of the later rules merged into this
    # one, whose `ref` is the oldest's. Empty for every object as loaded.
    merged_from: tuple[str, ...] = ()

    @property
    def refs(self) -> tuple[str, ...]:
        """Every object this one's content comes from: itself, then what was merged in."""
        return (self.ref, *self.merged_from)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def namespace(self) -> str:
        return self.meta.namespace

    @property
    def ref(self) -> str:
        return object_ref(self.kind, self.meta.namespace, self.meta.name)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.meta.namespace, self.meta.name)


def age_order(obj: MeshObject[Any]) -> tuple[int, str, str, str]:
    """Istio's order when objects conflict (one host, one workload, one scope): the
    oldest first — first seen by this control plane (file mode), then creationTimestamp —
    and only among equals namespace/name. Every conflict rule sorts by this one key, so a
    new object can never displace an established one by its name or file."""
    return (obj.first_seen, obj.meta.creationTimestamp or "", obj.namespace, obj.name)


NETWORKING = "networking.istio.io"
SECURITY = "security.istio.io"
TELEMETRY = "telemetry.istio.io"

# kind -> (API group, accepted versions, spec model). An explicit, ordered registry:
# later issues add kinds here (PeerAuthentication, AuthorizationPolicy, ...).
KindEntry = tuple[str, frozenset[str], type[BaseModel]]
KINDS: dict[str, KindEntry] = {
    "VirtualService": (NETWORKING, frozenset({"v1alpha3", "v1beta1", "v1"}), VirtualServiceSpec),
    "DestinationRule": (NETWORKING, frozenset({"v1alpha3", "v1beta1", "v1"}), DestinationRuleSpec),
    "ServiceEntry": (NETWORKING, frozenset({"v1alpha3", "v1beta1", "v1"}), ServiceEntrySpec),
    "WorkloadEntry": (
        NETWORKING,
        frozenset({"v1alpha3", "v1beta1", "v1"}),
        WorkloadEntryObjectSpec,
    ),
    "Sidecar": (NETWORKING, frozenset({"v1alpha3", "v1beta1", "v1"}), SidecarSpec),
    "Gateway": (NETWORKING, frozenset({"v1alpha3", "v1beta1", "v1"}), GatewaySpec),
    "EnvoyFilter": (NETWORKING, frozenset({"v1alpha3"}), EnvoyFilterSpec),
    "PeerAuthentication": (SECURITY, frozenset({"v1beta1", "v1"}), PeerAuthenticationSpec),
    "AuthorizationPolicy": (SECURITY, frozenset({"v1beta1", "v1"}), AuthorizationPolicySpec),
    "RequestAuthentication": (SECURITY, frozenset({"v1beta1", "v1"}), RequestAuthenticationSpec),
    "Telemetry": (TELEMETRY, frozenset({"v1alpha1", "v1"}), TelemetrySpec),
    # the Kubernetes Gateway API (translators.model.gateway_api)
    **{kind: (GATEWAY_API, versions, spec) for kind, (versions, spec) in GATEWAY_API_KINDS.items()},
}

_TOP_LEVEL = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
# spec class -> its `check_in_namespace` (None: it has none), as `parse_object` found it
_IN_NAMESPACE: dict[type[BaseModel], Any] = {}
_UNKNOWN = object()


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _errors(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    found = []
    for err in exc.errors():
        path = _loc(tuple(err["loc"]))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, FieldValueError):
            path = f"{path}.{cause.field}" if path else cause.field
            message = str(cause)
        found.append((f"{prefix}.{path}" if path else prefix, message))
    return found


def parse_object(
    doc: Any, origin: Origin, kinds: Mapping[str, KindEntry] | None = None
) -> MeshObject[Any] | list[ConfigError]:
    """Validate one decoded YAML/JSON document as an Istio object (or as one of `kinds`,
    which extensions widen; default: the built-in `KINDS`)."""
    kinds = KINDS if kinds is None else kinds
    if not isinstance(doc, dict):
        return [ConfigError(origin, "", "", "", "", "document is not a mapping")]
    kind = str(doc.get("kind") or "")
    # one kind name in two API groups (Gateway): the registry keys the other one apart
    kind = KIND_ALIASES.get((str(doc.get("apiVersion") or "").partition("/")[0], kind), kind)
    raw_meta = doc.get("metadata")
    meta_dict = raw_meta if isinstance(raw_meta, dict) else {}
    name = str(meta_dict.get("name") or "")
    namespace = str(meta_dict.get("namespace") or "default")

    def fail(field: str, message: str) -> list[ConfigError]:
        return [ConfigError(origin, kind, namespace, name, field, message)]

    if not kind:
        return fail("kind", "missing")
    if kind not in kinds:
        return fail("kind", f"unsupported kind (supported: {', '.join(kinds)})")
    group, versions, spec_model = kinds[kind]
    api_version = str(doc.get("apiVersion") or "")
    api_group, _, version = api_version.partition("/")
    if api_group != group or version not in versions:
        accepted = ", ".join(f"{group}/{v}" for v in sorted(versions))
        return fail("apiVersion", f"{api_version or 'missing'!s}: expected one of {accepted}")
    unknown = doc.keys() - _TOP_LEVEL
    if unknown:
        return fail(sorted(unknown)[0], "unknown field")
    if not isinstance(raw_meta, dict):
        return fail("metadata", "missing or not a mapping")
    errors: list[ConfigError] = []
    meta: ObjectMeta | None = None
    try:
        meta = ObjectMeta.model_validate(raw_meta)
    except ValidationError as exc:
        errors += [
            ConfigError(origin, kind, namespace, name, f, m) for f, m in _errors(exc, "metadata")
        ]
    spec_doc = doc.get("spec")
    if spec_doc is None:
        spec_doc = {}
    spec: BaseModel | None = None
    try:
        spec = spec_model.model_validate(spec_doc)
    except ValidationError as exc:
        errors += [
            ConfigError(origin, kind, namespace, name, f, m) for f, m in _errors(exc, "spec")
        ]
    if errors or meta is None or spec is None:
        return errors
    # rules that need the object's namespace (exportTo `.` beside the namespace itself)
    # looked up on the class, once per class: a missing attribute on a pydantic instance
    # goes through its slow __getattr__ (a tenth of validating an object), and so does
    # a missing one on its class (the metaclass's __getattr__)
    model = type(spec)
    in_namespace = _IN_NAMESPACE.get(model, _UNKNOWN)
    if in_namespace is _UNKNOWN:
        in_namespace = _IN_NAMESPACE[model] = getattr(model, "check_in_namespace", None)
    if in_namespace is not None:
        try:
            in_namespace(spec, meta.namespace)
        except FieldValueError as exc:
            return [ConfigError(origin, kind, namespace, name, f"spec.{exc.field}", str(exc))]
        except ValueError as exc:
            return [ConfigError(origin, kind, namespace, name, "spec", str(exc))]
    # The spec's JSON straight from pydantic's serializer (a third of the cost of
    # model_dump + json.dumps, which was 40% of validating an object): fields come in
    # model order, so only reordered keys inside free-form maps change it, which costs
    # a re-translation, never a wrong one.
    labels = json.dumps(meta.labels, sort_keys=True) if meta.labels else ""
    canonical = f"{kind}\n{meta.namespace}\n{meta.name}\n{labels}\n".encode()
    # (the serializer's bytes as `model_dump_json` makes them, less its Python wrapper
    # and a decode/encode round trip)
    spec_json = model.__pydantic_serializer__.to_json(spec)
    digest = hashlib.blake2b(canonical + spec_json, digest_size=8)
    return MeshObject(kind, api_version, meta, spec, origin, digest.hexdigest())
