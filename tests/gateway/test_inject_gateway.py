"""`xdscp inject` of an Istio-style gateway Deployment (`inject.istio.io/templates:
gateway`, a placeholder `istio-proxy` container): stock Envoy becomes the pod's main
container after the bootstrap step, with no traffic capture and no app, and the result
is a valid Kubernetes object."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from tests.kube.test_manifests import K8S_VERSION
from xdscp.kube.inject import InjectSettings, inject_document

GATEWAY_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
    "spec": {
        "selector": {"matchLabels": {"istio": "ingressgateway"}},
        "template": {
            "metadata": {
                "labels": {"istio": "ingressgateway"},
                "annotations": {"inject.istio.io/templates": "gateway"},
            },
            "spec": {
                "serviceAccountName": "istio-ingressgateway",
                "containers": [{"name": "istio-proxy", "image": "auto"}],
            },
        },
    },
}


def test_a_gateway_deployment_runs_envoy_as_its_main_container() -> None:
    injected = inject_document(GATEWAY_DEPLOYMENT, InjectSettings())
    template = injected["spec"]["template"]
    spec = template["spec"]
    assert [c["name"] for c in spec["containers"]] == ["xdscp-proxy"]
    assert spec["containers"][0]["command"] == ["envoy"]
    assert "restartPolicy" not in spec["containers"][0]
    (init,) = spec["initContainers"]
    assert init["name"] == "xdscp-init"
    assert init["args"][-2:] == ["--capture", "none"]  # nothing to capture: no app
    assert init["securityContext"]["runAsNonRoot"] is True
    labels = template["metadata"]["labels"]
    assert labels["security.istio.io/tlsMode"] == "disabled"
    assert template["metadata"]["annotations"]["xdscp.io/injected"] == "true"
    kubernetes_validate.validate(injected, K8S_VERSION, strict=True)
    # a second run changes nothing
    assert inject_document(injected, InjectSettings()) == injected
