"""The console's configuration and its formatters (no network)."""

from __future__ import annotations

import pytest
from effectd_server.config import ServerConfig, load_config
from effectd_server.console.render import pretty_json, when


def test_console_is_off_by_default_and_set_by_flag_or_environment() -> None:
    assert load_config(env={}).console_listen is None
    assert load_config(env={"EFFECTD_CONSOLE_LISTEN": "127.0.0.1:8081"}).console_listen == "127.0.0.1:8081"
    flag_wins = load_config(console_listen="0.0.0.0:9000", env={"EFFECTD_CONSOLE_LISTEN": "127.0.0.1:8081"})
    assert flag_wins.console_listen == "0.0.0.0:9000"


@pytest.mark.parametrize("address", ["8080", "host:", ":80", "host:http", "host:70000"])
def test_a_bad_console_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="console_listen must be HOST:PORT"):
        ServerConfig(console_listen=address)


def test_pretty_json_keeps_big_integers_and_shows_other_text_as_is() -> None:
    assert pretty_json('{"n":12345678901234567890,"s":"é"}') == '{\n  "n": 12345678901234567890,\n  "s": "é"\n}'
    assert pretty_json("not json") == "not json"
    assert pretty_json(None) == ""


def test_when_renders_utc_milliseconds() -> None:
    assert when(0) == ""
    assert when(None) == ""
    assert when(1_700_000_000_123) == "2023-11-14 22:13:20.123Z"
