"""Configuration: defaults, EFFECTD_* variables, flags winning over them, ValueError on bad values."""

from __future__ import annotations

import pytest
from effectd_server import ServerConfig, StoreConfig, load_config
from effectd_server.config import AwaitEventsConfig, StreamsConfig


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
