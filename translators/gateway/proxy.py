"""A gateway proxy's resources: the one place translation branches for gateways.

A workload is a gateway proxy when an Istio `Gateway` selects it or it runs a Gateway
API `Gateway` of ours (`attach.gateway_workloads`). It then gets gateway listeners and
route configurations instead of a sidecar's; its clusters and endpoints are the ones a
sidecar of its namespace would see (so DestinationRules, mesh mTLS to the backends and
subsets apply exactly as for sidecars). Its certificates (`credentialName`) are
delivered over SDS by the control plane, named as `credentials` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from translators.envoy.routes import route_config_bytes, virtual_host_bytes
from translators.gateway.attach import GatewayAPIState, resolve_gateway_api
from translators.gateway.envoy import build_gateway_listener
from translators.gateway.httproute import HTTPRouteTranslation
from translators.gateway.ir import (
    Credential,
    GatewayChainIR,
    GatewayListenerIR,
    GatewayProxyIR,
)
from translators.gateway.istio import IstioGatewayBuild, selected_gateways
from translators.gateway.sni_dnat import dnat_cluster, resolve_auto_passthrough
from translators.index import MeshIndex
from translators.ir import AuthzPolicyIR, Direction, ListenerIR, ProxyView, RouteTableIR
from translators.ir.jwt import JwtRuleIR
from translators.mesh import MeshConfig, Workload
from translators.model.gateway import GatewaySpec
from translators.model.objects import MeshObject, age_order
from translators.naming import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, port_listener
from translators.resources import EnvoyResource, ResourceGroup
from translators.traffic.locality import for_proxy

if TYPE_CHECKING:
    from translators.translate import MeshTranslator

Groups = Mapping[str, tuple[ResourceGroup, ...]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MeshGateways:
    """The mesh's gateways, read once per generation (every proxy's translation asks
    whether it is one)."""

    istio: tuple[MeshObject[GatewaySpec], ...]
    api: GatewayAPIState

    @staticmethod
    def of(mesh: MeshConfig) -> MeshGateways:
        istio = tuple(g for g in sorted(mesh.of_kind("Gateway"), key=age_order) if g.spec.selector)
        return MeshGateways(istio, resolve_gateway_api(mesh))

    def is_gateway_proxy(self, workload: Workload) -> bool:
        if selected_gateways(self.istio, workload):
            return True
        return any(workload in g.workloads for g in self.api.gateways.values())


# What a gateway piece reads: gateways and routes are objects, attachment and backends
# read workloads and services. Coarse on purpose: a gateway proxy is rebuilt after any
# change of these, a sidecar never because of them.
_GATEWAY_DEPS = (("objects",), ("workloads",), ("services",))


def _memo_get(translator: MeshTranslator, key: tuple[str, ...], build: Callable[[], T]) -> T:
    memo = translator._memo  # the translator's piece cache (translators/memo.py)

    def tracked() -> T:
        for dep in _GATEWAY_DEPS:
            memo.read(dep)
        return build()

    return memo.get(key, tracked)


def mesh_gateways(translator: MeshTranslator) -> MeshGateways:
    return _memo_get(translator, ("mesh-gateways",), lambda: MeshGateways.of(translator.mesh))


def build_gateway_proxy(
    mesh: MeshConfig, index: MeshIndex, workload: Workload, gateways: MeshGateways
) -> GatewayProxyIR:
    """What `workload` does as a gateway: Istio Gateways first (oldest first), then the
    Gateway API Gateways it runs; a port taken by an earlier one keeps it."""
    state = gateways.api
    build = IstioGatewayBuild(mesh, index, workload)
    for gateway in selected_gateways(gateways.istio, workload):
        build.add_gateway(gateway)
    listeners, configs = build.listeners()
    credentials = list(build.credentials)
    warnings = list(build.warnings)
    taken = {lst.port for lst in listeners}
    routes = HTTPRouteTranslation(state, mesh.options.domain_suffix)
    for api_gateway in state.gateways.values():
        if workload not in api_gateway.workloads:
            continue
        chains, gateway_configs, gateway_credentials = routes.gateway(api_gateway)
        for port, port_chains in sorted(chains.items()):
            if port in taken:
                warnings.append(
                    f"{api_gateway.obj.ref}: port {port} is already used by another gateway on "
                    f"{workload.key}; its listeners there are ignored"
                )
                continue
            taken.add(port)
            listeners.append(_listener(workload, port, port_chains, api_gateway.obj.ref))
            configs += [c for c in gateway_configs if _on_port(c, port_chains)]
        credentials += gateway_credentials
    # Istio enforces AuthorizationPolicies selecting an ingress gateway's pods on its
    # listeners (read here: the piece depends on every object, so on these policies too)
    authz = index.security.authorization(workload)
    return GatewayProxyIR(
        tuple(sorted((_with_authz(lst, authz) for lst in listeners), key=lambda lst: lst.port)),
        tuple(configs),
        tuple(dict.fromkeys(credentials)),
        tuple(warnings),
    )


def _with_authz(listener: GatewayListenerIR, authz: tuple[AuthzPolicyIR, ...]) -> GatewayListenerIR:
    if not authz:
        return listener
    refs = tuple(dict.fromkeys(ref for policy in authz for ref in policy.provenance))
    return replace(listener, authz=authz, provenance=listener.provenance + refs)


def _on_port(config: RouteTableIR, chains: list[GatewayChainIR]) -> bool:
    return any(c.route_config == config.name for c in chains)


def _listener(
    workload: Workload, port: int, chains: list[GatewayChainIR], source: str
) -> GatewayListenerIR:
    return GatewayListenerIR(
        port_listener(port, workload.address), workload.address, port, tuple(chains), (source,)
    )


def _with_jwt(listener: GatewayListenerIR, jwt: tuple[JwtRuleIR, ...]) -> GatewayListenerIR:
    if not jwt:
        return listener
    refs = tuple(dict.fromkeys(ref for rule in jwt for ref in rule.provenance))
    return replace(listener, jwt=jwt, provenance=listener.provenance + refs)


def gateway_credentials(translator: MeshTranslator, workload: Workload) -> tuple[Credential, ...]:
    """The credentials (`credentialName`, certificateRefs) `workload` serves, if any."""
    gateways = mesh_gateways(translator)
    if not gateways.is_gateway_proxy(workload):
        return ()
    return _memo_get(
        translator,
        ("gateway-proxy", workload.key),
        lambda: build_gateway_proxy(translator.mesh, translator.index, workload, gateways),
    ).credentials


def _auto_passthrough(
    mesh: MeshConfig, proxy: GatewayProxyIR, clusters: ResourceGroup
) -> tuple[list[GatewayListenerIR], ResourceGroup]:
    """The gateway's listeners with their AUTO_PASSTHROUGH chains resolved against the
    clusters it has, and the SNI-DNAT clusters those chains send to."""
    if not any(c.auto_passthrough for lst in proxy.listeners for c in lst.chains):
        return list(proxy.listeners), ResourceGroup(())
    by_name = {r.name: r for r in clusters}

    def namespace_of(fqdn: str) -> str | None:
        service = mesh.services.get(fqdn)
        return service.namespace if service is not None else None

    listeners, wanted = resolve_auto_passthrough(proxy.listeners, by_name, namespace_of)
    dnat = ResourceGroup(
        EnvoyResource(
            CLUSTER_TYPE,
            sni,
            dnat_cluster(by_name[source].message, sni),
            by_name[source].provenance,
        )
        for sni, source in sorted(wanted.items())
    )
    return listeners, dnat


def gateway_resources(
    translator: MeshTranslator, workload: Workload
) -> tuple[ProxyView, Groups] | None:
    """`workload`'s view and resources if it is a gateway proxy, else None."""
    gateways = mesh_gateways(translator)
    if not gateways.is_gateway_proxy(workload):
        return None
    proxy = _memo_get(
        translator,
        ("gateway-proxy", workload.key),
        lambda: build_gateway_proxy(translator.mesh, translator.index, workload, gateways),
    )
    # the clusters and endpoints a sidecar of its namespace (and Sidecar) would get
    view_key, build_view = translator._outbound_view(workload)
    outbound_view = translator._memo.get(view_key, build_view)
    outbound = translator._memo.get(
        ("outbound-resources", view_key),
        lambda: translator._outbound_resources(view_key, outbound_view),
    )
    # outside the memoized proxy: fetched JWKS change without any object changing
    jwt = translator.index.security.jwt_rules(workload)
    gateway_listeners, dnat = _auto_passthrough(translator.mesh, proxy, outbound.clusters)
    listeners = ResourceGroup(
        EnvoyResource(LISTENER_TYPE, lst.name, build_gateway_listener(lst), lst.provenance)
        for lst in (_with_jwt(lst, jwt) for lst in gateway_listeners)
    )
    routes = []
    for config in proxy.route_configs:
        provenance = tuple(sorted({s for v in config.virtual_hosts for s in v.provenance}))
        # domains carry no port: `Host: a.com:8443` matches `a.com` (Istio's gateways)
        body = route_config_bytes(
            config.name,
            [virtual_host_bytes(v) for v in config.virtual_hosts],
            provenance,
            ignore_port=True,
        )
        routes.append(EnvoyResource(ROUTE_TYPE, config.name, provenance=provenance, body=body))
    local = translator.localized_group(workload, outbound_view)  # locality-dependent EDS
    groups: dict[str, tuple[ResourceGroup, ...]] = {
        CLUSTER_TYPE: (outbound.clusters, dnat) if dnat else (outbound.clusters,),
        ENDPOINT_TYPE: (outbound.load_assignments,) + ((local,) if local is not None else ()),
        LISTENER_TYPE: (listeners,),
        ROUTE_TYPE: (ResourceGroup(routes),),
    }
    view = ProxyView(
        proxy=workload.key,
        destinations=outbound_view.clusters,
        endpoint_sets=for_proxy(workload, outbound_view.load_assignments, outbound_view.localized),
        listeners=tuple(
            ListenerIR(
                lst.name,
                Direction.OUTBOUND,
                lst.address,
                lst.port,
                route_table=next((c.route_config for c in lst.chains if c.route_config), ""),
                provenance=lst.provenance,
            )
            for lst in gateway_listeners
        ),
        route_tables=proxy.route_configs,
        warnings=outbound_view.warnings + proxy.warnings,
    )
    return view, MappingProxyType(groups)
