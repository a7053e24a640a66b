"""CustomResourceDefinitions for the Istio kinds xdscp supports, generated from the
pydantic models — the models are the one definition of what a valid object is, so
the API server's schema can never drift from what the control plane accepts.

Pydantic emits JSON Schema; Kubernetes wants a *structural* OpenAPI v3 schema:
every node typed, no `$ref`, no `anyOf` carrying types, no `additionalProperties`
beside `properties` (unknown fields are pruned, or refused by kubectl's default
strict field validation), OpenAPI's subset of keywords. `structural()` does that
translation; the CLI prints the result (`xdscp crds > deploy/crds.yaml`), and a test
keeps the committed file equal to it.

The schema is a first line of defence (kubectl rejects typos and wrong types at
apply time); cross-field rules stay in the models and surface in object status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from translators.model.gateway_api import GATEWAY_API
from translators.model.objects import KINDS
from xdscp.kube.resources import plural_of

Schema = dict[str, Any]

# Istio's short names, so `kubectl get vs` works as with Istio.
SHORT_NAMES = {
    "VirtualService": ["vs"],
    "DestinationRule": ["dr"],
    "ServiceEntry": ["se"],
    "WorkloadEntry": ["we"],
    "Gateway": ["gw"],
    "PeerAuthentication": ["pa"],
    "AuthorizationPolicy": ["ap"],
    "RequestAuthentication": ["ra"],
}
# Istio's CRDs store the oldest version; keep that so existing clusters can switch.
_STORAGE_ORDER = ("v1alpha1", "v1alpha3", "v1beta1", "v1")
_VERSION_ORDER = ("v1alpha1", "v1alpha3", "v1beta1", "v1")
# Fields the models upper-case before validating (`protocol: http` is valid Istio):
# an enum in the schema would be stricter than the model.
CASE_INSENSITIVE = frozenset({"protocol"})
_KEEP = {
    "string": ("pattern", "minLength", "maxLength", "enum", "format"),
    "integer": ("minimum", "maximum", "enum", "format"),
    "number": ("minimum", "maximum", "format"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties", "required"),
    "boolean": (),
}
# formats the API server understands; others are dropped rather than rejected later
_FORMATS = frozenset({"int32", "int64", "float", "double", "byte", "date", "date-time"})


def _resolve(node: Schema, defs: Mapping[str, Schema]) -> tuple[Schema, str | None]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, None
    name = ref.rsplit("/", 1)[-1]
    return defs[name], name


def structural(
    node: Schema, defs: Mapping[str, Schema], field: str = "", seen: frozenset[str] = frozenset()
) -> Schema:
    """Translate one JSON Schema node (pydantic's dialect) into a structural schema node."""
    description = node.get("description")
    node, ref = _resolve(node, defs)
    if ref is not None and ref in seen:
        # a recursive type: the API server cannot express it; accept and let the model judge
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    seen = seen | {ref} if ref else seen
    description = description or node.get("description")
    out = _structural_body(node, defs, field, seen)
    if description and "description" not in out:
        out = {"description": " ".join(str(description).split()), **out}
    return out


def _structural_body(
    node: Schema, defs: Mapping[str, Schema], field: str, seen: frozenset[str]
) -> Schema:
    if "allOf" in node and len(node["allOf"]) == 1:
        return structural(node["allOf"][0], defs, field, seen)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants is not None:
        typed = [v for v in variants if v.get("type") != "null"]
        if len(typed) == 1:
            return structural(typed[0], defs, field, seen)
        kinds = {structural(v, defs, field, seen).get("type") for v in typed}
        if kinds == {"integer", "string"}:
            return {"x-kubernetes-int-or-string": True}
        return {"x-kubernetes-preserve-unknown-fields": True}
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    kind = node.get("type")
    if kind is None and "enum" in node:
        kind = "integer" if all(isinstance(v, int) for v in node["enum"]) else "string"
    if kind is None or isinstance(kind, list):
        return {"x-kubernetes-preserve-unknown-fields": True}
    out: Schema = {"type": kind}
    for key in _KEEP.get(kind, ()):
        if key in node:
            out[key] = node[key]
    if out.get("format") not in _FORMATS:
        out.pop("format", None)
    if field in CASE_INSENSITIVE:
        out.pop("enum", None)
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(exclusive), int | float):
            out[inclusive] = node[exclusive]
            out[exclusive] = True
    if kind == "array":
        out["items"] = structural(node.get("items") or {}, defs, field, seen)
    elif kind == "object":
        properties = node.get("properties") or {}
        extra = node.get("additionalProperties")
        if properties:
            out["properties"] = {
                name: structural(value, defs, name, seen) for name, value in properties.items()
            }
        elif isinstance(extra, dict):
            out["additionalProperties"] = structural(extra, defs, field, seen)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if not out.get("required"):
            out.pop("required", None)
    return out


def spec_schema(model: type[BaseModel]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs") or {}
    return structural(raw, defs)


def crd(kind: str) -> dict[str, Any]:
    group, versions, model = KINDS[kind]
    plural = plural_of(kind)
    served = [v for v in _VERSION_ORDER if v in versions] + sorted(
        v for v in versions if v not in _VERSION_ORDER
    )
    storage = next(v for v in (*_STORAGE_ORDER, *served) if v in versions)
    schema = {
        "type": "object",
        "properties": {
            "spec": spec_schema(model),
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "categories": ["istio-io", f"{group.split('.')[0]}-istio-io"],
    }
    if kind in SHORT_NAMES:
        names["shortNames"] = SHORT_NAMES[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {"app.kubernetes.io/part-of": "xdscp"},
        },
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": version == storage,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Accepted",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Accepted")].status',
                        },
                        {
                            "name": "Age",
                            "type": "date",
                            "jsonPath": ".metadata.creationTimestamp",
                        },
                    ],
                }
                for version in served
            ],
        },
    }


# Groups whose CRDs are the upstream project's own (installed from its release, never
# regenerated here: other controllers in the cluster read the same CRDs).
UPSTREAM_CRD_GROUPS = frozenset({GATEWAY_API})


def generated_kinds() -> list[str]:
    """The kinds whose CRDs xdscp generates: every supported kind but the upstream ones."""
    return [kind for kind, (group, _v, _m) in KINDS.items() if group not in UPSTREAM_CRD_GROUPS]


def all_crds() -> list[dict[str, Any]]:
    """One CRD per supported kind xdscp owns, in registry order."""
    return [crd(kind) for kind in generated_kinds()]


class _NoAliases(yaml.SafeDumper):
    """Shared schema objects are written out in full: anchors would be valid YAML but
    unreadable in a reviewed manifest."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crds() -> str:
    header = (
        "# Generated by `xdscp crds` from the pydantic models: do not edit by hand.\n"
        "# Regenerate with: xdscp crds > deploy/crds.yaml\n"
    )
    body = "---\n".join(
        yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, width=1000) for doc in all_crds()
    )
    return header + "---\n" + body
