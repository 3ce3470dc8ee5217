"""Registers servicers on the gRPC server: parses requests, maps errors, tracks calls and streams.

Handlers receive raw bytes and parse them here, so a malformed message is INVALID_ARGUMENT with a
code rather than gRPC's own INTERNAL "exception deserializing request".
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc
from effectd._wire_diagnosis import diagnose_decode_error
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from effectd_server.edge.errors import abort
from effectd_server.edge.streams import Streams

__all__ = ["InFlight", "add_service"]


class InFlight:
    """Counts unary calls being served, so that shutdown waits for them and for nothing else."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self._count += 1
        self._idle.clear()

    def leave(self) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def _parser(cls: type[Message]) -> Callable[[bytes], Message]:
    def parse(raw: bytes) -> Message:
        try:
            return cls.FromString(raw)
        except DecodeError:
            raise _diagnose(cls, raw) from None

    return parse


def _diagnose(cls: type[Message], raw: bytes) -> Exception:
    """Why `raw` does not parse: invalid UTF-8 in a JSON text field is invalid_json, naming the field."""
    return diagnose_decode_error(cls, raw)


def _unary_unary(
    method: str, parse: Callable[[bytes], Message], impl: Callable[..., Awaitable[Message]], in_flight: InFlight
) -> Any:
    async def handler(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        in_flight.enter()
        try:
            try:
                return await impl(parse(raw), context)
            except Exception as exc:  # mapped to a status; nothing escapes as UNKNOWN
                failure: BaseException = exc
            await abort(context, method, failure)
        finally:
            in_flight.leave()

    return grpc.unary_unary_rpc_method_handler(handler, response_serializer=_serialize)


def _unary_stream(
    method: str, parse: Callable[[bytes], Message], impl: Callable[..., AsyncIterator[Message]], streams: Streams
) -> Any:
    # A coroutine that writes, not an async generator: a waiting stream is mostly frames. The servicer's
    # method is an async generator, or a coroutine that writes with `context.write` (cheaper still).
    async def handler(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        peer = context.peer()
        try:
            streams.enter(peer)
        except Exception as exc:
            await abort(context, method, exc)
            return
        try:
            try:
                if writes_itself:
                    await cast(Awaitable[None], impl(parse(raw), context))
                else:
                    async for response in impl(parse(raw), context):
                        await context.write(response)
                return
            except Exception as exc:
                failure: BaseException = exc
            await abort(context, method, failure)
        finally:
            streams.leave(peer)

    writes_itself = inspect.iscoroutinefunction(impl)
    return grpc.unary_stream_rpc_method_handler(handler, response_serializer=_serialize)


def _stream_stream(
    method: str, parse: Callable[[bytes], Message], impl: Callable[..., AsyncIterator[Message]], streams: Streams
) -> Any:
    async def parsed(requests: AsyncIterator[bytes]) -> AsyncIterator[Message]:
        async for raw in requests:
            yield parse(raw)

    async def handler(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        peer = context.peer()
        try:
            streams.enter(peer)
        except Exception as exc:
            await abort(context, method, exc)
            return
        try:
            try:
                async for response in impl(parsed(requests), context):
                    yield response
                return
            except Exception as exc:
                failure: BaseException = exc
            await abort(context, method, failure)
        finally:
            streams.leave(peer)

    return grpc.stream_stream_rpc_method_handler(handler, response_serializer=_serialize)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def add_service(
    server: grpc.aio.Server, service: ServiceDescriptor, servicer: object, in_flight: InFlight, streams: Streams
) -> None:
    """Register every method of `service` on `server`, implemented by `servicer`'s same-named methods."""
    handlers: dict[str, Any] = {}
    for method in service.methods:
        impl = getattr(servicer, method.name)
        parse = _parser(message_factory.GetMessageClass(method.input_type))
        name = f"{service.full_name}/{method.name}"
        if method.client_streaming and method.server_streaming:
            handlers[method.name] = _stream_stream(name, parse, impl, streams)
        elif method.server_streaming:
            handlers[method.name] = _unary_stream(name, parse, impl, streams)
        elif not method.client_streaming:
            handlers[method.name] = _unary_unary(name, parse, impl, in_flight)
        else:
            raise ValueError(f"client-streaming method {name} is not supported")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
