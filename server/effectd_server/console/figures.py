"""The overview's figures read from the server's own metrics (the same ones `/metrics` serves): calls
and their rate, errors, and resolve→wake latency estimated from its histogram's buckets."""

from __future__ import annotations

import math
import time
from collections import deque

from prometheus_client.metrics import MetricWrapperBase

from effectd_server.edge.metrics import Metrics

__all__ = ["MetricFigures"]

_RATE_WINDOW_S = 60.0


def _samples(metric: MetricWrapperBase, suffix: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith(suffix)
    ]


def _quantile_ms(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding quantile `q` of cumulative `buckets` (le, count)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    for upper, count in buckets:
        if count >= q * total:
            return None if math.isinf(upper) else round(upper * 1000.0, 3)
    return None


class MetricFigures:
    """Snapshots of the call counter, to say calls per second over the last minute."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._history: deque[tuple[float, float]] = deque()

    def read(self) -> dict[str, float | None]:
        calls = errors = 0.0
        for labels, value in _samples(self._metrics.rpc.requests, "_total"):
            calls += value
            if labels.get("code") != "OK":
                errors += value
        now = time.monotonic()
        self._history.append((now, calls))
        while len(self._history) > 2 and now - self._history[1][0] >= _RATE_WINDOW_S:
            self._history.popleft()
        then, before = self._history[0]
        rate = (calls - before) / (now - then) if now - then >= 1.0 else None
        buckets = sorted(
            (float(labels["le"]), value) for labels, value in _samples(self._metrics.resolve_to_wake, "_bucket")
        )
        wakes = buckets[-1][1] if buckets else 0.0
        open_streams = self._metrics.registry.get_sample_value("effectd_open_streams")
        return {
            "open_streams": open_streams,
            "rpc_calls": calls,
            "rpc_errors": errors,
            "rpc_per_s": None if rate is None else round(rate, 1),
            "wakes": wakes,
            "wake_p50_ms": _quantile_ms(buckets, 0.5),
            "wake_p99_ms": _quantile_ms(buckets, 0.99),
        }
