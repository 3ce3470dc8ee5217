"""The metrics, logs, tracing and retention settings (issue 11 §4 to §7): validation, and flags over
EFFECTD_* variables over defaults; the two log formats; which failures are server faults."""

from __future__ import annotations

import io
import json
import logging

import grpc
import pytest
from effectd._errors import InternalError, InvalidArgumentError, UnavailableError
from effectd_server.config import (
    LogConfig,
    MetricsConfig,
    RetentionConfig,
    ServerConfig,
    TracingConfig,
    load_config,
)
from effectd_server.edge.errors import is_server_fault
from effectd_server.log_format import JsonFormatter, configure_logging


def test_defaults_keep_a_week_and_serve_no_admin_listener() -> None:
    config = ServerConfig()
    assert config.metrics.admin_listen is None
    assert config.logs == LogConfig("text", True)
    assert config.tracing.otlp_endpoint is None
    assert config.retention.journal_s == config.retention.resolved_keys_s == 7 * 86_400


@pytest.mark.parametrize("value", ["localhost", ":9000", "host:port", "h:70000"])
def test_a_bad_admin_listen_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="admin_listen"):
        MetricsConfig(admin_listen=value)


@pytest.mark.parametrize(
    "fields",
    [{"journal_s": -1.0}, {"resolved_keys_s": float("inf")}, {"sweep_interval_s": float("nan")}, {"batch_size": 0}],
)
def test_bad_retention_settings_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retention"):
        RetentionConfig(**fields)  # type: ignore[arg-type]


def test_a_bad_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        LogConfig(format="xml")  # type: ignore[arg-type]


def test_flags_win_over_variables_which_win_over_defaults() -> None:
    env = {
        "EFFECTD_ADMIN_LISTEN": "127.0.0.1:9100",
        "EFFECTD_LOG_FORMAT": "json",
        "EFFECTD_OTLP_ENDPOINT": "http://collector:4317",
        "EFFECTD_RETENTION_KEYS_S": "60",
        "EFFECTD_RETENTION_JOURNAL_S": "120",
    }
    from_env = load_config(env=env)
    assert from_env.metrics == MetricsConfig("127.0.0.1:9100")
    assert from_env.logs.format == "json"
    assert from_env.tracing == TracingConfig("http://collector:4317")
    assert (from_env.retention.resolved_keys_s, from_env.retention.journal_s) == (60, 120)
    assert from_env.retention.processes_s == 7 * 86_400
    flagged = load_config(
        overrides={"metrics.admin_listen": "0.0.0.0:9200", "logs.format": "text", "retention.journal_s": 0},
        env=env,
    )
    assert flagged.metrics.admin_listen == "0.0.0.0:9200"
    assert flagged.logs.format == "text"
    assert flagged.retention.journal_s == 0


def test_a_variable_that_is_not_a_number_is_named() -> None:
    with pytest.raises(ValueError, match="EFFECTD_RETENTION_SWEEP_S"):
        load_config(env={"EFFECTD_RETENTION_SWEEP_S": "soon"})


def test_the_json_format_writes_a_records_fields_as_keys() -> None:
    record = logging.LogRecord("effectd.access", logging.INFO, __file__, 1, "rpc", None, None)
    record.fields = {"event": "rpc", "status": "OK", "duration_ms": 0.5}
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO" and line["logger"] == "effectd.access"
    assert (line["event"], line["status"], line["duration_ms"]) == ("rpc", "OK", 0.5)
    assert line["time"].endswith("+00:00")


def test_the_json_format_writes_a_plain_message_and_an_exception() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("effectd.x", logging.ERROR, __file__, 1, "a\nb %s", ("c",), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "a\nb c"
    assert "RuntimeError: boom" in line["exception"]


def test_configure_logging_can_turn_access_lines_off() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("effectd.access").level)
    try:
        configure_logging(LogConfig(format="json", access_log=False), "INFO", stream)
        logging.getLogger("effectd.access").info("rpc", extra={"fields": {"event": "rpc"}})
        logging.getLogger("effectd.server").info("listening", extra={"fields": {"event": "listening"}})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.getLogger("effectd.access").setLevel(saved[2])
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["listening"]


def test_server_faults_are_told_from_caller_errors() -> None:
    assert is_server_fault(InternalError("internal", "x"), grpc.StatusCode.INTERNAL)
    assert is_server_fault(UnavailableError("store_unavailable", "x"), grpc.StatusCode.UNAVAILABLE)
    assert not is_server_fault(UnavailableError("server_shutting_down", "x"), grpc.StatusCode.UNAVAILABLE)
    assert not is_server_fault(InvalidArgumentError("invalid_request", "x"), grpc.StatusCode.INVALID_ARGUMENT)


def test_the_listening_lines_config_holds_no_secret() -> None:
    from effectd_server.config import SecretsConfig, StoreConfig
    from effectd_server.server import effective_config

    settings = effective_config(
        ServerConfig(
            store=StoreConfig(url="postgresql://app:hunter2@db:5432/effectd"),
            secrets=SecretsConfig(master_key="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="),
        )
    )
    text = json.dumps(settings)
    assert "hunter2" not in text and "c2VjcmV0" not in text
    assert settings["secrets"]["master_key"] == "<redacted>"
    assert settings["limits"]["max_key_bytes"] == 16_384


def test_an_otlp_endpoint_makes_a_batching_provider_and_none_makes_none() -> None:
    from effectd_server.edge.tracing import Tracing, tracer_provider_for
    from opentelemetry.sdk.trace import TracerProvider

    assert tracer_provider_for(TracingConfig()) is None
    assert not Tracing(None).enabled
    provider = tracer_provider_for(TracingConfig("http://127.0.0.1:4317", service_name="effectd-test"))
    try:
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "effectd-test"
        assert Tracing(provider).enabled
    finally:
        assert provider is not None
        provider.shutdown()
