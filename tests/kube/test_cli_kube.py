"""`xdscp serve --kubernetes --kubeconfig FILE` as a real process against the fake API
server, and `xdscp inject -f` as a user runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.kube.fakeapi import FakeKube
from tests.kube.helpers import eventually
from tests.kube.meshes import cluster_docs, namespace

ROOT = Path(__file__).resolve().parents[2]


async def test_serve_kubernetes_syncs_leads_and_stops_cleanly(
    kube: FakeKube, tmp_path: Path
) -> None:
    kube.apply_all([namespace("xdscp-system"), *cluster_docs()])
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "POD_NAMESPACE": "xdscp-system", "POD_NAME": "cli-replica"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "xdscp.cli",
        "serve",
        "--kubernetes",
        "--kubeconfig",
        str(config),
        "--listen",
        "127.0.0.1:0",
        "--debug",
        "127.0.0.1:0",
        "--cert-listen",
        "127.0.0.1:0",
        "--ca-dir",
        str(tmp_path / "ca"),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = b""
    try:

        def leads() -> bool:
            lease = kube.get("Lease", "xdscp-system", "xdscp-leader")
            return lease is not None and lease["spec"]["holderIdentity"] == "cli-replica"

        await eventually(leads, timeout=30)
        await eventually(lambda: kube.get("Secret", "xdscp-system", "xdscp-ca") is not None)
        await eventually(
            lambda: (
                "status" in (kube.get("VirtualService", "default", "order-service-routing") or {})
            )
        )
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    text = output.decode()
    assert process.returncode == 0, text
    assert "kube.control_plane_started" in text
    # it let go of the Lease on the way out
    lease = kube.get("Lease", "xdscp-system", "xdscp-leader")
    assert lease is not None and lease["spec"]["holderIdentity"] == ""


def test_inject_cli(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "inject", "-f", "deploy/examples/canary.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        names = [c["name"] for c in deployment["spec"]["template"]["spec"]["initContainers"]]
        assert names == ["xdscp-init", "xdscp-proxy"]


async def test_a_busy_certificate_port_is_one_line(kube: FakeKube, tmp_path: Path) -> None:
    kube.apply_all([namespace("xdscp-system"), *cluster_docs()])
    config = kube.kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "POD_NAMESPACE": "xdscp-system", "POD_NAME": "cli-busy"}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xdscp.cli", "serve", "--kubernetes",
            "--kubeconfig", str(config), "--listen", "127.0.0.1:0", "--debug", "127.0.0.1:0",
            "--cert-listen", f"127.0.0.1:{busy}", "--ca-dir", str(tmp_path / "ca"),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    text = err.decode()
    assert process.returncode == 1, text
    assert "Traceback" not in text + out.decode()
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: cannot listen on 127.0.0.1:{busy} for the certificate endpoint: Address already "
        "in use; stop whatever holds it or pass another --cert-listen (port 0 picks a free one)"
    ], text


# a few hundred bytes that would expand to 18,000 nodes
_ALIAS_BOMB = (
    "a: &x [1, 1]\nb: &y [" + ", ".join(["*x"] * 60) + "]\nc: [" + ", ".join(["*y"] * 300) + "]\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_ALIAS_BOMB, "alias"),
        ("kind: Deployment\nkind: Service\n", "duplicate key"),
        ("kind: [unclosed\n", "not valid YAML"),
    ],
)
def test_inject_refuses_unsafe_yaml_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "xdscp.cli", "inject", "-f", str(manifest)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml" in lines[0] and expected in lines[0], lines
    assert result.stdout == ""
