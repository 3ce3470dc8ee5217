"""The await-event part of the SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from effectd._errors import ConflictError, NotFoundError

from effectd_server.store._base import ChangeListener, Swept
from effectd_server.store.await_events import (
    KEY_LISTING_COLUMNS,
    PENDING_KEYS_QUERY,
    SESSIONS_QUERY,
    TIMEOUT_JSON,
    KeyCounts,
    KeyListing,
    KeyRow,
    KeyState,
    KeyStateFilter,
    PendingKeyRow,
    ResolveItem,
    ResolveResult,
    SessionListing,
    SessionRow,
    SigningKeyRow,
    key_listing_from,
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
        self._swept_seq = 0
        """Resolutions up to here were swept or are kept for good (revoked): the next sweep starts after."""
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

    async def replace_signing_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            replaced: list[str] = []
            for kid, stored, replacement in changes:
                cursor = conn.execute(
                    "UPDATE signing_keys SET secret = ? WHERE kid = ? AND secret = ?", (replacement, kid, stored)
                )
                if cursor.rowcount:
                    replaced.append(kid)
            return replaced

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
            "UPDATE await_keys SET terminal_json = ?, resolved_at_ms = ?, resolution_seq = ?, resolved_by = ?"
            " WHERE key_id = ? AND terminal_json IS NULL AND revoked_at_ms IS NULL",
            (item.terminal_json, now_ms, seq, item.resolved_by, key.key_id),
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
                " terminal_json, resolved_at_ms, resolution_seq, resolved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.scope_json,
                    key.wait_json,
                    key.session_id,
                    now_ms,
                    item.terminal_json,
                    now_ms,
                    seq,
                    item.resolved_by,
                ),
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
                item = ResolveItem(KeyRow(r[0], r[1], r[2], r[3]), TIMEOUT_JSON, "deadline")
                result = self._resolve_one(conn, item, now_ms)
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

    # -- operator queries (the console) ------------------------------------------------------
    async def count_keys(self) -> KeyCounts:
        def run(conn: sqlite3.Connection) -> KeyCounts:
            # Pending keys are read through the partial index of pending keys; resolved ones are the rest,
            # so no statement walks the table row by row (reads run on the event loop).
            total = conn.execute("SELECT COUNT(*) FROM await_keys").fetchone()[0]
            unresolved, pending = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(revoked_at_ms IS NULL AND (session_id IS NULL"
                " OR session_id NOT IN (SELECT session_id FROM revoked_sessions))), 0)"
                " FROM await_keys INDEXED BY await_keys_pending_by_session WHERE terminal_json IS NULL"
            ).fetchone()
            revoked = conn.execute("SELECT COUNT(*) FROM revoked_sessions").fetchone()[0]
            return KeyCounts(int(pending), int(total) - int(unresolved), int(revoked))

        return await self._db.read(run)

    async def list_keys(
        self, *, state: KeyStateFilter, session_id: str | None, contains: str | None, after_key_id: str, limit: int
    ) -> list[KeyListing]:
        clauses = ["k.key_id > ?"]
        params: list[object] = [after_key_id]
        if state == "pending":
            clauses.append("k.terminal_json IS NULL")
        elif state == "resolved":
            clauses.append("k.terminal_json IS NOT NULL")
        if session_id is not None:
            clauses.append("k.session_id = ?")
            params.append(session_id)
        if contains:
            clauses.append("(instr(k.key_id, ?) > 0 OR instr(k.scope_json, ?) > 0 OR instr(k.wait_json, ?) > 0)")
            params += [contains, contains, contains]
        params.append(limit)
        sql = (
            f"SELECT {KEY_LISTING_COLUMNS} FROM await_keys k LEFT JOIN revoked_sessions r"
            f" ON r.session_id = k.session_id WHERE {' AND '.join(clauses)} ORDER BY k.key_id LIMIT ?"
        )
        return await self._db.read(lambda conn: [key_listing_from(r) for r in conn.execute(sql, params)])

    async def get_key(self, key_id: str) -> KeyListing | None:
        def run(conn: sqlite3.Connection) -> KeyListing | None:
            r = conn.execute(
                f"SELECT {KEY_LISTING_COLUMNS} FROM await_keys k LEFT JOIN revoked_sessions r"
                " ON r.session_id = k.session_id WHERE k.key_id = ?",
                (key_id,),
            ).fetchone()
            return None if r is None else key_listing_from(r)

        return await self._db.read(run)

    async def list_key_sessions(self, *, contains: str | None, after: str, limit: int) -> list[SessionListing]:
        def run(conn: sqlite3.Connection) -> list[SessionListing]:
            rows = conn.execute(
                "SELECT s, EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = s) FROM ("
                " SELECT DISTINCT session_id AS s FROM await_keys WHERE session_id IS NOT NULL AND session_id > ?"
                " UNION SELECT session_id FROM revoked_sessions WHERE session_id > ?)"
                " WHERE ? IS NULL OR instr(s, ?) > 0 ORDER BY s LIMIT ?",
                (after, after, contains or None, contains or None, limit),
            )
            return [SessionListing(r[0], bool(r[1])) for r in rows]

        return await self._db.read(run)

    # -- retention ---------------------------------------------------------------------------
    async def sweep_resolved_keys(self, before_ms: int, limit: int) -> Swept:
        after = self._swept_seq

        def run(conn: sqlite3.Connection) -> tuple[int, int, bool]:
            # In resolution order (the resolution_seq index), never the newest: MAX(resolution_seq) is
            # where the sequence resumes after a restart.
            rows = conn.execute(
                "SELECT key_id, resolution_seq, resolved_at_ms, revoked_at_ms FROM await_keys"
                " WHERE resolution_seq > ? AND resolution_seq < (SELECT MAX(resolution_seq) FROM await_keys)"
                " ORDER BY resolution_seq LIMIT ?",
                (after, limit),
            ).fetchall()
            doomed: list[tuple[str]] = []
            last = after
            for key_id, seq, resolved_at_ms, revoked_at_ms in rows:
                if resolved_at_ms >= before_ms:
                    return len(_delete_keys(conn, doomed)), last, False
                if revoked_at_ms is None:
                    doomed.append((key_id,))
                last = seq
            return len(_delete_keys(conn, doomed)), last, len(rows) == limit

        deleted, last, more = await self._db.write(run)
        self._swept_seq = max(self._swept_seq, last)
        return Swept(deleted, more)

    async def count_resolved_keys(self, before_ms: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM await_keys WHERE resolution_seq IS NOT NULL AND resolved_at_ms < ?"
                    " AND revoked_at_ms IS NULL AND resolution_seq < (SELECT MAX(resolution_seq) FROM await_keys)",
                    (before_ms,),
                ).fetchone()[0]
            )

        return await self._db.read(run)

    async def count_open(self, now_ms: int) -> tuple[int, int]:
        def run(conn: sqlite3.Connection) -> tuple[int, int]:
            pending = conn.execute("SELECT COUNT(*) FROM await_keys WHERE terminal_json IS NULL").fetchone()[0]
            due = conn.execute(
                "SELECT COUNT(*) FROM await_keys WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL"
                " AND deadline_ms <= ?",
                (now_ms,),
            ).fetchone()[0]
            return int(pending), int(due)

        return await self._db.read(run)


def _delete_keys(conn: sqlite3.Connection, doomed: list[tuple[str]]) -> list[tuple[str]]:
    conn.executemany("DELETE FROM await_keys WHERE key_id = ?", doomed)
    return doomed
