"""Registers servicers on the gRPC server: parses requests, maps errors, tracks calls and streams,
refuses calls while the server drains, checks each call's bearer token and role (`auth`), and echoes
each call's request id (`x-request-id`).

Handlers receive raw bytes and parse them here, so a malformed message is INVALID_ARGUMENT with a
code rather than gRPC's own INTERNAL "exception deserializing request".
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc
from effectd._wire_diagnosis import diagnose_decode_error
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from effectd_server.edge.auth import Authorizer
from effectd_server.edge.caller import enter_call
from effectd_server.edge.errors import classify, failed_status, shutting_down
from effectd_server.edge.logs import REQUEST_ID_KEY, safe
from effectd_server.edge.logs import request_id as _request_id
from effectd_server.edge.metrics import RpcMetrics
from effectd_server.edge.streams import Streams
from effectd_server.edge.tracing import RpcTracer

__all__ = ["InFlight", "Observers", "add_service"]

access_log = logging.getLogger("effectd.access")
"""One line per call at INFO: rpc, request_id, status, code (the error code), duration_ms, peer; never payloads."""


_ANSWER_FLUSH_S = 0.1


class InFlight:
    """The calls being served, so that a drain waits for them (answers sent) and for nothing else. Once
    `refuse()` is called every new call is answered at once with UNAVAILABLE server_shutting_down,
    which clients retry (on another replica, or after the restart)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.refusing = False

    def refuse(self) -> None:
        self.refusing = True

    def enter(self) -> None:
        """Count a call until its handler returns (`leave`); `wait_idle` then lets its answer go out."""
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
        # The last handlers returned; their answers are being written. A moment for gRPC to send them
        # (cheaper than a done callback on every call, which costs the hot path).
        await asyncio.sleep(_ANSWER_FLUSH_S)
        return True


class Observers:
    """What watches every call besides the handler: metrics (count and latency by method and code), the
    access log (one INFO line per call on `effectd.access`, built only when that level is on) and
    tracing (a server span per call, when tracing is on)."""

    def __init__(self, rpc_metrics: RpcMetrics | None = None, tracer: RpcTracer | None = None) -> None:
        self.rpc_metrics = rpc_metrics
        self.tracer = tracer


_NOBODY = Observers()


class _Call:
    """One call's bookkeeping: its request id, start time, span, and how it ended."""

    __slots__ = ("error_code", "request_id", "span", "started", "status")

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], method: str, observers: Observers) -> None:
        metadata = context.invocation_metadata()
        self.request_id = _request_id(metadata)
        context.set_trailing_metadata(((REQUEST_ID_KEY, self.request_id),))
        self.started = time.perf_counter()
        self.status = "CANCELLED"  # unless the call ends otherwise: the client went away
        self.error_code: str | None = None
        self.span = None if observers.tracer is None else observers.tracer.start(method, metadata)

    def end(self, method: str, context: grpc.aio.ServicerContext[Any, Any], observers: Observers) -> None:
        elapsed = time.perf_counter() - self.started
        if observers.rpc_metrics is not None:
            observers.rpc_metrics.observe(method, self.status, elapsed)
        if self.span is not None and observers.tracer is not None:
            observers.tracer.end(self.span, self.status, self.error_code)
        if access_log.isEnabledFor(logging.INFO):
            fields = {
                "event": "rpc",
                "rpc": method,
                "request_id": safe(self.request_id),
                "status": self.status,
                "code": self.error_code,
                "duration_ms": round(elapsed * 1000, 3),
                "peer": safe(context.peer()),
            }
            access_log.info(json.dumps(fields, ensure_ascii=True), extra={"fields": fields})


async def _fail(context: grpc.aio.ServicerContext[Any, Any], method: str, exc: BaseException, call: _Call) -> None:
    error = classify(method, exc)
    status = failed_status(method, error, call.request_id)
    call.status = status.code.name
    call.error_code = error.code
    await context.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)


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


def _admit(
    method: str, context: grpc.aio.ServicerContext[Any, Any], in_flight: InFlight, authorizer: Authorizer | None
) -> Exception | None:
    """Why the call is refused before it runs (draining, no or unknown token, a role without the method);
    else the call's caller is noted for what records who made it."""
    if in_flight.refusing:
        return shutting_down()
    role = None
    if authorizer is not None:
        try:
            role = authorizer.check(method, context.invocation_metadata())
        except Exception as exc:
            return exc
    enter_call(context, role)
    return None


