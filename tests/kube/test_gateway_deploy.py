"""Automated deployment per Gateway API Gateway against the fake API server: the
control plane creates a Gateway's ServiceAccount, Deployment and Service, keeps them
as the Gateway says (and as xdscp wrote them), and leaves other classes alone; the pod
template's bootstrap is one real Envoy accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.envoy_validate import _placeholder_pem, find_envoy, run_envoy_validate
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from tests.kube.meshes import namespace
from tests.kube.test_plane import control_plane, settings
from xdscp.kube.api import KubeApi
from xdscp.kube.errors import KubeError
from xdscp.kube.gateway_deployer import GatewayDeployer
from xdscp.kube.gateway_manifests import gateway_manifests, is_managed
from xdscp.kube.inject import InjectSettings
from xdscp.kube.podinit import capture_from_args, parse_args, pod_bootstrap

GATEWAY_LABEL = "gateway.networking.k8s.io/gateway-name"


def gateway(name: str, class_name: str, *ports: tuple[str, int, str]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "gatewayClassName": class_name,
            "listeners": [
                {"name": listener, "port": port, "protocol": protocol}
                for listener, port, protocol in ports
            ],
        },
    }


def stored(kube: FakeKube, kind: str, name: str) -> dict[str, Any] | None:
    return kube.get(kind, "default", name)


def port_numbers(service: dict[str, Any] | None) -> list[tuple[str, int, int]]:
    assert service is not None
    return [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]]


async def test_gateway_gets_its_deployment_service_and_account(
    kube: FakeKube, tmp_path: Path
) -> None:
    kube.apply(namespace("default"))
    async with control_plane(settings(kube, tmp_path, "a")) as plane:
        await eventually(plane.is_leader)
        kube.apply(gateway("web", "xdscp", ("http", 80, "HTTP")))
        await eventually(lambda: stored(kube, "Service", "web-xdscp") is not None)
        gw = stored(kube, "KubernetesGateway", "web")
        assert gw is not None
        owner = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "name": "web",
            "uid": gw["metadata"]["uid"],
        }
        for kind in ("ServiceAccount", "Deployment", "Service"):
            obj = stored(kube, kind, "web-xdscp")
            assert obj is not None, kind
            # owned by the Gateway: the garbage collector deletes them with it
            assert obj["metadata"]["ownerReferences"] == [owner], kind
            assert obj["metadata"]["labels"][GATEWAY_LABEL] == "web"
            assert obj["metadata"]["labels"]["gateway.istio.io/managed"] == (
                "xdscp.io-gateway-controller"
            )
        deployment = stored(kube, "Deployment", "web-xdscp")
        assert deployment is not None
        template = deployment["spec"]["template"]
        # the translator finds the pods as the Gateway's proxies by this label
        assert template["metadata"]["labels"][GATEWAY_LABEL] == "web"
        assert deployment["spec"]["selector"]["matchLabels"] == {GATEWAY_LABEL: "web"}
        assert template["spec"]["serviceAccountName"] == "web-xdscp"
        (proxy,) = template["spec"]["containers"]
        assert proxy["image"].startswith("envoyproxy/envoy:")
        assert [c["name"] for c in template["spec"]["initContainers"]] == ["xdscp-init"]
        init_args = template["spec"]["initContainers"][0]["args"]
        assert init_args[init_args.index("--xds") + 1] == "xdscp.xdscp-system.svc:15010"
        service = stored(kube, "Service", "web-xdscp")
        assert service is not None
        assert service["spec"]["type"] == "LoadBalancer"
        assert service["spec"]["selector"] == {GATEWAY_LABEL: "web"}
        assert port_numbers(service) == [("status-port", 15021, 15021), ("http-80", 80, 80)]

        # once the cloud gives the Service a load balancer, the Gateway's status says so
        with_lb = json.loads(json.dumps(service))
        with_lb["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
        kube.apply({"apiVersion": "v1", "kind": "Service", **with_lb})

        def gateway_addresses() -> Any:
            gw_now = stored(kube, "KubernetesGateway", "web") or {}
            return (gw_now.get("status") or {}).get("addresses")

        await eventually(
            lambda: gateway_addresses() == [{"type": "IPAddress", "value": "203.0.113.7"}]
        )

        # a listener added: the Service follows
        kube.apply(gateway("web", "xdscp", ("http", 80, "HTTP"), ("tls", 443, "HTTPS")))
        await eventually(lambda: len(port_numbers(stored(kube, "Service", "web-xdscp"))) == 3)
        assert port_numbers(stored(kube, "Service", "web-xdscp"))[2] == ("https-443", 443, 443)

        # a Gateway of another class gets nothing; one of ours applied after it does
        kube.apply(gateway("theirs", "other-vendor", ("http", 80, "HTTP")))
        kube.apply(gateway("second", "istio", ("http", 8080, "HTTP")))
        await eventually(lambda: stored(kube, "Deployment", "second-istio") is not None)
        assert not [
            o
            for kind in ("ServiceAccount", "Deployment", "Service")
            for o in kube.all(kind)
            if o["metadata"]["name"].startswith("theirs")
        ]

        # a user's edit of what xdscp manages is undone at the next resync
        edited = json.loads(json.dumps(stored(kube, "Deployment", "web-xdscp")))
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1"
        edited["metadata"]["labels"]["team"] = "edge"
        kube.apply({"apiVersion": "apps/v1", "kind": "Deployment", **edited})
        service_edit = json.loads(json.dumps(stored(kube, "Service", "web-xdscp")))
        service_edit["spec"]["type"] = "ClusterIP"
        kube.apply({"apiVersion": "v1", "kind": "Service", **service_edit})
        assert plane.gateway_deployer is not None
        assert await plane.gateway_deployer.reconcile() == 2
        fixed = stored(kube, "Deployment", "web-xdscp")
        assert fixed is not None
        assert fixed["spec"]["template"]["spec"]["containers"][0]["image"] == proxy["image"]
        assert fixed["metadata"]["labels"]["team"] == "edge"  # not ours: kept
        fixed_service = stored(kube, "Service", "web-xdscp")
        assert fixed_service is not None and fixed_service["spec"]["type"] == "LoadBalancer"
        assert await plane.gateway_deployer.reconcile() == 0  # steady: no writes

        # the Gateway deleted: nothing is recreated or written for it again
        kube.delete("KubernetesGateway", "default", "web")
        kube.delete("Deployment", "default", "web-xdscp")  # the garbage collector's part
        source = plane.source
        assert source is not None

        def web_gone() -> bool:
            return all(o["metadata"]["name"] != "web" for _r, o in source.raw_istio_objects())

        await eventually(web_gone)
        await plane.gateway_deployer.reconcile()
        assert stored(kube, "Deployment", "web-xdscp") is None


async def test_only_the_leader_writes_and_foreign_objects_are_left_alone(
    kube: FakeKube, api: KubeApi
) -> None:
    gw = kube.apply(gateway("edge", "xdscp", ("http", 8080, "HTTP")))
    raw = {"apiVersion": "gateway.networking.k8s.io/v1", **gw}
    leader = False
    deployer = GatewayDeployer(
        api, lambda: [raw], lambda c: c == "xdscp", lambda: leader, InjectSettings()
    )
    assert await deployer.reconcile() == 0
    assert kube.all("Deployment") == []
    # a Service of that name the user made is not taken over
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "edge-xdscp", "namespace": "default"},
            "spec": {"ports": [{"port": 1, "targetPort": 1}]},
        }
    )
    leader = True
    assert await deployer.reconcile() == 2  # account and deployment
    service = stored(kube, "Service", "edge-xdscp")
    assert service is not None and service["spec"] == {"ports": [{"port": 1, "targetPort": 1}]}
    # unchanged Gateway: a poke (not a resync) costs no API calls
    calls = len(kube.requests)
    assert await deployer.reconcile(full=False) == 0
    assert len(kube.requests) == calls


async def test_one_refused_gateway_does_not_hold_up_the_others(
    kube: FakeKube, api: KubeApi
) -> None:
    raws = [
        {"apiVersion": "gateway.networking.k8s.io/v1", **kube.apply(gateway(n, "xdscp", p))}
        for n, p in (("a", ("custom", 9000, "example.com/custom-proto")), ("b", ("h", 80, "HTTP")))
    ]
    deployer = GatewayDeployer(api, lambda: raws, lambda c: True, lambda: True, InjectSettings())
    kube.fail("POST", "/serviceaccounts", 422, times=1, reason="Invalid")
    with pytest.raises(KubeError):
        await deployer.reconcile()
    assert stored(kube, "Service", "b-xdscp") is not None  # the second one went on
    assert stored(kube, "Service", "a-xdscp") is None
    await deployer.reconcile(full=False)  # the refused one is retried
    service = stored(kube, "Service", "a-xdscp")
    assert service is not None
    # a custom protocol still gives a valid port name
    assert port_numbers(service)[1] == ("exampleco-9000", 9000, 9000)
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "Service", **service}, "1.29.0", strict=True
    )


def test_a_gateway_with_a_hostname_address_is_deployed_by_hand() -> None:
    manual = gateway("edge", "xdscp", ("http", 80, "HTTP"))
    manual["spec"]["addresses"] = [{"type": "Hostname", "value": "ingress.infra.svc"}]
    assert not is_managed(manual)
    pinned = gateway("edge", "xdscp", ("http", 80, "HTTP"))
    pinned["spec"]["addresses"] = [{"value": "203.0.113.9"}]
    assert is_managed(pinned) and is_managed(gateway("edge", "xdscp", ("http", 80, "HTTP")))
    pinned["metadata"]["uid"] = "u"
    service = gateway_manifests(pinned, InjectSettings())[2].body
    assert service["spec"]["loadBalancerIP"] == "203.0.113.9"


def test_gateway_pod_template_validates_and_its_bootstrap_runs_in_envoy(tmp_path: Path) -> None:
    gw = gateway("web", "istio", ("http", 80, "HTTP"), ("tls", 443, "HTTPS"))
    gw["metadata"]["uid"] = "0b0c6b4e-0000-4000-8000-000000000001"
    account, deployment, service = gateway_manifests(gw, InjectSettings())
    for manifest in (account, deployment, service):
        kubernetes_validate.validate(manifest.body, "1.29.0", strict=True)
    pod_spec = deployment.body["spec"]["template"]["spec"]
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"} in pod_spec[
        "securityContext"
    ]["sysctls"]
    (init,) = pod_spec["initContainers"]
    args = parse_args(init["args"])
    assert capture_from_args(args) is None  # a gateway captures no traffic
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    cert, key = _placeholder_pem()
    files = {}
    for name, text in (("cert", cert), ("key", key), ("root", cert)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(text)
    host, _, port = args.xds.rpartition(":")
    config = pod_bootstrap(
        "default",
        "web-istio-5d8f-abcde",
        "10.244.0.7",
        pod_spec["serviceAccountName"],
        host,
        int(port),
        files,
    )
    result = run_envoy_validate(json.dumps(config))
    assert result.ok, result.output
