"""The debug API's view of a proxy's resources: secrets redacted as Envoy's admin does,
certificates summarized; and the log event names keep one style."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import ca
from translators.envoy.secrets import workload_secret
from xdscp.cache import SECRET_TYPE, make_resource
from xdscp.debug.config_dump import resource_json

REPO = Path(__file__).resolve().parents[2]
SPIFFE = "spiffe://cluster.local/ns/default/sa/client"


def test_secret_json_has_certificate_facts_and_no_key_material() -> None:
    authority = ca.new_root_ca()
    svid = ca.issue_svid(authority, SPIFFE)
    resource = make_resource(
        SECRET_TYPE, "default", workload_secret(svid.cert_chain_pem, svid.key_pem), ("SVID/x",)
    )
    rotation = {(SPIFFE, svid.serial): svid.rotate_at}
    text = json.dumps(resource_json(resource, lambda s, n: rotation.get((s, n))))
    key_body = "".join(line for line in svid.key_pem.splitlines() if "-----" not in line)
    assert "PRIVATE KEY" not in text
    assert key_body[:40] not in text
    assert base64.b64encode(svid.key_pem.encode()).decode()[:40] not in text
    assert (
        "[redacted]"
        in base64.b64decode(
            json.loads(text)["resource"]["tls_certificate"]["private_key"]["inline_bytes"]
        ).decode()
    )
    cert = json.loads(text)["certificates"][0]
    assert cert["spiffe_id"] == SPIFFE
    assert cert["serial"] == format(svid.serial, "x")
    assert cert["not_after"] == svid.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert["rotates_at"] == svid.rotate_at.strftime("%Y-%m-%dT%H:%M:%SZ")


_LOG_CALL = re.compile(
    r"\b_?log(?:ger)?\.(?:debug|info|warning|error|exception|critical)\(\s*\"([^\"]+)\""
)


def test_every_log_event_is_area_dot_event_in_snake_case() -> None:
    names = {
        (path.relative_to(REPO).as_posix(), name)
        for package in ("xdscp", "translators", "ca")
        for path in (REPO / package).rglob("*.py")
        for name in _LOG_CALL.findall(path.read_text())
    }
    assert len(names) > 30  # the scan really finds the log calls
    outliers = sorted(
        n for n in names if not re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)*\.[a-z0-9_]+", n[1])
    )
    assert outliers == []
