"""When certificates are due, and a cache that keeps one current SVID per identity.

Pure logic on purpose: no tasks, threads or sleeps. The runtime decides how
to wait (it can sleep until `next_rotation`) and how to push the new Secret;
tests drive everything with an injected clock instead of waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from ca.authority import CertificateAuthority
from ca.bundle import TrustBundle
from ca.certbuild import DEFAULT_CLOCK_SKEW
from ca.clock import Clock, as_utc, utc_now
from ca.errors import InvalidSpiffeID
from ca.keys import KeyType
from ca.spiffe import DEFAULT_TRUST_DOMAIN, parse_spiffe_id, spiffe_id, validate_trust_domain
from ca.svid import DEFAULT_ROTATE_FRACTION, DEFAULT_SVID_TTL, SVID, issue_svid

__all__ = ["IdentityIssuer", "Rotatable", "due_for_rotation", "next_rotation"]


class Rotatable(Protocol):
    """Anything with a rotation deadline (SVIDs, the server certificate)."""

    @property
    def rotate_at(self) -> datetime: ...


R = TypeVar("R", bound=Rotatable)


def due_for_rotation(items: Iterable[R], now: datetime) -> list[R]:
    """The items whose rotation time has come at `now` (expired ones included)."""
    when = as_utc(now)
    return [item for item in items if item.rotate_at <= when]


def next_rotation(items: Iterable[Rotatable]) -> datetime | None:
    """The earliest rotation time among `items`, or None if there are none."""
    return min((item.rotate_at for item in items), default=None)


class IdentityIssuer:
    """Keeps one current SVID per SPIFFE ID, issuing on first use and when due.

    `svid()` is the only call the SDS path needs: it returns the cached SVID
    while it is fresh (so every stream for an identity sees the same Secret
    version) and a new one once its rotation time has passed. `rotate_due()`
    lets a background loop refresh identities proactively so that the
    reissue does not happen on a request path. Not thread-safe; use it from
    one event loop.
    """

    def __init__(
        self,
        authority: CertificateAuthority,
        *,
        trust_domain: str = DEFAULT_TRUST_DOMAIN,
        ttl: timedelta = DEFAULT_SVID_TTL,
        rotate_fraction: float = DEFAULT_ROTATE_FRACTION,
        key_type: KeyType = KeyType.EC_P256,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        clock: Clock = utc_now,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        if not 0.0 < rotate_fraction < 1.0:
            raise ValueError(f"rotate_fraction must be in (0, 1), got {rotate_fraction}")
        self._authority = authority
        self._trust_domain = validate_trust_domain(trust_domain)
        self._ttl = ttl
        self._rotate_fraction = rotate_fraction
        self._key_type = key_type
        self._clock_skew = clock_skew
        self._clock = clock
        self._current: dict[str, SVID] = {}

    @property
    def authority(self) -> CertificateAuthority:
        return self._authority

    @property
    def trust_domain(self) -> str:
        return self._trust_domain

    @property
    def trust_bundle(self) -> TrustBundle:
        """The `ROOTCA` bundle matching the SVIDs this issuer hands out."""
        return self._authority.trust_bundle(self._trust_domain)

    def now(self) -> datetime:
        return as_utc(None, self._clock)

    def svid(self, spiffe_id: str) -> SVID:
        """The current SVID for `spiffe_id`, issuing a new one if none or due.

        Raises InvalidSpiffeID for a malformed ID or one outside this trust domain.
        """
        now = self.now()
        current = self._current.get(spiffe_id)
        if current is not None and not current.is_due(now):
            return current
        return self._issue(spiffe_id, now)

    def svid_for(self, namespace: str, service_account: str) -> SVID:
        """The current SVID of a Kubernetes service account (Istio's identity model)."""
        return self.svid(spiffe_id(namespace, service_account, self._trust_domain))

    def current(self, spiffe_id: str) -> SVID | None:
        """The cached SVID, due or not, without issuing."""
        return self._current.get(spiffe_id)

    @property
    def spiffe_ids(self) -> frozenset[str]:
        return frozenset(self._current)

    def due(self) -> list[str]:
        """SPIFFE IDs whose cached SVID should be replaced now."""
        return [svid.spiffe_id for svid in due_for_rotation(self._current.values(), self.now())]

    def rotate_due(self) -> list[SVID]:
        """Reissue every due SVID; returns the new ones (push them as new Secret versions)."""
        now = self.now()
        due = due_for_rotation(self._current.values(), now)
        return [self._issue(svid.spiffe_id, now) for svid in due]

    def next_rotation(self) -> datetime | None:
        """When `rotate_due` next has work, or None if nothing is cached."""
        return next_rotation(self._current.values())

    def forget(self, spiffe_id: str) -> None:
        """Drop an identity (its last proxy disconnected); a later `svid()` issues afresh."""
        self._current.pop(spiffe_id, None)

    def _issue(self, spiffe_id: str, now: datetime) -> SVID:
        parsed = parse_spiffe_id(spiffe_id)
        if parsed.trust_domain != self._trust_domain:
            raise InvalidSpiffeID(
                f"{spiffe_id} is outside this CA's trust domain {self._trust_domain!r}"
            )
        svid = issue_svid(
            self._authority,
            spiffe_id,
            ttl=self._ttl,
            rotate_fraction=self._rotate_fraction,
            key_type=self._key_type,
            clock_skew=self._clock_skew,
            now=now,
        )
        self._current[spiffe_id] = svid
        return svid
