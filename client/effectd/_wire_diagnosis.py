"""Why a message did not parse: invalid UTF-8 in a Json field, or a malformed message.

protobuf refuses a whole message when one `string` field holds invalid UTF-8, without saying which.
`diagnose_decode_error` parses the bytes again with a private copy of effectd's descriptors in which
`Json.text` is `bytes`: if that parse succeeds, the culprit is a Json field, found by walking the message
and named by its path (``resolution.ok: not valid UTF-8``, answered as ``invalid_json``). Anything else
is ``malformed_request``.
"""

from __future__ import annotations

import functools
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from effectd._errors import EffectdError, InvalidArgumentError

__all__ = ["diagnose_decode_error"]

_JSON = "effectd.v1.Json"


def _malformed() -> InvalidArgumentError:
    return InvalidArgumentError("malformed_request", "the request is not a valid protobuf message")


def _add_file(pool: descriptor_pool.DescriptorPool, file: FileDescriptor, added: set[str]) -> None:
    if file.name in added:
        return
    for dependency in file.dependencies:
        _add_file(pool, dependency, added)
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    if file.package == "effectd.v1":
        for message in proto.message_type:
            if f"effectd.v1.{message.name}" == _JSON:
                for field in message.field:
                    if field.name == "text":
                        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    pool.Add(proto)
    added.add(file.name)


@functools.cache
def _lenient_class(full_name: str) -> type[Message]:
    """The message `full_name` built from a private pool in which Json.text is bytes."""
    pool = descriptor_pool.DescriptorPool()
    _add_file(pool, descriptor_pool.Default().FindMessageTypeByName(full_name).file, set())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))


def _find_bad_json(message: Message, path: str) -> str | None:
    if message.DESCRIPTOR.full_name == _JSON:
        text: bytes = message.ListFields()[0][1] if message.ListFields() else b""
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            return path
        return None
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        name = f"{path}.{field.name}" if path else field.name
        items: list[tuple[str, Any]]
        if field.is_repeated:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                items = [(f"{name}[{k!r}]", v) for k, v in value.items() if isinstance(v, Message)]
            else:
                items = [(f"{name}[{i}]", item) for i, item in enumerate(value)]
        else:
            items = [(name, value)]
        for item_path, item in items:
            found = _find_bad_json(item, item_path)
            if found is not None:
                return found
    return None


def diagnose_decode_error(message_class: type[Message], raw: bytes) -> EffectdError:
    """The error to answer for `raw`, which `message_class` failed to parse."""
    try:
        parsed = _lenient_class(message_class.DESCRIPTOR.full_name).FromString(raw)
    except (DecodeError, TypeError, KeyError, ValueError):
        return _malformed()
    path = _find_bad_json(parsed, "")
    if path is None:
        return _malformed()
    return InvalidArgumentError("invalid_json", f"{path}: not valid UTF-8")
