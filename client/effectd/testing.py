"""Test helpers for runtime authors: a real effectd server in the test's own event loop.

async with start_local_server() as server:
    async with await Client.connect(server.target) as client:
        ...
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalServer", "start_local_server"]


@dataclass(frozen=True, slots=True)
class LocalServer:
    target: str
    port: int
    db_path: Path


@contextlib.asynccontextmanager
async def start_local_server(
    db_path: str | Path | None = None, *, heartbeat_interval_s: float = 10.0
) -> AsyncIterator[LocalServer]:
    """Start effectd on 127.0.0.1 with a free port and a SQLite file (a temporary one by default).

    Needs the server extra: `pip install 'effectd[server]'`.
    """
    from effectd_server import ServerConfig, StoreConfig, serve
    from effectd_server.config import StreamsConfig

    with contextlib.ExitStack() as stack:
        if db_path is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="effectd-"))
            db_path = Path(folder) / "effectd.db"
        path = Path(db_path)
        config = ServerConfig(
            listen="127.0.0.1:0",
            store=StoreConfig(url=str(path)),
            streams=StreamsConfig(heartbeat_interval_s=heartbeat_interval_s),
        )
        async with serve(config) as running:
            yield LocalServer(target=running.target, port=running.port, db_path=path)
