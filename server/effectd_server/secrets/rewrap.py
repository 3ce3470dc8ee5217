"""`effectd keys rewrap`: move the stored signing secrets to the configured master key.

Opens the store the configuration names, opens each secret with the old master keys given (or takes it
from the clear) and seals it under the first configured master key, compare-and-set per row. On
PostgreSQL this is safe while replicas run (give them the new key first, as a second line of their key
file, so they can open rows already moved); a SQLite file is rewrapped while its server is stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

from effectd_server.await_events.keyring import RewrapReport, rewrap
from effectd_server.config import ServerConfig
from effectd_server.secrets.master_key import MasterKey, MasterKeyError, SecretBox, load_master_keys
from effectd_server.store import open_backend
from effectd_server.store.await_events import await_events_store

__all__ = ["rewrap_store"]


async def rewrap_store(config: ServerConfig, old_keys: Sequence[MasterKey] = ()) -> RewrapReport:
    new_keys = load_master_keys(file=config.secrets.master_key_file, value=config.secrets.master_key)
    if not new_keys:
        raise MasterKeyError("no master key configured to rewrap to (secrets.master_key_file or EFFECTD_MASTER_KEY)")
    backend = open_backend(
        config.store.url if config.store.is_postgres() else config.store.sqlite_path(),
        is_postgres=config.store.is_postgres(),
    )
    await backend.open()
    try:
        store = await_events_store(backend)
        await store.open()
        return await rewrap(store, SecretBox([*new_keys, *old_keys]))
    finally:
        await backend.close()
