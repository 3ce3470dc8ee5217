"""The request id the edge echoes and logs: a caller's own when it is 1 to 128 printable ASCII
characters, otherwise 32 new hex digits (gRPC clients refuse control characters before sending, so this
is the server's own guard against whatever else reaches it)."""

from __future__ import annotations

import re

import pytest
from effectd_server.edge.logs import MAX_REQUEST_ID_CHARS, REQUEST_ID_KEY, request_id

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_valid_id_is_kept() -> None:
    assert request_id(((REQUEST_ID_KEY, "abc-123"),)) == "abc-123"
    assert request_id((("other", "x"), (REQUEST_ID_KEY, "a" * MAX_REQUEST_ID_CHARS))) == "a" * MAX_REQUEST_ID_CHARS
    assert request_id(((REQUEST_ID_KEY, 'q"uote\\s {}'),)) == 'q"uote\\s {}'


@pytest.mark.parametrize(
    "value",
    ["", "a" * (MAX_REQUEST_ID_CHARS + 1), "line\nforged", "nul\x00", "del\x7f", "caf\u00e9", "x" * 10240, b"bytes"],
)
def test_anything_else_is_replaced_by_a_generated_id(value: object) -> None:
    assert GENERATED.fullmatch(request_id(((REQUEST_ID_KEY, value),)))


def test_no_metadata_gets_a_fresh_id_each_time() -> None:
    first, second = request_id(None), request_id(())
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second
