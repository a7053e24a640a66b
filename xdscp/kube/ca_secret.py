"""The mesh CA in the cluster: one root for every replica, for good.

The root (or an operator's plugged-in intermediate, Istio's `cacerts` Secret) lives
in a Secret in the control plane's namespace. Every replica reads it; only the leader
creates it, once, and only when neither Secret exists. Creation is create-if-absent:
a replica that loses the race gets 409 AlreadyExists and adopts the winner's root
instead of its own, so the mesh can never end up with two roots.

The Secret's data is materialised into a private directory (0700, key files 0600,
memory-backed in the Deployment) in exactly the layout the `ca` library loads from
disk, so the file mode's validation (key matches, chain, expiry) applies unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

import ca
from ca.keys import private_key_pem
from ca.pemfiles import certificates_pem, replace_file
from translators.naming import DEFAULT_TRUST_DOMAIN
from xdscp.kube.api import KubeApi
from xdscp.kube.backoff import sleep_or_stop
from xdscp.kube.errors import Conflict, KubeError, NotFound
from xdscp.kube.resources import SECRET

log = structlog.get_logger()

ROOT_SECRET = "xdscp-ca"
CACERTS_SECRET = "cacerts"
_KEY_FILES = frozenset({ca.ROOT_KEY_FILE, ca.CA_KEY_FILE})


@dataclass(frozen=True, slots=True)
class ClusterCA:
    """Where the CA came from: `cacerts_dir` set for a plugged-in intermediate, else
    `root_dir` holds the self-signed root."""

    root_dir: Path | None
    cacerts_dir: Path | None
    secret: str


def _decode(secret: dict[str, Any]) -> dict[str, str]:
    data = secret.get("data") or {}
    return {str(k): base64.b64decode(v).decode() for k, v in data.items()}


def write_private_dir(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, text in files.items():
        if "/" in name or name.startswith("."):
            raise KubeError(f"refusing odd file name {name!r} in CA Secret")
        path = directory / name
        mode = 0o600 if name in _KEY_FILES else 0o644
        # atomic: a full memory volume fails with CAFileError, never a half-written key
        replace_file(path, text, mode=mode)
    return directory


def new_root_secret(namespace: str, organization: str = DEFAULT_TRUST_DOMAIN) -> dict[str, Any]:
    authority = ca.new_root_ca(organization=organization)
    files = {
        ca.ROOT_CERT_FILE: certificates_pem([authority.certificate]),
        ca.ROOT_KEY_FILE: private_key_pem(authority.private_key),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": ROOT_SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "xdscp"},
            "annotations": {
                "xdscp.io/warning": "the mesh's trust root: deleting it breaks every identity"
            },
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in files.items()},
    }


async def _get(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return await api.get(SECRET, namespace, name)
    except NotFound:
        return None


async def load_cluster_ca(
    api: KubeApi,
    namespace: str,
    directory: Path,
    is_leader: Callable[[], bool],
    stop: asyncio.Event | None = None,
    poll: float = 1.0,
    timeout: float = 300.0,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
) -> ClusterCA:
    """Read the CA Secret (plugged-in `cacerts` first), creating the root Secret if this
    replica leads and none exists; followers wait for the leader to create it."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        plugged = await _get(api, namespace, CACERTS_SECRET)
        if plugged is not None:
            path = write_private_dir(directory / "cacerts", _decode(plugged))
            ca.load_cacerts(path)  # validate now: a broken chain must stop the start
            log.info("ca.loaded", secret=f"{namespace}/{CACERTS_SECRET}", mode="cacerts")
            return ClusterCA(None, path, CACERTS_SECRET)
        found = await _get(api, namespace, ROOT_SECRET)
        if found is None and is_leader():
            try:
                found = await api.create(
                    SECRET, namespace, new_root_secret(namespace, trust_domain)
                )
                log.info("ca.created", secret=f"{namespace}/{ROOT_SECRET}")
            except Conflict:
                # another replica created it between our read and our create: use theirs
                found = await _get(api, namespace, ROOT_SECRET)
        if found is not None:
            path = write_private_dir(directory / "root", _decode(found))
            ca.load_root_ca(path)
            log.info("ca.loaded", secret=f"{namespace}/{ROOT_SECRET}", mode="root")
            return ClusterCA(path, None, ROOT_SECRET)
        if loop.time() > deadline:
            raise KubeError(f"no CA Secret {namespace}/{ROOT_SECRET} appeared (no leader?)")
        log.info("ca.waiting_for_leader", secret=f"{namespace}/{ROOT_SECRET}")
        if await sleep_or_stop(stop, poll):
            raise KubeError("stopped while waiting for the CA Secret")
