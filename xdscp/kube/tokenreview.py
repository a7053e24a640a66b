"""Who is this Pod? A projected service-account token, checked by the API server.

The kubelet mints the token for one Pod, with our audience (`xdscp`), and rotates it;
the API server's TokenReview says whether it is valid (signature, expiry, audience,
and — for bound tokens — that the Pod still exists) and whose it is:
`system:serviceaccount:<namespace>:<name>`, with the Pod's name and UID in `extra`.
Nothing the caller *claims* is trusted; only what TokenReview answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdscp.errors import XdscpError
from xdscp.kube.api import KubeApi

SA_PREFIX = "system:serviceaccount:"
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"


class TokenRejected(XdscpError):
    """The token is not a valid service-account token for our audience."""


@dataclass(frozen=True, slots=True)
class ServiceAccountIdentity:
    namespace: str
    service_account: str
    pod: str = ""
    pod_uid: str = ""


class TokenReviewer:
    def __init__(self, api: KubeApi, audience: str = "xdscp") -> None:
        self.api = api
        self.audience = audience

    async def review(self, token: str) -> ServiceAccountIdentity:
        """Raise TokenRejected, or KubeError when the API server cannot answer."""
        if not token:
            raise TokenRejected("no token")
        review = await self.api.token_review(token, [self.audience])
        status = review.get("status") or {}
        if not status.get("authenticated"):
            raise TokenRejected(str(status.get("error") or "not authenticated"))
        if self.audience not in (status.get("audiences") or []):
            raise TokenRejected(f"token is not for audience {self.audience!r}")
        user = status.get("user") or {}
        username = str(user.get("username") or "")
        if not username.startswith(SA_PREFIX):
            raise TokenRejected(f"{username!r} is not a service account")
        namespace, _, account = username[len(SA_PREFIX) :].partition(":")
        if not namespace or not account or ":" in account:
            raise TokenRejected(f"malformed service account user {username!r}")
        extra = user.get("extra") or {}
        pods = extra.get(POD_NAME_EXTRA) or [""]
        uids = extra.get(POD_UID_EXTRA) or [""]
        return ServiceAccountIdentity(namespace, account, str(pods[0]), str(uids[0]))
