"""The console's formatters (no network)."""

from __future__ import annotations

from effectd_server.console.render import pretty_json, when


def test_pretty_json_keeps_big_integers_and_shows_other_text_as_is() -> None:
    assert pretty_json('{"n":12345678901234567890,"s":"é"}') == '{\n  "n": 12345678901234567890,\n  "s": "é"\n}'
    assert pretty_json("not json") == "not json"
    assert pretty_json(None) == ""


def test_when_renders_utc_milliseconds() -> None:
    assert when(0) == ""
    assert when(None) == ""
    assert when(1_700_000_000_123) == "2023-11-14 22:13:20.123Z"
