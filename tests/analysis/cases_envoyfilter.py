"""Cases for EnvoyFilter patches that will not work (XDS1001, XDS1002), and a healthy
one that is quiet. Each is an edit of the healthy base mesh, as in `cases.py`."""

from __future__ import annotations

from typing import Any

from tests.analysis.meshes import Case, Doc, obj

EF = "EnvoyFilter/shop/patches"
LUA: dict[str, Any] = {
    "name": "envoy.lua",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "inlineCode": "function envoy_on_request(h) end",
    },
}


def _envoy_filter(*patches: dict[str, Any]) -> Doc:
    return obj(
        "EnvoyFilter",
        "patches",
        "shop",
        {"configPatches": list(patches)},
        api="networking.istio.io/v1alpha3",
    )


def _unchanged(docs: list[Doc]) -> None:
    del docs


ENVOY_FILTER_CASES: tuple[Case, ...] = (
    Case(
        "EnvoyFilter HTTP filter ADDed after the router",
        _unchanged,
        (("XDS1002", EF, "spec.configPatches[0].patch.operation"),),
        extra=(
            _envoy_filter({"applyTo": "HTTP_FILTER", "patch": {"operation": "ADD", "value": LUA}}),
        ),
    ),
    Case(
        "EnvoyFilter BOOTSTRAP patch",
        _unchanged,
        (("XDS1001", EF, "spec.configPatches[0].applyTo"),),
        extra=(
            _envoy_filter(
                {
                    "applyTo": "BOOTSTRAP",
                    "patch": {"operation": "MERGE", "value": {"stats_flush_interval": "6s"}},
                }
            ),
        ),
    ),
    Case(
        "EnvoyFilter HTTP filter inserted before the router",
        _unchanged,
        (),
        extra=(
            _envoy_filter(
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {
                        "listener": {
                            "filterChain": {
                                "filter": {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "subFilter": {"name": "envoy.filters.http.router"},
                                }
                            }
                        }
                    },
                    "patch": {"operation": "INSERT_BEFORE", "value": LUA},
                }
            ),
        ),
    ),
)
