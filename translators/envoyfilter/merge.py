"""Istio's proto merge (`istio.io/istio/pkg/proto/merge`): protobuf merge semantics, except
that well-known types (Duration, Any, Struct, wrappers) are replaced whole rather than
merged field by field — `connect_timeout: 1s` over `10.5s` is 1s, not 1.5s — and that an
`Any` holding the same type is merged inside (Istio's MergeAnyWithAny for typed_config)."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from translators.extensions.convert import protobuf_class

_WELL_KNOWN = "google.protobuf."


def merge(target: Message, patch: Message) -> None:
    """Merge `patch` into `target` in place."""
    for field, value in patch.ListFields():
        name = field.name
        if _repeated(field):
            container = getattr(target, name)
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                for key in value:
                    if value_field.message_type is not None:
                        container[key].CopyFrom(value[key])
                    else:
                        container[key] = value[key]
            else:
                container.extend(value)
        elif field.message_type is not None:
            current = getattr(target, name)
            if field.message_type.full_name == "google.protobuf.Any":
                merge_any(current, value)
            elif field.message_type.full_name.startswith(_WELL_KNOWN) or not target.HasField(name):
                current.CopyFrom(value)
            else:
                merge(current, value)
        else:
            setattr(target, name, value)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def merge_any(target: any_pb2.Any, patch: any_pb2.Any) -> None:
    """An Any of the same type is merged inside; otherwise the patch replaces it."""
    if not target.type_url or target.type_url != patch.type_url:
        target.CopyFrom(patch)
        return
    cls = protobuf_class(target.type_url.rsplit("/", 1)[-1])
    inner, update = cls(), cls()
    target.Unpack(inner)
    patch.Unpack(update)
    merge(inner, update)
    target.Pack(inner)
