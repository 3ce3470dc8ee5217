"""How the server's log records are written: `text` (one human line) or `json` (one JSON object per line).

Records may carry structured fields (`extra={"fields": {...}}`, as the access and error lines do): the JSON
format writes them as top-level keys, the text format writes the message, which already holds them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from effectd_server.config import LogConfig, LogFormat

__all__ = ["JsonFormatter", "configure_logging", "formatter_for"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, then the record's fields, or its
    message when it has none; an exception's traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True, default=str)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)


def configure_logging(config: LogConfig, level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Route the root logger to `stream` (stderr) in the configured format; access lines off when
    `config.access_log` is false."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(config.format))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if not config.access_log:
        logging.getLogger("effectd.access").setLevel(logging.WARNING)
