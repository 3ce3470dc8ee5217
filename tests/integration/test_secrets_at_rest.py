"""Signing secrets at rest, on SQLite and PostgreSQL: sealed under the master key so that a copy of the
database alone cannot sign a key; secrets stored in the clear are sealed when a master key is given;
`rewrap` moves them to a new master key; a server without the right master key refuses to start."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from effectd import Accepted, CustomWait, Ok, TurnScope
from effectd._client import Client
from effectd._lashjson import dumps
from effectd_server import ServerConfig, StoreConfig
from effectd_server.await_events.keyring import mac_message
from effectd_server.config import SecretsConfig
from effectd_server.secrets import MasterKeyError, generate_master_key, load_master_keys, parse_master_keys
from effectd_server.secrets.master_key import MAGIC
from effectd_server.secrets.rewrap import rewrap_store
from effectd_server.store.await_events import await_events_store

from tests.integration.conftest import ServerFactory

SCOPE = TurnScope("s", "t")


def _key_file(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text(generate_master_key() + "\n")
    return str(path)


def _sealed(path: str) -> SecretsConfig:
    return SecretsConfig(master_key_file=path)


async def test_a_copy_of_the_database_cannot_sign(start_server: ServerFactory, tmp_path: Path) -> None:
    master = _key_file(tmp_path, "master.key")
    async with start_server(secrets=_sealed(master)) as running:
        async with await Client.connect(running.target) as client:
            key = await client.mint_key(SCOPE, CustomWait("k"))
        rows = await await_events_store(running.backend).signing_keys()
        opened = {row.kid: row.secret for row in running.parts["await_events"].keyring.keys()}
    [row] = rows
    kid, mac = key.signature.split(".")[1:]
    assert row.kid == kid and row.secret.startswith(MAGIC)
    message = mac_message(dumps(key.scope), dumps(key.wait), key.key_id)
    # What the database holds is not the HMAC key (nor any 32 bytes of it); what the server opened is.
    stored = row.secret
    candidates = [stored, *(stored[i : i + 32] for i in range(len(stored) - 31))]
    assert all(hmac.new(c, message, hashlib.sha256).hexdigest() != mac for c in candidates)
    assert hmac.new(opened[kid], message, hashlib.sha256).hexdigest() == mac
    # A server given the database without the master key, or with another one, does not start.
    with pytest.raises(MasterKeyError, match="no master key is configured"):
        async with start_server():
            pass
    with pytest.raises(MasterKeyError, match="not among the configured master keys"):
        async with start_server(secrets=_sealed(_key_file(tmp_path, "other.key"))):
            pass


async def test_clear_secrets_are_sealed_when_a_master_key_is_given(start_server: ServerFactory, tmp_path: Path) -> None:
    async with start_server() as running:
        async with await Client.connect(running.target) as client:
            key = await client.mint_key(SCOPE, CustomWait("before"))
        [row] = await await_events_store(running.backend).signing_keys()
        assert not row.secret.startswith(MAGIC)  # no master key: in the clear (the server said so)
    async with start_server(secrets=_sealed(_key_file(tmp_path, "master.key"))) as running:
        [row] = await await_events_store(running.backend).signing_keys()
        assert row.secret.startswith(MAGIC)
        async with await Client.connect(running.target) as client:
            assert await client.resolve(key, Ok(1)) == Accepted()  # the key minted before still verifies


async def test_rewrap_moves_the_secrets_to_a_new_master_key(
    start_server: ServerFactory, store_url: str, tmp_path: Path
) -> None:
    old, new = _key_file(tmp_path, "old.key"), _key_file(tmp_path, "new.key")
    async with start_server(secrets=_sealed(old)) as running:
        async with await Client.connect(running.target) as client:
            key = await client.mint_key(SCOPE, CustomWait("k"))
            await client.rotate_signing_key()  # two rows to move
    config = ServerConfig(store=StoreConfig(url=store_url), secrets=_sealed(new))
    with pytest.raises(MasterKeyError):  # without the old key nothing can be opened
        await rewrap_store(config)
    old_keys = load_master_keys(file=old, value=None)
    report = await rewrap_store(config, old_keys)
    assert len(report.rewrapped) == 2 and report.unchanged == []
    assert (await rewrap_store(config, old_keys)).rewrapped == []  # done once, nothing left to move
    with pytest.raises(MasterKeyError):
        async with start_server(secrets=_sealed(old)):
            pass
    async with start_server(secrets=_sealed(new)) as running:
        async with await Client.connect(running.target) as client:
            assert await client.resolve(key, Ok(1)) == Accepted()
            assert len(await client.list_signing_keys()) == 2


def test_a_master_key_is_32_bytes_of_base64() -> None:
    with pytest.raises(MasterKeyError, match="32 bytes"):
        parse_master_keys("c2hvcnQ=", "test")
    with pytest.raises(MasterKeyError, match="no master key"):
        parse_master_keys("# only a comment\n", "test")
    [key] = parse_master_keys(generate_master_key(), "test")
    assert "key=" not in repr(key) and len(key.key) == 32
