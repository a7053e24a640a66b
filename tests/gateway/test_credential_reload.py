"""A gateway certificate rotated on disk is served without any YAML change: the real file
watcher sees the write (in place, by atomic rename, by a Kubernetes ConfigMap-style
`..data` swap), the plane re-reads the credential and only the gateway serving it gets a
new Secret version, with the new certificate. A half-written or mismatched pair is not
served: the last good certificate stays, and the problem is logged and reported
(XDS0902)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import structlog
from cryptography import x509
from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import struct_pb2

from tests.gateway.certs import CertAuthority, Issued
from translators.naming import SECRET_TYPE, credential_secret
from xdscp.service import ControlPlane

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 10.0
HTTPS = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-https}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}
"""
SECRET = credential_secret("default", "bookinfo-cert")


def node(workload: str) -> base_pb2.Node:
    metadata = struct_pb2.Struct()
    metadata.update({"NAMESPACE": "default", "WORKLOAD_NAME": workload})
    return base_pb2.Node(id=f"sidecar-{workload}", metadata=metadata)


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    config = tmp_path / "mesh"
    shutil.copytree(REPO / "examples" / "gateway", config)
    (config / "https.yaml").write_text(HTTPS)
    CertAuthority().write_credential(config / "credentials" / "bookinfo-cert", "first.example")
    control = ControlPlane(config, listen="127.0.0.1:0", debug_listen="127.0.0.1:0", insecure=True)
    await control.start()
    try:
        await watching(control, config / "credentials")
        yield control
    finally:
        await control.stop()


async def watching(plane: ControlPlane, credentials: Path) -> None:
    """Return once the watcher (set up in the background after `start`) reports changes
    under `credentials`: new probe files are written until the plane re-publishes, then
    the publishing settles (so a test's own change is the next one)."""
    generation = plane.runtime.generation
    deadline = time.monotonic() + WAIT_S
    probes = 0
    while plane.runtime.generation == generation:
        assert time.monotonic() < deadline, "the watcher never reported a change"
        (credentials / f".probe-{probes}").write_text("")
        probes += 1
        await asyncio.sleep(0.3)
    while True:  # quiet for a second: every probe was handled
        generation = plane.runtime.generation
        await asyncio.sleep(1.0)
        if plane.runtime.generation == generation:
            return
        assert time.monotonic() < deadline, "the plane never settled"


def served_serial(plane: ControlPlane, proxy: str) -> int | None:
    snapshot = plane.cache.get(proxy)
    assert snapshot is not None
    resource = snapshot.get(SECRET_TYPE).resources.get(SECRET)
    if resource is None:
        return None
    chain = secret_pb2.Secret.FromString(resource.body).tls_certificate.certificate_chain
    return x509.load_pem_x509_certificate(chain.inline_bytes).serial_number


def serial_of(issued: Issued) -> int:
    return x509.load_pem_x509_certificate(issued.cert_pem.encode()).serial_number


async def wait_for(predicate: Callable[[], bool]) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < WAIT_S, "condition not reached"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def certificate_problems(plane: ControlPlane) -> list[str]:
    return [m.text for m in await plane._certificate_messages() if m.code == "XDS0902"]


def replace_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


async def test_rotated_certificate_is_served_to_its_gateway_only(plane: ControlPlane) -> None:
    gateway = plane.runtime.connect(node("istio-ingressgateway"), None)
    sidecar = plane.runtime.connect(node("productpage-v1"), None)
    sidecar_snapshot = plane.cache.get(sidecar)
    first = served_serial(plane, gateway)
    assert first is not None and served_serial(plane, sidecar) is None
    translator = plane.runtime.translator
    directory = plane.config_dir / "credentials" / "bookinfo-cert"
    ca = CertAuthority("rotated CA")

    # in place
    second = ca.issue("second.example")
    (directory / "tls.crt").write_text(second.cert_pem)
    (directory / "tls.key").write_text(second.key_pem)
    await wait_for(lambda: served_serial(plane, gateway) == serial_of(second))
    # by atomic renames
    third = ca.issue("third.example")
    replace_atomically(directory / "tls.key", third.key_pem)
    replace_atomically(directory / "tls.crt", third.cert_pem)
    await wait_for(lambda: served_serial(plane, gateway) == serial_of(third))

    assert plane.runtime.translator is translator  # the mesh was not translated again
    assert plane.cache.get(sidecar) is sidecar_snapshot  # a sidecar got no push
    assert await certificate_problems(plane) == []


