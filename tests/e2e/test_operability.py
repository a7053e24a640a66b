"""The operator commands against a real control plane and real Envoy sidecars.

`proxy-status` / `proxy-config` / `describe` run as a user runs them (click's runner in
a thread while the control plane serves in this process, or the installed CLI as a
subprocess against `xdscp up`); nothing is mocked on either side of the debug API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from cryptography import x509
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from tests.cli.hygiene import run_xdscp
from tests.e2e.harness import relocate_example, wait_until, xdscp_up
from tests.e2e.injected import canary_mesh, inject_rejected_cluster
from xdscp.cache import SECRET_TYPE
from xdscp.cli_proxy_config import proxy_config
from xdscp.cli_proxy_status import proxy_status
from xdscp.local.mesh import LocalMesh

pytestmark = pytest.mark.e2e


# The commands themselves, not the `xdscp` group: the group configures logging, which
# would redirect the in-process control plane's logs into the runner's captured streams.
_COMMANDS = {"proxy-status": proxy_status, "proxy-config": proxy_config}


def _cli(command: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_COMMANDS[command], list(args))
    return result.exit_code, result.stdout


async def _acli(*args: str) -> tuple[int, str]:
    return await asyncio.to_thread(_cli, *args)


def ca_serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificates(pem)[0].serial_number


def _admin(local: LocalMesh, workload: str) -> str:
    row = next(w for w in local.state()["workloads"] if w["workload"] == workload)
    return str(row["admin"])


@pytest.fixture
def logs_to_stderr() -> Iterator[None]:
    """The in-process control plane logs to stdout by default (structlog unconfigured),
    which the CLI runner captures as the command's output; point it at stderr."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    try:
        yield
    finally:
        structlog.configure(**saved)


async def test_nack_shows_in_proxy_status_within_a_second_and_in_the_envoy_diff(
    tmp_path: Path, logs_to_stderr: None
) -> None:
    async with canary_mesh(tmp_path) as (plane, local):
        server = plane.debug_url
        admin = _admin(local, "default/client")

        # Healthy: what Envoy runs is what was sent, type by type, resource by resource.
        code, out = await _acli(
            "proxy-config", "all", "default/client", "--server", server, "--envoy-admin", admin
        )
        assert (code, out) == (0, ""), out

        # Secrets, in every output format: certificate facts, never the key.
        snapshot = plane.cache.get("default/client")
        assert snapshot is not None
        secret = secret_pb2.Secret.FromString(snapshot.get(SECRET_TYPE).resources["default"].body)
        key_pem = secret.tls_certificate.private_key.inline_bytes.decode()
        assert "PRIVATE KEY" in key_pem  # the cache really holds the key we must not show
        key_lines = [line for line in key_pem.splitlines() if line and "-----" not in line]
        key_b64 = base64.b64encode(key_pem.encode()).decode()
        for output in ("table", "json", "yaml"):
            code, out = await _acli(
                "proxy-config", "secrets", "client", "--server", server, "-o", output
            )
            assert code == 0, out
            assert "PRIVATE KEY" not in out
            assert not any(line in out for line in key_lines), output
            assert key_b64[:24] not in out and key_b64[-40:-4] not in out, output
            assert "spiffe://cluster.local/ns/default/sa/client" in out
        code, out = await _acli(
            "proxy-config", "secrets", "client", "--server", server, "-o", "json"
        )
        by_name = {r["name"]: r for r in json.loads(out)["resources"]}
        serial = by_name["default"]["certificates"][0]["serial"]
        assert serial == format(
            ca_serial(secret.tls_certificate.certificate_chain.inline_bytes), "x"
        )
        code, out = await _acli("proxy-config", "secrets", "client", "--server", server)
        assert serial in out

        # A Cluster Envoy must reject (connect_timeout must be > 0).
        injected = time.monotonic()
        inject_rejected_cluster(plane, "default/client")

        shown: dict[str, Any] = {}
        for _ in range(100):
            code, out = await _acli("proxy-status", "--server", server, "-o", "json")
            shown = json.loads(out)["default/client"]["types"]["CDS"]
            if shown["state"] == "NACK":
                break
            await asyncio.sleep(0.02)
        seen_after = time.monotonic() - injected
        print(f"proxy-status showed the NACK {seen_after * 1000:.0f} ms after the injection")
        assert shown["state"] == "NACK", shown
        assert seen_after < 1.0
        assert shown["last_nack"]["provenance"] == ["Test/default/injected"]
        assert shown["last_nack"]["resources"] == ["broken-cluster"]

        code, out = await _acli("proxy-status", "--server", server)
        assert code == 0, out
        print(out)
        row = next(line for line in out.splitlines() if line.startswith("default/client"))
        assert re.search(r"\bNACK [0-9a-f]{8}\b", row), row
        assert "spiffe://cluster.local/ns/default/sa/client" in row
        assert "NACK default/client CDS" in out
        assert "positive duration" in out
        assert "resources: broken-cluster" in out
        assert "sources:   Test/default/injected" in out
        other = next(line for line in out.splitlines() if line.startswith("default/order-v1"))
        assert "NACK" not in other and "SYNCED" in other

        # Envoy runs everything but the rejected cluster: exactly that is the difference.
        code, out = await _acli(
            "proxy-config", "all", "default/client", "--server", server, "--envoy-admin", admin,
            "-o", "json",
        )  # fmt: skip
        assert code == 1, out
        assert json.loads(out) == [
            {
                "type": "clusters",
                "name": "broken-cluster",
                "difference": "missing in Envoy",
                "sources": ["Test/default/injected"],
                "detail": "",
            }
        ]
        code, out = await _acli(
            "proxy-config", "clusters", "client", "--server", server, "--envoy-admin", admin
        )
        assert code == 1
        assert re.search(
            r"clusters\s+broken-cluster\s+missing in Envoy\s+Test/default/injected", out
        )


