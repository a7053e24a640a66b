"""Every manifest the project ships, checked offline: the CRDs are current (generated from
the models) and structural, Istio example objects pass their CRD schema, RBAC /
control plane / injected example workloads pass the Kubernetes schemas
(kubernetes-validate, strict), and the sidecar's pieces (iptables rules, bootstrap)
are what Istio-style capture and real Envoy need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml

from tests.envoy_validate import find_envoy, run_envoy_validate
from translators.model.objects import KINDS
from xdscp.debug.auth import PUBLIC_PATHS, check_exposure
from xdscp.errors import UserError
from xdscp.kube.crds import all_crds, generated_kinds, render_crds
from xdscp.kube.inject import InjectSettings, inject_document, inject_yaml
from xdscp.kube.iptables import CaptureSettings, capture_rules, settings_from_annotations
from xdscp.kube.podinit import pod_bootstrap

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# the oldest Kubernetes the artefacts target: native sidecars (initContainers with
# restartPolicy: Always) are on by default from 1.29
K8S_VERSION = "1.29.0"


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s_validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def schema_nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


# --- CRDs ----------------------------------------------------------------------------


def test_committed_crds_are_current() -> None:
    assert (DEPLOY / "crds.yaml").read_text() == render_crds(), (
        "deploy/crds.yaml is stale: run `xdscp crds > deploy/crds.yaml`"
    )


def test_cli_prints_the_crds() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "crds"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    assert out == render_crds()


def test_one_crd_per_supported_kind_serving_every_accepted_version() -> None:
    crds = {c["spec"]["names"]["kind"]: c for c in docs(DEPLOY / "crds.yaml")}
    assert set(crds) == set(generated_kinds())
    assert "HTTPRoute" in KINDS and "HTTPRoute" not in crds  # the Gateway API's are upstream's
    for kind in generated_kinds():
        group, versions, _model = KINDS[kind]
        spec = crds[kind]["spec"]
        assert spec["group"] == group
        assert {v["name"] for v in spec["versions"]} == set(versions)
        assert sum(v["storage"] for v in spec["versions"]) == 1
        assert all(v["served"] and v["subresources"] == {"status": {}} for v in spec["versions"])


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["metadata"]["name"])
def test_crds_are_valid_and_structural(crd: dict[str, Any]) -> None:
    k8s_validate(crd)
    for version in crd["spec"]["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        for path, node in schema_nodes(root):
            assert not {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "default"} & set(
                node
            ), path
            assert (
                node.get("type")
                or node.get("x-kubernetes-int-or-string")
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), f"untyped node {path}"
            assert not ("properties" in node and "additionalProperties" in node), path
            assert node.get("additionalProperties") is not False, path


def _crd_schema(kind: str) -> dict[str, Any]:
    crd = next(c for c in all_crds() if c["spec"]["names"]["kind"] == kind)
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _example_objects() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        for doc in docs(path):
            group = str(doc.get("apiVersion") or "").partition("/")[0]
            if doc.get("kind") in generated_kinds() and KINDS[doc["kind"]][0] == group:
                found.append((f"{path.parent.name}/{path.name}:{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize("name,doc", _example_objects(), ids=[n for n, _ in _example_objects()])
def test_example_objects_pass_their_crd_schema(name: str, doc: dict[str, Any]) -> None:
    jsonschema.validate(doc, _crd_schema(doc["kind"]))


def test_crd_schema_refuses_what_the_model_refuses() -> None:
    schema = _crd_schema("VirtualService")
    bad = {
        "spec": {
            "hosts": ["a"],
            "http": [{"route": [{"destination": {"host": "a"}, "weight": -5}]}],
        }
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    # hosts may be empty (Istio's delegate VirtualServices have none), a destination's host may not
    jsonschema.validate({"spec": {"hosts": []}}, schema)
    missing_host = {"spec": {"hosts": ["a"], "http": [{"route": [{"destination": {}}]}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(missing_host, schema)
    # Istio accepts lower-case protocols and so does the model: so must the schema
    entry = {
        "spec": {"hosts": ["a"], "ports": [{"number": 80, "name": "http", "protocol": "http"}]}
    }
    jsonschema.validate(entry, _crd_schema("ServiceEntry"))


# --- control plane, RBAC, injected workloads -------------------------------------------


@pytest.mark.parametrize("name", ["namespace.yaml", "rbac.yaml", "control-plane.yaml"])
def test_control_plane_manifests_validate(name: str) -> None:
    for doc in docs(DEPLOY / name):
        k8s_validate(doc)


def test_validation_is_strict_enough_to_catch_a_typo() -> None:
    (deployment,) = [d for d in docs(DEPLOY / "control-plane.yaml") if d["kind"] == "Deployment"]
    deployment["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_validate(deployment)


def test_control_plane_runs_replicated_and_least_privileged() -> None:
    (deployment,) = [d for d in docs(DEPLOY / "control-plane.yaml") if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    rbac = docs(DEPLOY / "rbac.yaml")
    (cluster_role,) = [d for d in rbac if d["kind"] == "ClusterRole"]
    for rule in cluster_role["rules"]:
        writes = set(rule["verbs"]) - {"get", "list", "watch"}
        if not writes:
            continue
        # cluster-wide writes: only status, TokenReviews, the root-cert ConfigMap and
        # the objects a Gateway API Gateway runs on (create/patch, never delete)
        assert (
            all(r.endswith("/status") for r in rule["resources"])
            or rule["resources"] == ["tokenreviews"]
            or rule["resources"] == ["configmaps"]
            or (
                set(rule["resources"]) <= {"serviceaccounts", "services", "deployments"}
                and writes <= {"create", "patch"}
            )
        ), rule
        assert "delete" not in writes and "*" not in rule["verbs"], rule
    # Secrets cluster-wide: only `get`, by name, of those a Gateway serves — never listed,
    # watched or written
    assert all(r["verbs"] == ["get"] for r in cluster_role["rules"] if "secrets" in r["resources"])
    # every API group of a supported kind is readable (a new kind needs its group here)
    readable = {
        g
        for r in cluster_role["rules"]
        if "watch" in r["verbs"] and r["resources"] == ["*"]
        for g in r["apiGroups"]
    }
    assert {group for group, _versions, _model in KINDS.values()} <= readable
    (role,) = [d for d in rbac if d["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "xdscp-system"


@pytest.mark.parametrize("name", ["canary.yaml", "strict-mtls.yaml"])
def test_injected_example_workloads_validate(name: str) -> None:
    injected = [
        d
        for d in yaml.safe_load_all(
            inject_yaml((DEPLOY / "examples" / name).read_text(), InjectSettings())
        )
        if d
    ]
    assert injected
    sidecars = 0
    for doc in injected:
        k8s_validate(doc)
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
            names = [c["name"] for c in template["spec"].get("initContainers") or []]
            if template["metadata"]["annotations"].get("sidecar.istio.io/inject") == "false":
                assert names == []
                continue
            sidecars += 1
            assert names == ["xdscp-init", "xdscp-proxy"]
    assert sidecars >= 3


def test_injection_adds_a_stock_envoy_native_sidecar_held_until_ready() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "app"}]},
    }
    out = inject_document(pod, InjectSettings())
    k8s_validate(out)
    init, proxy = out["spec"]["initContainers"]
    assert proxy["image"].startswith("envoyproxy/envoy:")
    assert proxy["restartPolicy"] == "Always"  # native sidecar: apps start after its probe
    assert proxy["startupProbe"]["httpGet"] == {"path": "/healthz/ready", "port": 15021}
    assert proxy["securityContext"]["runAsUser"] == 1337
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    assert "--capture" in init["args"] and init["args"][init["args"].index("--capture") + 1] == (
        "iptables"
    )
    assert set(init["securityContext"]["capabilities"]["add"]) == {"NET_ADMIN", "NET_RAW", "CHOWN"}
    volumes = {v["name"]: v for v in out["spec"]["volumes"]}
    token = volumes["xdscp-token"]["projected"]["sources"][0]["serviceAccountToken"]
    assert token["audience"] == "xdscp"
    assert volumes["xdscp-ca-root"]["configMap"]["name"] == "istio-ca-root-cert"
    # the app never mounts the sidecar's keys
    assert "volumeMounts" not in out["spec"]["containers"][0]
    # idempotent, and opt-out is honoured
    assert inject_document(out, InjectSettings()) == out
    opted_out = {
        **pod,
        "metadata": {"name": "p", "annotations": {"sidecar.istio.io/inject": "false"}},
    }
    assert inject_document(opted_out, InjectSettings()) == opted_out
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    assert inject_document(service, InjectSettings()) == service


def test_iptables_capture_like_istio() -> None:
    rules = capture_rules(CaptureSettings())
    lines = rules.splitlines()
    assert lines[0] == "*nat" and lines[-1] == "COMMIT"
    assert "-A XDSCP_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006" in lines
    assert "-A XDSCP_REDIRECT -p tcp -j REDIRECT --to-ports 15001" in lines
    assert "-A PREROUTING -p tcp -j XDSCP_INBOUND" in lines
    assert "-A OUTPUT -p tcp -j XDSCP_OUTPUT" in lines
    # the proxy's own traffic is never captured, and that rule precedes the redirect
    own = lines.index("-A XDSCP_OUTPUT -m owner --uid-owner 1337 -j RETURN")
    assert own < lines.index("-A XDSCP_OUTPUT -j XDSCP_REDIRECT")
    # the sidecar's own ports are not redirected inbound
    assert "-A XDSCP_INBOUND -p tcp --dport 15021 -j RETURN" in lines
    assert settings_from_annotations({"sidecar.istio.io/interceptionMode": "NONE"}) is None
    narrow = settings_from_annotations(
        {
            "traffic.sidecar.istio.io/includeInboundPorts": "8080",
            "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32",
        }
    )
    assert narrow is not None
    narrow_rules = capture_rules(narrow)
    assert "--dport 8080 -j XDSCP_IN_REDIRECT" in narrow_rules
    assert "-A XDSCP_OUTPUT -d 10.96.0.1/32 -j RETURN" in narrow_rules


def test_pod_bootstrap_is_accepted_by_real_envoy(tmp_path: Path) -> None:
    if find_envoy() is None:
        pytest.skip("no envoy binary")
    from tests.envoy_validate import _placeholder_pem

    cert, key = _placeholder_pem()
    files = {}
    for name, text in (("cert", cert), ("key", key), ("root", cert)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(text)
    config = pod_bootstrap(
        "default",
        "order-v1-abc",
        "10.244.0.11",
        "order-service",
        "xdscp.xdscp-system.svc",
        15010,
        files,
    )
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    assert config["dynamic_resources"]["cds_config"]["initial_fetch_timeout"] == "0s"
    assert config["node"]["metadata"]["WORKLOAD_NAME"] == "order-v1-abc"
    result = run_envoy_validate(json.dumps(config))
    assert result.ok, result.output


def test_control_plane_debug_port_needs_a_token_and_probes_stay_open() -> None:
    (deployment,) = [d for d in docs(DEPLOY / "control-plane.yaml") if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    flags = dict(a.split("=", 1) for a in container["args"] if a.startswith("--") and "=" in a)
    # the debug port is exposed in the cluster, so xdscp itself would refuse it without a token
    with pytest.raises(UserError):
        check_exposure(flags["--debug"], None)
    # the token comes from a Secret volume, readable by the non-root user only via fsGroup
    token_file = Path(flags["--debug-token-file"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in mounts.values() if token_file.parent == Path(m["mountPath"])]
    secret = volumes[mount["name"]]["secret"]
    assert secret["secretName"] == "xdscp-debug-token"
    assert secret["defaultMode"] & 0o007 == 0
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    # the cluster bring-up creates that Secret before the Deployment
    kind_up = (ROOT / "scripts" / "kind-up.sh").read_text()
    assert "create secret generic xdscp-debug-token" in kind_up
    assert kind_up.index("xdscp-debug-token") < kind_up.index("-f deploy/control-plane.yaml")
    # probes reach only paths that stay open with a token and carry no mesh state
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        http = (container.get(probe) or {}).get("httpGet")
        if http is not None:
            assert http["path"] in PUBLIC_PATHS, (probe, http)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # the certificate endpoint is set explicitly (its default is loopback, out of cluster)
    assert flags["--cert-listen"] == "0.0.0.0:15012"
