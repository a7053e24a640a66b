"""A route configuration's version from its fields' runs: patched after an edit, it is
what a fresh build of the same fields gives, and any changed byte changes it."""

from __future__ import annotations

from translators.envoy.route_version import (
    RUN,
    patch_digests,
    route_config_version,
    run_digests,
)


def _fields(n: int, tag: str = "") -> list[bytes]:
    return [f"virtual-host-{i}{tag}".encode() for i in range(n)]


def test_a_patched_version_equals_a_fresh_one_and_follows_every_change() -> None:
    fields = _fields(3 * RUN + 5)
    digests = run_digests(fields)
    version = route_config_version("80", b"meta", digests)
    seen = {version}
    for position in (0, RUN - 1, RUN, 3 * RUN + 4):
        edited = list(fields)
        edited[position] += b"!"
        patched = patch_digests(digests, edited, [position])
        assert patched == run_digests(edited)
        new = route_config_version("80", b"meta", patched)
        assert new not in seen
        seen.add(new)
        # edited back: the version it had
        assert route_config_version("80", b"meta", patch_digests(patched, fields, [position])) == (
            version
        )
    assert route_config_version("81", b"meta", digests) not in seen
    assert route_config_version("80", b"metb", digests) not in seen
    # a byte moved from the name into the provenance is another configuration
    assert route_config_version("8", b"0meta", digests) != version


def test_the_version_is_a_function_of_the_bytes_not_of_the_cut() -> None:
    """The runs hash bytes, not fields: the same bytes in a run give the same digest
    however they were framed (a body's fields are its top-level protobuf fields, one
    cut, so equal bodies get equal versions whoever assembled them)."""
    fields = _fields(RUN)
    recut = [fields[0] + fields[1], *fields[2:], b""]
    assert b"".join(recut) == b"".join(fields)
    assert route_config_version("80", b"", run_digests(recut)) == route_config_version(
        "80", b"", run_digests(fields)
    )
