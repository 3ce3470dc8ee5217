"""Integration fixtures: a real in-process server on 127.0.0.1:0 with a fresh SQLite file per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from effectd import TurnScope
from effectd._client import Client
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve

from tests.pg import fresh_schema, require_postgres

ServerFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningServer]]


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every integration test runs on both backends: a fresh SQLite file, a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "effectd.db")
        return
    await require_postgres()
    async with fresh_schema() as url:
        yield url


@pytest.fixture
def start_server(store_url: str) -> ServerFactory:
    """Start (or restart) a server on this test's database, with config overrides."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[RunningServer]:
        config = replace(
            ServerConfig(listen="127.0.0.1:0", store=StoreConfig(url=store_url)),
            **overrides,
        )
        async with serve(config) as running:
            yield running

    return start


@pytest.fixture
async def server(start_server: ServerFactory) -> AsyncIterator[RunningServer]:
    async with start_server() as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[Client]:
    async with await Client.connect(server.target) as connected:
        yield connected


@pytest.fixture
def scope() -> TurnScope:
    return TurnScope("session-1", "turn-1")
