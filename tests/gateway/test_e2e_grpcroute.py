"""GRPCRoute end to end with real Envoy and real gRPC servers (grpcio), through the real
`xdscp up` CLI: a Gateway API Gateway with an HTTP listener (gRPC over h2c, prior
knowledge) and a GRPCRoute that matches on service/method and on a header and splits by
weight between two backends. The gateway speaks HTTP/2 to the backends because their
ports say so (`GRPC`, `HTTP2`), and the backends' gRPC status codes reach the client
intact (NOT_FOUND stays NOT_FOUND, not an HTTP error turned UNAVAILABLE/UNKNOWN)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from tests.e2e.harness import relocate_example, wait_until, xdscp_up

pytestmark = pytest.mark.e2e

SERVICE = "demo.Echo"

CONFIG = """\
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: grpc-gateway}}
spec:
  address: {gateway}
  labels: {{gateway.networking.k8s.io/gateway-name: grpc}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo-one}}
spec:
  hosts: [echo-one]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]
  endpoints: [{{address: {one_address}, ports: {{grpc: {one_port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo-two}}
spec:
  hosts: [echo-two]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 50051, name: h2, protocol: HTTP2}}]
  endpoints: [{{address: {two_address}, ports: {{h2: {two_port}}}}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: grpc}}
spec:
  gatewayClassName: xdscp
  listeners:
  - {{name: grpc, port: 8090, protocol: HTTP}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: echo}}
spec:
  parentRefs: [{{name: grpc}}]
  rules:
  - matches:
    - method: {{service: demo.Echo, method: Which}}
      headers: [{{name: x-backend, value: two}}]
    backendRefs: [{{name: echo-two, port: 50051}}]
  - matches: [{{method: {{service: demo.Echo, method: Which}}}}]
    backendRefs: [{{name: echo-one, port: 50051}}]
  - matches: [{{method: {{service: demo.Echo, method: Split}}}}]
    backendRefs:
    - {{name: echo-one, port: 50051, weight: 80}}
    - {{name: echo-two, port: 50051, weight: 20}}
  - matches: [{{method: {{service: demo.Echo, method: Missing}}}}]
    backendRefs: [{{name: echo-one, port: 50051}}]
"""


def _echo_handler(name: str) -> grpc.GenericRpcHandler[bytes, bytes]:
    """demo.Echo with raw bytes in and out (no .proto): Which and Split answer the
    backend's name, Missing fails with NOT_FOUND and a message."""

    def which(request: bytes, context: grpc.ServicerContext) -> bytes:
        return name.encode()

    def missing(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(grpc.StatusCode.NOT_FOUND, f"nothing here on {name}")
        raise AssertionError("abort returns only by raising")

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Which": grpc.unary_unary_rpc_method_handler(which),
            "Split": grpc.unary_unary_rpc_method_handler(which),
            "Missing": grpc.unary_unary_rpc_method_handler(missing),
        },
    )


@contextmanager
def echo_server(name: str, address: str) -> Iterator[int]:
    """A real gRPC server (plaintext HTTP/2) on an ephemeral port of `address`."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((_echo_handler(name),))
    port = server.add_insecure_port(f"{address}:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None).wait(5)


def call(channel: grpc.Channel, method: str, metadata: tuple[tuple[str, str], ...] = ()) -> str:
    # no serializers: raw bytes both ways
    stub = channel.unary_unary(f"/{SERVICE}/{method}", None, None)
    answer: bytes = stub(b"hello", metadata=metadata, timeout=5)
    return answer.decode()


def test_grpcroute_method_header_weights_and_status(tmp_path: Path) -> None:
    config, octet = relocate_example("gateway", tmp_path)
    gateway = f"127.{octet}.4.5"
    with (
        echo_server("one", f"127.{octet}.5.2") as one_port,
        echo_server("two", f"127.{octet}.5.3") as two_port,
    ):
        (config / "grpc.yaml").write_text(
            CONFIG.format(
                gateway=gateway,
                one_address=f"127.{octet}.5.2",
                one_port=one_port,
                two_address=f"127.{octet}.5.3",
                two_port=two_port,
            )
        )
        with xdscp_up(config, tmp_path) as mesh, grpc.insecure_channel(f"{gateway}:8090") as ch:
            assert mesh.workload("default/grpc-gateway")["call_through"] == [f"{gateway}:8090"]

            def answering() -> bool:
                # a fresh channel per try: a refused connection puts a channel in
                # reconnect backoff (up to minutes), which would outlast the listener's start
                try:
                    with grpc.insecure_channel(f"{gateway}:8090") as fresh:
                        return call(fresh, "Which") == "one"
                except grpc.RpcError:  # listener or route not there yet
                    return False

            assert wait_until(answering, 30, interval=0.2), mesh.log()
            # method match: Which reaches backend one; with the header, backend two
            assert call(ch, "Which") == "one"
            assert call(ch, "Which", (("x-backend", "two"),)) == "two"
            assert call(ch, "Which", (("x-backend", "three"),)) == "one"

            # the backend's own status comes back intact through the gateway
            with pytest.raises(grpc.RpcError) as failed:
                call(ch, "Missing")
            error: grpc.Call = failed.value  # type: ignore[assignment]
            assert error.code() is grpc.StatusCode.NOT_FOUND
            assert error.details() == "nothing here on one"

            # a method no rule matches: the gateway answers 404, which gRPC maps to
            # UNIMPLEMENTED (the spec's mapping of HTTP 404)
            with pytest.raises(grpc.RpcError) as unrouted:
                call(ch, "Nope")
            assert unrouted.value.code() is grpc.StatusCode.UNIMPLEMENTED

            # 80/20 within 4 sigma of the binomial
            n = 200
            served = Counter(call(ch, "Split") for _ in range(n))
            assert set(served) <= {"one", "two"}
            sigma = math.sqrt(n * 0.8 * 0.2)
            assert abs(served["one"] - 0.8 * n) <= 4 * sigma, served
