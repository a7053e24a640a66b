"""EnvoyFilter patches on translated resources: each applyTo and operation, Istio's
match rules, selection and order, and provenance naming the EnvoyFilter."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm,
)

from tests.envoy_validate import find_envoy, validate_resources
from tests.extensions.fixtures import MESH
from translators.envoyfilter.extension import envoy_filter_extension
from translators.extensions.api import Proxy, Resource
from translators.mesh import MeshConfig, MeshOptions, build_mesh
from translators.naming import CLUSTER_TYPE, LISTENER_TYPE, PROVENANCE_KEY, ROUTE_TYPE
from translators.resources import EnvoyResource
from translators.translate import MeshTranslator, ProxyResources
from xdscp.sources.documents import parse_text

HCM = "envoy.filters.network.http_connection_manager"
ROUTER = "envoy.filters.http.router"
API_CLUSTER = "outbound|8080||api.default.svc.cluster.local"


def lua(name: str = "envoy.lua") -> dict[str, Any]:
    return {
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "inlineCode": "function envoy_on_response(h) end",
        },
    }


def envoy_filter(
    name: str, *patches: dict[str, Any], namespace: str = "default", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "EnvoyFilter",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"configPatches": list(patches), **spec},
    }


def build(*filters: dict[str, Any]) -> MeshConfig:
    text = MESH + "".join("\n---\n" + yaml.safe_dump(f) for f in filters)
    parsed = parse_text(text, "test.yaml")
    built = build_mesh(parsed.objects, parsed.errors, MeshOptions(local_mode=True))
    assert not built.errors, [str(e) for e in built.errors]
    return built


def translate(workload: str, *filters: dict[str, Any]) -> ProxyResources:
    built = build(*filters)
    found = built.workload("default", workload)
    assert found is not None
    return MeshTranslator(built).translate(found)


def one(result: ProxyResources, type_url: str, name: str) -> EnvoyResource:
    (found,) = [r for r in result.of_type(type_url) if r.name == name]
    return found


def managers(listener: EnvoyResource) -> list[hcm.HttpConnectionManager]:
    message = listener.message
    assert isinstance(message, listener_pb2.Listener)
    found = []
    for chain in message.filter_chains:
        for network_filter in chain.filters:
            if network_filter.name == HCM:
                manager = hcm.HttpConnectionManager()
                network_filter.typed_config.Unpack(manager)
                found.append(manager)
    assert found
    return found


def http_filters(result: ProxyResources, listener: str) -> list[list[str]]:
    return [
        [f.name for f in m.http_filters] for m in managers(one(result, LISTENER_TYPE, listener))
    ]


def inbound_http(
    op: str, value: dict[str, Any] | None, sub_filter: str | None = ROUTER
) -> dict[str, Any]:
    chain: dict[str, Any] = {"filter": {"name": HCM}}
    if sub_filter:
        chain["filter"]["subFilter"] = {"name": sub_filter}
    patch: dict[str, Any] = {"operation": op}
    if value is not None:
        patch["value"] = value
    return {
        "applyTo": "HTTP_FILTER",
        "match": {
            "context": "SIDECAR_INBOUND",
            "listener": {"portNumber": 8080, "filterChain": chain},
        },
        "patch": patch,
    }


INBOUND = "10.0.0.1_8080"  # api-1's inbound listener (local mode)
OUTBOUND = "10.0.0.3_8080"  # web's outbound listener for api:8080


def test_contexts_of_generated_listeners() -> None:
    api = one(translate("api-1"), LISTENER_TYPE, INBOUND).message
    web = one(translate("web"), LISTENER_TYPE, OUTBOUND).message
    assert isinstance(api, listener_pb2.Listener) and isinstance(web, listener_pb2.Listener)
    assert api.traffic_direction == base_pb2.INBOUND
    assert web.traffic_direction == base_pb2.OUTBOUND


def test_http_filter_insert_before_router_and_provenance() -> None:
    ef = envoy_filter("hdr", inbound_http("INSERT_BEFORE", lua()))
    result = translate("api-1", ef)
    assert all(names == ["envoy.lua", ROUTER] for names in http_filters(result, INBOUND))
    listener = one(result, LISTENER_TYPE, INBOUND)
    assert "EnvoyFilter/default/hdr" in listener.provenance
    assert "Sidecar/default/api" in listener.provenance  # still names what it came from
    # an unmatched context leaves the outbound listener of `web` alone (and unblamed)
    web = translate("web", ef)
    assert http_filters(web, OUTBOUND) == http_filters(translate("web"), OUTBOUND)
    assert "EnvoyFilter/default/hdr" not in one(web, LISTENER_TYPE, OUTBOUND).provenance


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (inbound_http("INSERT_AFTER", lua(), sub_filter=None), [ROUTER, "envoy.lua"]),
        (inbound_http("INSERT_BEFORE", lua(), sub_filter=None), ["envoy.lua", ROUTER]),
        (inbound_http("INSERT_FIRST", lua()), ["envoy.lua", ROUTER]),
        # pilot prepends on INSERT_FIRST whatever the subFilter selects
        (inbound_http("INSERT_FIRST", lua(), sub_filter="no.such.filter"), ["envoy.lua", ROUTER]),
        (inbound_http("INSERT_AFTER", lua(), sub_filter="no.such.filter"), [ROUTER]),
        (inbound_http("REMOVE", None, sub_filter=None), [ROUTER]),  # REMOVE needs a selector
        (inbound_http("REPLACE", lua(), sub_filter=None), [ROUTER]),
        (inbound_http("INSERT_BEFORE", lua(), sub_filter="no.such.filter"), [ROUTER]),
        (inbound_http("ADD", lua()), [ROUTER, "envoy.lua"]),
        (inbound_http("REMOVE", None), []),
        (inbound_http("REPLACE", lua("replaced")), ["replaced"]),
    ],
)
def test_http_filter_operations(patch: dict[str, Any], expected: list[str]) -> None:
    result = translate("api-1", envoy_filter("ops", patch))
    assert all(names == expected for names in http_filters(result, INBOUND))


def test_http_filter_merge_merges_inside_typed_config() -> None:
    first = inbound_http("INSERT_BEFORE", lua())
    merge = inbound_http(
        "MERGE",
        {
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "statPrefix": "merged",
            }
        },
        sub_filter="envoy.lua",
    )
    result = translate("api-1", envoy_filter("m", first, merge))
    from envoy.extensions.filters.http.lua.v3 import lua_pb2

    for manager in managers(one(result, LISTENER_TYPE, INBOUND)):
        config = lua_pb2.Lua()
        manager.http_filters[0].typed_config.Unpack(config)
        assert config.stat_prefix == "merged"
        assert "envoy_on_response" in config.default_source_code.inline_string or (
            "envoy_on_response" in config.inline_code
        )


def test_network_filter_merge_insert_and_remove() -> None:
    listener_match = {
        "context": "SIDECAR_INBOUND",
        "listener": {"filterChain": {"filter": {"name": HCM}}},
    }
    merge = {
        "applyTo": "NETWORK_FILTER",
        "match": listener_match,
        "patch": {
            "operation": "MERGE",
            "value": {
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network."
                    "http_connection_manager.v3.HttpConnectionManager",
                    "server_name": "patched-by-envoyfilter",
                }
            },
        },
    }
    insert = {
        "applyTo": "NETWORK_FILTER",
        "match": listener_match,
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {
                "name": "envoy.filters.network.connection_limit",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network."
                    "connection_limit.v3.ConnectionLimit",
                    "stat_prefix": "limit",
                    "max_connections": 10,
                },
            },
        },
    }
    result = translate("api-1", envoy_filter("net", merge, insert))
    listener = one(result, LISTENER_TYPE, INBOUND).message
    assert isinstance(listener, listener_pb2.Listener)
    for chain in listener.filter_chains:
        names = [f.name for f in chain.filters]
        assert names.index("envoy.filters.network.connection_limit") == names.index(HCM) - 1
    for manager in managers(one(result, LISTENER_TYPE, INBOUND)):
        assert manager.server_name == "patched-by-envoyfilter"
        assert [f.name for f in manager.http_filters] == [ROUTER]  # merged, not replaced
    remove = {
        "applyTo": "NETWORK_FILTER",
        "match": listener_match,
        "patch": {"operation": "REMOVE"},
    }
    removed = one(translate("api-1", envoy_filter("rm", remove)), LISTENER_TYPE, INBOUND).message
    assert isinstance(removed, listener_pb2.Listener)
    assert all(HCM not in [f.name for f in c.filters] for c in removed.filter_chains)


def test_filter_chain_match_remove_and_add() -> None:
    plain = one(translate("api-1"), LISTENER_TYPE, INBOUND).message
    assert isinstance(plain, listener_pb2.Listener)
    protocols = {c.filter_chain_match.transport_protocol for c in plain.filter_chains}
    assert {"tls", "raw_buffer"} <= protocols
    remove = {
        "applyTo": "FILTER_CHAIN",
        "match": {
            "context": "SIDECAR_INBOUND",
            "listener": {"filterChain": {"transportProtocol": "raw_buffer"}},
        },
        "patch": {"operation": "REMOVE"},
    }
    add = {
        "applyTo": "FILTER_CHAIN",
        "match": {"listener": {"portNumber": 8080}},
        "patch": {
            "operation": "ADD",
            "value": {"name": "added", "filter_chain_match": {"server_names": ["x.example"]}},
        },
    }
    result = one(
        translate("api-1", envoy_filter("fc", remove, add)), LISTENER_TYPE, INBOUND
    ).message
    assert isinstance(result, listener_pb2.Listener)
    names = {c.filter_chain_match.transport_protocol for c in result.filter_chains}
    assert "raw_buffer" not in names
    assert result.filter_chains[-1].name == "added"


def test_listener_merge_remove_add() -> None:
    merge = {
        "applyTo": "LISTENER",
        "match": {"listener": {"portNumber": 8080}},
        "patch": {"operation": "MERGE", "value": {"per_connection_buffer_limit_bytes": 12345}},
    }
    add = {
        "applyTo": "LISTENER",
        "patch": {
            "operation": "ADD",
            "value": {
                "name": "extra",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 19999}},
            },
        },
    }
    result = translate("api-1", envoy_filter("l", merge, add))
    merged = one(result, LISTENER_TYPE, INBOUND).message
    assert isinstance(merged, listener_pb2.Listener)
    assert merged.per_connection_buffer_limit_bytes.value == 12345
    assert one(result, LISTENER_TYPE, "extra").provenance == ("EnvoyFilter/default/l",)
    # a port that is not the listener's: no change
    other = {**merge, "match": {"listener": {"portNumber": 9999}}}
    untouched = one(translate("api-1", envoy_filter("l", other)), LISTENER_TYPE, INBOUND)
    assert untouched is one(translate("api-1"), LISTENER_TYPE, INBOUND) or (
        untouched.body() == one(translate("api-1"), LISTENER_TYPE, INBOUND).body()
    )
    remove = {
        "applyTo": "LISTENER",
        "match": {"listener": {"name": INBOUND}},
        "patch": {"operation": "REMOVE"},
    }
    assert INBOUND not in {
        r.name for r in translate("api-1", envoy_filter("r", remove)).of_type(LISTENER_TYPE)
    }


def route_config(result: ProxyResources, name: str = "8080") -> route_pb2.RouteConfiguration:
    message = one(result, ROUTE_TYPE, name).message
    assert isinstance(message, route_pb2.RouteConfiguration)
    return message


VHOST = "api.default.svc.cluster.local:8080"


def test_route_configuration_virtual_host_and_route_patches() -> None:
    rc_merge = {
        "applyTo": "ROUTE_CONFIGURATION",
        "match": {"context": "SIDECAR_OUTBOUND", "routeConfiguration": {"portNumber": 8080}},
        "patch": {
            "operation": "MERGE",
            "value": {"response_headers_to_add": [{"header": {"key": "x-rc", "value": "1"}}]},
        },
    }
    vh_add = {
        "applyTo": "VIRTUAL_HOST",
        "match": {"routeConfiguration": {"name": "8080"}},
        "patch": {"operation": "ADD", "value": {"name": "added", "domains": ["added.example"]}},
    }
    vh_merge = {
        "applyTo": "VIRTUAL_HOST",
        "match": {"routeConfiguration": {"vhost": {"name": VHOST}}},
        "patch": {"operation": "MERGE", "value": {"domains": ["alias.example"]}},
    }
    vh_remove = {
        "applyTo": "VIRTUAL_HOST",
        "match": {"routeConfiguration": {"vhost": {"name": "allow_any_dynamic_dns"}}},
        "patch": {"operation": "REMOVE"},
    }
    route_before = {
        "applyTo": "HTTP_ROUTE",
        "match": {"routeConfiguration": {"vhost": {"name": VHOST, "route": {"name": "default"}}}},
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {
                "name": "health",
                "match": {"path": "/healthz"},
                "direct_response": {"status": 200},
            },
        },
    }
    route_merge = {
        "applyTo": "HTTP_ROUTE",
        "match": {"routeConfiguration": {"vhost": {"name": VHOST, "route": {"action": "ROUTE"}}}},
        "patch": {"operation": "MERGE", "value": {"route": {"timeout": "7s"}}},
    }
    ef = envoy_filter("routes", rc_merge, vh_add, vh_merge, vh_remove, route_before, route_merge)
    result = translate("web", ef)
    config = route_config(result)
    assert [h.header.key for h in config.response_headers_to_add][-1] == "x-rc"
    assert [v.name for v in config.virtual_hosts] == [VHOST, "added"]
    vhost = config.virtual_hosts[0]
    assert vhost.domains[-1] == "alias.example"
    assert [r.name for r in vhost.routes] == ["health", "default"]
    assert vhost.routes[0].WhichOneof("action") == "direct_response"
    assert vhost.routes[1].route.timeout.seconds == 7  # replaced whole (Istio's merge), not summed
    assert "EnvoyFilter/default/routes" in one(result, ROUTE_TYPE, "8080").provenance
    # VHDS and `proxy-config routes` read the per virtual host / route provenance
    for message in (config, vhost, vhost.routes[0], vhost.routes[1], config.virtual_hosts[1]):
        sources = message.metadata.filter_metadata[PROVENANCE_KEY].fields["sources"]
        assert "EnvoyFilter/default/routes" in [v.string_value for v in sources.list_value.values]
    # other ports' configurations do not match
    elsewhere = {**rc_merge, "match": {"routeConfiguration": {"portNumber": 9090}}}
    assert route_config(translate("web", envoy_filter("x", elsewhere))) == route_config(
        translate("web")
    )


def test_http_route_remove_and_action_match() -> None:
    remove = {
        "applyTo": "HTTP_ROUTE",
        "match": {"routeConfiguration": {"vhost": {"route": {"action": "REDIRECT"}}}},
        "patch": {"operation": "REMOVE"},
    }
    # no route redirects: nothing removed
    assert route_config(translate("web", envoy_filter("r", remove))) == route_config(
        translate("web")
    )
    remove_route = {
        **remove,
        "match": {"routeConfiguration": {"vhost": {"name": VHOST, "route": {"action": "ROUTE"}}}},
    }
    config = route_config(translate("web", envoy_filter("r", remove_route)))
    assert [v.routes for v in config.virtual_hosts if v.name == VHOST] == [[]]


def cluster(result: ProxyResources, name: str = API_CLUSTER) -> cluster_pb2.Cluster:
    message = one(result, CLUSTER_TYPE, name).message
    assert isinstance(message, cluster_pb2.Cluster)
    return message


def test_cluster_merge_by_service_and_port_replace_remove_add() -> None:
    merge = {
        "applyTo": "CLUSTER",
        "match": {
            "context": "SIDECAR_OUTBOUND",
            "cluster": {"service": "api.default.svc.cluster.local", "portNumber": 8080},
        },
        "patch": {
            "operation": "MERGE",
            "value": {"connect_timeout": "3s", "per_connection_buffer_limit_bytes": 999},
        },
    }
    result = translate("web", envoy_filter("c", merge))
    patched = cluster(result)
    assert patched.connect_timeout.seconds == 3 and patched.connect_timeout.nanos == 0
    assert patched.per_connection_buffer_limit_bytes.value == 999
    assert one(result, CLUSTER_TYPE, API_CLUSTER).provenance == (
        "ServiceEntry/default/api",
        "EnvoyFilter/default/c",
    )
    wrong_subset = {
        **merge,
        "match": {"cluster": {"service": "api.default.svc.cluster.local", "subset": "v9"}},
    }
    assert cluster(translate("web", envoy_filter("c", wrong_subset))) == cluster(translate("web"))
    inbound_only = {**merge, "match": {"context": "SIDECAR_INBOUND"}}
    assert cluster(translate("web", envoy_filter("c", inbound_only))) == cluster(translate("web"))
    remove = {
        "applyTo": "CLUSTER",
        "match": {"cluster": {"name": API_CLUSTER}},
        "patch": {"operation": "REMOVE"},
    }
    assert API_CLUSTER not in {
        r.name for r in translate("web", envoy_filter("c", remove)).of_type(CLUSTER_TYPE)
    }
    replace = {
        "applyTo": "CLUSTER",
        "match": {"cluster": {"name": "BlackHoleCluster"}},
        "patch": {"operation": "REPLACE", "value": {"name": "BlackHoleCluster", "type": "STATIC"}},
    }
    replaced = cluster(translate("web", envoy_filter("c", replace)), "BlackHoleCluster")
    assert replaced == cluster_pb2.Cluster(name="BlackHoleCluster", type=cluster_pb2.Cluster.STATIC)
    add = {
        "applyTo": "CLUSTER",
        "patch": {
            "operation": "ADD",
            "value": {"name": "ext-authz", "type": "STATIC", "connect_timeout": "1s"},
        },
    }
    added = one(translate("web", envoy_filter("c", add)), CLUSTER_TYPE, "ext-authz")
    assert added.provenance == ("EnvoyFilter/default/c",)
    inbound_add = {**add, "match": {"context": "GATEWAY"}}
    assert "ext-authz" not in {
        r.name for r in translate("web", envoy_filter("c", inbound_add)).of_type(CLUSTER_TYPE)
    }


def test_extension_config_is_resolved_into_the_discovered_filter() -> None:
    discovered = inbound_http(
        "INSERT_BEFORE",
        {
            "name": "my-lua",
            "config_discovery": {
                "config_source": {"ads": {}},
                "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"],
            },
        },
    )
    extension = {
        "applyTo": "EXTENSION_CONFIG",
        "patch": {"operation": "ADD", "value": lua("my-lua")},
    }
    result = translate("api-1", envoy_filter("ecds", discovered, extension))
    for manager in managers(one(result, LISTENER_TYPE, INBOUND)):
        first = manager.http_filters[0]
        assert first.name == "my-lua"
        assert first.WhichOneof("config_type") == "typed_config"
        assert first.typed_config.type_url.endswith("lua.v3.Lua")


def test_selection_namespaces_selectors_and_order() -> None:
    selected = envoy_filter(
        "other-app",
        inbound_http("INSERT_FIRST", lua("a")),
        workloadSelector={"labels": {"app": "web"}},
    )
    assert http_filters(translate("api-1", selected), INBOUND)[0] == [ROUTER]
    elsewhere = envoy_filter("elsewhere", inbound_http("INSERT_FIRST", lua("a")), namespace="other")
    assert http_filters(translate("api-1", elsewhere), INBOUND)[0] == [ROUTER]
    # root namespace first (whatever the priorities), then the namespace by priority
    root = envoy_filter(
        "root", inbound_http("INSERT_FIRST", lua("root")), namespace="istio-system", priority=100
    )
    late = envoy_filter("a-late", inbound_http("INSERT_FIRST", lua("late")), priority=10)
    early = envoy_filter("z-early", inbound_http("INSERT_FIRST", lua("early")), priority=-10)
    same_priority = envoy_filter("b-same", inbound_http("INSERT_FIRST", lua("b")), priority=10)
    result = translate("api-1", late, root, early, same_priority)
    # INSERT_FIRST each time: the last applied is first
    assert http_filters(result, INBOUND)[0] == ["b", "late", "early", "root", ROUTER]
    assert set(one(result, LISTENER_TYPE, INBOUND).provenance) >= {
        "EnvoyFilter/istio-system/root",
        "EnvoyFilter/default/a-late",
        "EnvoyFilter/default/z-early",
        "EnvoyFilter/default/b-same",
    }


def test_proxy_match_version_and_metadata() -> None:
    versioned = inbound_http("INSERT_FIRST", lua())
    versioned["match"]["proxy"] = {"proxyVersion": "^1\\.2[0-9].*"}
    assert http_filters(translate("api-1", envoy_filter("v", versioned)), INBOUND)[0] == [ROUTER]
    by_metadata = inbound_http("INSERT_FIRST", lua())
    by_metadata["match"]["proxy"] = {"metadata": {"NAMESPACE": "default"}}
    assert http_filters(translate("api-1", envoy_filter("m", by_metadata)), INBOUND)[0] == [
        "envoy.lua",
        ROUTER,
    ]


def test_gateway_context_applies_only_to_gateway_proxies() -> None:
    built = build(
        envoy_filter("gw", {**inbound_http("INSERT_FIRST", lua()), "match": {"context": "GATEWAY"}})
    )
    workload = built.workload("default", "api-1")
    assert workload is not None
    translator = MeshTranslator(built)
    plain = translator.translate(workload, extensions=False)
    patch = next(p for p in envoy_filter_extension().patches if p.type_url == LISTENER_TYPE)
    for gateway, expected in ((False, [ROUTER]), (True, ["envoy.lua", ROUTER])):
        proxy = Proxy(built, workload, plain.view, gateway=gateway)
        resources = [Resource(r) for r in plain.of_type(LISTENER_TYPE)]
        out = patch.fn(proxy, resources)
        listeners = [r for r in (out or resources) if isinstance(r, Resource | EnvoyResource)]
        message = listeners[0].message
        assert isinstance(message, listener_pb2.Listener)
        manager = hcm.HttpConnectionManager()
        message.filter_chains[0].filters[-1].typed_config.Unpack(manager)
        assert [f.name for f in manager.http_filters] == expected


def test_envoy_accepts_patched_resources() -> None:
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    ef = envoy_filter(
        "ok",
        inbound_http("INSERT_BEFORE", lua()),
        {
            "applyTo": "CLUSTER",
            "match": {"cluster": {"name": API_CLUSTER}},
            "patch": {"operation": "MERGE", "value": {"connect_timeout": "3s"}},
        },
    )
    for workload in ("api-1", "web"):
        verdict = validate_resources(translate(workload, ef).resources)
        assert verdict.ok, verdict


def test_listener_filter_remove_and_insert() -> None:
    tls = "envoy.filters.listener.tls_inspector"
    plain = one(translate("api-1"), LISTENER_TYPE, INBOUND).message
    assert isinstance(plain, listener_pb2.Listener)
    assert tls in [f.name for f in plain.listener_filters]
    remove = {
        "applyTo": "LISTENER_FILTER",
        "match": {"context": "SIDECAR_INBOUND", "listener": {"listenerFilter": tls}},
        "patch": {"operation": "REMOVE"},
    }
    insert = {
        "applyTo": "LISTENER_FILTER",
        "match": {"context": "SIDECAR_INBOUND"},
        "patch": {
            "operation": "INSERT_FIRST",
            "value": {
                "name": "envoy.filters.listener.original_dst",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.listener."
                    "original_dst.v3.OriginalDst"
                },
            },
        },
    }
    patched = one(translate("api-1", envoy_filter("lf", remove, insert)), LISTENER_TYPE, INBOUND)
    message = patched.message
    assert isinstance(message, listener_pb2.Listener)
    names = [f.name for f in message.listener_filters]
    assert names[0] == "envoy.filters.listener.original_dst"
    assert tls not in names


def gateway_mesh(*filters: dict[str, Any]) -> MeshConfig:
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "gateway"
    text = "\n---\n".join(p.read_text() for p in sorted(examples.glob("*.yaml")))
    text += "".join("\n---\n" + yaml.safe_dump(f) for f in filters)
    parsed = parse_text(text, "gateway.yaml")
    built = build_mesh(parsed.objects, parsed.errors, MeshOptions(local_mode=True))
    assert not built.errors, [str(e) for e in built.errors]
    return built


def test_gateway_context_on_a_real_gateway_proxy() -> None:
    gateway_filter = {
        "applyTo": "HTTP_FILTER",
        "match": {
            "context": "GATEWAY",
            "listener": {"filterChain": {"filter": {"name": HCM, "subFilter": {"name": ROUTER}}}},
        },
        "patch": {"operation": "INSERT_BEFORE", "value": lua()},
    }
    gateway_routes = {
        "applyTo": "ROUTE_CONFIGURATION",
        "match": {"context": "GATEWAY", "routeConfiguration": {"portNumber": 8080}},
        "patch": {
            "operation": "MERGE",
            "value": {"response_headers_to_add": [{"header": {"key": "x-gw", "value": "1"}}]},
        },
    }
    sidecar_only = {**gateway_filter, "match": {"context": "SIDECAR_INBOUND"}}
    built = gateway_mesh(
        envoy_filter("gw", gateway_filter, gateway_routes),
        envoy_filter("sidecars", sidecar_only),
    )
    translator = MeshTranslator(built)
    gateway = built.workload("default", "istio-ingressgateway")
    assert gateway is not None
    result = translator.translate(gateway)
    (listener,) = result.of_type(LISTENER_TYPE)
    assert all(
        [f.name for f in m.http_filters] == ["envoy.lua", ROUTER] for m in managers(listener)
    )
    assert "EnvoyFilter/default/gw" in listener.provenance
    assert "EnvoyFilter/default/sidecars" not in listener.provenance
    config = route_config(result, "http.8080")
    assert [h.header.key for h in config.response_headers_to_add][-1] == "x-gw"
    # the GATEWAY patch leaves sidecars alone; the sidecar one patches them
    sidecar = built.workload("default", "productpage-v1")
    assert sidecar is not None
    (inbound,) = translator.translate(sidecar).of_type(LISTENER_TYPE)
    assert all(m.http_filters[0].name == "envoy.lua" for m in managers(inbound))
    assert "EnvoyFilter/default/gw" not in inbound.provenance


def test_patched_resources_are_shared_between_equal_proxies() -> None:
    merge = {
        "applyTo": "CLUSTER",
        "match": {"cluster": {"name": "BlackHoleCluster"}},
        "patch": {"operation": "MERGE", "value": {"connect_timeout": "2s"}},
    }
    built = build(envoy_filter("shared", merge, inbound_http("INSERT_BEFORE", lua())))
    translator = MeshTranslator(built)
    first, second = (built.workload("default", n) for n in ("api-1", "api-2"))
    assert first is not None and second is not None
    one_, two = translator.translate(first), translator.translate(second)
    # the same patched cluster object for both (serialized and versioned once)
    assert one(one_, CLUSTER_TYPE, "BlackHoleCluster") is one(two, CLUSTER_TYPE, "BlackHoleCluster")
    assert "EnvoyFilter/default/shared" in one(one_, CLUSTER_TYPE, "BlackHoleCluster").provenance


def _bodies(translator: MeshTranslator, built: MeshConfig) -> dict[str, list[tuple[str, bytes]]]:
    return {
        key: sorted((r.name, r.body()) for r in translator.translate(w).resources)
        for key, w in built.workloads.items()
    }


def test_incremental_translation_after_envoy_filter_edits_equals_a_fresh_one() -> None:
    def timeout(seconds: int, *extra: dict[str, Any]) -> MeshConfig:
        merge = {
            "applyTo": "CLUSTER",
            "patch": {"operation": "MERGE", "value": {"connect_timeout": f"{seconds}s"}},
        }
        return build(envoy_filter("t", merge), *extra)

    first = timeout(2)
    translator = MeshTranslator(first)
    _bodies(translator, first)
    for edited in (
        timeout(3),
        timeout(3, envoy_filter("lua", inbound_http("INSERT_BEFORE", lua()))),
        build(),
        timeout(4),
    ):
        translator = MeshTranslator(edited, translator)
        assert _bodies(translator, edited) == _bodies(MeshTranslator(edited), edited)
    (api,) = [w for w in edited.workloads.values() if w.name == "api-1"]
    assert cluster(translator.translate(api)).connect_timeout.seconds == 4
