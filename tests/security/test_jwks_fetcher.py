"""The control plane's JWKS fetcher against a real HTTP server on loopback: keys reach the
mesh inline, the last good keys survive the server's loss, failures are reported, and
every fetch is bounded (time and size)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.jwt_tokens import JwksServer, SigningKey, jwks
from tests.translators.helpers import docs, mesh_of
from translators.mesh import MeshConfig
from xdscp.jwks import JwksFetcher, JwksSettings


def _host() -> str:
    return f"127.{random.randint(40, 250)}.9.{random.randint(1, 250)}"


@pytest.fixture
def server() -> Iterator[JwksServer]:
    found = JwksServer(_host(), jwks(SigningKey.ec("k1"))).start()
    yield found
    found.close()


def _mesh(uri: str, timeout: str = "1s", inline: str = "") -> MeshConfig:
    rule = f"jwks: '{inline}'" if inline else f"jwksUri: {uri}"
    return mesh_of(
        docs(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
            "metadata: {name: idp, namespace: prod}\n"
            f"spec: {{jwtRules: [{{issuer: idp, {rule}, timeout: {timeout}}}]}}\n"
        )
    )


def test_keys_are_fetched_and_attached(server: JwksServer) -> None:
    async def run() -> MeshConfig:
        fetcher = JwksFetcher()
        try:
            return await fetcher.resolve(_mesh(server.uri))
        finally:
            await fetcher.close()

    mesh = asyncio.run(run())
    assert json.loads(mesh.jwks[server.uri]) == json.loads(server.body)
    assert not mesh.jwks_errors
    assert server.requests == 1


def test_inline_keys_need_no_fetch() -> None:
    async def run() -> MeshConfig:
        fetcher = JwksFetcher()
        return await fetcher.resolve(_mesh("", inline=jwks(SigningKey.ec("k"))))

    mesh = asyncio.run(run())
    assert not mesh.jwks and not mesh.jwks_errors


def test_loss_keeps_the_last_good_keys_and_rotation_is_followed(server: JwksServer) -> None:
    first = server.body
    rotated = jwks(SigningKey.ec("k2"))

    async def run() -> list[MeshConfig]:
        fetcher = JwksFetcher(JwksSettings(refresh_s=0.2, retry_s=0.2))
        stop = asyncio.Event()
        seen: list[MeshConfig] = []
        mesh = await fetcher.resolve(_mesh(server.uri))
        seen.append(mesh)

        async def changed() -> None:
            seen.append(fetcher.attach(mesh))

        task = asyncio.create_task(fetcher.run(stop, changed))
        try:
            server.status = 503  # the IdP fails: the keys stay, the error is reported
            await _until(lambda: len(seen) >= 2)
            server.status, server.body = 200, rotated  # back, with new keys
            await _until(lambda: len(seen) >= 3)
        finally:
            stop.set()
            await task
            await fetcher.close()
        return seen

    initial, failing, recovered = asyncio.run(run())[:3]
    assert json.loads(initial.jwks[server.uri]) == json.loads(first)
    assert failing.jwks[server.uri] == initial.jwks[server.uri]
    assert failing.jwks_errors == {server.uri: "HTTP 503"}
    assert json.loads(recovered.jwks[server.uri]) == json.loads(rotated)
    assert not recovered.jwks_errors


async def _until(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def test_unreachable_never_fetched_has_no_keys_and_says_why() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}/jwks.json"

    async def run() -> MeshConfig:
        fetcher = JwksFetcher()
        try:
            return await fetcher.resolve(_mesh(uri))
        finally:
            await fetcher.close()

    mesh = asyncio.run(run())
    assert uri not in mesh.jwks
    assert "ClientConnectorError" in mesh.jwks_errors[uri] or "connect" in mesh.jwks_errors[uri]


def test_a_silent_server_costs_a_bounded_wait() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    uri = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"

    async def run() -> tuple[MeshConfig, float]:
        fetcher = JwksFetcher(JwksSettings(max_timeout_s=0.3))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            # the rule asks for an hour; the control plane waits its own bound at most
            return await fetcher.resolve(_mesh(uri, timeout="1h")), loop.time() - started
        finally:
            await fetcher.close()

    try:
        mesh, took = asyncio.run(run())
    finally:
        for sock in accepted:
            sock.close()
        listener.close()
    assert mesh.jwks_errors[uri] == "no answer within 0.3s"
    assert took < 2.0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("x" * 2000, "larger than 1000 bytes"),
        ("<html>", "not a JSON Web Key Set"),
        ('{"keys": []}', "the key set is empty"),
        ('{"keys": [{"n": "x"}]}', "not a JSON Web Key Set"),
    ],
)
def test_bad_answers_are_refused(server: JwksServer, body: str, error: str) -> None:
    server.body = body

    async def run() -> MeshConfig:
        fetcher = JwksFetcher(JwksSettings(max_bytes=1000))
        try:
            return await fetcher.resolve(_mesh(server.uri))
        finally:
            await fetcher.close()

    mesh = asyncio.run(run())
    assert server.uri not in mesh.jwks
    assert error in mesh.jwks_errors[server.uri]


def test_analysis_reports_unfetched_and_stale_keys(server: JwksServer) -> None:
    from translators.analysis.jwks import jwks_messages

    async def run() -> tuple[MeshConfig, MeshConfig]:
        fetcher = JwksFetcher(JwksSettings(refresh_s=0.1, retry_s=0.1))
        try:
            fetched = await fetcher.resolve(_mesh(server.uri))
            server.status = 500
            await asyncio.sleep(0.15)
            stop = asyncio.Event()
            stale: list[MeshConfig] = []

            async def changed() -> None:
                stale.append(fetcher.attach(fetched))
                stop.set()

            await asyncio.wait_for(fetcher.run(stop, changed), 5)
            return fetched, stale[0]
        finally:
            await fetcher.close()

    fetched, stale = asyncio.run(run())
    assert jwks_messages(fetched) == []
    (message,) = jwks_messages(stale)
    assert (message.type.code, message.ref, message.field) == (
        "XDS0704",
        "RequestAuthentication/prod/idp",
        "spec.jwtRules[0].jwksUri",
    )
    assert "HTTP 500" in message.text
    never = MeshConfig(
        stale.objects, (), stale.services, stale.workloads, jwks_errors={server.uri: "HTTP 500"}
    )
    (message,) = jwks_messages(never)
    assert message.type.code == "XDS0703"


def test_keys_of_an_issuer_without_jwks_uri_come_from_openid_discovery(server: JwksServer) -> None:
    """Istio: no jwksUri, no jwks -> the issuer's /.well-known/openid-configuration names
    the keys' URI."""
    issuer = f"http://{server.host}:{server.port}/realm/"
    discovery = f"http://{server.host}:{server.port}/realm/.well-known/openid-configuration"
    server.documents["/realm/.well-known/openid-configuration"] = json.dumps(
        {"issuer": issuer, "jwks_uri": server.uri}
    )
    mesh = mesh_of(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
        "metadata: {name: idp, namespace: prod}\n"
        f"spec: {{jwtRules: [{{issuer: '{issuer}'}}]}}\n"
    )

    async def run() -> MeshConfig:
        fetcher = JwksFetcher()
        try:
            return await fetcher.resolve(mesh)
        finally:
            await fetcher.close()

    resolved = asyncio.run(run())
    assert json.loads(resolved.jwks[discovery]) == json.loads(server.body)
    assert server.requests == 2  # the discovery document, then the keys
    server.documents["/realm/.well-known/openid-configuration"] = '{"issuer": "x"}'
    assert "no jwks_uri" in asyncio.run(run()).jwks_errors[discovery]
