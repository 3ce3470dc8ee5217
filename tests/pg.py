"""PostgreSQL for the tests: where it is, whether it is up, and a fresh schema per test.

The tests run on the database of EFFECTD_TEST_POSTGRES (default: the local cluster's `test` database).
Outside CI an unreachable server skips the PostgreSQL tests (saying so); in CI (CI=true) it fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

__all__ = ["POSTGRES_DSN", "fresh_schema", "postgres_available", "require_postgres", "with_query"]

POSTGRES_DSN = os.environ.get("EFFECTD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

_available: bool | None = None


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to (or replacing those of) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


async def postgres_available() -> bool:
    """Whether POSTGRES_DSN accepts a connection (checked once per test run)."""
    global _available
    if _available is None:
        try:
            conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            _available = False
        else:
            await conn.close()
            _available = True
    return _available


async def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable; in CI, fail it instead.

    A coroutine, because finding out needs a connection attempt: `await require_postgres()`.
    """
    if await postgres_available():
        return
    message = f"PostgreSQL not reachable at {POSTGRES_DSN}; the PostgreSQL tests were not run"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A store URL on a schema of its own (`?schema=effectd_test_<hex>`), dropped afterwards."""
    schema = f"effectd_test_{secrets.token_hex(6)}"
    try:
        yield with_query(POSTGRES_DSN, schema=schema)
    finally:
        conn = await asyncpg.connect(POSTGRES_DSN, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
