"""Sidecar injection into workload manifests (`xdscp inject -f FILE`, like
`istioctl kube-inject`): the application's YAML goes in, the same YAML with a
mesh sidecar comes out, and applications need no change.

What a Pod gets:

* `xdscp-init` (init container, the control-plane image): exchanges the Pod's
  projected service-account token (audience `xdscp`) for its xDS client certificate
  — the control plane checks the token with TokenReview, so a Pod can only ever get
  its own service account's identity — writes Envoy's bootstrap next to it into a
  memory-backed volume only the sidecar mounts, and installs the iptables capture
  (inbound -> 15006, outbound -> 15001, the proxy's UID 1337 excluded);
* `xdscp-proxy` (a native sidecar: init container with `restartPolicy: Always`,
  Kubernetes >= 1.29): the stock `envoyproxy/envoy` image, unprivileged, read-only
  root. Its startup probe asks Envoy's `/ready` through the bootstrap's readiness
  listener (15021), which answers only once the first CDS/LDS (and the secrets the
  listeners need) arrived — the kubelet starts the app containers only after that,
  so an app never runs without its sidecar's config and certificates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from translators.naming import INJECTED_ANNOTATIONS, TLS_MODE_ISTIO, TLS_MODE_LABEL
from xdscp.errors import UserError
from xdscp.kube.iptables import PROXY_UID, CaptureSettings, settings_from_annotations
from xdscp.sources.safe_yaml import StreamError, load_documents

INJECTED_ANNOTATION = INJECTED_ANNOTATIONS[0]  # "xdscp.io/injected"
INJECT_ANNOTATION = "sidecar.istio.io/inject"
# Istio's gateway injection: a Deployment annotated with the `gateway` template whose
# placeholder container `istio-proxy` becomes the proxy itself (no app beside it).
TEMPLATES_ANNOTATION = "inject.istio.io/templates"
GATEWAY_TEMPLATE = "gateway"
GATEWAY_PLACEHOLDER = "istio-proxy"
TLS_MODE_DISABLED = "disabled"
ENVOY_DIR = "/etc/xdscp/envoy"
TOKEN_DIR = "/var/run/secrets/xdscp/tokens"
ROOT_DIR = "/var/run/secrets/xdscp/ca"
ROOT_CONFIGMAP = "istio-ca-root-cert"
ROOT_KEY = "root-cert.pem"
READY_PORT = 15021
READY_PATH = "/healthz/ready"
TOKEN_AUDIENCE = "xdscp"

# kind -> path to the pod template inside the object
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True, slots=True)
class InjectSettings:
    envoy_image: str = "envoyproxy/envoy:v1.31-latest"
    init_image: str = "xdscp:dev"
    image_pull_policy: str = "IfNotPresent"
    control_plane: str = "xdscp.xdscp-system.svc"
    xds_port: int = 15010
    ca_port: int = 15012
    token_ttl_seconds: int = 3600
    proxy_uid: int = PROXY_UID
    log_level: str = "warning"


def _capture_args(capture: CaptureSettings | None) -> list[str]:
    if capture is None:
        return ["--capture", "none"]
    return [
        "--capture",
        "iptables",
        "--include-inbound-ports",
        ",".join(capture.include_inbound_ports),
        "--exclude-inbound-ports",
        ",".join(str(p) for p in capture.exclude_inbound_ports),
        "--include-outbound-cidrs",
        ",".join(capture.include_outbound_cidrs),
        "--exclude-outbound-cidrs",
        ",".join(capture.exclude_outbound_cidrs),
        "--exclude-outbound-ports",
        ",".join(str(p) for p in capture.exclude_outbound_ports),
    ]


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def init_container(settings: InjectSettings, capture: CaptureSettings | None) -> dict[str, Any]:
    # iptables needs NET_ADMIN/NET_RAW as root; without capture the step runs unprivileged
    security: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": settings.proxy_uid,
        "runAsGroup": settings.proxy_uid,
        "capabilities": {"drop": ["ALL"]},
    }
    if capture is not None:
        security.update(
            runAsNonRoot=False,
            runAsUser=0,
            runAsGroup=0,
            # iptables-restore takes its lock file under /run (as Istio's istio-init)
            readOnlyRootFilesystem=False,
            # CHOWN: hand the key files (0600) to the proxy's UID
            capabilities={"add": ["NET_ADMIN", "NET_RAW", "CHOWN"], "drop": ["ALL"]},
        )
    return {
        "name": "xdscp-init",
        "image": settings.init_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "xdscp.kube.podinit"],
        "args": [
            "--xds",
            f"{settings.control_plane}:{settings.xds_port}",
            "--ca",
            f"https://{settings.control_plane}:{settings.ca_port}",
            "--token",
            f"{TOKEN_DIR}/token",
            "--root",
            f"{ROOT_DIR}/{ROOT_KEY}",
            "--out",
            ENVOY_DIR,
            "--proxy-uid",
            str(settings.proxy_uid),
            *_capture_args(capture),
        ],
        "env": [
            _field_env("POD_NAME", "metadata.name"),
            _field_env("POD_NAMESPACE", "metadata.namespace"),
            _field_env("POD_IP", "status.podIP"),
            _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        ],
        "securityContext": security,
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "500m", "memory": "128Mi"},
        },
        "volumeMounts": [
            {"name": "xdscp-envoy", "mountPath": ENVOY_DIR},
            {"name": "xdscp-token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "xdscp-ca-root", "mountPath": ROOT_DIR, "readOnly": True},
        ],
    }


def proxy_container(settings: InjectSettings) -> dict[str, Any]:
    probe = {"httpGet": {"path": READY_PATH, "port": READY_PORT}}
    return {
        "name": "xdscp-proxy",
        "image": settings.envoy_image,
        "imagePullPolicy": settings.image_pull_policy,
        "restartPolicy": "Always",
        "command": ["envoy"],
        "args": [
            "-c",
            f"{ENVOY_DIR}/envoy.yaml",
            "--disable-hot-restart",
            "--log-level",
            settings.log_level,
        ],
        "ports": [{"name": "xdscp-ready", "containerPort": READY_PORT, "protocol": "TCP"}],
        "startupProbe": {**probe, "periodSeconds": 1, "failureThreshold": 600},
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 3},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": settings.proxy_uid,
            "runAsGroup": settings.proxy_uid,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "volumeMounts": [{"name": "xdscp-envoy", "mountPath": ENVOY_DIR, "readOnly": True}],
    }


def volumes(settings: InjectSettings) -> list[dict[str, Any]]:
    return [
        {"name": "xdscp-envoy", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
        {
            "name": "xdscp-token",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": TOKEN_AUDIENCE,
                            "expirationSeconds": settings.token_ttl_seconds,
                            "path": "token",
                        }
                    }
                ]
            },
        },
        {"name": "xdscp-ca-root", "configMap": {"name": ROOT_CONFIGMAP}},
    ]


def inject_template(template: dict[str, Any], settings: InjectSettings) -> dict[str, Any]:
    """A pod template (or Pod) with the sidecar; unchanged when opted out or already done."""
    out = copy.deepcopy(template)
    meta = out.setdefault("metadata", {}) or {}
    out["metadata"] = meta
    annotations: dict[str, str] = meta.setdefault("annotations", {}) or {}
    meta["annotations"] = annotations
    if annotations.get(INJECT_ANNOTATION, "true").lower() == "false":
        return template
    if annotations.get(INJECTED_ANNOTATION):
        return template
    spec = out.setdefault("spec", {})
    labels = meta.setdefault("labels", {}) or {}
    meta["labels"] = labels
    if annotations.get(TEMPLATES_ANNOTATION) == GATEWAY_TEMPLATE:
        _inject_gateway(spec, settings)
        annotations[INJECTED_ANNOTATION] = "true"
        # its listeners are its Gateway's servers: callers send what those servers take
        # (plain HTTP unless a DestinationRule asks for ISTIO_MUTUAL), not mesh mTLS
        labels.setdefault(TLS_MODE_LABEL, TLS_MODE_DISABLED)
        return out
    capture = settings_from_annotations(annotations)
    spec["initContainers"] = [
        init_container(settings, capture),
        proxy_container(settings),
        *(spec.get("initContainers") or []),
    ]
    spec["volumes"] = [*(spec.get("volumes") or []), *volumes(settings)]
    annotations[INJECTED_ANNOTATION] = "true"
    # Istio's injector marks the pod the same way: callers' auto-mTLS keys on it
    labels.setdefault(TLS_MODE_LABEL, TLS_MODE_ISTIO)
    return out


def _inject_gateway(spec: dict[str, Any], settings: InjectSettings) -> None:
    """A gateway pod: the bootstrap step (no traffic capture), then stock Envoy as the
    pod's main container in place of the `istio-proxy` placeholder."""
    proxy = proxy_container(settings)
    proxy.pop("restartPolicy")  # a main container, not a native sidecar
    others = [c for c in spec.get("containers") or [] if c.get("name") != GATEWAY_PLACEHOLDER]
    spec["initContainers"] = [init_container(settings, None), *(spec.get("initContainers") or [])]
    spec["containers"] = [proxy, *others]
    spec["volumes"] = [*(spec.get("volumes") or []), *volumes(settings)]


