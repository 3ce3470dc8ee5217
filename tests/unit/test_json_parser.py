"""The strict JSON parser: what serde_json keeps, and every refusal as invalid_json naming the field."""

from __future__ import annotations

import math
from typing import Any

import pytest
from effectd._errors import InvalidArgumentError
from effectd._json import parse_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("-1", -1),
        ("9007199254740993", 9007199254740993),
        ("18446744073709551615", 2**64 - 1),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775808", 2**63),  # beyond i64 but within u64: still an exact integer
    ],
)
def test_integers_in_range_stay_exact_ints(text: str, expected: int) -> None:
    value = parse_json(text, "f")
    assert value == expected and type(value) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18446744073709551616", 2.0**64),
        ("-9223372036854775809", -(2.0**63)),
        ("1000000000000000000000000000000", 1e30),
        ("1" + "0" * 300, 1e300),
        ("1.0", 1.0),
        ("2.0", 2.0),
        ("0.1", 0.1),
        ("1e20", 1e20),
        ("1E20", 1e20),
        ("1e-7", 1e-7),
        ("1e-400", 0.0),  # underflows to zero, as serde_json
        ("-0.0", -0.0),
        ("-0", -0.0),  # serde_json reads "-0" as the float -0.0
        ("0.0", 0.0),
    ],
)
def test_other_numbers_are_floats(text: str, expected: float) -> None:
    value = parse_json(text, "f")
    assert type(value) is float
    assert value == expected
    assert math.copysign(1.0, value) == math.copysign(1.0, expected)


def test_zero_is_an_int() -> None:
    assert type(parse_json("0", "f")) is int


def test_nesting_up_to_128_is_accepted() -> None:
    assert parse_json("[" * 128 + "]" * 128, "f") is not None
    deep: Any = parse_json('{"a":' * 128 + "1" + "}" * 128, "f")
    for _ in range(128):
        deep = deep["a"]
    assert deep == 1


def test_brackets_inside_strings_do_not_count() -> None:
    text = '["' + "[{" * 500 + '"]'
    assert parse_json(text, "f") == ["[{" * 500]
    escaped = '["\\"' + "[" * 200 + '"]'
    assert parse_json(escaped, "f") == ['"' + "[" * 200]


def test_valid_surrogate_pairs_and_unicode_are_kept() -> None:
    assert parse_json('"\\ud83d\\ude00"', "f") == "😀"
    assert parse_json('"é😀\\u00e9"', "f") == "é😀é"
    assert parse_json('"\\\\ud800"', "f") == "\\ud800"  # an escaped backslash, not a surrogate escape


def test_whitespace_around_the_value_is_allowed() -> None:
    assert parse_json(' \t\n{"a": [1, 2]}\r\n ', "f") == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ('{"x": NaN}', "NaN"),
        ("1e400", "out of range"),
        ("-1e400", "out of range"),
        ("1" + "0" * 400, "out of range"),
        ("1" * 5000, "out of range"),  # far past Python's int max-digits: never converted to int
        ('{"a":1,"a":2}', "duplicate object key"),
        ('[{"b":{"k":1,"k":1}}]', "duplicate object key"),
        ("[" * 129 + "]" * 129, "nesting deeper than 128"),
        ('{"a":' * 129 + "1" + "}" * 129, "nesting deeper than 128"),
        ("[" * 100_000, "nesting deeper than 128"),
        ('"\\ud800"', "surrogate"),
        ('"\\udc00"', "surrogate"),
        ('"\\ud83d x"', "surrogate"),
        ('{"\\ud800":1}', "surrogate"),
        ("[1] x", "Extra data"),
        ("1 2", "Extra data"),
        ("{}{}", "Extra data"),
        ("   ", "Expecting value"),
        ("[1,]", ""),
        ("{'a':1}", ""),
        ("01", ""),
        ("1.", ""),
        ("tru", ""),
        ('"\x01"', ""),  # raw control characters in strings
        ("\ufeff1", ""),  # a byte order mark
    ],
)
def test_refusals(text: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_json(text, "resolution.ok")
    assert info.value.code == "invalid_json"
    assert info.value.message.startswith("resolution.ok: ")
    assert why in info.value.message


def test_a_raw_lone_surrogate_in_the_text_is_refused() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_json('"\ud800"', "f")
    assert info.value.code == "invalid_json"
