"""SPIFFE ID parsing agrees with translators.naming and rejects what the spec forbids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ca import InvalidSpiffeID, SpiffeID, parse_spiffe_id
from ca.spiffe import validate_trust_domain
from translators.naming import spiffe_id

_segment = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1
).filter(lambda s: s not in (".", ".."))
_trust_domain = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=63)


@given(namespace=_segment, service_account=_segment, trust_domain=_trust_domain)
def test_every_id_naming_builds_parses_back(
    namespace: str, service_account: str, trust_domain: str
) -> None:
    value = spiffe_id(namespace, service_account, trust_domain)
    parsed = parse_spiffe_id(value)
    assert parsed == SpiffeID(trust_domain, f"/ns/{namespace}/sa/{service_account}")
    assert str(parsed) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("spiffe://cluster.local", "needs a path"),
        ("spiffe://cluster.local/", "needs a path"),
        ("spiffe://cluster.local/ns/a/", "empty path segment"),
        ("spiffe:///ns/a", "missing trust domain"),
        ("SPIFFE://cluster.local/ns/a", "must start with"),
        ("spiffe://cluster.local:8080/ns/a", "trust domain may only"),
        ("spiffe://user@cluster.local/ns/a", "trust domain may only"),
        ("spiffe://cluster.local/ns/a#frag", "path segment"),
        ("spiffe://cluster.local/ns/a%20b", "path segment"),
        ("spiffe://cluster.local/./a", "'.'"),
        ("spiffe://" + "a" * 256 + "/x", "longer than 255"),
        ("spiffe://cluster.local/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_rejects(value: str, message: str) -> None:
    with pytest.raises(InvalidSpiffeID, match=message):
        parse_spiffe_id(value)


def test_invalid_spiffe_id_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_spiffe_id("nope")


def test_validate_trust_domain() -> None:
    assert validate_trust_domain("cluster.local") == "cluster.local"
    with pytest.raises(InvalidSpiffeID, match="trust domain"):
        validate_trust_domain("Cluster.Local")
