"""A tiny span collector for tests: Zipkin v2 JSON (`POST /api/v2/spans`) and OTLP/HTTP
(`POST /v1/traces`, protobuf) on 127.0.0.1, recording what it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _fields(buf: bytes) -> list[tuple[int, bytes | int]]:
    """(field number, value) of a protobuf message: just enough wire format to read OTLP
    without the OpenTelemetry protos (the bundled ones predate `scope_spans`)."""
    out: list[tuple[int, bytes | int]] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(buf):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            size = varint()
            out.append((number, buf[pos : pos + size]))
            pos += size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            out.append((number, buf[pos : pos + size]))
            pos += size
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _sub(buf: bytes | int, number: int) -> list[bytes]:
    assert isinstance(buf, bytes)
    return [v for n, v in _fields(buf) if n == number and isinstance(v, bytes)]


def _attributes(buf: bytes, number: int) -> dict[str, str]:
    """KeyValue{1: key, 2: AnyValue{1: string_value}} entries of field `number`."""
    out: dict[str, str] = {}
    for kv in _sub(buf, number):
        key = _sub(kv, 1)
        value = [s for any_value in _sub(kv, 2) for s in _sub(any_value, 1)]
        if key:
            out[key[0].decode()] = value[0].decode() if value else ""
    return out


def otlp_spans(body: bytes) -> list[dict[str, Any]]:
    """Spans of an OTLP ExportTraceServiceRequest: resource_spans(1) -> resource(1),
    scope_spans(2) -> spans(2) -> trace_id(1), name(5), attributes(9)."""
    spans: list[dict[str, Any]] = []
    for resource_spans in _sub(body, 1):
        resources = _sub(resource_spans, 1)
        service = _attributes(resources[0], 1).get("service.name", "") if resources else ""
        for scope_spans in _sub(resource_spans, 2):
            for span in _sub(scope_spans, 2):
                trace_id = _sub(span, 1)
                name = _sub(span, 5)
                spans.append(
                    {
                        "service": service,
                        "name": name[0].decode() if name else "",
                        "trace_id": trace_id[0].hex() if trace_id else "",
                        "attributes": _attributes(span, 9),
                    }
                )
    return spans


@dataclass
class FakeCollector:
    port: int = 0
    zipkin_spans: list[dict[str, Any]] = field(default_factory=list)
    otlp_spans: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str, body: bytes) -> None:
        with self.lock:
            if path == "/api/v2/spans":
                self.zipkin_spans.extend(json.loads(body))
            elif path == "/v1/traces":
                self.otlp_spans.extend(otlp_spans(body))

    def zipkin(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.zipkin_spans)

    def otlp(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.otlp_spans)


@contextmanager
def fake_collector(host: str = "127.0.0.1") -> Iterator[FakeCollector]:
    collector = FakeCollector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            collector.record(self.path, self._body())
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()

        def _body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("content-length") or 0))
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    collector.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
