"""Tunables of the ADS server, with defaults an operator can leave alone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AdsSettings:
    """Every wait of the server is bounded by one of these."""

    # Reported to Envoy in every response (`control_plane.identifier`, visible in
    # config dumps): which replica served the config. None = omitted.
    control_plane_id: str | None = None
    # A connection that never sends its first request holds a slot forever otherwise.
    first_request_timeout: float = 30.0
    # A proxy that stops reading must not pin a stream (and its lock) forever:
    # a write stuck this long ends the stream (checked by a sweep, not per write).
    write_timeout: float = 60.0
    # Server-side HTTP/2 keepalive: detects proxies that vanished without a FIN.
    keepalive_time: float = 30.0
    keepalive_timeout: float = 10.0
    # Envoy's Node can be ~60 KB and DiscoveryRequests list every EDS name; Istio's
    # default is the same 4 MB. A larger request is refused by gRPC (RESOURCE_EXHAUSTED)
    # before it is parsed.
    max_receive_message_bytes: int = 4 * 1024 * 1024
    # Resource names are client-chosen and each costs memory (and, for EDS, an answer):
    # a request naming more, or a stream subscribed to more (all types together), is
    # closed with RESOURCE_EXHAUSTED. 50,000 EDS clusters is a very large mesh.
    max_names_per_request: int = 50_000
    max_names_per_stream: int = 100_000
    # Type URLs are client-chosen; bound the per-stream state they create.
    max_types_per_stream: int = 16
    # A NACK's error_detail is kept (per proxy and type) and logged: at most this much.
    max_error_detail_chars: int = 4096
    # The same error from the same proxy (a NACK storm, a malformed request repeated) is
    # logged once per change, and then at most once per this many seconds.
    repeated_log_interval: float = 60.0
    # Shared SotW responses (see wire.SotwResponses).
    body_cache_entries: int = 8192
    body_cache_bytes: int = 256 * 1024 * 1024
    # Delta streams get route configurations as VHDS shells and their virtual hosts one
    # by one, so a VirtualService edit sends one virtual host, not the whole route
    # configuration (needs Envoy >= 1.37, which accepts VHDS over delta ADS). SotW
    # streams always get whole route configurations.
    vhds: bool = True
    # Optional: close connections after this long so proxies rebalance across
    # replicas (Istio uses 30 min). 0 = never.
    max_connection_age: float = 0.0

    def grpc_options(self) -> list[tuple[str, int]]:
        options = [
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            # xDS streams can be idle for hours; keep pinging without data frames.
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.max_receive_message_length", self.max_receive_message_bytes),
            ("grpc.max_send_message_length", -1),
            # Two servers must never silently share a port (tests, misconfigured replicas).
            ("grpc.so_reuseport", 0),
        ]
        if self.max_connection_age > 0:
            options.append(("grpc.max_connection_age_ms", int(self.max_connection_age * 1000)))
            options.append(("grpc.max_connection_age_grace_ms", 10_000))
        return options
