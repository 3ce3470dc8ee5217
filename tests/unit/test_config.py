"""Configuration: defaults, EFFECTD_* variables, flags winning over them, ValueError on bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from effectd_server import ServerConfig, StoreConfig, load_config
from effectd_server.config import AwaitEventsConfig, LimitRule, StreamsConfig, _leaf_paths, env_name, redacted_config


def test_defaults_serve_sqlite_in_the_current_directory() -> None:
    config = load_config(env={})
    assert config.listen == "127.0.0.1:50551"
    assert config.store.sqlite_path() == "effectd.db"


def test_environment_then_flags() -> None:
    env = {"EFFECTD_LISTEN": "0.0.0.0:7000", "EFFECTD_DB": "/data/e.db"}
    assert load_config(env=env).listen == "0.0.0.0:7000"
    assert load_config(env=env).store.sqlite_path() == "/data/e.db"
    flagged = load_config(listen="127.0.0.1:1", db="x.db", env=env)
    assert (flagged.listen, flagged.store.sqlite_path()) == ("127.0.0.1:1", "x.db")
    assert StoreConfig("sqlite:////tmp/a.db").sqlite_path() == "/tmp/a.db"


@pytest.mark.parametrize("listen", ["", "nohost", ":80", "host:port", "h:70000"])
def test_bad_listen_is_a_value_error(listen: str) -> None:
    with pytest.raises(ValueError):
        ServerConfig(listen=listen)


def test_bad_limits_and_urls_are_value_errors() -> None:
    with pytest.raises(ValueError):
        ServerConfig(await_events=AwaitEventsConfig(max_batch=0))
    with pytest.raises(ValueError):
        ServerConfig(streams=StreamsConfig(heartbeat_interval_s=0))
    with pytest.raises(ValueError):
        StoreConfig("mysql://x").sqlite_path()


def test_the_store_url_is_logged_without_its_password() -> None:
    url = "postgresql://effectd:s3cret-pass@db.internal:5432/effectd?schema=x"
    redacted = StoreConfig(url).redacted()
    assert "s3cret-pass" not in redacted
    assert redacted.startswith("postgresql://effectd:***@db.internal:5432/effectd")
    assert StoreConfig("postgresql://db/effectd").redacted() == "postgresql://db/effectd"
    assert StoreConfig("/var/lib/effectd.db").redacted() == "/var/lib/effectd.db"


# -- issue 11: one TOML file, then EFFECTD_* variables, then flags; every field reachable ---------------


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "effectd.toml"
    path.write_text(text)
    return str(path)


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config_file = _write(
        tmp_path,
        'listen = "127.0.0.1:7001"\nshutdown_grace_s = 3\n[limits]\nmax_id_bytes = 2048\nmax_key_bytes = 9000\n'
        '[store]\nurl = "from-file.db"\n[auth]\ninsecure = true\n',
    )
    from_file = load_config(config_file=config_file, env={})
    assert (from_file.listen, from_file.limits.max_id_bytes, from_file.shutdown_grace_s) == (
        "127.0.0.1:7001",
        2048,
        3.0,
    )
    assert from_file.store.url == "from-file.db" and from_file.auth.insecure is True
    env = {"EFFECTD_LIMITS_MAX_ID_BYTES": "4096", "EFFECTD_LISTEN": "127.0.0.1:7002", "EFFECTD_AUTH_INSECURE": "false"}
    from_env = load_config(config_file=config_file, env=env)
    assert (from_env.listen, from_env.limits.max_id_bytes, from_env.limits.max_key_bytes) == (
        "127.0.0.1:7002",
        4096,
        9000,
    )
    assert from_env.auth.insecure is False
    flagged = load_config(
        config_file=config_file, env=env, listen="127.0.0.1:7003", overrides={"limits.max_id_bytes": 77}
    )
    assert (flagged.listen, flagged.limits.max_id_bytes) == ("127.0.0.1:7003", 77)
    assert load_config(env={"EFFECTD_CONFIG": config_file}).limits.max_id_bytes == 2048


def test_every_field_has_an_environment_variable() -> None:
    samples = {int: "7", float: "2.5", bool: "true", str: "x"}
    # Fields that need a value of their own shape: (the variable's text, the value it gives).
    shaped: dict[str, tuple[str, object]] = {
        "metrics.admin_listen": ("127.0.0.1:9100", "127.0.0.1:9100"),
        "logs.format": ("json", "json"),
        "workers.route_kinds": ("llm_call, tool_call", ("llm_call", "tool_call")),
        "workers.route_tools": ("search", ("search",)),
        "workers.limits": (
            '[{"selector": "model:gpt-4.1", "concurrency": 2}]',
            (LimitRule("model:gpt-4.1", concurrency=2),),
        ),
    }
    for path, kind in _leaf_paths().items():
        if path in ("listen", "store.url", "tls.cert", "tls.key", "tls.client_ca", "secrets.master_key"):
            continue  # each needs a value of its own shape; covered by the tests around
        section, _, name = path.rpartition(".")
        if path in shaped:
            text, expected = shaped[path]
            config = load_config(env={env_name(path): text})
            assert getattr(getattr(config, section) if section else config, name) == expected, path
            continue
        base = next((t for t in samples if kind is t or t in getattr(kind, "__args__", ())), str)
        sample = samples[base]
        config = load_config(env={env_name(path): sample})
        value = getattr(getattr(config, section) if section else config, name)
        assert str(value).lower() in {sample, "7", "7.0", "2.5", "true", "x"}, path


def test_limit_rules_come_from_a_config_file(tmp_path: Path) -> None:
    text = (
        '[workers]\nroute_tools = ["search"]\n'
        '[[workers.limits]]\nselector = "tool:search"\nrate_per_s = 5.0\nburst = 10.0\n'
    )
    config = load_config(config_file=_write(tmp_path, text), env={})
    assert config.workers.route_tools == ("search",)
    assert config.workers.limits == (LimitRule("tool:search", rate_per_s=5.0, burst=10.0),)
    with pytest.raises(ValueError, match=r"workers\.limits"):
        load_config(config_file=_write(tmp_path, '[[workers.limits]]\nselectr = "tool:x"\n'), env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_id_bytz = 1\n", "unknown setting 'limits.max_id_bytz'"),
        ("[nope]\nx = 1\n", r"unknown section \[nope\]"),
        ('[limits]\nmax_id_bytes = "many"\n', "limits.max_id_bytes must be an integer"),
        ("[limits]\nmax_id_bytes = 0\n", "must be positive"),
        ('[tls]\ncert = "c.pem"\n', "tls.cert and tls.key go together"),
        ("listen = \n", "not valid TOML"),
    ],
)
def test_bad_config_files_are_value_errors_that_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(config_file=_write(tmp_path, text), env={})


def test_bad_environment_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="EFFECTD_STREAMS_MAX_QUEUED_BYTES"):
        load_config(env={"EFFECTD_STREAMS_MAX_QUEUED_BYTES": "lots"})


def test_the_effective_config_is_shown_with_secrets_redacted() -> None:
    config = load_config(
        env={"EFFECTD_MASTER_KEY": "c2VjcmV0", "EFFECTD_STORE": "postgresql://u:hunter2@db/effectd"},
        overrides={"tls.cert": "c.pem", "tls.key": "k.pem"},
    )
    shown = redacted_config(config)
    text = json.dumps(shown)
    assert "hunter2" not in text and "c2VjcmV0" not in text
    assert shown["secrets"]["master_key"] == "<redacted>"
    assert shown["tls"] == {"cert": "c.pem", "key": "k.pem", "client_ca": None}
    assert shown["limits"]["max_message_bytes"] == 16 << 20
