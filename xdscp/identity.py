"""Workload identity for the control plane: the CA, SVIDs as SDS Secrets, rotation,
the xDS server's TLS credentials and the proxies' bootstrap client certificates.

The CA is just another source of resources: `secrets_for(workload)` hands the
runtime a group of two Secrets, and a rotation makes a new group (a new Secret
version), which Envoy swaps in without restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import structlog

import ca
from ca.pemfiles import replace_file
from translators.envoy.secrets import root_secret, workload_secret
from translators.mesh import Workload
from translators.model.checks import is_ip
from translators.naming import (
    DEFAULT_TRUST_DOMAIN,
    ROOT_CA_SECRET,
    SECRET_TYPE,
    WORKLOAD_SECRET,
    spiffe_id,
)
from translators.translate import EnvoyResource, ResourceGroup

log = structlog.get_logger()

# The DNS name in the xDS server's certificate that sidecars check: workload SVIDs carry
# only URI SANs, so no workload can impersonate the control plane.
XDS_SERVER_NAME = "xdscp"
BOOTSTRAP_CERT = "xds-client-cert.pem"
BOOTSTRAP_KEY = "xds-client-key.pem"
BOOTSTRAP_ROOT = "xds-root-cert.pem"


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    ca_dir: Path = Path(".xdscp/ca")
    # Istio `cacerts` layout (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem):
    # when set, the CA signs with this intermediate instead of its own root.
    cacerts_dir: Path | None = None
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    svid_ttl: timedelta = timedelta(hours=24)
    rotate_fraction: float = 0.5
    # The bootstrap client cert authenticates a proxy to xDS; it lives in files
    # Envoy reads at start, so it is longer-lived than the SDS-delivered SVIDs.
    bootstrap_ttl: timedelta = timedelta(days=30)


def load_authority(settings: IdentitySettings) -> ca.CertificateAuthority:
    """The CA, persistent across restarts: a restart never changes the trust root."""
    if settings.cacerts_dir is not None:
        return ca.load_cacerts(settings.cacerts_dir)
    return ca.load_or_create_root_ca(settings.ca_dir, organization=settings.trust_domain)


class IdentityService:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self.authority = load_authority(settings)
        self.issuer = ca.IdentityIssuer(
            self.authority,
            trust_domain=settings.trust_domain,
            ttl=settings.svid_ttl,
            rotate_fraction=settings.rotate_fraction,
        )
        self._groups: dict[str, tuple[int, ResourceGroup]] = {}
        self._root = EnvoyResource(
            SECRET_TYPE, ROOT_CA_SECRET, root_secret(self.trust_bundle_pem), ("CA/root",)
        )

    @property
    def trust_bundle_pem(self) -> str:
        return self.issuer.trust_bundle.pem

    def identity_of(self, workload: Workload) -> str:
        return spiffe_id(workload.namespace, workload.service_account, self.settings.trust_domain)

    def secrets_for(self, workload: Workload) -> ResourceGroup:
        """`default` (the workload's key and chain) and `ROOTCA`; the same group object
        until the SVID rotates, so proxies of one identity share serialized bytes."""
        identity = self.identity_of(workload)
        svid = self.issuer.svid(identity)
        cached = self._groups.get(identity)
        if cached is not None and cached[0] == svid.serial:
            return cached[1]
        group = ResourceGroup(
            (
                EnvoyResource(
                    SECRET_TYPE,
                    WORKLOAD_SECRET,
                    workload_secret(svid.cert_chain_pem, svid.key_pem),
                    (f"SVID/{identity}",),
                ),
                self._root,
            )
        )
        self._groups[identity] = (svid.serial, group)
        return group

    def rotation_of(self, spiffe: str, serial: int) -> datetime | None:
        """When the certificate `serial` of `spiffe` will be replaced (None: not current)."""
        svid = self.issuer.current(spiffe)
        return svid.rotate_at if svid is not None and svid.serial == serial else None

    def seconds_to_svid_expiry(self) -> float | None:
        """Until the earliest current SVID expires (None: none issued yet)."""
        expiries = [
            svid.not_after
            for svid in (self.issuer.current(s) for s in self.issuer.spiffe_ids)
            if svid is not None
        ]
        if not expiries:
            return None
        return (min(expiries) - self.issuer.now()).total_seconds()

    def seconds_to_root_expiry(self) -> float:
        """Until the CA that signs SVIDs (or a root above it) expires."""
        ends = [self.authority.not_after, *(r.not_valid_after_utc for r in self.authority.roots)]
        return (min(ends) - self.issuer.now()).total_seconds()

    def server_credentials(self, hosts: list[str]) -> grpc.ServerCredentials:
        """mTLS for the xDS port: a server cert from our CA, client certs required."""
        dns = [h for h in hosts if not is_ip(h)] or ["localhost"]
        ips = [h for h in hosts if is_ip(h)]
        cert = ca.issue_server_certificate(self.authority, dns, ip_addresses=ips)
        return grpc.ssl_server_credentials(
            [(cert.key_pem.encode(), cert.cert_chain_pem.encode())],
            root_certificates=self.trust_bundle_pem.encode(),
            require_client_auth=True,
        )

    def write_bootstrap_credentials(
        self, workload: Workload, directory: Path, prefix: str = ""
    ) -> dict[str, Path]:
        """The files a sidecar's bootstrap uses to authenticate to xDS (0600), named
        `<prefix>xds-client-cert.pem` etc. so that bootstraps sharing a directory keep
        their own credentials. Each file is replaced atomically: a full or read-only
        disk raises `ca.CAFileError` naming the file and leaves no empty certificate."""
        svid = ca.issue_svid(
            self.authority, self.identity_of(workload), ttl=self.settings.bootstrap_ttl
        )
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "cert": directory / f"{prefix}{BOOTSTRAP_CERT}",
            "key": directory / f"{prefix}{BOOTSTRAP_KEY}",
            "root": directory / f"{prefix}{BOOTSTRAP_ROOT}",
        }
        for kind, text in (
            ("cert", svid.cert_chain_pem),
            ("key", svid.key_pem),
            ("root", self.trust_bundle_pem),
        ):
            replace_file(files[kind], text, mode=0o600)
        return files

    async def rotate_forever(self, on_rotated: Callable[[], None], stop: asyncio.Event) -> None:
        """Reissue SVIDs at their rotation time and let the runtime republish."""
        while not stop.is_set():
            next_at = self.issuer.next_rotation()
            delay = 1.0
            if next_at is not None:
                delay = max(0.05, min(30.0, (next_at - self.issuer.now()).total_seconds()))
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            rotated = self.issuer.rotate_due()
            if rotated:
                log.info("svid.rotated", identities=[s.spiffe_id for s in rotated])
                on_rotated()
