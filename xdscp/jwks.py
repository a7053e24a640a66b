"""The control plane fetches RequestAuthentication `jwksUri` keys itself and hands them to
the translators inline, as istiod does by default (PILOT_JWT_ENABLE_REMOTE_JWKS=false):
sidecars never need a route to the identity provider, and every proxy verifies with the
same keys.

Bounded on every side: one fetch waits at most the rule's `timeout` (Istio's default
5 s), reads at most `max_bytes`, follows at most a few redirects; keys are refreshed
every `refresh_s` (Istio's 20 min), a failing URI retried every `retry_s`. A failed
refresh keeps the last good keys (tokens keep verifying while the IdP is down); a URI
never fetched has no keys, and the translator then rejects its tokens. Failures are
logged (`jwks.fetch_failed`) when they start or change, and carried in
`MeshConfig.jwks_errors` for the analysis.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import aiohttp
import structlog

from translators.mesh import MeshConfig
from translators.model.objects import MeshObject
from translators.model.request_authn import (
    RequestAuthenticationSpec,
    check_jwks_uri,
    parse_jwks,
)
from xdscp.errors import XdscpError

log = structlog.get_logger()

MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class JwksSettings:
    refresh_s: float = 20 * 60.0
    retry_s: float = 10.0
    max_bytes: int = 256 * 1024
    # fetches running at once (a mesh may name many IdPs)
    concurrency: int = 8
    # a rule's `timeout` is honoured up to this: a config change waits for the first
    # fetch of a new jwksUri, and `timeout: 1h` must not hold the mesh for an hour
    max_timeout_s: float = 30.0


@dataclass(slots=True)
class _Entry:
    timeout_s: float
    keys: str | None = None  # canonical JSON of the last good key set
    error: str | None = None  # why the latest fetch failed (None: it worked)
    fetched_at: float = 0.0  # monotonic time of the last success
    attempted_at: float = field(default=-1.0)  # monotonic time of the last attempt
    # the URI is an issuer's OpenID discovery document, whose `jwks_uri` names the keys
    discovery: bool = False


class JwksFetchError(XdscpError):
    """A JWKS endpoint answered, but not with usable keys (status, size, encoding)."""


def _uri_timeouts(mesh: MeshConfig) -> dict[str, float]:
    """Every `jwksUri` (or issuer discovery document) the mesh needs keys from, with the
    shortest timeout asked for it."""
    found: dict[str, float] = {}
    policies: list[MeshObject[RequestAuthenticationSpec]] = mesh.of_kind("RequestAuthentication")
    for policy in policies:
        for rule in policy.spec.jwt_rules:
            source = rule.keys_from
            if source:
                found[source] = min(found.get(source, rule.timeout_s), rule.timeout_s)
    return found


def _discovery(mesh: MeshConfig) -> frozenset[str]:
    """The sources that are issuers' OpenID discovery documents, not key sets."""
    policies: list[MeshObject[RequestAuthenticationSpec]] = mesh.of_kind("RequestAuthentication")
    return frozenset(r.keys_from for p in policies for r in p.spec.jwt_rules if r.discovered)


