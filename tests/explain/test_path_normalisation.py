"""`explain` evaluates the path Envoy sees: the listeners' `normalize_path` (and
`merge_slashes` where set) applied before routing, RequestAuthentication and RBAC.
(Real Envoy's normalisation of the same paths: tests/explain/test_path_envoy.py; the
explanations against requests through real sidecars: tests/e2e/test_explain_envoy.py.)"""

from __future__ import annotations

import pytest
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)

from tests.explain.test_explain import ask, strict, traffic  # noqa: F401 (fixtures)
from translators.behaviour.paths import envoy_path, merged_slashes, rfc_normalized
from translators.behaviour.routing import Unsupported
from translators.explain import ExplainError
from translators.translate import MeshTranslator


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        ("/a/../b", "/b"),
        ("/a/./b", "/a/b"),
        ("/a/b/..", "/a/"),
        ("/../a", "/a"),
        ("/a/%2e%2E/b", "/b"),
        ("/%61dmin", "/admin"),
        ("/a%2fb", "/a%2fb"),
        ("/a\\..\\b", "/b"),
        ("/a{b}", "/a%7Bb%7D"),
        ("/a/...", "/a/..."),
        ("//b", "//b"),
        ("/a/..?x=/../y", "/?x=/../y"),
        ("/a b", None),
        ("/a%00b", None),
    ],
)
def test_rfc_normalisation(sent: str, seen: str | None) -> None:
    assert rfc_normalized(sent) == seen


def test_merge_slashes_keeps_the_ends_and_the_query() -> None:
    assert merged_slashes("//b//c/") == "/b/c/"
    assert merged_slashes("/a?x=//y") == "/a?x=//y"


def test_the_managers_flags_decide() -> None:
    neither = hcm_pb2.HttpConnectionManager()
    both = hcm_pb2.HttpConnectionManager(normalize_path={"value": True}, merge_slashes=True)
    assert envoy_path(neither, "//a/../b") == "//a/../b"
    assert envoy_path(both, "//a/../b") == "/b"
    unescaping = hcm_pb2.HttpConnectionManager(
        path_with_escaped_slashes_action=hcm_pb2.HttpConnectionManager.UNESCAPE_AND_FORWARD
    )
    with pytest.raises(Unsupported):
        envoy_path(unescaping, "/a%2Fb")


def test_routing_sees_the_normalised_path(traffic: MeshTranslator) -> None:  # noqa: F811
    found = ask(traffic, "default/client", "http://reviews:8080/x/%2e%2e/abort")
    assert found.route is not None and found.route.name == "abort"
    assert found.notes[0] == (
        "Envoy normalises the path /x/%2e%2e/abort to /abort (normalize_path): routes,"
        " RequestAuthentication and AuthorizationPolicies see that path"
    )
    # without a sidecar merge_slashes, `//abort` is not `/abort`
    doubled = ask(traffic, "default/client", "http://reviews:8080//abort")
    assert doubled.route is not None and doubled.route.name != "abort"
    assert not doubled.notes


def test_authorization_sees_the_normalised_path(strict: MeshTranslator) -> None:  # noqa: F811
    for path in ("/orders/../admin", "/%61dmin", "/orders\\..\\admin"):
        found = ask(strict, "prod/frontend", f"http://orders:8080{path}")
        assert [(o.result, o.status) for o in found.outcomes] == [("denied", 403)], path
        inbound = found.destinations[0].endpoints[0].inbound
        assert inbound is not None
        assert inbound.reason == "denied by AuthorizationPolicy/prod/orders-no-admin rules[0]"


def test_a_path_envoy_rejects_is_one_line(strict: MeshTranslator) -> None:  # noqa: F811
    with pytest.raises(ExplainError, match="Envoy answers 400 to the path '/a%00b'"):
        ask(strict, "prod/frontend", "http://orders:8080/a%00b")
