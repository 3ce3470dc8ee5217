"""The error codes integration tests provoked; `test_zz_error_codes` checks they cover the error table."""

from __future__ import annotations

PROVOKED: set[str] = set()


def provoked(code: str) -> str:
    PROVOKED.add(code)
    return code