def _unary_unary(
    method: str,
    parse: Callable[[bytes], Message],
    impl: Callable[..., Awaitable[Message]],
    in_flight: InFlight,
    authorizer: Authorizer | None,
    observers: Observers,
) -> Any:
    async def handler(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        call = _Call(context, method, observers)
        entered = False
        try:
            refusal = _admit(method, context, in_flight, authorizer)
            if refusal is not None:
                await _fail(context, method, refusal, call)
            in_flight.enter()
            entered = True
            try:
                response = await impl(parse(raw), context)
            except Exception as exc:  # mapped to a status; nothing escapes as UNKNOWN
                failure: BaseException = exc
            else:
                call.status = "OK"
                return response
            await _fail(context, method, failure, call)
        finally:
            if entered:
                in_flight.leave()
            call.end(method, context, observers)

    return grpc.unary_unary_rpc_method_handler(handler, response_serializer=_serialize)


async def _serve_stream(
    method: str,
    context: grpc.aio.ServicerContext[Any, Any],
    in_flight: InFlight,
    authorizer: Authorizer | None,
    streams: Streams,
    observers: Observers,
    body: Callable[[], Awaitable[None]],
) -> None:
    """What every stream shares: the request id, refusal while draining, the in-flight count, the cap per
    connection, errors mapped to a status, and the observers."""
    call = _Call(context, method, observers)
    entered = False
    try:
        refusal = _admit(method, context, in_flight, authorizer)
        if refusal is not None:
            await _fail(context, method, refusal, call)
        in_flight.enter()
        entered = True
        peer = context.peer()
        try:
            streams.enter(peer)
        except Exception as exc:
            await _fail(context, method, exc, call)
        try:
            try:
                await body()
                call.status = "OK"
                return
            except Exception as exc:
                failure: BaseException = exc
            await _fail(context, method, failure, call)
        finally:
            streams.leave(peer)
    finally:
        if entered:
            in_flight.leave()
        call.end(method, context, observers)


def _unary_stream(
    method: str,
    parse: Callable[[bytes], Message],
    impl: Callable[..., AsyncIterator[Message]],
    in_flight: InFlight,
    authorizer: Authorizer | None,
    streams: Streams,
    observers: Observers,
) -> Any:
    # Coroutines that write, not async generators: a waiting stream is mostly frames. The servicer's
    # method is an async generator, or a coroutine that writes with `context.write` (cheaper still).
    writes_itself = inspect.iscoroutinefunction(impl)

    async def handler(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        async def body() -> None:
            if writes_itself:
                await cast(Awaitable[None], impl(parse(raw), context))
            else:
                async for response in impl(parse(raw), context):
                    await context.write(response)

        await _serve_stream(method, context, in_flight, authorizer, streams, observers, body)

    return grpc.unary_stream_rpc_method_handler(handler, response_serializer=_serialize)


def _stream_stream(
    method: str,
    parse: Callable[[bytes], Message],
    impl: Callable[..., AsyncIterator[Message]],
    in_flight: InFlight,
    authorizer: Authorizer | None,
    streams: Streams,
    observers: Observers,
) -> Any:
    async def parsed(requests: AsyncIterator[bytes]) -> AsyncIterator[Message]:
        async for raw in requests:
            yield parse(raw)

    async def handler(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> None:
        async def body() -> None:
            async for response in impl(parsed(requests), context):
                await context.write(response)

        await _serve_stream(method, context, in_flight, authorizer, streams, observers, body)

    return grpc.stream_stream_rpc_method_handler(handler, response_serializer=_serialize)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def add_service(
    server: grpc.aio.Server,
    service: ServiceDescriptor,
    servicer: object,
    in_flight: InFlight,
    streams: Streams,
    observers: Observers = _NOBODY,
    *,
    authorizer: Authorizer | None = None,
) -> None:
    """Register every method of `service` on `server`, implemented by `servicer`'s same-named methods;
    with `authorizer` every call is checked for a token whose role may call the method."""
    handlers: dict[str, Any] = {}
    for method in service.methods:
        impl = getattr(servicer, method.name)
        parse = _parser(message_factory.GetMessageClass(method.input_type))
        name = f"{service.full_name}/{method.name}"
        if method.client_streaming and method.server_streaming:
            handlers[method.name] = _stream_stream(name, parse, impl, in_flight, authorizer, streams, observers)
        elif method.server_streaming:
            handlers[method.name] = _unary_stream(name, parse, impl, in_flight, authorizer, streams, observers)
        elif not method.client_streaming:
            handlers[method.name] = _unary_unary(name, parse, impl, in_flight, authorizer, observers)
        else:
            raise ValueError(f"client-streaming method {name} is not supported")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