class JwksFetcher:
    def __init__(self, settings: JwksSettings | None = None) -> None:
        self.settings = settings or JwksSettings()
        self._entries: dict[str, _Entry] = {}
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(self.settings.concurrency)

    # --- the mesh side -----------------------------------------------------------
    async def resolve(self, mesh: MeshConfig) -> MeshConfig:
        """`mesh` with the keys of its `jwksUri`s: the ones never tried are fetched now
        (so a new RequestAuthentication works on its first push); the others come from
        the cache, which `run` keeps fresh."""
        cap = self.settings.max_timeout_s
        wanted = {uri: min(timeout, cap) for uri, timeout in _uri_timeouts(mesh).items()}
        for uri in set(self._entries) - set(wanted):
            del self._entries[uri]  # no longer referenced: forget (refetched if it returns)
        discovery = _discovery(mesh)
        for uri, timeout in wanted.items():
            entry = self._entries.get(uri)
            if entry is None:
                entry = self._entries[uri] = _Entry(timeout)
            entry.timeout_s = timeout
            entry.discovery = uri in discovery
        new = [uri for uri, entry in self._entries.items() if entry.attempted_at < 0]
        if new:
            await asyncio.gather(*(self._fetch(uri) for uri in new))
        return self.attach(mesh)

    def attach(self, mesh: MeshConfig) -> MeshConfig:
        """`mesh` carrying the cached keys and errors of the URIs it references."""
        wanted = _uri_timeouts(mesh)
        keys = {u: e.keys for u, e in self._entries.items() if u in wanted and e.keys is not None}
        errors = {u: e.error for u, e in self._entries.items() if u in wanted and e.error}
        if not wanted and not mesh.jwks and not mesh.jwks_errors:
            return mesh
        return replace(mesh, jwks=MappingProxyType(keys), jwks_errors=MappingProxyType(errors))

    def status(self) -> Mapping[str, Mapping[str, object]]:
        """Per URI: whether keys are held, the latest error, seconds since the last fetch."""
        now = time.monotonic()
        return {
            uri: {
                "keys": entry.keys is not None,
                "error": entry.error,
                "age_s": round(now - entry.fetched_at, 1) if entry.keys is not None else None,
            }
            for uri, entry in sorted(self._entries.items())
        }

    # --- refreshing --------------------------------------------------------------
    async def run(self, stop: asyncio.Event, changed: Callable[[], Awaitable[None]]) -> None:
        """Refresh due URIs until `stop`; call `changed` when keys or errors changed."""
        tick = max(0.05, min(self.settings.retry_s, self.settings.refresh_s) / 2)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), tick)
                return
            except TimeoutError:
                pass
            now = time.monotonic()
            due = [uri for uri, entry in self._entries.items() if self._due(entry, now)]
            if not due:
                continue
            before = {u: (self._entries[u].keys, self._entries[u].error) for u in due}
            await asyncio.gather(*(self._fetch(uri) for uri in due))
            if any(
                u in self._entries and (self._entries[u].keys, self._entries[u].error) != b
                for u, b in before.items()
            ):
                await changed()

    def _due(self, entry: _Entry, now: float) -> bool:
        if entry.error is not None:
            return now - entry.attempted_at >= self.settings.retry_s
        return now - entry.fetched_at >= self.settings.refresh_s

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- one fetch ---------------------------------------------------------------
    async def _fetch(self, uri: str) -> None:
        entry = self._entries.get(uri)
        if entry is None:
            return
        entry.attempted_at = time.monotonic()
        try:
            async with self._limit:
                deadline = time.monotonic() + entry.timeout_s
                text = await self._get(uri, entry.timeout_s)
                if entry.discovery:  # both fetches share the rule's timeout
                    keys_uri = _jwks_uri_of(text)
                    text = await self._get(keys_uri, max(0.001, deadline - time.monotonic()))
            parsed = parse_jwks(text)
            if not parsed["keys"]:  # more likely an IdP glitch than a rotation to nothing
                raise JwksFetchError("the key set is empty")
            keys = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
        except Exception as exc:  # any failure is this URI's, reported, never raised
            error = _describe(exc, entry.timeout_s)
            if error != entry.error:
                log.warning(
                    "jwks.fetch_failed",
                    uri=uri,
                    error=error,
                    keeps="last good keys" if entry.keys else "no keys: its tokens are rejected",
                )
            entry.error = error
            return
        if keys != entry.keys or entry.error is not None:
            log.info("jwks.fetched", uri=uri, keys=keys.count('"kty"'), changed=keys != entry.keys)
        entry.keys, entry.error, entry.fetched_at = keys, None, time.monotonic()

    async def _get(self, uri: str, timeout_s: float) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        limit = self.settings.max_bytes
        async with self._session.get(
            uri,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            max_redirects=MAX_REDIRECTS,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status != 200:
                raise JwksFetchError(f"HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(16 * 1024):
                body += chunk
                if len(body) > limit:
                    raise JwksFetchError(f"larger than {limit} bytes")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise JwksFetchError("not UTF-8 text") from None


def _jwks_uri_of(discovery: str) -> str:
    """The `jwks_uri` of an OpenID discovery document (an http(s) URL, as a jwksUri)."""
    try:
        document = json.loads(discovery)
    except ValueError:
        raise JwksFetchError("the OpenID discovery document is not JSON") from None
    uri = document.get("jwks_uri") if isinstance(document, dict) else None
    if not isinstance(uri, str):
        raise JwksFetchError("the OpenID discovery document has no jwks_uri")
    try:
        return check_jwks_uri(uri)
    except ValueError as error:
        raise JwksFetchError(f"OpenID discovery: {error}") from None


def _describe(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g}s"
    if isinstance(exc, JwksFetchError):
        return str(exc)
    if isinstance(exc, ValueError):
        return f"not a JSON Web Key Set: {str(exc)[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
