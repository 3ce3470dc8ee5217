"""The await-event part of the store: the signing keyring, keys, terminals, deadlines, revocations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from effectd_server.store._base import Backend, ChangeListener, Swept

__all__ = [
    "KEY_LISTING_COLUMNS",
    "PENDING_KEYS_QUERY",
    "SESSIONS_QUERY",
    "TIMEOUT_JSON",
    "AwaitEventsStore",
    "KeyCounts",
    "KeyListing",
    "KeyRevokedEvent",
    "KeyRow",
    "KeyState",
    "KeyStateFilter",
    "KeyringChanged",
    "PendingKeyRow",
    "ResolveItem",
    "ResolveResult",
    "SessionListing",
    "SessionRevokedEvent",
    "SessionRow",
    "SigningKeyRow",
    "SigningKeyState",
    "TerminalRecorded",
    "TerminalsRecorded",
    "await_events_store",
    "key_listing_from",
    "pending_key_row_from",
    "session_row_from",
    "signing_key_from",
]

SigningKeyState = Literal["active", "verify_only", "retired"]
TIMEOUT_JSON = '{"status":"timeout"}'


@dataclass(frozen=True, slots=True)
class SigningKeyRow:
    kid: str
    secret: bytes
    state: SigningKeyState
    created_at_ms: int


def signing_key_from(r: Any) -> SigningKeyRow:
    """Row mapper shared by the backends: (kid, secret, state, created_at_ms)."""
    return SigningKeyRow(kid=r[0], secret=bytes(r[1]), state=r[2], created_at_ms=int(r[3]))


@dataclass(frozen=True, slots=True)
class KeyRow:
    """An await-event key as stored: its identity rendered as lash-json."""

    key_id: str
    scope_json: str
    wait_json: str
    session_id: str | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as listed: its keys counted."""

    session_id: str
    pending: int
    resolved: int
    revoked: bool
    last_activity_ms: int


@dataclass(frozen=True, slots=True)
class PendingKeyRow:
    key: KeyRow
    deadline_ms: int | None
    created_at_ms: int


SESSIONS_QUERY = (
    "SELECT k.session_id,"
    " SUM(CASE WHEN k.terminal_json IS NULL AND k.revoked_at_ms IS NULL THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN k.terminal_json IS NOT NULL THEN 1 ELSE 0 END),"
    " EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = k.session_id),"
    " MAX(COALESCE(k.resolved_at_ms, k.created_at_ms)) AS last_activity"
    " FROM await_keys k WHERE k.session_id IS NOT NULL GROUP BY k.session_id"
)
"""Shared by the backends, which add the order (latest activity first, then session id) and the limit."""

PENDING_KEYS_QUERY = (
    "SELECT key_id, scope_json, wait_json, session_id, deadline_ms, created_at_ms FROM await_keys"
    " WHERE session_id = {session} AND terminal_json IS NULL AND revoked_at_ms IS NULL"
)


def session_row_from(r: Any) -> SessionRow:
    return SessionRow(str(r[0]), int(r[1]), int(r[2]), bool(r[3]), int(r[4]))


def pending_key_row_from(r: Any) -> PendingKeyRow:
    return PendingKeyRow(KeyRow(r[0], r[1], r[2], r[3]), None if r[4] is None else int(r[4]), int(r[5]))


@dataclass(frozen=True, slots=True)
class KeyState:
    key_id: str
    terminal_json: str | None
    resolution_seq: int | None
    deadline_ms: int | None
    revoked: bool
    """The key itself, or its session, is revoked."""


@dataclass(frozen=True, slots=True)
class ResolveItem:
    key: KeyRow
    terminal_json: str
    resolved_by: str | None = None
    """Who records it (kept with the terminal for operators): see `await_events.callers`."""


@dataclass(frozen=True, slots=True)
class ResolveResult:
    status: Literal["accepted", "already_resolved", "revoked"]
    terminal_json: str | None
    """The key's terminal: this item's on `accepted`, the winner's on `already_resolved`."""
    resolution_seq: int | None


@dataclass(frozen=True, slots=True)
class TerminalRecorded:
    """A key got its terminal (possibly through another replica)."""

    key_id: str
    terminal_json: str | None
    """None when it did not fit in the notification: read it with key_states."""
    resolution_seq: int


@dataclass(frozen=True, slots=True)
class TerminalsRecorded:
    """Several keys got their terminals in one transaction (one notification from another replica)."""

    terminals: tuple[TerminalRecorded, ...]


@dataclass(frozen=True, slots=True)
class KeyRevokedEvent:
    key_id: str


@dataclass(frozen=True, slots=True)
class SessionRevokedEvent:
    session_id: str


@dataclass(frozen=True, slots=True)
class KeyringChanged:
    """A signing key was created, rotated or retired."""


KeyStateFilter = Literal["pending", "resolved", "any"]


@dataclass(frozen=True, slots=True)
class KeyListing:
    """A key as an operator sees it (the console): identity, state and times."""

    key_id: str
    scope_json: str
    wait_json: str
    session_id: str | None
    created_at_ms: int
    terminal_json: str | None
    resolved_at_ms: int | None
    deadline_ms: int | None
    revoked: bool
    """The key itself, or its session, is revoked."""
    resolved_by: str | None = None
    """Who recorded the terminal (see `edge.caller`); None before anyone did, or for old rows."""


KEY_LISTING_COLUMNS = (
    "k.key_id, k.scope_json, k.wait_json, k.session_id, k.created_at_ms, k.terminal_json, k.resolved_at_ms,"
    " k.deadline_ms, (k.revoked_at_ms IS NOT NULL OR r.session_id IS NOT NULL), k.resolved_by"
)
"""Selected FROM await_keys k LEFT JOIN revoked_sessions r ON r.session_id = k.session_id."""


