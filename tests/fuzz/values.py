"""Interesting values per field type: what Istio users write, the boundaries of the
protobuf and Envoy types behind each field, and the mistakes that once got through
(`10.0.2.1inf`, `2**40`, `100%`). Shared by the hypothesis strategies and the mutation
fuzzer so both probe the same edges."""

from __future__ import annotations

INTS = (0, 1, 2, 3, 7, 10, 100, 1000, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, -1)
PORTS = (80, 8080, 9090, 15001, 15006, 1, 65535, 0, 65536, 70000, -1)
PERCENTS = (0, 0.00001, 0.0001, 0.5, 1, 10, 50, 99.9999, 100, 100.5, -1)
HOSTS = (
    "order-service",
    "order-service.default.svc.cluster.local",
    "api.example.com",
    "*.example.com",
    "*",
    "a.*.com",
    "*foo.example.com",
    "",
    "UPPER.example.com",
    "a..b",
    "trailing.example.com.",
    "b_ad.example.com",
    "123",
    "a.123",
    "10.0.0.1",
    "x" * 64 + ".example.com",
    "a." * 130 + "com",
    "xn--bcher-kva.example",
    "-lead.example.com",
    "*.*.example.com",
)
ADDRESSES = (
    "10.0.0.1",
    "127.0.0.1",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "",
    "10.0.2.1inf",
    "unix:///var/run/app.sock",
    "unix://relative.sock",
    "unix://@abstract",
    "unix://",
    "a.example.com",
    "0.0.0.0",
    "1.2.3.4.5",
    "10.0.0.1/24",
    "[::1]",
    "999.1.1.1",
)
CIDRS = ("10.0.0.0/8", "10.0.0.1", "::/0", "10.0.0.0/33", "bad", "", "0.0.0.0/0", "fe80::/10")
HEADER_NAMES = (
    "x-a",
    "X-Upper",
    "x a",
    "",
    ":authority",
    ":path",
    "host",
    "x_under",
    "x-a\n",
    "content-length",
    "x-%",
    "x-é",
    "te",
    "connection",
)
HEADER_VALUES = (
    "v",
    "",
    "100%",
    "100%%",
    "%HOSTNAME%",
    "%REQ(x-a)%",
    "%START_TIME%%",
    "a\nb",
    "\x01",
    "%FOO%",
    '%UPSTREAM_METADATA(["a","b"])%',
    "%DOWNSTREAM_REMOTE_ADDRESS%",
    " spaced ",
    "ü",
    "%%%",
    "%REQ(x-a",
    "%%REQ(x)%%",
    "\t tab",
    "a\rb",
    "%ENVIRONMENT(HOME)%",
    "%START_TIME(%s.%3f)%",
)
DURATIONS = (
    "1s",
    "0s",
    "0.5s",
    "1ms",
    "1.5ms",
    "100ms",
    "1m30s",
    "1h",
    "99999999999h",
    "315576000000s",
    "315576000001s",
    "0.0001s",
    "1us",
    "10000h",
    "2562047h",
    "2562048h",
    "9223372035s",
    "9223372036s",
    5,
    "abc",
    "",
)
REGEXES = (
    ".*",
    "[a-z]+",
    "^/api",
    "(?=a)",
    "a{1001}",
    "a{1000}",
    "[a-z]{60}",
    "(a|b)*c",
    "\\d+",
    "(?i)abc",
    "",
    "\\pL",
    "[[:alpha:]]",
    "a**",
    "(",
    "*",
    "((((((((((a))))))))))",
    "(a+)+$",
    "\\1",
    "x{2,1}",
)
TEXTS = ("a", "", "/", "/api", "/a b", "/\x00", "a\nb", "ü", "%", "?q=1", "//", "*", "a" * 300)
NAMES = ("a", "b", "order-service", "client", "x", "Bad_Name", "", "a" * 254, "v1", "-a")
NAMESPACES = ("default", "other", "istio-system", "Bad", "")
LABELS: tuple[dict[str, str], ...] = (
    {},
    {"app": "order-service"},
    {"app": "client"},
    {"version": "v1"},
    {"app": "order-service", "version": "v2"},
    {"app": "x"},
    {"bad key!": "v"},
)
PROTOCOLS = ("HTTP", "HTTP2", "HTTPS", "GRPC", "TCP", "TLS", "MONGO", "REDIS", "MYSQL", "http", "X")
RESOLUTIONS = ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "BAD")
RETRY_ON = ("5xx", "gateway-error,connect-failure", "503", "retriable-4xx,999", "bogus", "", ",")
SUBSETS = ("v1", "v2", "v3", "", "Bad_Name", "a.b")
