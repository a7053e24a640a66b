"""The `xdstypes` table is the one source of the type order, rules and generators."""

from __future__ import annotations

import pytest

import xdstypes
from translators import naming
from translators.generators import generators
from translators.resources import MESSAGE_TYPES
from xdscp.server import stream


def test_every_row_names_a_loadable_message_of_its_type_url() -> None:
    for row in xdstypes.TYPES:
        cls = MESSAGE_TYPES[row.type_url]
        assert "type.googleapis.com/" + cls.DESCRIPTOR.full_name == row.type_url


def test_translator_runs_one_generator_per_row_that_names_one_in_push_order() -> None:
    assert [url for url, _ in generators()] == [r.type_url for r in xdstypes.TYPES if r.generator]
    # SDS secrets come from the CA (through the runtime), not from a translator generator
    assert xdstypes.SDS.type_url not in dict(generators())


def test_naming_and_server_read_the_table() -> None:
    assert naming.PUSH_ORDER == xdstypes.PUSH_ORDER
    assert xdstypes.RDS.type_url == naming.ROUTE_TYPE
    assert stream.PARENTS is xdstypes.PARENTS and stream.DEPENDENTS is xdstypes.DEPENDENTS
    # the parents column drives both directions of the server's warming rule
    assert xdstypes.PARENTS[xdstypes.EDS.type_url] == (xdstypes.CDS.type_url,)
    assert xdstypes.EDS.type_url in xdstypes.DEPENDENTS[xdstypes.CDS.type_url]
    assert xdstypes.RDS.type_url in xdstypes.DEPENDENTS[xdstypes.LDS.type_url]


def test_order_puts_known_types_first_and_unknown_last() -> None:
    unknown = "type.googleapis.com/x.Unknown"
    got = xdstypes.ordered([unknown, xdstypes.SDS.type_url, xdstypes.CDS.type_url])
    assert got == [xdstypes.CDS.type_url, xdstypes.SDS.type_url, unknown]


def test_a_row_whose_parent_comes_later_is_refused() -> None:
    early = xdstypes.XdsType("AAA", "a.A", "m:A", "", parents=("ZZZ",))
    late = xdstypes.XdsType("ZZZ", "z.Z", "m:Z", "")
    with pytest.raises(ValueError, match="AAA: parent ZZZ must come before it"):
        xdstypes._check((early, late))


def test_the_vhds_row_drives_resources_order_and_the_delta_server() -> None:
    from envoy.config.route.v3 import route_components_pb2

    from xdscp.server import vhds

    row = xdstypes.VHDS
    assert MESSAGE_TYPES[row.type_url] is route_components_pb2.VirtualHost
    assert row.type_url == vhds.VIRTUAL_HOST_TYPE
    order = xdstypes.PUSH_ORDER
    assert order.index(xdstypes.RDS.type_url) < order.index(row.type_url)
    assert order.index(row.type_url) < order.index(xdstypes.SDS.type_url)
    # Envoy subscribes wildcard over delta; SotW never carries it
    assert row.type_url in xdstypes.WILDCARD_TYPES
    assert row.type_url not in xdstypes.FULL_STATE_TYPES
    assert xdstypes.SCOPED_BY[row.type_url] == xdstypes.RDS.type_url
    assert naming.SHORT_TYPE_NAMES[row.type_url] == "VHDS"
