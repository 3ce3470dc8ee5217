"""The processes part of the SQLite store.

Writes run in the backend's group-committed transactions (each in its own savepoint, so a decision that
raises undoes only its own write); reads run on the read connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from effectd_server.store._base import ChangeListener, Swept
from effectd_server.store.processes import (
    EVENT_COLUMNS,
    PROCESS_COLUMNS,
    AppendContext,
    AppendPlan,
    DeletedGrant,
    EventRow,
    GrantRow,
    LeaseDecide,
    LeaseRow,
    OrphanPlan,
    ProcessRow,
    event_row_from,
    process_row_from,
)
from effectd_server.store.sqlite._backend import SqliteBackend

__all__ = ["SqliteProcessesStore"]

_I64_MAX = 2**63 - 1


def _seq(value: int) -> int:
    """A sequence or count bound as SQLite can bind it (u64 values past i64 match nothing more)."""
    return min(value, _I64_MAX)


_LEASE_COLUMNS = "process_id, owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms"
_GRANT_COLUMNS = "g.scope_id, g.session_id, g.process_id, g.descriptor_json"
_PROCESS_COLUMNS_P = ", ".join("p." + c.strip() for c in PROCESS_COLUMNS.split(","))


def _process(conn: sqlite3.Connection, process_id: str) -> ProcessRow | None:
    r = conn.execute(f"SELECT {PROCESS_COLUMNS} FROM processes WHERE process_id = ?", (process_id,)).fetchone()
    return None if r is None else process_row_from(r)


def _exists(conn: sqlite3.Connection, process_id: str) -> bool:
    return conn.execute("SELECT 1 FROM processes WHERE process_id = ?", (process_id,)).fetchone() is not None


def _save_process(conn: sqlite3.Connection, row: ProcessRow) -> None:
    conn.execute(
        "UPDATE processes SET registration_hash = ?, status = ?, waiting = ?, record_pb = ?, updated_at_ms = ?"
        " WHERE process_id = ?",
        (row.registration_hash, row.status, int(row.waiting), row.record_pb, row.updated_at_ms, row.process_id),
    )


def _lease(conn: sqlite3.Connection, process_id: str) -> LeaseRow | None:
    r = conn.execute(f"SELECT {_LEASE_COLUMNS} FROM process_leases WHERE process_id = ?", (process_id,)).fetchone()
    if r is None:
        return None
    return LeaseRow(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]))


def _grant(r: Any) -> GrantRow:
    return GrantRow(scope_id=r[0], session_id=r[1], process_id=r[2], descriptor_json=r[3])


def _run_append(conn: sqlite3.Connection, plan: AppendPlan) -> Any | None:
    process = _process(conn, plan.process_id)
    if process is None:
        return None
    existing = None
    if plan.replay_key is not None:
        r = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = ? AND replay_key = ?",
            (plan.process_id, plan.replay_key),
        ).fetchone()
        existing = None if r is None else event_row_from(r)
    next_sequence = conn.execute(
        "SELECT COALESCE(MAX(sequence), 0) + 1 FROM process_events WHERE process_id = ?", (plan.process_id,)
    ).fetchone()[0]
    write = plan.decide(AppendContext(process, existing, int(next_sequence)))
    if write.event is not None:
        e = write.event
        conn.execute(
            f"INSERT INTO process_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.process_id,
                e.sequence,
                e.event_type,
                e.payload_hash,
                e.replay_key,
                int(e.has_wake),
                e.occurred_at_ms,
                e.event_pb,
            ),
        )
    if write.process is not None:
        _save_process(conn, write.process)
    return write.answer


class SqliteProcessesStore:
    def __init__(self, backend: SqliteBackend) -> None:
        self._db = backend

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        """One process writes this file, so there are no foreign changes to report."""

    # -- processes ---------------------------------------------------------------------------
    async def insert_process(self, row: ProcessRow) -> tuple[ProcessRow, bool]:
        def run(conn: sqlite3.Connection) -> tuple[ProcessRow, bool]:
            inserted = conn.execute(
                f"INSERT OR IGNORE INTO processes ({PROCESS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.process_id,
                    row.registration_hash,
                    row.status,
                    int(row.waiting),
                    row.record_pb,
                    row.created_at_ms,
                    row.updated_at_ms,
                ),
            ).rowcount
            stored = _process(conn, row.process_id)
            assert stored is not None
            return stored, inserted == 1

        return await self._db.write(run)

    async def get_process(self, process_id: str) -> ProcessRow | None:
        return await self._db.read(lambda conn: _process(conn, process_id))

    async def list_processes(self, status: str | None, waiting: bool | None) -> list[ProcessRow]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if waiting is not None:
            clauses.append("waiting = ?")
            params.append(int(waiting))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""

        def run(conn: sqlite3.Connection) -> list[ProcessRow]:
            rows = conn.execute(f"SELECT {PROCESS_COLUMNS} FROM processes{where} ORDER BY process_id", params)
            return [process_row_from(r) for r in rows]

        return await self._db.read(run)

    async def update_process(
        self, process_id: str, change: Callable[[ProcessRow], ProcessRow | None]
    ) -> ProcessRow | None:
        def run(conn: sqlite3.Connection) -> ProcessRow | None:
            row = _process(conn, process_id)
            if row is None:
                return None
            changed = change(row)
            if changed is None:
                return row
            _save_process(conn, changed)
            return changed

        return await self._db.write(run)

    # -- event logs --------------------------------------------------------------------------
    async def append_event(self, plan: AppendPlan) -> Any | None:
        return await self._db.write(lambda conn: _run_append(conn, plan))

    async def events_after(self, process_id: str, after_sequence: int, limit: int | None = None) -> list[EventRow]:
        def run(conn: sqlite3.Connection) -> list[EventRow]:
            rows = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = ? AND sequence > ?"
                " ORDER BY sequence LIMIT ?",
                (process_id, _seq(after_sequence), -1 if limit is None else _seq(limit)),
            )
            return [event_row_from(r) for r in rows]

        return await self._db.read(run)

    async def first_event_after(self, process_id: str, event_type: str, after_sequence: int) -> EventRow | None:
        def run(conn: sqlite3.Connection) -> EventRow | None:
            r = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = ? AND event_type = ?"
                " AND sequence > ? ORDER BY sequence LIMIT 1",
                (process_id, event_type, _seq(after_sequence)),
            ).fetchone()
            return None if r is None else event_row_from(r)

        return await self._db.read(run)

    async def wake_events_after(self, process_id: str, after_sequence: int) -> list[EventRow]:
        def run(conn: sqlite3.Connection) -> list[EventRow]:
            rows = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM process_events e WHERE e.process_id = ? AND e.sequence > ?"
                " AND e.has_wake = 1 AND NOT EXISTS (SELECT 1 FROM process_wake_acks a"
                " WHERE a.process_id = e.process_id AND a.sequence = e.sequence) ORDER BY e.sequence",
                (process_id, _seq(after_sequence)),
            )
            return [event_row_from(r) for r in rows]

        return await self._db.read(run)

    async def count_events_through(self, process_id: str, event_type: str, through_sequence: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM process_events WHERE process_id = ? AND event_type = ? AND sequence <= ?",
                    (process_id, event_type, _seq(through_sequence)),
                ).fetchone()[0]
            )

        return await self._db.read(run)

    async def recent_events(self, process_id: str, limit: int) -> list[EventRow]:
        def run(conn: sqlite3.Connection) -> list[EventRow]:
            rows = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = ? ORDER BY sequence DESC LIMIT ?",
                (process_id, _seq(limit)),
            ).fetchall()
            return [event_row_from(r) for r in reversed(rows)]

        return await self._db.read(run)

    async def ack_wake(self, process_id: str, sequence: int) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if not _exists(conn, process_id):
                return False
            if sequence <= _I64_MAX:  # larger sequences name no event
                conn.execute(
                    "INSERT OR IGNORE INTO process_wake_acks (process_id, sequence) VALUES (?, ?)",
                    (process_id, sequence),
                )
            return True

        return await self._db.write(run)

    # -- handle grants -----------------------------------------------------------------------
    async def put_grant(self, grant: GrantRow) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            if not _exists(conn, grant.process_id):
                return False
            conn.execute(
                "INSERT INTO process_handle_grants (scope_id, process_id, session_id, descriptor_json)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (scope_id, process_id) DO UPDATE SET"
                " session_id = excluded.session_id, descriptor_json = excluded.descriptor_json",
                (grant.scope_id, grant.process_id, grant.session_id, grant.descriptor_json),
            )
            return True

        return await self._db.write(run)

    async def delete_grant(self, scope_id: str, process_id: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM process_handle_grants WHERE scope_id = ? AND process_id = ?", (scope_id, process_id)
            )

        await self._db.write(run)

    async def transfer_grants(
        self, from_scope_id: str, to_scope_id: str, to_session_id: str, process_ids: Sequence[str]
    ) -> str | None:
        def run(conn: sqlite3.Connection) -> str | None:
            descriptors: list[tuple[str, str]] = []
            for process_id in process_ids:
                if from_scope_id != to_scope_id and any(p == process_id for p, _ in descriptors):
                    return process_id  # moved by an earlier entry of the list
                r = conn.execute(
                    "SELECT descriptor_json FROM process_handle_grants WHERE scope_id = ? AND process_id = ?",
                    (from_scope_id, process_id),
                ).fetchone()
                if r is None:
                    return process_id  # nothing moved: all or nothing
                descriptors.append((process_id, r[0]))
            for process_id, descriptor_json in descriptors:
                conn.execute(
                    "DELETE FROM process_handle_grants WHERE scope_id = ? AND process_id = ?",
                    (from_scope_id, process_id),
                )
                conn.execute(
                    "INSERT INTO process_handle_grants (scope_id, process_id, session_id, descriptor_json)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (scope_id, process_id) DO UPDATE SET"
                    " session_id = excluded.session_id, descriptor_json = excluded.descriptor_json",
                    (to_scope_id, process_id, to_session_id, descriptor_json),
                )
            return None

        return await self._db.write(run)

    async def grants_of_scope(self, scope_id: str) -> list[tuple[GrantRow, ProcessRow]]:
        def run(conn: sqlite3.Connection) -> list[tuple[GrantRow, ProcessRow]]:
            rows = conn.execute(
                f"SELECT {_GRANT_COLUMNS}, {_PROCESS_COLUMNS_P} FROM process_handle_grants g"
                " JOIN processes p ON p.process_id = g.process_id WHERE g.scope_id = ? ORDER BY g.process_id",
                (scope_id,),
            )
            return [(_grant(r[:4]), process_row_from(r[4:])) for r in rows]

        return await self._db.read(run)

    async def has_grant(self, scope_id: str, process_id: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            r = conn.execute(
                "SELECT 1 FROM process_handle_grants g JOIN processes p ON p.process_id = g.process_id"
                " WHERE g.scope_id = ? AND g.process_id = ?",
                (scope_id, process_id),
            ).fetchone()
            return r is not None

        return await self._db.read(run)

    async def grants_of_process(self, process_id: str) -> list[GrantRow] | None:
        def run(conn: sqlite3.Connection) -> list[GrantRow] | None:
            if not _exists(conn, process_id):
                return None
            rows = conn.execute(
                f"SELECT {_GRANT_COLUMNS} FROM process_handle_grants g WHERE g.process_id = ?"
                " ORDER BY g.session_id, g.scope_id",
                (process_id,),
            )
            return [_grant(r) for r in rows]

        return await self._db.read(run)

    async def delete_session(self, session_id: str, orphan_plan: OrphanPlan | None) -> tuple[int, list[DeletedGrant]]:
        def run(conn: sqlite3.Connection) -> tuple[int, list[DeletedGrant]]:
            removed = [
                (_grant(r[:4]), process_row_from(r[4:]))
                for r in conn.execute(
                    f"SELECT {_GRANT_COLUMNS}, {_PROCESS_COLUMNS_P} FROM process_handle_grants g"
                    " JOIN processes p ON p.process_id = g.process_id WHERE g.session_id = ?"
                    " ORDER BY g.process_id, g.scope_id",
                    (session_id,),
                ).fetchall()
            ]
            revoked = conn.execute("DELETE FROM process_handle_grants WHERE session_id = ?", (session_id,)).rowcount
            deleted: list[DeletedGrant] = []
            for grant, process in removed:
                remaining = conn.execute(
                    "SELECT COUNT(*) FROM process_handle_grants WHERE process_id = ?", (grant.process_id,)
                ).fetchone()[0]
                item = DeletedGrant(grant, process, int(remaining))
                deleted.append(item)
                plan = None if orphan_plan is None else orphan_plan(item)
                if plan is not None:
                    _run_append(conn, plan)
            return revoked, deleted

        return await self._db.write(run)

    # -- leases ------------------------------------------------------------------------------
    async def get_lease(self, process_id: str) -> LeaseRow | None:
        return await self._db.read(lambda conn: _lease(conn, process_id))

    async def put_lease(self, process_id: str, decide: LeaseDecide) -> LeaseRow | None:
        def run(conn: sqlite3.Connection) -> LeaseRow | None:
            if not _exists(conn, process_id):
                return None
            lease = decide(_lease(conn, process_id))
            conn.execute(
                f"INSERT INTO process_leases ({_LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (process_id) DO UPDATE SET owner_id = excluded.owner_id,"
                " lease_token = excluded.lease_token, fencing_token = excluded.fencing_token,"
                " claimed_at_ms = excluded.claimed_at_ms, expires_at_ms = excluded.expires_at_ms",
                (
                    lease.process_id,
                    lease.owner_id,
                    lease.lease_token,
                    lease.fencing_token,
                    lease.claimed_at_ms,
                    lease.expires_at_ms,
                ),
            )
            return lease

        return await self._db.write(run)

    async def release_lease(self, process_id: str, lease_token: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            released = conn.execute(
                "UPDATE process_leases SET owner_id = NULL, lease_token = NULL, claimed_at_ms = 0,"
                " expires_at_ms = 0 WHERE process_id = ? AND lease_token = ?",
                (process_id, lease_token),
            ).rowcount
            return released == 1

        return await self._db.write(run)

    # -- retention ---------------------------------------------------------------------------
    async def sweep_terminal_processes(self, before_ms: int, limit: int) -> Swept:
        def run(conn: sqlite3.Connection) -> int:
            ids = [
                (r[0],)
                for r in conn.execute(
                    "SELECT process_id FROM processes WHERE status <> 'running' AND updated_at_ms < ?"
                    " ORDER BY updated_at_ms LIMIT ?",
                    (before_ms, limit),
                )
            ]
            for table in _PROCESS_PARTS:
                conn.executemany(f"DELETE FROM {table} WHERE process_id = ?", ids)
            conn.executemany("DELETE FROM processes WHERE process_id = ?", ids)
            return len(ids)

        deleted = await self._db.write(run)
        return Swept(deleted, deleted == limit)

    async def count_terminal_processes(self, before_ms: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM processes WHERE status <> 'running' AND updated_at_ms < ?", (before_ms,)
                ).fetchone()[0]
            )

        return await self._db.read(run)

    # -- operator queries (the console, the metrics) ------------------------------------------
    async def count_by_status(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return {r[0]: int(r[1]) for r in conn.execute("SELECT status, COUNT(*) FROM processes GROUP BY status")}

        return await self._db.read(run)

    async def page_processes(
        self, *, status: str | None, waiting: bool | None, contains: str | None, after_process_id: str, limit: int
    ) -> list[ProcessRow]:
        clauses = ["process_id > ?"]
        params: list[Any] = [after_process_id]
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if waiting is not None:
            clauses.append("waiting = ?")
            params.append(int(waiting))
        if contains:
            clauses.append("instr(process_id, ?) > 0")
            params.append(contains)
        params.append(limit)
        sql = f"SELECT {PROCESS_COLUMNS} FROM processes WHERE {' AND '.join(clauses)} ORDER BY process_id LIMIT ?"
        return await self._db.read(lambda conn: [process_row_from(r) for r in conn.execute(sql, params)])

    async def list_grant_sessions(self, *, contains: str | None, after: str, limit: int) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT session_id FROM process_handle_grants WHERE session_id > ?"
                " AND (? IS NULL OR instr(session_id, ?) > 0) ORDER BY session_id LIMIT ?",
                (after, contains or None, contains or None, limit),
            )
            return [r[0] for r in rows]

        return await self._db.read(run)

    async def grants_of_session(
        self, session_id: str, after_process_id: str, limit: int
    ) -> list[tuple[GrantRow, ProcessRow]]:
        def run(conn: sqlite3.Connection) -> list[tuple[GrantRow, ProcessRow]]:
            rows = conn.execute(
                f"SELECT {_GRANT_COLUMNS}, {_PROCESS_COLUMNS_P} FROM process_handle_grants g"
                " JOIN processes p ON p.process_id = g.process_id WHERE g.session_id = ? AND g.process_id IN ("
                " SELECT DISTINCT process_id FROM process_handle_grants WHERE session_id = ? AND process_id > ?"
                " ORDER BY process_id LIMIT ?) ORDER BY g.process_id, g.scope_id",
                (session_id, session_id, after_process_id, limit),
            )
            return [(_grant(r[:4]), process_row_from(r[4:])) for r in rows]

        return await self._db.read(run)


_PROCESS_PARTS = ("process_events", "process_wake_acks", "process_handle_grants", "process_leases")
"""The tables that refer to a process, emptied of it before its row goes."""
