"""What a Gateway API `Gateway` of ours runs on (Istio's "automated deployment"): a
ServiceAccount, a Deployment of stock Envoy and a Service, named `<gateway>-<class>`,
all owned by the Gateway so deleting it deletes them (Kubernetes' garbage collector).

Pure: a Gateway as the API server holds it in, the three objects out. The pods are
labelled `gateway.networking.k8s.io/gateway-name: <gateway>`, which is how the
translator finds a Gateway's proxies; the pod template is the one `xdscp inject` makes
of an Istio-style gateway Deployment, so the bootstrap is exactly a gateway's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from translators.gateway.attach import GATEWAY_NAME_LABEL
from translators.naming import gateway_deployment
from xdscp.kube.inject import (
    GATEWAY_PLACEHOLDER,
    GATEWAY_TEMPLATE,
    READY_PORT,
    TEMPLATES_ANNOTATION,
    InjectSettings,
    inject_template,
)
from xdscp.kube.resources import DEPLOYMENT, SERVICE, SERVICE_ACCOUNT, ResourceType

# Istio's marker on what its gateway controller manages (value: the controller).
MANAGED_LABEL = "gateway.istio.io/managed"
MANAGED_VALUE = "xdscp.io-gateway-controller"
# Istio's annotation on a Gateway choosing its Service's type.
SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type"
SERVICE_TYPES = ("LoadBalancer", "NodePort", "ClusterIP")
STATUS_PORT_NAME = "status-port"
# Envoy runs unprivileged; this (namespaced, "safe") sysctl lets it bind listener
# ports below 1024 such as 80/443, as Istio's gateway pods do.
UNPRIVILEGED_PORTS_SYSCTL = {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}


@dataclass(frozen=True, slots=True)
class GatewayManifest:
    rtype: ResourceType
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])


def owner_reference(gateway: Mapping[str, Any]) -> dict[str, Any]:
    meta = gateway.get("metadata") or {}
    return {
        "apiVersion": str(gateway.get("apiVersion") or "gateway.networking.k8s.io/v1"),
        "kind": "Gateway",
        "name": str(meta.get("name")),
        "uid": str(meta.get("uid")),
    }


def service_ports(gateway: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The readiness port, then one port per distinct listener port (Istio's naming:
    `<protocol>-<port>`); several listeners on one port share it."""
    ports: list[dict[str, Any]] = [
        {"name": STATUS_PORT_NAME, "port": READY_PORT, "protocol": "TCP", "targetPort": READY_PORT}
    ]
    seen = {READY_PORT}
    for listener in (gateway.get("spec") or {}).get("listeners") or []:
        port = int(listener.get("port") or 0)
        if port <= 0 or port in seen:
            continue
        seen.add(port)
        protocol = str(listener.get("protocol") or "TCP").lower()
        transport = "UDP" if protocol == "udp" else "TCP"
        # a port name is an IANA service name (<= 15 of [a-z0-9-]); a custom protocol
        # such as `example.com/foo` is cut down to fit
        label = re.sub("[^a-z0-9]", "", protocol)[:9] or "port"
        ports.append(
            {"name": f"{label}-{port}", "port": port, "protocol": transport, "targetPort": port}
        )
    return ports


def is_managed(gateway: Mapping[str, Any]) -> bool:
    """Istio's rule: a Gateway with no address, or one IP address, gets a deployment;
    one naming a Hostname (an existing Service) or several addresses is deployed by
    hand (`spec.addresses` says where it runs)."""
    addresses = (gateway.get("spec") or {}).get("addresses") or []
    if len(addresses) > 1:
        return False
    return not addresses or str(addresses[0].get("type") or "IPAddress") == "IPAddress"


def gateway_manifests(
    gateway: Mapping[str, Any], settings: InjectSettings
) -> tuple[GatewayManifest, GatewayManifest, GatewayManifest]:
    """ServiceAccount, Deployment and Service for `gateway`."""
    meta = gateway.get("metadata") or {}
    gateway_name = str(meta.get("name"))
    namespace = str(meta.get("namespace") or "default")
    class_name = str((gateway.get("spec") or {}).get("gatewayClassName"))
    name = gateway_deployment(gateway_name, class_name)
    labels = {GATEWAY_NAME_LABEL: gateway_name, MANAGED_LABEL: MANAGED_VALUE}

    def metadata() -> dict[str, Any]:
        return {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "ownerReferences": [owner_reference(gateway)],
        }

    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata()}
    template = inject_template(
        {
            "metadata": {
                "labels": {GATEWAY_NAME_LABEL: gateway_name},
                "annotations": {TEMPLATES_ANNOTATION: GATEWAY_TEMPLATE},
            },
            "spec": {
                "serviceAccountName": name,
                "securityContext": {"sysctls": [dict(UNPRIVILEGED_PORTS_SYSCTL)]},
                "containers": [{"name": GATEWAY_PLACEHOLDER, "image": "auto"}],
            },
        },
        settings,
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(),
        "spec": {
            "selector": {"matchLabels": {GATEWAY_NAME_LABEL: gateway_name}},
            "template": template,
        },
    }
    annotations = meta.get("annotations") or {}
    service_type = str(annotations.get(SERVICE_TYPE_ANNOTATION) or "LoadBalancer")
    if service_type not in SERVICE_TYPES:
        service_type = "LoadBalancer"
    service_spec: dict[str, Any] = {
        "type": service_type,
        "selector": {GATEWAY_NAME_LABEL: gateway_name},
        "ports": service_ports(gateway),
    }
    addresses = (gateway.get("spec") or {}).get("addresses") or []
    if addresses and addresses[0].get("value"):
        service_spec["loadBalancerIP"] = str(addresses[0]["value"])  # the one IP asked for
    service = {"apiVersion": "v1", "kind": "Service", "metadata": metadata(), "spec": service_spec}
    return (
        GatewayManifest(SERVICE_ACCOUNT, account),
        GatewayManifest(DEPLOYMENT, deployment),
        GatewayManifest(SERVICE, service),
    )


def load_balancer_addresses(service: Mapping[str, Any]) -> list[dict[str, str]]:
    """A Service's load-balancer ingress as Gateway status addresses (empty until the
    cloud assigned one)."""
    out = []
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if ingress.get("ip"):
            out.append({"type": "IPAddress", "value": str(ingress["ip"])})
        elif ingress.get("hostname"):
            out.append({"type": "Hostname", "value": str(ingress["hostname"])})
    return out


def covers(wanted: Any, current: Any) -> bool:
    """Does `current` already say everything `wanted` says? Maps may hold more keys
    (defaults the API server fills in, labels others add); lists must match item by item."""
    if isinstance(wanted, Mapping):
        return isinstance(current, Mapping) and all(
            covers(v, current.get(k)) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(wanted) == len(current)
            and all(covers(w, c) for w, c in zip(wanted, current, strict=True))
        )
    return bool(wanted == current)


__all__ = [
    "MANAGED_LABEL",
    "MANAGED_VALUE",
    "GatewayManifest",
    "covers",
    "gateway_manifests",
    "is_managed",
    "load_balancer_addresses",
    "owner_reference",
    "service_ports",
]
