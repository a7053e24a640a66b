"""The operator commands without a running mesh: unreachable servers, `describe -f DIR`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.e2e.harness import free_port
from xdscp.cli import main

REPO = Path(__file__).resolve().parents[2]
CANARY = REPO / "examples" / "canary"
STRICT = REPO / "examples" / "strict-mtls"


@pytest.mark.parametrize(
    "args",
    [
        ["proxy-status"],
        ["proxy-config", "clusters", "default/client"],
        ["describe", "client"],
    ],
)
def test_unreachable_server_is_one_line_not_a_traceback(args: list[str]) -> None:
    server = f"http://127.0.0.1:{free_port()}"  # bound and released: nothing listens
    result = CliRunner().invoke(main, [*args, "--server", server])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: cannot reach") and "--server" in lines[0]


def test_describe_from_directory_names_subset_route_share_and_policies() -> None:
    result = CliRunner().invoke(main, ["describe", "default/order-v2", "-f", str(CANARY)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "order-service.default.svc.cluster.local  (ServiceEntry/default/order-service)" in out
    assert "port 8080/HTTP (http) -> 8080" in out
    assert "DestinationRule/default/order-service-subsets" in out and "subset v2" in out
    assert "VirtualService/default/order-service-routing" in out
    assert "10% here subset v2" in out
    assert "Sidecar/default/order-service" in out


def test_describe_json_shows_peer_authentication_per_port_and_authz() -> None:
    result = CliRunner().invoke(main, ["describe", "orders-v1", "-f", str(STRICT), "-o", "json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.output)
    peer = described["peer_authentication"]
    assert peer["mode"] == "STRICT"
    assert peer["sources"] and all(s.startswith("PeerAuthentication/") for s in peer["sources"])
    assert set(peer["ports"].values()) == {"STRICT"}
    policies = {p["policy"]: p["action"] for p in described["authorization_policies"]}
    assert policies == {
        "AuthorizationPolicy/prod/orders-readers": "ALLOW",
        "AuthorizationPolicy/prod/orders-no-admin": "DENY",
    }


def test_describe_unknown_workload_lists_known_ones() -> None:
    result = CliRunner().invoke(main, ["describe", "nope", "-f", str(CANARY)])
    assert result.exit_code == 1
    assert "no workload 'nope'" in result.output and "default/client" in result.output
    assert "Traceback" not in result.output


def test_describe_shows_the_analysis_messages_that_concern_the_workload(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh"
    shutil.copytree(CANARY, mesh)
    routing = mesh / "routing.yaml"
    routing.write_text(routing.read_text().replace("subset: v2", "subset: v3"))
    result = CliRunner().invoke(main, ["describe", "order-v1", "-f", str(mesh)])
    assert result.exit_code == 0, result.output
    analysis = result.output.split("\nAnalysis:", 1)[1]
    assert "XDS0102 Error VirtualService/default/order-service-routing" in analysis, analysis
    assert "v3" in analysis and "fix: " in analysis
    # the healthy mesh has nothing to say about this workload
    clean = CliRunner().invoke(main, ["describe", "order-v1", "-f", str(CANARY), "-o", "json"])
    assert json.loads(clean.output)["analysis"] == []


def test_describe_names_every_merged_destination_rule_and_what_the_merge_drops(
    tmp_path: Path,
) -> None:
    """Istio merges a second DestinationRule for the host: describe names both, and the
    analysis says which of the later rule's subsets is ignored (XDS0108)."""
    mesh = tmp_path / "mesh"
    shutil.copytree(CANARY, mesh)
    (mesh / "more.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        "metadata: {name: order-service-zz-more, namespace: default}\n"
        "spec:\n  host: order-service\n"
        "  subsets: [{name: v2, labels: {version: v1}}, {name: v3, labels: {version: v2}}]\n"
    )
    result = CliRunner().invoke(main, ["describe", "default/order-v2", "-f", str(mesh)])
    assert result.exit_code == 0, result.output
    assert (
        "DestinationRule/default/order-service-subsets + "
        "DestinationRule/default/order-service-zz-more" in result.output
    ), result.output
    # the merged rule's subsets: v2 is the older rule's (version v2), v3 the later one's
    assert "subset v2, v3" in result.output, result.output
    analysis = result.output.split("\nAnalysis:", 1)[1]
    assert "XDS0108 Warning DestinationRule/default/order-service-zz-more" in analysis, analysis
