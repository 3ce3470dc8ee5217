"""The gRPC edge: parses requests, maps errors to statuses with ErrorInfo, logs one line per failure.

Handlers receive raw bytes and parse them here, so a malformed message is INVALID_ARGUMENT with a
code rather than gRPC's own INTERNAL "exception deserializing request".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from effectd._errors import DOMAIN, EffectdError, InternalError, InvalidArgumentError
from effectd._errors import status_for as _status_for
from effectd._wire_diagnosis import diagnose_decode_error
from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = ["InFlight", "add_service", "status_for_error"]

log = logging.getLogger("effectd.rpc")


def status_for_error(error: EffectdError) -> grpc.Status:
    """The status (with ErrorInfo in its details) that answers `error`."""
    code = _status_for(error)
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN))
    status = status_pb2.Status(code=code.value[0], message=error.message, details=[detail])
    return rpc_status.to_status(status)


def _classify(method: str, exc: BaseException) -> EffectdError:
    if isinstance(exc, EffectdError):
        return exc
    if isinstance(exc, DecodeError):
        return InvalidArgumentError("malformed_request", "the request is not a valid protobuf message")
    if isinstance(exc, ValueError):
        # Values the protobuf runtime or our converters refuse (e.g. non-finite numbers).
        return InvalidArgumentError("invalid_request", str(exc) or type(exc).__name__)
    log.exception("unexpected error in %s", method)
    return InternalError("internal", "internal error; the server logged the details")


async def _abort(context: grpc.aio.ServicerContext[Any, Any], method: str, exc: BaseException) -> None:
    error = _classify(method, exc)
    status = status_for_error(error)
    log.warning(
        json.dumps(
            {
                "event": "rpc_error",
                "rpc": method,
                "code": error.code,
                "status": status.code.name,
                "message": error.message,
            },
            ensure_ascii=False,
        )
    )
    await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)


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


def _parse(cls: type[Message], raw: bytes) -> Message:
    try:
        return cls.FromString(raw)
    except DecodeError:
        # Invalid UTF-8 in a Json field is invalid_json naming the field; anything else malformed_request.
        raise diagnose_decode_error(cls, raw) from None


def _unary_unary(method: str, cls: type[Message], impl: Callable[..., Awaitable[Message]], in_flight: InFlight) -> Any:
    async def handler(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        in_flight.enter()
        try:
            try:
                return await impl(_parse(cls, raw), context)
            except Exception as exc:  # mapped to a status; nothing escapes as UNKNOWN
                failure: BaseException = exc
            await _abort(context, method, failure)
        finally:
            in_flight.leave()

    return grpc.unary_unary_rpc_method_handler(handler, response_serializer=_serialize)


def _unary_stream(method: str, cls: type[Message], impl: Callable[..., AsyncIterator[Message]]) -> Any:
    async def handler(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        try:
            async for response in impl(_parse(cls, raw), context):
                yield response
            return
        except Exception as exc:
            failure: BaseException = exc
        await _abort(context, method, failure)

    return grpc.unary_stream_rpc_method_handler(handler, response_serializer=_serialize)


def _stream_stream(method: str, cls: type[Message], impl: Callable[..., AsyncIterator[Message]]) -> Any:
    async def parsed(requests: AsyncIterator[bytes]) -> AsyncIterator[Message]:
        async for raw in requests:
            yield _parse(cls, raw)

    async def handler(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            async for response in impl(parsed(requests), context):
                yield response
            return
        except Exception as exc:
            failure: BaseException = exc
        await _abort(context, method, failure)

    return grpc.stream_stream_rpc_method_handler(handler, response_serializer=_serialize)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def add_service(server: grpc.aio.Server, service: ServiceDescriptor, servicer: object, in_flight: InFlight) -> None:
    """Register every method of `service` on `server`, implemented by `servicer`'s same-named methods."""
    handlers: dict[str, Any] = {}
    for method in service.methods:
        impl = getattr(servicer, method.name)
        cls = message_factory.GetMessageClass(method.input_type)
        name = f"{service.full_name}/{method.name}"
        if method.client_streaming and method.server_streaming:
            handlers[method.name] = _stream_stream(name, cls, impl)
        elif method.server_streaming:
            handlers[method.name] = _unary_stream(name, cls, impl)
        elif not method.client_streaming:
            handlers[method.name] = _unary_unary(name, cls, impl, in_flight)
        else:
            raise ValueError(f"client-streaming method {name} is not supported")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