async def test_configmap_style_swap_is_served(plane: ControlPlane) -> None:
    """Kubernetes mounts: the files are links into `..data`, itself a link to a
    timestamped directory that is swapped by renaming a new link over it."""
    gateway = plane.runtime.connect(node("istio-ingressgateway"), None)
    directory = plane.config_dir / "credentials" / "bookinfo-cert"
    ca = CertAuthority("mounted CA")

    def publish(version: str, issued: Issued) -> None:
        (directory / version).mkdir()
        (directory / version / "tls.crt").write_text(issued.cert_pem)
        (directory / version / "tls.key").write_text(issued.key_pem)
        (directory / "..data_tmp").symlink_to(version)
        os.replace(directory / "..data_tmp", directory / "..data")

    first = ca.issue("mounted.example")
    publish("..2026_01_01_00_00_00.1", first)
    for name in ("tls.crt", "tls.key"):
        (directory / name).unlink()
        (directory / name).symlink_to(f"..data/{name}")
    await wait_for(lambda: served_serial(plane, gateway) == serial_of(first))
    second = ca.issue("mounted.example")
    publish("..2026_01_01_00_00_00.2", second)
    await wait_for(lambda: served_serial(plane, gateway) == serial_of(second))


async def test_bad_pair_keeps_the_last_good_certificate_and_is_reported(
    plane: ControlPlane,
) -> None:
    gateway = plane.runtime.connect(node("istio-ingressgateway"), None)
    good = served_serial(plane, gateway)
    generation = plane.runtime.generation
    directory = plane.config_dir / "credentials" / "bookinfo-cert"
    ca = CertAuthority("next CA")
    fresh = ca.issue("next.example")

    # a new certificate with the old key: not a pair
    with structlog.testing.capture_logs() as logs:
        (directory / "tls.crt").write_text(fresh.cert_pem)
        await wait_for(lambda: plane.runtime.generation > generation)
    assert served_serial(plane, gateway) == good
    (logged,) = [e for e in logs if e["event"] == "gateway.credential_invalid"]
    assert logged["credential"] == "default/bookinfo-cert"
    assert logged["action"] == "keeps the last good certificate"
    (problem,) = await certificate_problems(plane)
    assert "default/bookinfo-cert" in problem and "not the private key" in problem
    assert "last good certificate is still served" in problem

    # a truncated (half-written) certificate
    generation = plane.runtime.generation
    (directory / "tls.crt").write_text(fresh.cert_pem[: len(fresh.cert_pem) // 2])
    await wait_for(lambda: plane.runtime.generation > generation)
    assert served_serial(plane, gateway) == good
    (problem,) = await certificate_problems(plane)
    assert "is not a PEM certificate chain" in problem

    # the key arrives: the pair is complete and served, the report is gone
    (directory / "tls.key").write_text(fresh.key_pem)
    (directory / "tls.crt").write_text(fresh.cert_pem)
    await wait_for(lambda: served_serial(plane, gateway) == serial_of(fresh))
    assert await certificate_problems(plane) == []

    # deleted: withdrawn (as a deleted Secret is in Kubernetes), and reported missing
    (directory / "tls.crt").unlink()
    await wait_for(lambda: served_serial(plane, gateway) is None)
    (problem,) = await certificate_problems(plane)
    assert "no tls.crt and tls.key" in problem


async def test_credentials_dir_outside_the_config_dir_is_watched(tmp_path: Path) -> None:
    """`serve --credentials-dir` elsewhere: watched too."""
    config, credentials = tmp_path / "mesh", tmp_path / "secrets"
    shutil.copytree(REPO / "examples" / "gateway", config)
    (config / "https.yaml").write_text(HTTPS)
    ca = CertAuthority()
    ca.write_credential(credentials / "bookinfo-cert", "first.example")
    control = ControlPlane(
        config,
        listen="127.0.0.1:0",
        debug_listen="127.0.0.1:0",
        insecure=True,
        credentials_dir=credentials,
    )
    await control.start()
    try:
        gateway = control.runtime.connect(node("istio-ingressgateway"), None)
        assert served_serial(control, gateway) is not None
        rotated = ca.issue("second.example")
        await watching(control, credentials)
        replace_atomically(credentials / "bookinfo-cert" / "tls.key", rotated.key_pem)
        replace_atomically(credentials / "bookinfo-cert" / "tls.crt", rotated.cert_pem)
        await wait_for(lambda: served_serial(control, gateway) == serial_of(rotated))
    finally:
        await control.stop()
