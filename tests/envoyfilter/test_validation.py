"""EnvoyFilter validation: Istio's rules, through the parser and the `validate` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from translators.model.objects import ConfigError, MeshObject, Origin, parse_object
from xdscp.cli import main

LUA = {
    "name": "envoy.lua",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "inlineCode": "function envoy_on_response(h) end",
    },
}
HCM = "envoy.filters.network.http_connection_manager"


def envoy_filter(*patches: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": "ef", "namespace": "default"},
        "spec": {"configPatches": list(patches), **spec},
    }


def errors(doc: dict[str, Any]) -> list[tuple[str, str]]:
    found = parse_object(doc, Origin("ef.yaml"))
    if isinstance(found, MeshObject):
        return []
    return [(e.field, e.message) for e in found if isinstance(e, ConfigError)]


def test_valid_http_filter_insert_before_router_is_accepted() -> None:
    doc = envoy_filter(
        {
            "applyTo": "HTTP_FILTER",
            "match": {
                "context": "SIDECAR_INBOUND",
                "proxy": {"proxyVersion": "^1\\.2.*"},
                "listener": {
                    "portNumber": 8080,
                    "filterChain": {
                        "filter": {"name": HCM, "subFilter": {"name": "envoy.filters.http.router"}}
                    },
                },
            },
            "patch": {"operation": "INSERT_BEFORE", "value": LUA},
        },
        workloadSelector={"labels": {"app": "web"}},
        priority=-10,
    )
    found = parse_object(doc, Origin("ef.yaml"))
    assert isinstance(found, MeshObject), found
    assert found.spec.config_patches[0].patch.value == LUA


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        (
            {"patch": {"operation": "ADD", "value": LUA}},
            "configPatches[0].applyTo",
            "missing applyTo",
        ),
        ({"applyTo": "CLUSTER"}, "configPatches[0].patch", "missing patch"),
        (
            {"applyTo": "CLUSTER", "patch": {"value": {}}},
            "patch.operation",
            "missing patch operation",
        ),
        (
            {"applyTo": "CLUSTER", "patch": {"operation": "MERGE"}},
            "patch.value",
            "missing patch value",
        ),
        (
            {
                "applyTo": "CLUSTER",
                "match": {"proxy": {"proxyVersion": "("}},
                "patch": {"operation": "REMOVE"},
            },
            "proxyVersion",
            "invalid regex for proxy version",
        ),
        (
            {
                "applyTo": "HTTP_FILTER",
                "match": {"cluster": {"name": "c"}},
                "patch": {"operation": "REMOVE"},
            },
            "match",
            "listener class objects cannot have non listener match",
        ),
        (
            {
                "applyTo": "HTTP_ROUTE",
                "match": {"cluster": {"name": "c"}},
                "patch": {"operation": "REMOVE"},
            },
            "match",
            "http route class objects cannot have non route configuration match",
        ),
        (
            {
                "applyTo": "CLUSTER",
                "match": {"listener": {"name": "l"}},
                "patch": {"operation": "REMOVE"},
            },
            "match",
            "cluster class objects cannot have non cluster match",
        ),
        (
            {
                "applyTo": "NETWORK_FILTER",
                "match": {
                    "listener": {
                        "filterChain": {"filter": {"name": HCM, "subFilter": {"name": "r"}}}
                    }
                },
                "patch": {"operation": "REMOVE"},
            },
            "subFilter",
            "subfilter match can be used with applyTo HTTP_FILTER only",
        ),
        (
            {
                "applyTo": "HTTP_FILTER",
                "match": {
                    "listener": {
                        "filterChain": {
                            "filter": {"name": "envoy.tcp_proxy", "subFilter": {"name": "r"}}
                        }
                    }
                },
                "patch": {"operation": "REMOVE"},
            },
            "subFilter",
            f"subfilter match requires filter match with {HCM}",
        ),
        (
            {
                "applyTo": "HTTP_FILTER",
                "match": {"listener": {"filterChain": {"filter": {"subFilter": {"name": "r"}}}}},
                "patch": {"operation": "REMOVE"},
            },
            "filter.name",
            "filter match has no name to match on",
        ),
        (
            {
                "applyTo": "CLUSTER",
                "patch": {"operation": "MERGE", "value": {"connect_timeout": "soon"}},
            },
            "patch.value",
            "cannot convert to envoy.config.cluster.v3.Cluster",
        ),
        (
            {
                "applyTo": "HTTP_FILTER",
                "patch": {
                    "operation": "ADD",
                    "value": {
                        "name": "x",
                        "typed_config": {"@type": "type.googleapis.com/envoy.nope.v3.Nope"},
                    },
                },
            },
            "patch.value",
            "referenced type unknown: @type 'type.googleapis.com/envoy.nope.v3.Nope'",
        ),
        (
            {"applyTo": "VIRTUAL_SERVICE", "patch": {"operation": "REMOVE"}},
            "applyTo",
            "Input should be",
        ),
        ({"applyTo": "CLUSTER", "patch": {"operation": "PATCH"}}, "operation", "Input should be"),
    ],
)
def test_istio_refuses(patch: dict[str, Any], field: str, message: str) -> None:
    found = errors(envoy_filter(patch))
    assert found, "accepted"
    assert any(field in f and message in m for f, m in found), found


def test_selector_and_target_refs_are_exclusive() -> None:
    doc = envoy_filter(
        workloadSelector={"labels": {"app": "a"}},
        targetRefs=[{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}],
    )
    assert any("only one of targetRefs or workloadSelector" in m for _, m in errors(doc))


def test_priority_is_int32() -> None:
    assert errors(envoy_filter(priority=2**31 - 1)) == []
    assert errors(envoy_filter(priority=-(2**31))) == []
    assert any(f == "spec.priority" for f, _ in errors(envoy_filter(priority=2**31)))


def test_unknown_fields_in_value_are_ignored_as_istio_does() -> None:
    # Istio's non-strict conversion drops unknown fields (only a warning there)
    doc = envoy_filter(
        {"applyTo": "CLUSTER", "patch": {"operation": "MERGE", "value": {"noSuchField": 1}}}
    )
    assert errors(doc) == []


def test_cli_names_file_object_and_field(tmp_path: Path) -> None:
    bad = envoy_filter(
        {
            "applyTo": "CLUSTER",
            "patch": {
                "operation": "MERGE",
                "value": {
                    "typed_extension_protocol_options": {"x": {"@type": "type.googleapis.com/a.B"}}
                },
            },
        }
    )
    path = tmp_path / "ef.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code != 0
    assert "EnvoyFilter default/ef" in result.output
    assert "spec.configPatches[0].patch.value" in result.output
    assert "type.googleapis.com/a.B" in result.output
    assert "Traceback" not in result.output