def _metrics(debug: str) -> str:
    with urllib.request.urlopen(f"{debug}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


def _sample(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_cli_on_a_running_mesh_and_the_propagation_histogram(tmp_path: Path) -> None:
    config, _ = relocate_example("canary", tmp_path)
    with xdscp_up(config, tmp_path) as mesh:
        debug = mesh.state["debug"]
        admin = mesh.workload("default/order-v1")["admin"]

        status = run_xdscp("proxy-status", "--server", debug)
        assert status.returncode == 0, status.stderr
        rows = {line.split()[0]: line for line in status.stdout.splitlines()[1:] if line}
        assert set(rows) == {"default/client", "default/order-v1", "default/order-v2"}
        assert all("NACK" not in row and "STALE" not in row for row in rows.values()), rows
        assert "spiffe://cluster.local/ns/default/sa/order-service" in rows["default/order-v1"]

        clusters = run_xdscp("proxy-config", "clusters", "default/client", "--server", debug)
        assert clusters.returncode == 0, clusters.stderr
        assert re.search(
            r"order-service\.default\.svc\.cluster\.local\s+8080\s+v2\s+outbound\s+EDS\s+"
            r"\S*DestinationRule/default/order-service-subsets",
            clusters.stdout,
        ), clusters.stdout
        routes = run_xdscp("proxy-config", "routes", "client", "--server", debug)
        assert "VirtualService/default/order-service-routing" in routes.stdout
        assert re.search(r"outbound\|8080\|v1\|\S+ 90, outbound\|8080\|v2\|\S+ 10", routes.stdout)

        diff = run_xdscp(
            "proxy-config", "all", "order-v1", "--server", debug, "--envoy-admin", admin
        )
        assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", ""), diff.stdout

        described = run_xdscp("describe", "order-v2", "--server", debug, "-o", "json")
        assert described.returncode == 0, described.stderr
        facts = json.loads(described.stdout)
        assert facts["destination_rules"][0]["workload_subsets"] == ["v2"]
        assert facts["virtual_services"][0]["routes_here"] == [
            {"rule": "http[0]", "subset": "v2", "weight_percent": 10}
        ]

        before = _metrics(debug)
        assert "_created" not in before
        svid_expiry = _sample(before, 'xdscp_certificate_expiry_seconds{kind="svid"}')
        assert 3600 < svid_expiry <= 86400  # up's default SVID lifetime is a day
        # the CA outlives every SVID it signs (a fresh root: years)
        assert _sample(before, 'xdscp_certificate_expiry_seconds{kind="root"}') > 365 * 86400
        count = _sample(before, "xdscp_config_propagation_seconds_count")
        generation = _sample(before, "xdscp_config_generation")

        routing = config / "routing.yaml"
        routing.write_text(
            routing.read_text()
            .replace("weight: 90", "weight: 50")
            .replace("weight: 10", "weight: 50")
        )
        assert wait_until(
            lambda: _sample(_metrics(debug), "xdscp_config_propagation_seconds_count") > count,
            timeout=15,
        ), mesh.log()
        after = _metrics(debug)
        assert _sample(after, "xdscp_config_generation") > generation
        assert _sample(after, "xdscp_config_propagation_timeouts_total") == 0
        assert _sample(after, "xdscp_config_propagation_seconds_sum") < 5
        assert "_created" not in after
        print(
            "config change -> all ACKed:",
            round(_sample(after, "xdscp_config_propagation_seconds_sum"), 4),
            "s (sum over generations)",
        )
