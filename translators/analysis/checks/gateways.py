"""Gateway mistakes Istio's analyzers also report: a VirtualService host that none of the
servers of a Gateway it is bound to takes (Istio's IST0132) — the gateway answers 404 for
it while the VirtualService looks in force."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from translators.analysis import codes
from translators.analysis.context import AnalysisContext
from translators.analysis.message import Message
from translators.gateway.istio import gateway_key, server_serves
from translators.hosts import resolve_host
from translators.model.networking import VirtualServiceSpec
from translators.model.objects import MeshObject


def check_hosts_on_gateways(ctx: AnalysisContext, vs: MeshObject[Any]) -> Iterable[Message]:
    """Per VirtualService; reads the Gateways."""
    gateways = ctx.gateways_by_name
    suffix = ctx.mesh.options.domain_suffix
    spec: VirtualServiceSpec = vs.spec
    bound = [gateway_key(name, vs.namespace) for name in spec.gateways]
    for key in dict.fromkeys(k for k in bound if k is not None):
        gateway = gateways.get(key)
        if gateway is None:
            continue  # XDS0801's
        for i, host in enumerate(spec.hosts):
            full = resolve_host(host, vs.namespace, suffix)
            if any(server_serves(s, gateway, vs.namespace, full) for s in gateway.spec.servers):
                continue
            yield codes.GATEWAY_HOST_NOT_ON_SERVER.at(
                vs,
                f"spec.hosts[{i}]",
                f"{host} is not a host of any server of Gateway {key[0]}/{key[1]} "
                f"(for namespace {vs.namespace}): the gateway does not serve it",
                "add the host to one of the Gateway's servers (or `*`), or bind the "
                "VirtualService to the gateway that serves it",
                related=(gateway.ref,),
            )
