"""OpenTelemetry spans: one per RPC (its parent taken from the call's `traceparent` metadata, so a runtime's
trace continues here) and, inside it, one per step of an effect (claim, run, complete).

Off unless the server is given a tracer provider (`serve(..., tracer_provider=)`) or an OTLP endpoint
(`TracingConfig.otlp_endpoint`, which needs the `otlp` extra): then a call pays for nothing here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from effectd_server.config import TracingConfig

__all__ = ["RpcTracer", "Tracing", "tracer_provider_for"]

_INSTRUMENTATION = "effectd_server"


def tracer_provider_for(config: TracingConfig) -> Any | None:
    """A tracer provider exporting to `config.otlp_endpoint` in batches, or None when no endpoint is set."""
    if not config.otlp_endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise RuntimeError("an OTLP endpoint needs the exporter: pip install 'effectd[otlp]'") from None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint)))
    return provider


Metadata = tuple[Any, ...]


class _MetadataGetter(Getter[Metadata]):
    """Reads the propagation fields from gRPC invocation metadata (a sequence of key/value pairs)."""

    def get(self, carrier: Metadata, key: str) -> list[str] | None:
        values = [value for name, value in carrier if name == key and isinstance(value, str)]
        return values or None

    def keys(self, carrier: Metadata) -> list[str]:
        return [name for name, _ in carrier]


_GETTER = _MetadataGetter()


class Tracing:
    """The spans of capabilities (effect steps): no-ops when tracing is off."""

    def __init__(self, provider: Any | None = None) -> None:
        self.tracer = None if provider is None else provider.get_tracer(_INSTRUMENTATION)

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    @contextlib.contextmanager
    def span(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[None]:
        """A child span of the current one for the block; records an exception that leaves it."""
        if self.tracer is None:
            yield
            return
        with self.tracer.start_as_current_span(name, attributes=attributes):
            yield


class RpcTracer:
    """The server span of each call, made current while its handler runs."""

    def __init__(self, tracing: Tracing) -> None:
        if tracing.tracer is None:
            raise ValueError("an RpcTracer needs tracing on (a tracer provider)")
        self._tracer = tracing.tracer

    def start(self, method: str, metadata: Iterable[Any] | None) -> tuple[Any, object]:
        parent = propagate.extract(tuple(metadata or ()), getter=_GETTER)
        service, _, name = method.rpartition("/")
        span = self._tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return span, token

    def end(self, started: tuple[Any, object], status_code: str, error_code: str | None) -> None:
        span, token = started
        span.set_attribute("rpc.grpc.status_code", status_code)
        if error_code is not None:
            span.set_attribute("effectd.error_code", error_code)
            span.set_status(Status(StatusCode.ERROR, error_code))
        otel_context.detach(token)  # type: ignore[arg-type]
        span.end()


def current_trace_context() -> dict[str, str] | None:
    """The current span's context as W3C propagation fields (for a worker the effect goes to), or None
    when no span is recording (tracing off costs one check)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None
