"""The admin HTTP listener (`--admin-listen HOST:PORT`): Prometheus text at /metrics."""

from __future__ import annotations

from effectd_server.admin.listener import AdminListener

__all__ = ["AdminListener"]
