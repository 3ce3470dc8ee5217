"""A hostile client on every RPC the server offers (found by reflection, so a new service is covered the
day it is registered): garbage bytes, empty messages and messages filled with extreme values (empty and
huge strings, NUL and invalid JSON text, the integer limits, deep nesting of every sub-message).

Whatever it sends, each answer is a deliberate one: never UNKNOWN or INTERNAL (an unhandled exception), and
every error carries `google.rpc.ErrorInfo` in the effectd domain. Afterwards the server still serves and
its store still writes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import grpc
from effectd import CustomWait, Ok, TurnScope
from effectd._client import Client
from effectd_server import RunningServer
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

STREAM_DEADLINE_S = 0.5
UNARY_DEADLINE_S = 5.0
VARIANTS_PER_METHOD = 16
OWN_PACKAGE = "effectd."

STRINGS = ["", "\x00", "é" * 3, "x" * 70_000, "{", "null", '{"a":1,"a":2}', "[" * 200 + "]" * 200, "NaN", "ek1_AAAA"]
INTS_SIGNED = [0, -1, 1, -(2**31), 2**31 - 1, -(2**63), 2**63 - 1]
INTS_UNSIGNED = [0, 1, 2**32 - 1, 2**53 + 1, 2**63, 2**64 - 1]
BYTES = [b"", b"\xff\xfe\x00", b"{}", b"x" * 70_000]
DOUBLES = [0.0, -1.0, 1e308, float("inf"), float("nan")]


def fill(message: Message, rng: random.Random, depth: int) -> None:
    """Set fields of `message` to extreme values: one member of each oneof, every other field at random."""
    descriptor: Descriptor = message.DESCRIPTOR
    chosen_oneofs = {o.name: rng.choice(o.fields).name for o in descriptor.oneofs if o.fields}
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and chosen_oneofs.get(oneof.name) != field.name:
            continue
        if oneof is None and rng.random() < 0.25:
            continue
        repeated = field.is_repeated
        for _ in range(rng.choice([1, 3]) if repeated else 1):
            set_field(message, field, rng, depth, repeated)


def set_field(message: Message, field: FieldDescriptor, rng: random.Random, depth: int, repeated: bool) -> None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            return
        if depth <= 0:
            return
        child = getattr(message, field.name).add() if repeated else getattr(message, field.name)
        if not repeated:
            child.SetInParent()
        fill(child, rng, depth - 1)
        return
    value: Any
    if field.type == FieldDescriptor.TYPE_STRING:
        value = rng.choice(STRINGS)
    elif field.type == FieldDescriptor.TYPE_BYTES:
        value = rng.choice(BYTES)
    elif field.type == FieldDescriptor.TYPE_BOOL:
        value = rng.random() < 0.5
    elif field.type == FieldDescriptor.TYPE_ENUM:
        value = rng.choice([v.number for v in field.enum_type.values] + [999])
    elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        value = rng.choice(DOUBLES)
    elif field.type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        value = rng.choice([v for v in INTS_UNSIGNED if v < 2**32])
    elif field.type in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        value = rng.choice(INTS_UNSIGNED)
    elif field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        value = rng.choice([v for v in INTS_SIGNED if -(2**31) <= v < 2**31])
    else:
        value = rng.choice(INTS_SIGNED)
    if repeated:
        getattr(message, field.name).append(value)
    else:
        setattr(message, field.name, value)


def requests_for(method: MethodDescriptor, rng: random.Random) -> Iterator[bytes]:
    """Garbage, an empty message, then messages filled with extreme values."""
    yield b"\xff\xff\xff\xff\x0f"
    request_class = message_factory.GetMessageClass(method.input_type)
    yield b""
    for _ in range(VARIANTS_PER_METHOD):
        message = request_class()
        fill(message, rng, depth=4)
        yield message.SerializeToString()


async def served_methods(channel: grpc.aio.Channel) -> list[MethodDescriptor]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> Any:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names: list[str] = []
    async for response in stub.ServerReflectionInfo(ask()):
        names = [s.name for s in response.list_services_response.service]
    pool = descriptor_pool.Default()
    return [method for name in names if name.startswith(OWN_PACKAGE) for method in pool.FindServiceByName(name).methods]


def error_reason(error: grpc.aio.AioRpcError) -> str | None:
    for name, value in error.trailing_metadata() or ():
        if name == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.domain == "effectd":
                    return info.reason
    return None


async def send(channel: grpc.aio.Channel, method: MethodDescriptor, body: bytes) -> grpc.aio.AioRpcError | None:
    """The call's error (None when it answered OK or was still streaming at the deadline)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    try:
        if not method.client_streaming and not method.server_streaming:
            await channel.unary_unary(path)(body, timeout=UNARY_DEADLINE_S)
        elif not method.client_streaming:
            async for _ in channel.unary_stream(path)(body, timeout=STREAM_DEADLINE_S):
                pass
        else:

            async def one() -> Any:
                yield body

            call = channel.stream_stream(path)(one(), timeout=STREAM_DEADLINE_S)
            async for _ in call:
                pass
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and (method.server_streaming or method.client_streaming):
            return None  # a stream that is still open, waiting: a deliberate answer
        return error
    return None


async def test_every_rpc_answers_hostile_input_deliberately_and_the_store_keeps_writing(
    server: RunningServer, client: Client
) -> None:
    rng = random.Random(20261204)
    faults: list[str] = []
    async with grpc.aio.insecure_channel(server.target) as channel:
        methods = await served_methods(channel)
        services = {m.containing_service.full_name for m in methods}
        assert {"effectd.v1.AwaitEvents", "effectd.v1.EffectController", "effectd.v1.Processes"} <= services
        for method in methods:
            for body in requests_for(method, rng):
                error = await send(channel, method, body)
                if error is None:
                    continue
                where = f"{method.full_name} ({len(body)} bytes): {error.code().name} {error.details()!r}"
                if error.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                    faults.append(f"unhandled: {where}")
                elif error_reason(error) is None:
                    faults.append(f"no ErrorInfo: {where}")
    assert not faults, "\n".join(faults[:40])
    # Still serving, and the store still writes.
    key = await client.mint_key(TurnScope("after-hostile", "t"), CustomWait("k"))
    assert await client.resolve(key, Ok({"still": "writing"}))
    assert await client.peek(key) == Ok({"still": "writing"})
