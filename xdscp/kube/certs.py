"""The certificate endpoint sidecars bootstrap from (port 15012, like Istio's CA port).

`POST /v1/bootstrap-certificate` with `Authorization: Bearer <projected SA token>`
returns an xDS client certificate for `spiffe://<td>/ns/<ns>/sa/<sa>` — the service
account TokenReview says the token belongs to, never one the caller names. The xDS
server then admits that proxy only as a workload of that service account
(`MeshRuntime` compares the certificate's SPIFFE ID with the Pod's account), so a
Pod can only ever receive its own service account's SVIDs.

When the token is bound to a Pod, the Pod must be known to the source with the same
UID and service account: a token of a deleted Pod, or one replayed for another Pod's
name, gets nothing.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

import ca
from translators.naming import spiffe_id
from xdscp.identity import IdentityService
from xdscp.kube.errors import KubeError
from xdscp.kube.tokenreview import ServiceAccountIdentity, TokenRejected, TokenReviewer

log = structlog.get_logger()

PodLookup = Callable[[str, str], dict[str, Any] | None]


class CertificateEndpoint:
    def __init__(self, identity: IdentityService, reviewer: TokenReviewer, pods: PodLookup) -> None:
        self.identity = identity
        self.reviewer = reviewer
        self.pods = pods

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/bootstrap-certificate", self.handle)
        return app

    def _check_pod(self, who: ServiceAccountIdentity) -> str | None:
        if not who.pod:
            return None  # a token not bound to a Pod: the service account alone decides
        pod = self.pods(who.namespace, who.pod)
        if pod is None:
            return f"pod {who.namespace}/{who.pod} is not known (yet)"
        meta = pod.get("metadata") or {}
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        if who.pod_uid and meta.get("uid") != who.pod_uid:
            return f"pod {who.namespace}/{who.pod} has another UID than the token's"
        if account != who.service_account:
            return f"pod {who.namespace}/{who.pod} does not run as {who.service_account}"
        return None

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        try:
            who = await self.reviewer.review(token)
        except TokenRejected as exc:
            log.warning("certificate.refused", peer=request.remote, reason=str(exc))
            return web.json_response({"error": f"token rejected: {exc}"}, status=401)
        except KubeError as exc:
            log.warning("certificate.tokenreview_failed", error=str(exc))
            return web.json_response({"error": "token review unavailable"}, status=503)
        problem = self._check_pod(who)
        if problem is not None:
            log.warning("certificate.refused", identity=who, reason=problem)
            # 503: a Pod that is not in the informer yet will be soon; the caller retries
            status = 503 if "not known" in problem else 403
            return web.json_response({"error": problem}, status=status)
        settings = self.identity.settings
        identity = spiffe_id(who.namespace, who.service_account, settings.trust_domain)
        svid = ca.issue_svid(self.identity.authority, identity, ttl=settings.bootstrap_ttl)
        log.info("certificate.issued", identity=identity, pod=f"{who.namespace}/{who.pod}")
        return web.json_response(
            {
                "spiffe_id": identity,
                "certificate_chain": svid.cert_chain_pem,
                "private_key": svid.key_pem,
                "root_cert": self.identity.trust_bundle_pem,
            }
        )


def server_ssl_context(identity: IdentityService, hosts: list[str]) -> ssl.SSLContext:
    """TLS for the endpoint: a server certificate from the mesh CA (clients pin the root
    from `istio-ca-root-cert`); no client certificate, the token is the credential."""
    cert = ca.issue_server_certificate(identity.authority, hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        chain, key = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        chain.write_text(cert.cert_chain_pem)
        key.touch(mode=0o600)
        key.write_text(cert.key_pem)
        context.load_cert_chain(str(chain), str(key))
    return context
