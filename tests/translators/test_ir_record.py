"""`fast_init` (translators/ir/record.py): the IR's hot classes keep a dataclass's
constructor semantics — positional and keyword arguments, defaults, equality, hashing,
`replace`, immutability — and classes it cannot serve are refused at definition."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from translators.ir import DestinationIR, EndpointIR, Resolution, VirtualHostIR
from translators.ir.record import fast_init


@dataclasses.dataclass(frozen=True, slots=True)
class _Reference:
    address: str
    port: int
    weight: int = 1
    workload: str = ""
    tls_mode: str = ""
    locality: str = ""


def test_constructor_keeps_dataclass_semantics() -> None:
    endpoint = EndpointIR("10.0.0.1", 80, workload="ns/w")
    reference = _Reference("10.0.0.1", 80, workload="ns/w")
    assert dataclasses.astuple(endpoint) == dataclasses.astuple(reference)
    assert endpoint == EndpointIR(address="10.0.0.1", port=80, weight=1, workload="ns/w")
    assert hash(endpoint) == hash(EndpointIR("10.0.0.1", 80, 1, "ns/w"))
    assert dataclasses.replace(endpoint, port=81).port == 81
    # built as an instance of the plain twin class, handed out as the dataclass's own
    assert type(endpoint) is EndpointIR and type(dataclasses.replace(endpoint)) is EndpointIR
    assert pickle.loads(pickle.dumps(endpoint)) == endpoint
    with pytest.raises(dataclasses.FrozenInstanceError):
        endpoint.port = 81  # type: ignore[misc]
    with pytest.raises(TypeError):
        EndpointIR("10.0.0.1")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        EndpointIR("10.0.0.1", 80, colour="blue")  # type: ignore[call-arg]
    destination = DestinationIR("outbound|80||a.b", Resolution.ENDPOINTS)
    assert destination.connect_timeout_s == 10.0 and destination.tls is None
    vhost = VirtualHostIR("a:80", ("a",), ())
    assert vhost.provenance == () and repr(vhost).startswith("VirtualHostIR(name='a:80'")


def test_unsupported_classes_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Base):  # (another layout than a twin class of its own slots)
        b: int

    for cls in (NoSlots, Factory, PostInit, Derived):
        with pytest.raises(TypeError):
            fast_init(cls)