def inject_document(doc: Any, settings: InjectSettings) -> Any:
    """Inject into one manifest; kinds without a pod template pass through untouched."""
    if not isinstance(doc, dict):
        return doc
    kind = doc.get("kind")
    if kind == "List":
        return {**doc, "items": [inject_document(i, settings) for i in doc.get("items") or []]}
    path = _TEMPLATE_PATHS.get(str(kind))
    if path is None:
        return doc
    out = copy.deepcopy(doc)
    if not path:
        return inject_template(out, settings)
    parent = out
    for key in path[:-1]:
        parent = parent.setdefault(key, {})
    parent[path[-1]] = inject_template(parent.get(path[-1]) or {}, settings)
    return out


def inject_yaml(text: str, settings: InjectSettings, source: str = "<stdin>") -> str:
    """Read through the same bounded loader as the config source (no alias bombs, duplicate
    keys or runaway nesting), and refuse the whole manifest on the first bad document:
    emitting the rest would silently drop a workload from what the user applies."""
    try:
        documents = load_documents(text)
    except StreamError as exc:
        raise UserError(f"{source}: not valid YAML {exc}".rstrip(), _FIX_HINT) from None
    for document in documents:
        if document.error:
            raise UserError(f"{source}[doc {document.index}] {document.error}", _FIX_HINT)
    rendered = [
        yaml.safe_dump(inject_document(d.value, settings), sort_keys=False)
        for d in documents
        if d.value is not None
    ]
    return "---\n".join(rendered)


_FIX_HINT = "fix the manifest and run xdscp inject again"
