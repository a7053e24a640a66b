"""Kubernetes Services, EndpointSlices and Pods -> the mesh registry (pure).

The same `Service` / `Workload` values the file source derives from ServiceEntries and
WorkloadEntries, so translators never know which platform they run on:

* a Service `name` in `ns` is host `name.ns.svc.cluster.local` (Istio's naming; the
  translators add the short aliases);
* its ports get Istio's protocol selection: `appProtocol`, else the port name's
  `<protocol>[-suffix]` prefix, else TCP;
* its endpoints are the ready addresses of the EndpointSlices labelled
  `kubernetes.io/service-name`, carrying the backing Pod's labels (subsets) and
  service account (identity); an endpoint whose Pod has not been seen yet is left
  out until it is, rather than published without labels into the wrong subset;
* a running Pod with an IP is a `Workload` (what a sidecar connects as);
  `serviceAccountName` is its identity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from translators.mesh import Endpoint, MeshOptions, Service, Workload
from translators.model.networking import Location, Protocol, Resolution, ServicePort
from translators.naming import object_ref, service_fqdn

Object = Mapping[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
_EMPTY: Mapping[str, str] = MappingProxyType({})
# appProtocol values Kubernetes itself defines, beyond plain protocol names
_APP_PROTOCOL_ALIASES = {"kubernetes.io/h2c": Protocol.HTTP2, "kubernetes.io/ws": Protocol.HTTP}
_NAME_PREFIX_ALIASES = {"http2": Protocol.HTTP2, "grpc-web": Protocol.HTTP, "h2c": Protocol.HTTP2}


def port_protocol(name: str, app_protocol: str | None) -> Protocol:
    """Istio's explicit protocol selection (no sniffing: an unnamed port is TCP)."""
    if app_protocol:
        if app_protocol in _APP_PROTOCOL_ALIASES:
            return _APP_PROTOCOL_ALIASES[app_protocol]
        try:
            return Protocol(app_protocol.upper())
        except ValueError:
            pass
    prefix = name.split("-", 1)[0].lower()
    if prefix in _NAME_PREFIX_ALIASES:
        return _NAME_PREFIX_ALIASES[prefix]
    try:
        return Protocol(prefix.upper())
    except ValueError:
        return Protocol.TCP


def port_name(name: str | None, number: int) -> str:
    """Kubernetes allows one unnamed port; the mesh model needs a name for each."""
    return name or f"port-{number}"


def _meta(obj: Object) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(obj: Object) -> dict[str, str]:
    return {str(k): str(v) for k, v in (_meta(obj).get("labels") or {}).items()}


# Istio's locality labels (pkg/model GetLocalityLabel): `.` stands for `/`, which label
# values cannot hold. (Istio otherwise reads the Node's topology labels: no Node watch here.)
LOCALITY_LABELS = ("topology.istio.io/locality", "istio-locality")


def pod_locality(labels: Mapping[str, str]) -> str:
    found = next((labels[k] for k in LOCALITY_LABELS if labels.get(k)), "")
    return found.replace(".", "/")


