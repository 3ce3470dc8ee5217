"""Trace context from the runtime to effectd: when OpenTelemetry is installed and a span is current, the
SDK's effect calls carry its `traceparent` in their metadata (the server continues the trace) and the
local run of a leased effect gets a span of its own. Without OpenTelemetry this costs nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # OpenTelemetry is optional for the SDK
    propagate = None  # type: ignore[assignment]
    trace = None  # type: ignore[assignment]

__all__ = ["span", "span_under", "trace_metadata"]

_INSTRUMENTATION = "effectd"


def trace_metadata() -> tuple[tuple[str, str], ...] | None:
    """The current trace context as gRPC metadata, or None when there is none to carry."""
    if propagate is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items()) or None


@contextlib.contextmanager
def span(name: str, attributes: dict[str, Any] | None = None) -> Iterator[None]:
    """A span for the block under the current one (from the global tracer provider); a no-op without
    OpenTelemetry or without a current trace."""
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with trace.get_tracer(_INSTRUMENTATION).start_as_current_span(name, attributes=attributes):
        yield


@contextlib.contextmanager
def span_under(carried: dict[str, str], name: str, attributes: dict[str, Any] | None = None) -> Iterator[None]:
    """A span for the block whose parent is the carried context (a worker running an effect under the
    runtime's trace); a no-op without OpenTelemetry or without a carried context."""
    if trace is None or not carried:
        yield
        return
    parent = propagate.extract(carried)
    with trace.get_tracer(_INSTRUMENTATION).start_as_current_span(name, context=parent, attributes=attributes):
        yield
