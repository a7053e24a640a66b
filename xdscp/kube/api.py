"""The one door to the API server: kubernetes-asyncio's ApiClient, raw JSON in and out.

Mesh objects are parsed from the API's own JSON (the same documents a user applies),
so responses are read as plain dicts instead of being turned into generated model
classes and back. Every call goes through the client's configuration (server, TLS,
bearer token / client cert, token refresh) and every failure leaves as an exception
of `xdscp.kube.errors`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from xdscp.kube.errors import KubeError, KubeUnavailable, error_from_status
from xdscp.kube.resources import TOKEN_REVIEW, ResourceType

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"

# What the API server and the client raise for an unreachable server or a broken
# connection (the stream of a watch included).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
    OSError,
)


class KubeApi:
    def __init__(self, api_client: Any, request_timeout: float = 30.0) -> None:
        self.client = api_client
        self.request_timeout = request_timeout

    @classmethod
    async def connect(cls, kubeconfig: Path | None = None, context: str | None = None) -> KubeApi:
        """From a kubeconfig file, else the Pod's service account (in-cluster), else the
        default kubeconfig (`~/.kube/config` / $KUBECONFIG)."""
        configuration = type.__call__(k8s_client.Configuration)
        if kubeconfig is not None:
            await k8s_config.load_kube_config(
                config_file=str(kubeconfig),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            try:
                k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            except k8s_config.ConfigException:
                await k8s_config.load_kube_config(
                    context=context, client_configuration=configuration, persist_config=False
                )
        return cls(k8s_client.ApiClient(configuration=configuration))

    async def close(self) -> None:
        await self.client.close()

    # --- raw calls -------------------------------------------------------------
    async def open(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float | aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request and return the open response once its status is 2xx (the caller
        reads and releases it); a non-2xx answer is read and raised as a KubeError."""
        try:
            response: aiohttp.ClientResponse = await self.client.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Accept": JSON, "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout if timeout is not None else self.request_timeout,
            )
        except TRANSPORT_ERRORS as exc:
            raise KubeUnavailable(f"{method} {path}: {exc!r}") from exc
        if 200 <= response.status < 300:
            return response
        try:
            text = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise KubeUnavailable(f"{method} {path}: {exc!r}") from exc
        finally:
            response.release()
        try:
            status_body: Any = json.loads(text) if text else None
        except ValueError:
            status_body = None
        raise error_from_status(response.status, status_body, f"{method} {path}: {text[:200]!r}")

    async def call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        response = await self.open(method, path, query, body, content_type)
        try:
            text = await response.read()
        except TRANSPORT_ERRORS as exc:
            raise KubeUnavailable(f"{method} {path}: {exc!r}") from exc
        finally:
            response.release()
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise KubeError(f"{method} {path}: response is not JSON: {text[:200]!r}") from exc

    # --- typed helpers ---------------------------------------------------------
    async def list_page(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        query: list[tuple[str, str]] = []
        if limit:
            query.append(("limit", str(limit)))
        if continue_token:
            query.append(("continue", continue_token))
        result: dict[str, Any] = await self.call("GET", rtype.collection_path(namespace), query)
        return result

    async def watch(
        self,
        rtype: ResourceType,
        resource_version: str,
        timeout_seconds: int,
        read_timeout: float,
    ) -> aiohttp.ClientResponse:
        """Open a watch stream from `resource_version` with bookmarks. The server ends the
        stream after `timeout_seconds`; a silent connection is abandoned after
        `read_timeout` seconds without a line (bookmarks keep a healthy one talking)."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        timeout = aiohttp.ClientTimeout(connect=self.request_timeout, sock_read=read_timeout)
        return await self.open("GET", rtype.collection_path(), query, timeout=timeout)

    async def get(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", rtype.object_path(namespace, name))
        return result

    async def create(self, rtype: ResourceType, namespace: str, body: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", rtype.collection_path(namespace), body=body
        )
        return result

    async def replace(
        self, rtype: ResourceType, namespace: str, name: str, body: Any
    ) -> dict[str, Any]:
        """PUT; a `metadata.resourceVersion` in `body` makes it conditional (409 if stale)."""
        result: dict[str, Any] = await self.call(
            "PUT", rtype.object_path(namespace, name), body=body
        )
        return result

    async def merge_patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        patch: Any,
        subresource: str = "",
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "PATCH",
            rtype.object_path(namespace, name, subresource),
            body=patch,
            content_type=MERGE_PATCH,
        )
        return result

    async def token_review(self, token: str, audiences: list[str]) -> dict[str, Any]:
        body = {
            "apiVersion": TOKEN_REVIEW.api_version,
            "kind": TOKEN_REVIEW.kind,
            "spec": {"token": token, "audiences": audiences},
        }
        result: dict[str, Any] = await self.call("POST", TOKEN_REVIEW.collection_path(), body=body)
        return result

    async def api_group(self, group: str) -> tuple[list[str], str]:
        """(served versions, preferred version) of an API group, from discovery."""
        found = await self.call("GET", f"/apis/{group}")
        versions = [str(v.get("version")) for v in found.get("versions") or []]
        preferred = str((found.get("preferredVersion") or {}).get("version") or "")
        return versions, preferred
