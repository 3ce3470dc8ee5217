"""Storage behind one protocol: SQLite (the embedded default) and, later, PostgreSQL."""

from effectd_server.store._protocol import (
    ClaimResult,
    EffectClaim,
    EffectRow,
    KeyRow,
    KeyState,
    ResolveItem,
    ResolveResult,
    SigningKeyRow,
    SigningKeyState,
    Store,
    StoreUnavailableError,
)
from effectd_server.store.sqlite import SqliteStore

__all__ = [
    "ClaimResult",
    "EffectClaim",
    "EffectRow",
    "KeyRow",
    "KeyState",
    "ResolveItem",
    "ResolveResult",
    "SigningKeyRow",
    "SigningKeyState",
    "SqliteStore",
    "Store",
    "StoreUnavailableError",
]
