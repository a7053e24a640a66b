"""Rotation is pure logic over an injected clock; the issuer caches one SVID per identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from ca import (
    CertificateAuthority,
    IdentityIssuer,
    InvalidSpiffeID,
    due_for_rotation,
    next_rotation,
    verify_svid,
)
from tests.ca.conftest import NOW, REVIEWS, FakeClock

RATINGS = "spiffe://cluster.local/ns/default/sa/ratings"


@dataclass(frozen=True)
class Item:
    name: str
    rotate_at: datetime


def test_due_and_next_rotation_are_pure() -> None:
    items = [Item("a", NOW + timedelta(seconds=5)), Item("b", NOW + timedelta(seconds=10))]
    assert due_for_rotation(items, NOW) == []
    assert due_for_rotation(items, NOW + timedelta(seconds=5)) == [items[0]]
    assert due_for_rotation(items, NOW + timedelta(days=1)) == items
    assert next_rotation(items) == NOW + timedelta(seconds=5)
    assert next_rotation([]) is None


@pytest.fixture
def issuer(root: CertificateAuthority, clock: FakeClock) -> IdentityIssuer:
    return IdentityIssuer(root, ttl=timedelta(seconds=10), clock=clock)


def test_caches_until_due_then_reissues(issuer: IdentityIssuer, clock: FakeClock) -> None:
    first = issuer.svid(REVIEWS)
    assert first.rotate_at == NOW + timedelta(seconds=5)

    clock.advance(4.9)
    assert issuer.svid(REVIEWS) is first
    assert issuer.due() == []

    clock.advance(0.1)
    assert issuer.due() == [REVIEWS]
    second = issuer.svid(REVIEWS)
    assert second is not first
    assert second.serial != first.serial
    assert second.key_pem != first.key_pem
    assert second.issued_at == NOW + timedelta(seconds=5)
    assert issuer.current(REVIEWS) is second
    assert verify_svid(second.cert_chain_pem, issuer.trust_bundle, now=clock()) == REVIEWS


def test_rotate_due_reissues_only_due_identities(issuer: IdentityIssuer, clock: FakeClock) -> None:
    reviews = issuer.svid(REVIEWS)
    clock.advance(3)
    ratings = issuer.svid(RATINGS)
    assert issuer.spiffe_ids == {REVIEWS, RATINGS}
    assert issuer.next_rotation() == reviews.rotate_at

    clock.advance(2)  # t=5: reviews due, ratings (due at t=8) not
    rotated = issuer.rotate_due()
    assert [s.spiffe_id for s in rotated] == [REVIEWS]
    assert issuer.current(RATINGS) is ratings
    assert issuer.next_rotation() == ratings.rotate_at == NOW + timedelta(seconds=8)
    assert issuer.rotate_due() == []


def test_long_outage_still_yields_valid_certificate(
    issuer: IdentityIssuer, clock: FakeClock
) -> None:
    old = issuer.svid(REVIEWS)
    clock.advance(3600)  # long past expiry
    assert old.is_expired(clock())
    fresh = issuer.svid(REVIEWS)
    assert fresh.not_before <= clock() < fresh.rotate_at < fresh.not_after


def test_svid_for_uses_the_naming_convention(issuer: IdentityIssuer) -> None:
    assert issuer.svid_for("default", "reviews").spiffe_id == REVIEWS
    assert issuer.svid_for("default", "reviews") is issuer.current(REVIEWS)


def test_custom_trust_domain_and_fraction(root: CertificateAuthority, clock: FakeClock) -> None:
    issuer = IdentityIssuer(
        root,
        trust_domain="example.org",
        ttl=timedelta(hours=1),
        rotate_fraction=0.75,
        clock=clock,
    )
    svid = issuer.svid_for("prod", "api")
    assert svid.spiffe_id == "spiffe://example.org/ns/prod/sa/api"
    assert svid.rotate_at == NOW + timedelta(minutes=45)
    assert issuer.trust_bundle.trust_domain == "example.org"
    with pytest.raises(InvalidSpiffeID, match="outside this CA's trust domain"):
        issuer.svid(REVIEWS)


def test_forget(issuer: IdentityIssuer) -> None:
    first = issuer.svid(REVIEWS)
    issuer.forget(REVIEWS)
    issuer.forget(REVIEWS)  # idempotent
    assert issuer.current(REVIEWS) is None
    assert issuer.svid(REVIEWS).serial != first.serial


def test_invalid_id_is_not_cached(issuer: IdentityIssuer) -> None:
    with pytest.raises(InvalidSpiffeID):
        issuer.svid("spiffe://cluster.local")
    assert issuer.spiffe_ids == frozenset()


@pytest.mark.parametrize(
    "kwargs",
    [{"ttl": timedelta(0)}, {"rotate_fraction": 1.5}, {"trust_domain": "Bad Domain"}],
)
def test_bad_configuration(root: CertificateAuthority, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        IdentityIssuer(root, **kwargs)  # type: ignore[arg-type]


def test_naive_clock_is_refused(root: CertificateAuthority) -> None:
    issuer = IdentityIssuer(root, clock=lambda: NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        issuer.svid(REVIEWS)
