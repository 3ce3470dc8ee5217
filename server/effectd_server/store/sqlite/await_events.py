"""The await-event part of the SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from effectd._errors import ConflictError, NotFoundError

from effectd_server.store._base import ChangeListener
from effectd_server.store.await_events import (
    PENDING_KEYS_QUERY,
    SESSIONS_QUERY,
    TIMEOUT_JSON,
    KeyRow,
    KeyState,
    PendingKeyRow,
    ResolveItem,
    ResolveResult,
    SessionRow,
    SigningKeyRow,
    pending_key_row_from,
    session_row_from,
    signing_key_from,
)
from effectd_server.store.sqlite._backend import SqliteBackend

__all__ = ["SqliteAwaitEventsStore"]


def _all_signing_keys(conn: sqlite3.Connection) -> list[SigningKeyRow]:
    rows = conn.execute(
        "SELECT kid, secret, state, created_at_ms FROM signing_keys ORDER BY created_at_ms, kid"
    ).fetchall()
    return [signing_key_from(r) for r in rows]


class SqliteAwaitEventsStore:
    deadline_poll_s = 30.0

    def __init__(self, backend: SqliteBackend) -> None:
        self._db = backend
        # Owned by the writer: the last resolution sequence number, and the revoked sessions, so that a
        # resolve needs no lookup for them. Reloaded after a rolled-back batch.
        self._last_seq = 0
        self._revoked_sessions: set[str] = set()
        backend.on_rollback(self._load_writer_state)

    async def open(self) -> None:
        await self._db.write(self._load_writer_state)

    def set_listener(self, listener: ChangeListener) -> None:
        """One process writes this file, so there are no foreign changes to report."""

    def _load_writer_state(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT COALESCE(MAX(resolution_seq), 0) FROM await_keys").fetchone()
        self._last_seq = int(row[0])
        self._revoked_sessions = {r[0] for r in conn.execute("SELECT session_id FROM revoked_sessions")}

    # -- keyring -----------------------------------------------------------------------------
    async def signing_keys(self) -> list[SigningKeyRow]:
        return await self._db.read(_all_signing_keys)

    async def ensure_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        def run(conn: sqlite3.Connection) -> list[SigningKeyRow]:
            active = conn.execute("SELECT 1 FROM signing_keys WHERE state = 'active'").fetchone()
            if active is None:
                conn.execute(
                    "INSERT INTO signing_keys (kid, secret, state, created_at_ms) VALUES (?, ?, 'active', ?)",
                    (candidate.kid, candidate.secret, candidate.created_at_ms),
                )
            return _all_signing_keys(conn)

        return await self._db.write(run)

    async def rotate_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        def run(conn: sqlite3.Connection) -> list[SigningKeyRow]:
            conn.execute("UPDATE signing_keys SET state = 'verify_only' WHERE state = 'active'")
            conn.execute(
                "INSERT INTO signing_keys (kid, secret, state, created_at_ms) VALUES (?, ?, 'active', ?)",
                (candidate.kid, candidate.secret, candidate.created_at_ms),
            )
            return _all_signing_keys(conn)

        return await self._db.write(run)

    async def retire_signing_key(self, kid: str, now_ms: int) -> SigningKeyRow:
        def run(conn: sqlite3.Connection) -> SigningKeyRow:
            row = conn.execute(
                "SELECT kid, secret, state, created_at_ms FROM signing_keys WHERE kid = ?", (kid,)
            ).fetchone()
            if row is None:
                raise NotFoundError("signing_key_not_found", f"no signing key with kid {kid!r}")
            if row[2] == "active":
                raise ConflictError("signing_key_active", f"signing key {kid!r} is active; rotate before retiring it")
            conn.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at_ms = COALESCE(retired_at_ms, ?) WHERE kid = ?",
                (now_ms, kid),
            )
            return SigningKeyRow(kid=row[0], secret=bytes(row[1]), state="retired", created_at_ms=row[3])

        return await self._db.write(run)

    # -- await-event keys --------------------------------------------------------------------
    async def record_keys(self, rows: Sequence[KeyRow], now_ms: int) -> None:
        params = [(r.key_id, r.scope_json, r.wait_json, r.session_id, now_ms) for r in rows]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                params,
            )

        await self._db.write(run)

    async def resolve(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        def run(conn: sqlite3.Connection) -> list[ResolveResult]:
            return [self._resolve_one(conn, item, now_ms) for item in items]

        return await self._db.write(run)

    def _resolve_one(self, conn: sqlite3.Connection, item: ResolveItem, now_ms: int) -> ResolveResult:
        key = item.key
        if key.session_id is not None and key.session_id in self._revoked_sessions:
            return ResolveResult("revoked", None, None)
        # The common case in one statement: a pending, unrevoked key takes this terminal.
        seq = self._last_seq + 1
        updated = conn.execute(
            "UPDATE await_keys SET terminal_json = ?, resolved_at_ms = ?, resolution_seq = ?"
            " WHERE key_id = ? AND terminal_json IS NULL AND revoked_at_ms IS NULL",
            (item.terminal_json, now_ms, seq, key.key_id),
        ).rowcount
        if updated:
            self._last_seq = seq
            return ResolveResult("accepted", item.terminal_json, seq)
        row = conn.execute(
            "SELECT terminal_json, resolution_seq, revoked_at_ms FROM await_keys WHERE key_id = ?", (key.key_id,)
        ).fetchone()
        if row is None:
            self._last_seq = seq
            conn.execute(
                "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms,"
                " terminal_json, resolved_at_ms, resolution_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key.key_id, key.scope_json, key.wait_json, key.session_id, now_ms, item.terminal_json, now_ms, seq),
            )
            return ResolveResult("accepted", item.terminal_json, seq)
        if row[2] is not None:
            return ResolveResult("revoked", None, None)
        return ResolveResult("already_resolved", row[0], row[1])

    async def key_states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        ids = list(key_ids)

        def run(conn: sqlite3.Connection) -> dict[str, KeyState]:
            revoked_sessions = {r[0] for r in conn.execute("SELECT session_id FROM revoked_sessions")}
            states: dict[str, KeyState] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for r in conn.execute(
                    "SELECT key_id, terminal_json, resolution_seq, deadline_ms, revoked_at_ms, session_id"
                    f" FROM await_keys WHERE key_id IN ({marks})",
                    chunk,
                ):
                    revoked = r[4] is not None or (r[5] is not None and r[5] in revoked_sessions)
                    states[r[0]] = KeyState(r[0], r[1], r[2], r[3], revoked)
            return states

        return await self._db.read(run)

    async def set_deadline(self, row: KeyRow, deadline_ms: int, now_ms: int) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            conn.execute(
                "INSERT OR IGNORE INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (row.key_id, row.scope_json, row.wait_json, row.session_id, now_ms),
            )
            conn.execute(
                "UPDATE await_keys SET deadline_ms = MIN(COALESCE(deadline_ms, ?), ?)"
                " WHERE key_id = ? AND terminal_json IS NULL",
                (deadline_ms, deadline_ms, row.key_id),
            )
            found = conn.execute(
                "SELECT deadline_ms FROM await_keys WHERE key_id = ? AND terminal_json IS NULL", (row.key_id,)
            ).fetchone()
            return None if found is None else int(found[0])

        return await self._db.write(run)

    async def pending_deadlines(self) -> list[tuple[str, int]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            return [
                (r[0], int(r[1]))
                for r in conn.execute(
                    "SELECT key_id, deadline_ms FROM await_keys WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL"
                )
            ]

        return await self._db.read(run)

    async def fire_due_deadlines(self, now_ms: int, limit: int) -> list[tuple[str, ResolveResult]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, ResolveResult]]:
            due = conn.execute(
                "SELECT key_id, scope_json, wait_json, session_id FROM await_keys"
                " WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL AND deadline_ms <= ?"
                " ORDER BY deadline_ms LIMIT ?",
                (now_ms, limit),
            ).fetchall()
            fired: list[tuple[str, ResolveResult]] = []
            for r in due:
                result = self._resolve_one(conn, ResolveItem(KeyRow(r[0], r[1], r[2], r[3]), TIMEOUT_JSON), now_ms)
                if result.status == "accepted":
                    fired.append((r[0], result))
                elif result.status == "revoked":
                    # A revoked key never fires; forget its deadline.
                    conn.execute("UPDATE await_keys SET deadline_ms = NULL WHERE key_id = ?", (r[0],))
            return fired

        return await self._db.write(run)

    async def revoke_key(self, row: KeyRow, now_ms: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (row.key_id, row.scope_json, row.wait_json, row.session_id, now_ms),
            )
            conn.execute(
                "UPDATE await_keys SET revoked_at_ms = COALESCE(revoked_at_ms, ?) WHERE key_id = ?",
                (now_ms, row.key_id),
            )

        await self._db.write(run)

    async def revoke_session(self, session_id: str, now_ms: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO revoked_sessions (session_id, revoked_at_ms) VALUES (?, ?)",
                (session_id, now_ms),
            )
            # Seen by resolves of later transactions; a batch whose commit fails reloads it (see _GroupCommitter).
            self._revoked_sessions.add(session_id)

        await self._db.write(run)

    async def revoked_sessions(self) -> set[str]:
        def run(conn: sqlite3.Connection) -> set[str]:
            return {r[0] for r in conn.execute("SELECT session_id FROM revoked_sessions")}

        return await self._db.read(run)

    async def pending_keys_of_session(self, session_id: str) -> list[KeyRow]:
        def run(conn: sqlite3.Connection) -> list[KeyRow]:
            return [
                KeyRow(r[0], r[1], r[2], r[3])
                for r in conn.execute(
                    "SELECT key_id, scope_json, wait_json, session_id FROM await_keys"
                    " WHERE session_id = ? AND terminal_json IS NULL AND revoked_at_ms IS NULL",
                    (session_id,),
                )
            ]

        return await self._db.read(run)

    async def list_sessions(self, limit: int) -> list[SessionRow]:
        def run(conn: sqlite3.Connection) -> list[SessionRow]:
            rows = conn.execute(f"{SESSIONS_QUERY} ORDER BY last_activity DESC, k.session_id LIMIT ?", (limit,))
            return [session_row_from(r) for r in rows]

        return await self._db.read(run)

    async def list_pending_keys(self, session_id: str, limit: int) -> list[PendingKeyRow]:
        def run(conn: sqlite3.Connection) -> list[PendingKeyRow]:
            query = PENDING_KEYS_QUERY.format(session="?") + " ORDER BY created_at_ms, key_id LIMIT ?"
            return [pending_key_row_from(r) for r in conn.execute(query, (session_id, limit))]

        return await self._db.read(run)
