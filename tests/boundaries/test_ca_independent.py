"""`ca` stands alone: it names SPIFFE identities itself (`ca.spiffe`) and loads none
of the translators, pydantic or the service, even with every public name used."""

from __future__ import annotations

import ca
import ca.spiffe
from tests.boundaries.loaded import modules_loaded, within
from translators import naming


def test_whole_ca_api_loads_no_translators_no_pydantic() -> None:
    loaded = modules_loaded("ca", touch=tuple(ca.__all__))
    assert within(loaded, "ca.rotation")  # the touch really loaded the API
    assert within(loaded, "cryptography")
    for package in ("translators", "pydantic", "xdscp", "yaml", "google.protobuf"):
        assert within(loaded, package) == [], package


def test_import_ca_is_lazy() -> None:
    loaded = modules_loaded("ca")
    assert within(loaded, "ca") == ["ca"]
    assert within(loaded, "cryptography") == []


def test_spiffe_naming_needs_no_cryptography() -> None:
    # translators.naming imports ca.spiffe: it must stay this light.
    loaded = modules_loaded("ca.spiffe")
    assert within(loaded, "ca") == ["ca", "ca.errors", "ca.spiffe", "ca.xdscp_error"]
    assert within(loaded, "cryptography") == []


def test_translators_naming_reexports_the_one_definition() -> None:
    assert naming.spiffe_id is ca.spiffe.spiffe_id
    assert naming.DEFAULT_TRUST_DOMAIN == ca.spiffe.DEFAULT_TRUST_DOMAIN == "cluster.local"
    assert naming.SPIFFE_PREFIX == ca.spiffe.SPIFFE_PREFIX == "spiffe://"
    assert naming.spiffe_id("prod", "reviews", "example.org") == (
        "spiffe://example.org/ns/prod/sa/reviews"
    )


def test_lazy_names_are_the_defining_modules_objects() -> None:
    from ca.authority import CertificateAuthority
    from ca.errors import CAError

    assert ca.CertificateAuthority is CertificateAuthority
    assert ca.CAError is CAError
    assert set(dir(ca)) >= set(ca.__all__)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        ca.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("ca.no_such_name resolved")
