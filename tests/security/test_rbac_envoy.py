"""The RBAC evaluator agrees with real Envoy.

orders' generated inbound listener (PERMISSIVE: mTLS and plaintext) is served by a real
Envoy with a real SVID and trust bundle from the CA, its route answering 200 directly;
each call of the AuthorizationPolicy table is made over mutual TLS with a client SVID
of the call's identity (or plaintext), and Envoy's 200 / 403 compared with the
evaluator's verdict.
"""

from __future__ import annotations

import http.client
import random
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

import ca
from tests.envoy_run import static_envoy
from tests.envoy_validate import build_bootstrap, find_envoy
from tests.security.test_authz_behaviour import HTTP_TABLE, POLICIES, orders_with
from translators.behaviour.rbac import ALLOWED, DENIED, Call, inbound_listener, listener_verdict
from translators.envoy.secrets import root_secret, workload_secret
from translators.naming import LISTENER_TYPE, SECRET_TYPE

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_envoy() is None, reason="no envoy binary"),
]

START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Raw:
    type_url: str
    message: Message


def _answering(listener: listener_pb2.Listener, address: str) -> listener_pb2.Listener:
    """A copy bound to `address`, whose inbound route answers 200 itself."""
    out = listener_pb2.Listener()
    out.CopyFrom(listener)
    out.address.socket_address.address = address
    for chain in out.filter_chains:
        manager = hcm_pb2.HttpConnectionManager()
        chain.filters[0].typed_config.Unpack(manager)
        for vhost in manager.route_config.virtual_hosts:
            for route in vhost.routes:
                route.ClearField("route")
                route.direct_response.status = 200
        chain.filters[0].typed_config.Pack(manager)
    return out


@contextmanager
def envoy_serving(
    listener: listener_pb2.Listener, authority: ca.CertificateAuthority
) -> Iterator[str]:
    address = f"127.0.{random.randint(100, 250)}.{random.randint(2, 250)}"
    server = ca.issue_svid(authority, "spiffe://cluster.local/ns/prod/sa/orders")
    resources = [
        Raw(LISTENER_TYPE, _answering(listener, address)),
        Raw(SECRET_TYPE, workload_secret(server.cert_chain_pem, server.key_pem)),
        Raw(SECRET_TYPE, root_secret(authority.trust_bundle().pem)),
    ]
    bootstrap = build_bootstrap(resources)
    port = listener.address.socket_address.port_value
    with static_envoy(bootstrap, address, port, prefix="rbac-"):
        yield address


def _call(address: str, call: Call, authority: ca.CertificateAuthority, tmp: Path) -> str:
    if call.peer is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(address, call.port, timeout=5)
    else:
        svid = ca.issue_svid(authority, call.peer)
        cert, key = tmp / "client.pem", tmp / "client.key"
        cert.write_text(svid.cert_chain_pem)
        key.write_text(svid.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.load_cert_chain(cert, key)
        conn = http.client.HTTPSConnection(address, call.port, timeout=5, context=context)
    try:
        conn.request(call.method, call.path, headers={"Host": call.host, **call.headers})
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status in (200, 403), status
    return ALLOWED if status == 200 else DENIED


def test_evaluator_agrees_with_envoy_on_authorization(tmp_path: Path) -> None:
    table = HTTP_TABLE
    listener = inbound_listener(orders_with(POLICIES), 8080)
    authority = ca.new_root_ca()
    with envoy_serving(listener, authority) as address:
        answers = []
        for call, _ in table:
            local = replace(call, source_ip="127.0.0.1")
            answers.append(
                (
                    call,
                    _call(address, local, authority, tmp_path),
                    listener_verdict(listener, local),
                )
            )
    disagreements = [f"{c}: envoy {e}, evaluator {v}" for c, e, v in answers if e != v]
    assert not disagreements, "\n".join(disagreements)
    assert {e for _, e, _ in answers} == {ALLOWED, DENIED}
