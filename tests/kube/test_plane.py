"""The Kubernetes control plane end to end against the fake API server: two replicas,
one leader; the CA Secret created once and shared; the root published per namespace;
status written; sidecar identity only through TokenReview, and a proxy only ever
admitted as a Pod of the service account its certificate proves."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from envoy.config.core.v3 import base_pb2

import ca
from tests.kube.conftest import FAST
from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from tests.kube.meshes import cluster_docs, namespace
from translators.naming import spiffe_id
from xdscp.kube.api import KubeApi
from xdscp.kube.ca_secret import ROOT_SECRET, load_cluster_ca
from xdscp.kube.plane import KubeControlPlane, KubeSettings
from xdscp.server.resolver import ProxyRejected

NS = "xdscp-system"


def settings(kube: FakeKube, tmp_path: Path, identity: str) -> KubeSettings:
    return KubeSettings(
        kubeconfig=kube.kubeconfig(tmp_path / f"kubeconfig-{identity}"),
        namespace=NS,
        identity=identity,
        listen="127.0.0.1:0",
        debug_listen=None,
        cert_listen="127.0.0.1:0",
        ca_dir=tmp_path / f"ca-{identity}",
        watch=FAST,
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.1,
    )


@contextlib.asynccontextmanager
async def control_plane(settings: KubeSettings) -> AsyncIterator[KubeControlPlane]:
    plane = KubeControlPlane(settings)
    try:
        await asyncio.wait_for(plane.start(sync_timeout=10), 20)
        yield plane
    finally:
        await asyncio.wait_for(plane.stop(), 20)


def node(namespace: str, name: str) -> base_pb2.Node:
    message = base_pb2.Node(id=f"sidecar~10.0.0.1~{name}.{namespace}~{namespace}.svc")
    message.metadata.fields["NAMESPACE"].string_value = namespace
    message.metadata.fields["WORKLOAD_NAME"].string_value = name
    return message


async def request_certificate(plane: KubeControlPlane, token: str) -> tuple[int, dict[str, Any]]:
    assert plane.plane is not None
    context = ssl.create_default_context(cadata=plane.plane.identity.trust_bundle_pem)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            plane.cert_url + "/v1/bootstrap-certificate",
            headers={"Authorization": f"Bearer {token}"},
            ssl=context,
            server_hostname="xdscp",
        ) as response,
    ):
        return response.status, await response.json()


async def test_two_replicas_one_leader_one_ca_root_published_status_written(
    kube: FakeKube, tmp_path: Path
) -> None:
    kube.apply_all([namespace(NS), *cluster_docs()])
    async with control_plane(settings(kube, tmp_path, "replica-a")) as a:
        await eventually(a.is_leader)
        async with control_plane(settings(kube, tmp_path, "replica-b")) as b:
            assert not b.is_leader()
            assert a.plane is not None and b.plane is not None
            # one root, created once, shared
            assert a.plane.identity.authority.fingerprint == b.plane.identity.authority.fingerprint
            assert [r for r in kube.requests if r[0] == "POST" and r[1].endswith("/secrets")] == [
                ("POST", f"/api/v1/namespaces/{NS}/secrets", {})
            ]
            secret = kube.get("Secret", NS, ROOT_SECRET)
            assert secret is not None
            root_pem = base64.b64decode(secret["data"]["root-cert.pem"]).decode()
            assert root_pem == a.plane.identity.trust_bundle_pem
            # the root in every namespace
            for ns in ("default", NS):

                def published(ns: str = ns) -> bool:
                    found = kube.get("ConfigMap", ns, "istio-ca-root-cert")
                    return found is not None and found["data"]["root-cert.pem"] == root_pem

                await eventually(published)
            kube.apply(namespace("late"))
            await eventually(
                lambda: kube.get("ConfigMap", "late", "istio-ca-root-cert") is not None
            )
            # status, written by the leader only
            await eventually(
                lambda: (
                    "status"
                    in (kube.get("VirtualService", "default", "order-service-routing") or {})
                )
            )
            assert b.status_writer is not None and b.status_writer.writes == 0
            # every replica serves: both know the cluster's workloads
            for plane in (a, b):
                assert plane.plane is not None and plane.plane.runtime.mesh is not None
                assert "default/order-v1" in plane.plane.runtime.mesh.workloads


async def test_the_ca_secret_race_has_one_winner(kube: FakeKube, tmp_path: Path) -> None:
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    apis = [await KubeApi.connect(config) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(
                load_cluster_ca(api, NS, tmp_path / f"r{i}", lambda: True, poll=0.05, timeout=5)
                for i, api in enumerate(apis)
            )
        )
    finally:
        for api in apis:
            await api.close()
    roots = {(r.root_dir / "root-cert.pem").read_text() for r in results if r.root_dir}
    assert len(roots) == 1
    keys = [r.root_dir / "root-key.pem" for r in results if r.root_dir]
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys)


async def test_a_plugged_in_cacerts_secret_wins(kube: FakeKube, tmp_path: Path) -> None:
    from ca.keys import private_key_pem
    from ca.pemfiles import certificates_pem

    root = ca.new_root_ca()
    intermediate = ca.new_intermediate_ca(root)
    files = {
        "ca-cert.pem": certificates_pem([intermediate.certificate]),
        "ca-key.pem": private_key_pem(intermediate.private_key),
        "root-cert.pem": certificates_pem([root.certificate]),
        "cert-chain.pem": certificates_pem([intermediate.certificate, root.certificate]),
    }
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "cacerts", "namespace": NS},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()},
        }
    )
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    api = await KubeApi.connect(config)
    try:
        found = await load_cluster_ca(api, NS, tmp_path / "ca", lambda: True, timeout=5)
    finally:
        await api.close()
    assert found.cacerts_dir is not None and found.secret == "cacerts"
    assert kube.get("Secret", NS, ROOT_SECRET) is None  # no root of our own next to it


async def test_sidecar_identity_comes_only_from_token_review(
    kube: FakeKube, tmp_path: Path
) -> None:
    kube.apply_all([namespace(NS), *cluster_docs()])
    client = kube.get("Pod", "default", "client")
    assert client is not None
    uid = client["metadata"]["uid"]
    kube.add_service_account_token("tok-client", "default", "client", "client", uid)
    kube.add_service_account_token("tok-stale", "default", "client", "client", "other-uid")
    kube.add_service_account_token("tok-liar", "default", "client", "order-v1", "x")
    kube.add_service_account_token("tok-api", "default", "client", audiences=["kubernetes"])
    async with control_plane(settings(kube, tmp_path, "replica-a")) as cp:
        assert cp.plane is not None
        status, body = await request_certificate(cp, "tok-client")
        assert status == 200, body
        assert body["spiffe_id"] == spiffe_id("default", "client")
        issued = ca.verify_svid(body["certificate_chain"], cp.plane.identity.issuer.trust_bundle)
        assert str(issued) == spiffe_id("default", "client")
        for token, expected in (
            ("nope", 401),  # not a token
            ("tok-api", 401),  # a token for another audience
            ("tok-stale", 403),  # bound to a Pod that is gone (another UID)
            ("tok-liar", 403),  # names a Pod of another service account
        ):
            status, body = await request_certificate(cp, token)
            assert status == expected, (token, body)
        # the xDS server admits that certificate as the client Pod, never as another SA's
        runtime = cp.plane.runtime
        identity = spiffe_id("default", "client")
        assert runtime.connect(node("default", "client"), identity) == "default/client"
        with pytest.raises(ProxyRejected):
            runtime.connect(node("default", "order-v1"), identity)
        with pytest.raises(ProxyRejected):
            runtime.connect(node("default", "client"), None)  # no certificate at all