def key_listing_from(r: Any) -> KeyListing:
    """Row mapper shared by the backends, for a row selected as KEY_LISTING_COLUMNS."""
    return KeyListing(
        key_id=r[0],
        scope_json=r[1],
        wait_json=r[2],
        session_id=r[3],
        created_at_ms=int(r[4]),
        terminal_json=r[5],
        resolved_at_ms=None if r[6] is None else int(r[6]),
        deadline_ms=None if r[7] is None else int(r[7]),
        revoked=bool(r[8]),
        resolved_by=r[9],
    )


@dataclass(frozen=True, slots=True)
class KeyCounts:
    pending: int
    """Keys without a terminal that are not revoked (nor is their session)."""
    resolved: int
    revoked_sessions: int


@dataclass(frozen=True, slots=True)
class SessionListing:
    session_id: str
    revoked: bool


class AwaitEventsStore(Protocol):
    """Every write returns only after its transaction committed (acknowledged means durable)."""

    deadline_poll_s: float
    """How often to look for due deadlines this process did not schedule itself."""

    async def open(self) -> None:
        """Load what the part keeps beside the database (after the backend opened)."""

    def set_listener(self, listener: ChangeListener) -> None:
        """Receive the await-event changes other processes commit (TerminalRecorded, KeyRevokedEvent,
        SessionRevokedEvent, KeyringChanged, ListenerResumed). Backends with one writer never call it."""

    # The signing keyring.
    async def signing_keys(self) -> list[SigningKeyRow]: ...

    async def ensure_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        """Insert `candidate` as the active key unless one is active; return the keyring."""

    async def rotate_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        """Make `candidate` the active key; the old active key keeps verifying."""

    async def retire_signing_key(self, kid: str, now_ms: int) -> SigningKeyRow:
        """Retire a verify-only key. Raises NotFoundError / ConflictError (the active key)."""

    async def replace_signing_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> list[str]:
        """For each (kid, stored, replacement), store `replacement` as the key's secret if it is still
        `stored` (compare-and-set, in one transaction); return the kids replaced. The secret in the
        clear is the same before and after (a rewrap under another master key), so nothing is announced."""

    # Await-event keys.
    async def record_keys(self, rows: Sequence[KeyRow], now_ms: int) -> None:
        """Record minted keys as pending; keys already known are left as they are."""

    async def resolve(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        """First writer wins, per item, atomically with the revocation checks."""

    async def key_states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """States of the known keys among `key_ids`."""

    async def set_deadline(self, row: KeyRow, deadline_ms: int, now_ms: int) -> int | None:
        """Keep the earliest deadline of a pending key; return it (None when already terminal)."""

    async def pending_deadlines(self) -> list[tuple[str, int]]:
        """(key_id, deadline_ms) of every pending key with a deadline."""

    async def fire_due_deadlines(self, now_ms: int, limit: int) -> list[tuple[str, ResolveResult]]:
        """Record `timeout` on pending, unrevoked keys whose deadline passed; return those accepted."""

    async def revoke_key(self, row: KeyRow, now_ms: int) -> None: ...

    async def revoke_session(self, session_id: str, now_ms: int) -> None: ...

    async def revoked_sessions(self) -> set[str]: ...

    async def pending_keys_of_session(self, session_id: str) -> list[KeyRow]: ...

    async def sweep_resolved_keys(self, before_ms: int, limit: int) -> Swept:
        """Delete up to `limit` keys whose terminal was recorded before `before_ms`, oldest first. Revoked
        keys stay (a new row would make the key usable again); so does the newest resolution, which
        carries the resolution sequence across a restart."""

    async def count_resolved_keys(self, before_ms: int) -> int:
        """How many keys `sweep_resolved_keys` would delete (for `effectd gc --dry-run`)."""

    async def count_open(self, now_ms: int) -> tuple[int, int]:
        """(pending keys, deadline timers already due): gauges read at scrape time."""

    # Operator queries (the console): every list is one page, after a cursor, in byte order.
    async def count_keys(self) -> KeyCounts: ...

    async def list_keys(
        self, *, state: KeyStateFilter, session_id: str | None, contains: str | None, after_key_id: str, limit: int
    ) -> list[KeyListing]:
        """Keys with key_id > `after_key_id` in that state (of that session; whose key id, scope or wait
        contains `contains`), by key id."""

    async def get_key(self, key_id: str) -> KeyListing | None: ...

    async def list_key_sessions(self, *, contains: str | None, after: str, limit: int) -> list[SessionListing]:
        """Sessions that have keys or a revocation, with id > `after` (containing `contains`), by id."""

    async def list_sessions(self, limit: int) -> list[SessionRow]:
        """Sessions that have keys, latest activity first (an operator's listing: it reads every key)."""

    async def list_pending_keys(self, session_id: str, limit: int) -> list[PendingKeyRow]:
        """The session's keys without a terminal and not revoked one by one, oldest first."""


def await_events_store(backend: Backend) -> AwaitEventsStore:
    """This capability's part on `backend`."""
    if backend.kind == "postgres":
        from effectd_server.store.postgres.await_events import PostgresAwaitEventsStore

        return PostgresAwaitEventsStore(backend)  # type: ignore[arg-type]
    from effectd_server.store.sqlite.await_events import SqliteAwaitEventsStore

    return SqliteAwaitEventsStore(backend)  # type: ignore[arg-type]
