"""DestinationRule `trafficPolicy.tunnel` end to end with real Envoy through `xdscp up`: a
TCP connection to the client's sidecar for the forward proxy's host is carried inside an
HTTP/1.1 CONNECT (or POST) to `targetHost:targetPort` through that proxy, as Istio's
tcp_proxy tunneling_config does. A local CONNECT proxy records what it was asked and
relays to a local echo server."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.e2e.harness import MeshScenario, free_port, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

FORWARD_PROXY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: forward-proxy}}
spec:
  hosts: [proxy.corp.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 3128, name: tcp, protocol: TCP}}]
  endpoints: [{{address: {proxy}, ports: {{tcp: {proxy_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: forward-proxy}}
spec:
  host: proxy.corp.example
  trafficPolicy:
    tunnel: {{protocol: {protocol}, targetHost: {target}, targetPort: {target_port}}}
"""


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(b"echo:" + data)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(4096):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _unchunk(source: socket.socket, sink: socket.socket, pending: bytes) -> None:
    """A POST tunnel over HTTP/1.1 carries the stream as a chunked request body: relay
    the chunks' payload."""
    buffer = pending
    try:
        while True:
            while b"\r\n" not in buffer:
                data = source.recv(4096)
                if not data:
                    return
                buffer += data
            size_line, _, buffer = buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            while len(buffer) < size + 2:
                data = source.recv(4096)
                if not data:
                    return
                buffer += data
            sink.sendall(buffer[:size])
            buffer = buffer[size + 2 :]
    except OSError:
        pass
    finally:
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class _TunnelProxy(socketserver.BaseRequestHandler):
    """An HTTP/1.1 forward proxy for CONNECT (and Envoy's POST tunnels): records the
    request line, answers 200 and relays the bytes that follow to the target (a POST's
    chunked body unwrapped; the answer is close-delimited, raw)."""

    seen: list[str] = []
    target: tuple[str, int] = ("", 0)

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        raw, _, rest = head.partition(b"\r\n\r\n")
        line = raw.split(b"\r\n")[0].decode()
        self.seen.append(line)
        method, authority = line.split()[:2]
        if method == "CONNECT":
            host, _, port = authority.rpartition(":")
        else:  # POST tunnel: the target is the Host header, as Envoy sends it
            host, port = self.target[0], str(self.target[1])
        upstream = socket.create_connection((host, int(port)), timeout=5)
        self.request.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        back = threading.Thread(target=_pipe, args=(upstream, self.request), daemon=True)
        back.start()
        if method == "CONNECT":
            if rest:
                upstream.sendall(rest)
            _pipe(self.request, upstream)
        else:
            _unchunk(self.request, upstream, rest)
        back.join(5)
        upstream.close()


@contextmanager
def _serving(handler: type[socketserver.BaseRequestHandler], address: str) -> Iterator[int]:
    port = free_port(address)
    server = socketserver.ThreadingTCPServer((address, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _exchange(address: str, port: int, payload: bytes) -> bytes:
    try:
        with socket.create_connection((address, port), timeout=3) as conn:
            conn.sendall(payload)
            return conn.recv(4096)
    except OSError:
        return b""


@pytest.mark.parametrize("protocol", ["CONNECT", "POST"])
def test_tcp_through_a_tunnel(tmp_path: Path, protocol: str) -> None:
    scenario = MeshScenario(subnet=11)
    client = scenario.workload("client", 1)
    proxy, target = scenario.address(2), scenario.address(3)
    scenario.client_sidecar("client", [(3128, "TCP")], hosts=("*/*",))
    _TunnelProxy.seen = []
    with _serving(_Echo, target) as target_port, _serving(_TunnelProxy, proxy) as proxy_port:
        _TunnelProxy.target = (target, target_port)
        scenario.add(
            FORWARD_PROXY.format(
                proxy=proxy,
                proxy_port=proxy_port,
                target=target,
                target_port=target_port,
                protocol=protocol,
            )
        )
        config = scenario.write(tmp_path)
        with xdscp_up(config, tmp_path):
            assert wait_until(lambda: _exchange(client, 3128, b"hi") == b"echo:hi", 30)
        expected = f"CONNECT {target}:{target_port}" if protocol == "CONNECT" else "POST /"
        assert _TunnelProxy.seen and _TunnelProxy.seen[0].startswith(expected), _TunnelProxy.seen
