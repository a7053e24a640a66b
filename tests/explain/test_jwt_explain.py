"""`explain` with RequestAuthentication: the caller's sidecar routes on the claims of a
token its jwt_authn accepts, the callee's jwt_authn answers 401 (403 for another
audience) for a bad token, and RBAC decides on the claims of a good one — the same
mesh and verdicts as tests/e2e/test_jwt.py shows with real Envoy."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.e2e.test_jwt import ISSUER, PARTNER, _mesh_yaml
from tests.jwt_tokens import SigningKey, claims, jwks
from tests.translators.helpers import mesh_of, workload
from translators.behaviour.rbac import inbound_listener
from translators.explain import Explanation, explain, parse_request
from translators.explain.jwt import jwt_filter, jwt_outcome
from translators.mesh import MeshOptions
from translators.translate import MeshTranslator, translate

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "testdata" / "in"

V1 = "outbound|8080|v1|orders.prod.svc.cluster.local"
V2 = "outbound|8080|v2|orders.prod.svc.cluster.local"
PARTNER_KEY = SigningKey.ec("partner")
IDP_KEY = SigningKey.ec("idp")


@pytest.fixture(scope="module")
def translator() -> MeshTranslator:
    text = _mesh_yaml(77, "http://127.77.9.1:1/jwks.json", jwks(PARTNER_KEY))
    mesh = mesh_of(text, MeshOptions(local_mode=True))
    return MeshTranslator(mesh)


def ask(translator: MeshTranslator, *headers: str) -> Explanation:
    request = parse_request("prod/frontend", "http://orders:8080/", headers=headers)
    # the caller says when the request is made (the CLI stamps it): expiry is judged then
    return explain(translator, replace(request, at=time.time()))


def outcome(found: Explanation) -> tuple[str, str, int | None]:
    (only,) = found.outcomes
    return only.result, only.cluster, only.status


def test_no_token_passes_jwt_authn_and_rbac_denies(translator: MeshTranslator) -> None:
    found = ask(translator)
    assert outcome(found) == ("denied", V1, 403)
    assert found.route is not None
    (skipped,) = found.route.skipped
    assert skipped.failed == ("JWT claim group: no match (no verified token)",)


def test_claims_route_and_authorize(translator: MeshTranslator) -> None:
    token = PARTNER_KEY.sign(claims(PARTNER, "shop", aud="orders", group="admin"))
    found = ask(translator, f"x-partner-token: {token}")
    assert outcome(found) == ("forwarded", V2, None)  # routed on `group` to v2
    (inbound,) = [e.inbound for d in found.destinations for e in d.endpoints]
    assert inbound is not None
    assert inbound.reason.startswith("JWT of partner/shop for jwt_authn provider origins-1")


def test_bad_tokens_get_jwt_authn_statuses(translator: MeshTranslator) -> None:
    other_audience = PARTNER_KEY.sign(claims(PARTNER, "shop", aud="billing"))
    assert outcome(ask(translator, f"x-partner-token: {other_audience}")) == ("denied", V1, 403)
    expired = IDP_KEY.sign(claims(ISSUER, "alice", lifetime_s=-600))
    assert outcome(ask(translator, f"Authorization: Bearer {expired}")) == ("denied", V1, 401)
    assert outcome(ask(translator, "Authorization: Bearer nope")) == ("denied", V1, 401)


def test_presence_required_is_enforced() -> None:
    """tests/golden/testdata/in/jwt-required.yaml: the `edge` token must be there."""
    mesh = mesh_of((GOLDEN / "jwt-required.yaml").read_text())
    listener = inbound_listener(translate(mesh, workload(mesh, "prod/api")), 8080)
    config = jwt_filter(listener.filter_chains[0])
    assert config is not None
    edge = "x-edge-token", _unsigned(claims("edge", "gw"))
    user = "Authorization", "Bearer " + _unsigned(claims("users", "ann", roles="a b"))
    bad_user = "Authorization", "Bearer " + _unsigned(claims("other", "ann"))

    def outcome(*headers: tuple[str, str]) -> tuple[bool, str]:
        found = jwt_outcome(config, dict(headers), "/")
        return found.rejected, found.note

    assert outcome(edge)[0] is False
    assert outcome(edge, user)[0] is False
    rejected, note = outcome(user)
    assert rejected and note.startswith("jwt_authn rejects the token (401): no token for origins-0")
    rejected, note = outcome(edge, bad_user)
    assert rejected and "origins-1: issuer 'other' is not 'users'" in note
    assert outcome()[0] is True
    # the optional rule sets no location: Envoy's defaults, the query parameter too
    assert not jwt_outcome(config, dict([edge]), "/?access_token=" + user[1].split()[1]).rejected
    bad_query = jwt_outcome(config, dict([edge]), "/?access_token=" + bad_user[1].split()[1])
    assert bad_query.rejected and "origins-1: issuer 'other'" in bad_query.note


def _unsigned(payload: dict[str, object]) -> str:
    """A token explain can read (it does not check signatures)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(payload)}.c2ln"