def pod_workload(pod: Object) -> Workload | None:
    """A Pod that can run a sidecar now: has an IP and is not finished."""
    meta = _meta(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    address = status.get("podIP") or ""
    if not address or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ports = {
        str(p["name"]): int(p["containerPort"])
        for c in spec.get("containers") or []
        for p in c.get("ports") or []
        if p.get("name") and p.get("containerPort") and p.get("protocol", "TCP") == "TCP"
    }
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
    labels = _labels(pod)
    return Workload(
        namespace=namespace,
        name=name,
        address=str(address),
        labels=MappingProxyType(labels),
        service_account=str(spec.get("serviceAccountName") or "default"),
        ports=MappingProxyType(ports),
        annotations=MappingProxyType(
            {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        ),
        source=object_ref("Pod", namespace, name),
        locality=pod_locality(labels),
    )


def _service_ports(spec: Mapping[str, Any]) -> list[ServicePort]:
    ports = []
    for p in spec.get("ports") or []:
        if p.get("protocol", "TCP") != "TCP" or not p.get("port"):
            continue  # UDP/SCTP are not proxied (as in Istio)
        number = int(p["port"])
        name = port_name(p.get("name"), number)
        target = p.get("targetPort")
        ports.append(
            ServicePort(
                number=number,
                name=name,
                protocol=port_protocol(name if p.get("name") else "", p.get("appProtocol")),
                target_port=target if isinstance(target, int) and target != number else None,
            )
        )
    return ports


def _slice_endpoints(
    slices: Iterable[Object],
    unnamed: str,
    pods: Mapping[str, Workload],
    namespace: str,
) -> list[Endpoint]:
    """`unnamed` is the mesh name of the Service's one unnamed port (slices leave it empty)."""
    found: dict[str, Endpoint] = {}
    for item in slices:
        if item.get("addressType") not in ("IPv4", "IPv6"):
            continue  # FQDN slices are deprecated and not routable by address
        ports = {
            (str(p.get("name")) if p.get("name") else unnamed): int(p["port"])
            for p in item.get("ports") or []
            if p.get("port") and p.get("protocol", "TCP") == "TCP"
        }
        for endpoint in item.get("endpoints") or []:
            # nil `ready` means unknown, which consumers must treat as ready
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            target = endpoint.get("targetRef") or {}
            pod: Workload | None = None
            if target.get("kind") == "Pod":
                pod = pods.get(f"{target.get('namespace') or namespace}/{target.get('name')}")
                if pod is None:
                    continue  # wait for the Pod: its labels decide subsets
            for address in endpoint.get("addresses") or []:
                found[str(address)] = Endpoint(
                    address=str(address),
                    ports=MappingProxyType(dict(ports)),
                    labels=pod.labels if pod else _EMPTY,
                    service_account=pod.service_account if pod else "default",
                    workload=pod.key if pod else "",
                    locality=pod.locality if pod else "",
                )
    return [found[a] for a in sorted(found)]


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def kube_service(
    service: Object,
    slices: Iterable[Object],
    pods: Mapping[str, Workload],
    options: MeshOptions,
) -> Service | None:
    meta = _meta(service)
    spec = service.get("spec") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
    ports = _service_ports(spec)
    if not ports:
        return None
    export_to = tuple(
        t.strip()
        for t in str((meta.get("annotations") or {}).get(EXPORT_TO_ANNOTATION, "")).split(",")
        if t.strip()
    )
    hostname = service_fqdn(name, namespace, options.domain_suffix)
    if spec.get("type") == "ExternalName":
        external = str(spec.get("externalName") or "")
        endpoints: tuple[Endpoint, ...] = (
            (Endpoint(external, MappingProxyType({}), _EMPTY, "default"),) if external else ()
        )
        location, resolution = Location.MESH_EXTERNAL, Resolution.DNS
    else:
        unnamed = next(
            (port_name(None, int(p["port"])) for p in spec.get("ports") or [] if not p.get("name")),
            "",
        )
        endpoints = tuple(_slice_endpoints(slices, unnamed, pods, namespace))
        location, resolution = Location.MESH_INTERNAL, Resolution.STATIC
    digest = _digest(
        spec,
        export_to,
        [
            (e.address, sorted(e.ports.items()), sorted(e.labels.items()), e.service_account)
            for e in endpoints
        ],
    )
    return Service(
        hostname=hostname,
        namespace=namespace,
        ports=tuple(ports),
        location=location,
        resolution=resolution,
        endpoints=endpoints,
        source=object_ref("Service", namespace, name),
        digest=digest,
        export_to=export_to,
    )


def platform_registry(
    services: Iterable[Object],
    slices: Iterable[Object],
    pods: Iterable[Object],
    options: MeshOptions,
) -> tuple[list[Service], list[Workload]]:
    """Services (with endpoints) and Workloads of the cluster, sorted for determinism."""
    workloads = [w for w in (pod_workload(p) for p in pods) if w is not None]
    by_key = {w.key: w for w in workloads}
    slices_by_service: dict[tuple[str, str], list[Object]] = {}
    for item in slices:
        owner = _labels(item).get(SERVICE_NAME_LABEL)
        if owner:
            namespace = str(_meta(item).get("namespace") or "default")
            slices_by_service.setdefault((namespace, owner), []).append(item)
    found: list[Service] = []
    for service in services:
        meta = _meta(service)
        key = (str(meta.get("namespace") or "default"), str(meta.get("name")))
        built = kube_service(service, slices_by_service.get(key, []), by_key, options)
        if built is not None:
            found.append(built)
    found.sort(key=lambda s: s.hostname)
    workloads.sort(key=lambda w: w.key)
    return found, workloads
