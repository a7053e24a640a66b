"""The VirtualService-edit bytes benchmark, tiny: SotW re-sends the route configuration,
delta with VHDS sends one virtual host."""

from __future__ import annotations

from benchmarks.vs_edit_bytes import Fleet, measure, report


async def test_one_edit_costs_one_virtual_host_over_delta() -> None:
    figures = await measure(20, proxies=2)
    sotw, delta = figures["sotw"], figures["delta"]
    assert isinstance(sotw, Fleet) and isinstance(delta, Fleet)
    route_bytes = figures["route_config_bytes"]
    assert isinstance(route_bytes, int)
    assert sotw.responses == 1 and sotw.per_proxy_bytes > route_bytes
    assert delta.responses == 1 and delta.per_proxy_bytes < 1_500 < route_bytes
    assert sotw.all_received_ms > 0 and delta.all_received_ms > 0
    assert "delta + VHDS" in report(20, figures)
