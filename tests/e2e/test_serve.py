"""`effectd serve` and its defaults (DESIGN.md "Interfaces users touch": `effectd serve` starts a server
on SQLite in the current directory with no other argument).

The default address 127.0.0.1:50551 is fixed, and tests use no fixed ports (STYLE.md), so the address
comes from EFFECTD_LISTEN here; everything else is the no-argument default.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from effectd import Accepted, CustomWait, Ok, TurnScope, UnavailableError
from effectd._client import Client

from .conftest import ServerProcess, SpawnServer, clean_env, free_port, run_cli


async def test_serve_without_arguments_uses_effectd_db_in_the_working_directory(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    workdir = tmp_path / "empty"
    workdir.mkdir()
    port = free_port()
    server = await spawn_server(args=["serve"], cwd=workdir, port=port, env={"EFFECTD_LISTEN": f"127.0.0.1:{port}"})
    assert (workdir / "effectd.db").is_file()
    assert f"effectd listening on 127.0.0.1:{port}" in server.log()

    async with await server.connect() as client:
        key = await client.mint_key(TurnScope("serve-defaults", "t1"), CustomWait("persisted"))
        assert await client.resolve(key, Ok("kept")) == Accepted()

    server.signal(signal.SIGTERM)
    assert await server.wait_exit(15) == 0
    assert {p.name for p in workdir.iterdir()} <= {"effectd.db", "effectd.db-wal", "effectd.db-shm"}

    # Started again in the same directory, it serves the same database (and the same signing keys).
    await server.start()
    async with await server.connect() as client:
        assert await client.peek(key) == Ok("kept")
        assert await client.mint_key(key.scope, key.wait) == key


async def test_serve_takes_the_database_from_effectd_db(spawn_server: SpawnServer, tmp_path: Path) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    db = tmp_path / "store.db"
    port = free_port()
    server = await spawn_server(
        args=["serve"], cwd=workdir, port=port, env={"EFFECTD_LISTEN": f"127.0.0.1:{port}", "EFFECTD_DB": str(db)}
    )
    assert db.is_file()
    assert not (workdir / "effectd.db").exists()
    async with await server.connect() as client:
        assert len(await client.list_signing_keys()) == 1


async def test_serve_flags_win_over_the_environment(spawn_server: SpawnServer, tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "flag.db"
    server = await spawn_server(
        args=["serve", "--listen", f"127.0.0.1:{port}", "--db", str(db)],
        port=port,
        env={"EFFECTD_LISTEN": "127.0.0.1:1", "EFFECTD_DB": str(tmp_path / "env.db")},
    )
    assert db.is_file() and not (tmp_path / "env.db").exists()
    assert f"127.0.0.1:{port}" in server.log()


async def test_serve_on_a_port_in_use_fails(spawn_server: SpawnServer, tmp_path: Path) -> None:
    first = await spawn_server()
    result = await run_cli("serve", "--listen", first.target, "--db", str(tmp_path / "second.db"), timeout=30)
    assert result.rc != 0, result
    assert first.running()


async def test_serve_on_a_port_in_use_says_so_in_one_line(spawn_server: SpawnServer, tmp_path: Path) -> None:
    first = await spawn_server()
    result = await run_cli("serve", "--listen", first.target, "--db", str(tmp_path / "second.db"), timeout=30)
    assert result.rc != 0
    assert "Traceback" not in result.stderr, result.stderr


async def test_serve_with_a_bad_listen_address_is_a_usage_error(tmp_path: Path) -> None:
    result = await run_cli("serve", "--listen", "nope", "--db", str(tmp_path / "x.db"), timeout=30)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.rc == 2, result


async def test_a_second_server_on_the_same_sqlite_file_refuses_to_start(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    first = await spawn_server()
    second = ServerProcess(
        port=free_port(), db=first.db, log_path=tmp_path / "second.log", cwd=tmp_path, env=clean_env()
    )
    proc = second.launch()
    try:
        async with asyncio.timeout(30):
            while proc.poll() is None:
                try:
                    client = await Client.connect(second.target, connect_timeout=0.25)
                except UnavailableError:
                    continue
                await client.close()
                raise AssertionError(f"a second effectd serves {first.db} next to the first one")
        assert proc.returncode != 0
    finally:
        second.stop()
