"""DestinationRules with a workloadSelector as a user sees them: `xdscp describe` names
the rule (and the rules merged into it) a workload's sidecar applies as a client, and
`xdscp analyze` reports what a merge of equal selectors leaves out."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from xdscp.cli import main

MESH = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: orders, namespace: default}
spec:
  hosts: [orders]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 10.1.0.1, labels: {version: v1}}
  - {address: 10.1.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client, namespace: default}
spec: {address: 10.0.0.1, labels: {app: client}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: plain, namespace: default}
spec: {address: 10.0.0.2, labels: {app: plain}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: default, creationTimestamp: '2024-01-01T00:00:00Z'}
spec:
  host: orders
  exportTo: ['.']
  subsets: [{name: v3, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders-client, namespace: default, creationTimestamp: '2024-02-01T00:00:00Z'}
spec:
  host: orders
  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders-client-more, namespace: default, creationTimestamp: '2024-02-02T00:00:00Z'}
spec:
  host: orders
  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 70}}}
  subsets: [{name: v2, labels: {version: v2}}]
"""
HOST = "orders.default.svc.cluster.local"


def _dir(tmp_path: Path) -> Path:
    (tmp_path / "mesh.yaml").write_text(MESH)
    return tmp_path


def test_describe_names_the_rule_a_selected_client_applies(tmp_path: Path) -> None:
    mesh = _dir(tmp_path)
    result = CliRunner().invoke(main, ["describe", "default/client", "-f", str(mesh)])
    assert result.exit_code == 0, result.output
    assert "DestinationRules as a client (workloadSelector selects this workload):" in result.output
    assert (
        "  DestinationRule/default/orders-client + DestinationRule/default/orders-client-more"
        f" + DestinationRule/default/orders  host {HOST} (app=client): subsets v1, v2, v3"
    ) in result.output
    # the analysis message about the merge is shown with the workload it concerns
    assert "XDS0108" in result.output
    as_json = CliRunner().invoke(main, ["describe", "client", "-f", str(mesh), "-o", "json"])
    described = json.loads(as_json.output)
    assert described["client_destination_rules"] == [
        {
            "host": HOST,
            "rule": "DestinationRule/default/orders-client",
            "merged_from": [
                "DestinationRule/default/orders-client-more",
                "DestinationRule/default/orders",
            ],
            "selector": {"app": "client"},
            "subsets": ["v1", "v2", "v3"],
        }
    ]


def test_describe_a_client_no_selector_selects_lists_none(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["describe", "default/plain", "-f", str(_dir(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "as a client" not in result.output


def test_analyze_reports_the_younger_selector_rules_ignored_policy(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["analyze", str(_dir(tmp_path)), "-o", "json", "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.output
    messages = [m for m in json.loads(result.output) if m["code"] == "XDS0108"]
    assert [(m["name"], m["field"]) for m in messages] == [
        ("orders-client-more", "spec.trafficPolicy")
    ]
    assert "DestinationRule/default/orders-client" in messages[0]["message"]
