"""The `xdscp-init` step of an injected Pod (`python -m xdscp.kube.podinit`).

1. Prove who the Pod is: send its projected service-account token (audience `xdscp`,
   minted by the kubelet for this Pod only) to the control plane's certificate
   endpoint over TLS pinned to the mesh root (`istio-ca-root-cert`); the control
   plane checks it with TokenReview and returns an xDS client certificate for the
   Pod's own service account, nothing else.
2. Write it (0600, owned by the proxy UID) and Envoy's bootstrap into the volume
   only the sidecar mounts.
3. Install the iptables capture (unless the Pod opted out).

The bootstrap is `xdscp.bootstrap`'s, with what a Pod needs: admin on loopback only,
and its `Readiness` (a listener on 15021 that proxies Envoy's `/ready`, and no
initial-fetch timeout, so Envoy is not "ready" before its first config arrived).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiohttp
import yaml

from ca.pemfiles import replace_file
from translators.mesh import Workload
from translators.naming import ADMIN_PORT, object_ref
from xdscp.bootstrap import Readiness, bootstrap_config
from xdscp.identity import BOOTSTRAP_CERT, BOOTSTRAP_KEY, BOOTSTRAP_ROOT, XDS_SERVER_NAME
from xdscp.kube.inject import READY_PATH, READY_PORT
from xdscp.kube.iptables import CaptureSettings, capture_rules

CERTIFICATE_PATH = "/v1/bootstrap-certificate"


def pod_bootstrap(
    namespace: str,
    pod: str,
    pod_ip: str,
    service_account: str,
    xds_host: str,
    xds_port: int,
    credentials: Mapping[str, Path],
) -> dict[str, Any]:
    """Envoy's bootstrap for one Pod's sidecar (pure)."""
    workload = Workload(
        namespace=namespace,
        name=pod,
        address=pod_ip,
        labels=MappingProxyType({}),
        service_account=service_account,
        ports=MappingProxyType({}),
        annotations=MappingProxyType({}),
        source=object_ref("Pod", namespace, pod),
    )
    return bootstrap_config(
        workload,
        xds_host,
        xds_port,
        ADMIN_PORT,
        admin_address="127.0.0.1",
        credentials=credentials,
        server_name=XDS_SERVER_NAME,
        readiness=Readiness(READY_PORT, READY_PATH),
    )


async def fetch_certificate(
    ca_url: str, token: str, root_pem_file: Path, timeout: float = 120.0
) -> dict[str, str]:
    """Exchange the token for a certificate, retrying while the control plane starts."""
    context = ssl.create_default_context(cafile=str(root_pem_file))
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.5
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.post(
                    ca_url.rstrip("/") + CERTIFICATE_PATH,
                    headers={"Authorization": f"Bearer {token}"},
                    ssl=context,
                    server_hostname=XDS_SERVER_NAME,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    body = await response.text()
                    if response.status == 200:
                        data: dict[str, str] = json.loads(body)
                        return data
                    if response.status in (401, 403):
                        raise SystemExit(f"xdscp-init: identity refused: {body.strip()}")
                    problem = f"HTTP {response.status}: {body.strip()[:200]}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = repr(exc)
            if asyncio.get_running_loop().time() + delay > deadline:
                raise SystemExit(f"xdscp-init: no certificate from {ca_url}: {problem}")
            print(f"xdscp-init: waiting for the control plane ({problem})", file=sys.stderr)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def write_private(path: Path, text: str, uid: int) -> None:
    """Atomically (no empty or half-written key if the volume fills up), 0600, owned by
    the proxy's user."""
    replace_file(path, text, mode=0o600)
    if os.geteuid() == 0 and uid != 0:
        os.chown(path, uid, uid)


def _ports(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in value.split(",") if p.strip())


def _items(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xdscp-init")
    parser.add_argument("--xds", required=True, help="host:port of the xDS server")
    parser.add_argument("--ca", required=True, help="https URL of the certificate endpoint")
    parser.add_argument("--token", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--proxy-uid", type=int, default=1337)
    parser.add_argument("--capture", choices=("iptables", "none"), default="iptables")
    parser.add_argument("--include-inbound-ports", default="*")
    parser.add_argument("--exclude-inbound-ports", default="")
    parser.add_argument("--include-outbound-cidrs", default="*")
    parser.add_argument("--exclude-outbound-cidrs", default="")
    parser.add_argument("--exclude-outbound-ports", default="")
    return parser.parse_args(argv)


def capture_from_args(args: argparse.Namespace) -> CaptureSettings | None:
    if args.capture == "none":
        return None
    return CaptureSettings(
        proxy_uid=args.proxy_uid,
        proxy_gid=args.proxy_uid,
        include_inbound_ports=_items(args.include_inbound_ports),
        exclude_inbound_ports=_ports(args.exclude_inbound_ports),
        include_outbound_cidrs=_items(args.include_outbound_cidrs),
        exclude_outbound_cidrs=_items(args.exclude_outbound_cidrs),
        exclude_outbound_ports=_ports(args.exclude_outbound_ports),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = os.environ
    namespace, pod = env["POD_NAMESPACE"], env["POD_NAME"]
    host, _, port = args.xds.rpartition(":")
    token = args.token.read_text().strip()
    issued = asyncio.run(fetch_certificate(args.ca, token, args.root))
    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "cert": args.out / BOOTSTRAP_CERT,
        "key": args.out / BOOTSTRAP_KEY,
        "root": args.out / BOOTSTRAP_ROOT,
    }
    write_private(files["cert"], issued["certificate_chain"], args.proxy_uid)
    write_private(files["key"], issued["private_key"], args.proxy_uid)
    write_private(files["root"], issued["root_cert"], args.proxy_uid)
    bootstrap = pod_bootstrap(
        namespace,
        pod,
        env.get("POD_IP", ""),
        env.get("SERVICE_ACCOUNT") or "default",
        host,
        int(port),
        files,
    )
    write_private(
        args.out / "envoy.yaml", yaml.safe_dump(bootstrap, sort_keys=False), args.proxy_uid
    )
    print(f"xdscp-init: {namespace}/{pod} is {issued.get('spiffe_id')}", file=sys.stderr)
    capture = capture_from_args(args)
    if capture is not None:
        subprocess.run(
            ["iptables-restore", "--noflush"],
            input=capture_rules(capture).encode(),
            check=True,
        )
        print("xdscp-init: traffic capture installed", file=sys.stderr)


if __name__ == "__main__":
    main()
