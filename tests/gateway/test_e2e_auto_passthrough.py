"""Istio's AUTO_PASSTHROUGH with real Envoy, through the real `xdscp up` CLI: a client
outside the mesh holding a mesh certificate (issued by the running control plane's CA)
connects to the ingress gateway with the mesh mTLS SNI of productpage's cluster,
`outbound_.9080_._.productpage.default.svc.cluster.local`, and no VirtualService. The
gateway does not decrypt: the TLS handshake is with productpage's own sidecar (its SPIFFE
identity is the peer certificate), which sees the client's identity; an SNI naming no
cluster is refused."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509

import ca
from tests.e2e.harness import relocate_example, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 15443, name: tls, protocol: TLS}
    hosts: ["*.local"]
    tls: {mode: AUTO_PASSTHROUGH}
"""

CLIENT_ID = "spiffe://cluster.local/ns/outside/sa/remote-client"
PRODUCTPAGE_SNI = "outbound_.9080_._.productpage.default.svc.cluster.local"


def mesh_client_context(work: Path) -> ssl.SSLContext:
    """TLS as a sidecar speaks it: a mesh SVID, the mesh root trusted (SPIFFE IDs are
    URI names, so no hostname check)."""
    authority = ca.load_or_create_root_ca(work / "ca")
    svid = ca.issue_svid(authority, CLIENT_ID)
    (work / "client.pem").write_text(svid.cert_chain_pem)
    (work / "client.key").write_text(svid.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cadata=authority.trust_bundle().pem)
    context.load_cert_chain(work / "client.pem", work / "client.key")
    return context


def get_through(
    context: ssl.SSLContext, address: str, sni: str, path: str = "/productpage"
) -> tuple[list[str], str]:
    """(URI names of the peer's certificate, the HTTP response) of one request."""
    with (
        socket.create_connection((address, 15443), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
        assert der is not None
        names = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: productpage\r\nConnection: close\r\n\r\n".encode()
        )
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return uris, b"".join(chunks).decode(errors="replace")


def test_auto_passthrough_reaches_the_sidecar_by_mesh_sni(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    (config / "cross-network.yaml").write_text(GATEWAY)
    with xdscp_up(config, tmp_path) as mesh:
        gateway = f"127.{octet}.4.1"
        assert f"{gateway}:15443" in mesh.workload("default/istio-ingressgateway")["call_through"]
        context = mesh_client_context(tmp_path)

        def answering() -> bool:
            try:
                return " 200 " in get_through(context, gateway, PRODUCTPAGE_SNI)[1]
            except (ssl.SSLError, OSError):
                return False

        assert wait_until(answering, 30, interval=0.2), mesh.log()
        uris, response = get_through(context, gateway, PRODUCTPAGE_SNI)
        # the handshake was with productpage's sidecar, not the gateway
        assert uris == ["spiffe://cluster.local/ns/default/sa/bookinfo-productpage"]
        head, _, body = response.partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 200"), response
        answer = json.loads(body)
        assert answer["workload"] == "productpage-v1"
        # and the sidecar saw the remote client's mesh identity
        assert f"URI={CLIENT_ID}" in answer["caller"]

        # an SNI naming no cluster matches no filter chain: closed by the gateway
        with pytest.raises((ssl.SSLError, OSError)):
            get_through(context, gateway, "outbound_.9080_._.nothing.default.svc.cluster.local")
