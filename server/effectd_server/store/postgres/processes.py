"""The processes part of the PostgreSQL store.

Several replicas write one registry, so what SQLite gets from its single writer is a database primitive:
- An append (and a record change) runs in a transaction that first locks the process row (`FOR NO KEY
  UPDATE`, which foreign keys' share locks do not wait for): appends to one process take turns across
  replicas, each reads the sequence the one before wrote, and the (process, sequence) key backs it up.
- A lease is a compare-and-set: the row is read, the core decides, and the new row is written only if
  the stored one is still exactly the one decided on (else the whole operation runs again), so fencing
  tokens never repeat, across replicas as within one. Lease writes of one process also take turns on an
  advisory lock, so that many at once (renewals from both replicas) queue rather than keep losing the
  compare-and-set and running again.
- Every write that changes a process (an event, a record) sends `pg_notify` in its transaction, tagged
  "p" with the process id: other replicas wake their waiters of that process when it commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from effectd_server.store._base import ChangeListener, Swept
from effectd_server.store.postgres._backend import CHANNEL, PostgresBackend, Retry
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
    ProcessChanged,
    ProcessRow,
    event_row_from,
    process_row_from,
)

__all__ = ["PostgresProcessesStore"]

_I64_MAX = 2**63 - 1
# pg_advisory_xact_lock(class, hashtext(process_id)) orders the lease writes of one process ("efpl").
_LEASE_LOCK_CLASS = 0x6566706C


def _seq(value: int) -> int:
    """A sequence, count or limit as BIGINT holds it (u64 values past i64 match nothing more)."""
    return min(value, _I64_MAX)


def _replay_hash(replay_key: str | None) -> bytes | None:
    return None if replay_key is None else hashlib.sha256(replay_key.encode("utf-8")).digest()


# Notification tag of this capability: a process got an event or a new record.
_TAG = "p"
_DECODERS = {_TAG: lambda d: ProcessChanged(str(d["p"]))}

_LEASE_COLUMNS = "process_id, owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms"
_GRANT_COLUMNS = "g.scope_id, g.session_id, g.process_id, g.descriptor_json"
_PROCESS_COLUMNS_P = ", ".join("p." + c.strip() for c in PROCESS_COLUMNS.split(","))

# The hot statements, each a key lookup (named for the plan test).
_LOCK_PROCESS = f"SELECT {PROCESS_COLUMNS} FROM processes WHERE process_id = $1 FOR NO KEY UPDATE"
# What an append decides on, in one round trip: the next sequence and the event already recorded under
# the replay key ($2 and $3 NULL for an unkeyed append: then nothing matches).
_APPEND_CONTEXT = (
    "SELECT (SELECT COALESCE(MAX(sequence), 0) + 1 FROM process_events WHERE process_id = $1),"
    f" {', '.join('e.' + c.strip() for c in EVENT_COLUMNS.split(','))}"
    " FROM (SELECT 1) AS one LEFT JOIN process_events e"
    " ON e.process_id = $1 AND e.replay_hash = $2 AND e.replay_key = $3"
)
_INSERT_EVENT = (
    "INSERT INTO process_events (process_id, sequence, event_type, payload_hash, replay_key, replay_hash,"
    " has_wake, occurred_at_ms, event_pb) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
_SAVE_PROCESS = (
    "UPDATE processes SET registration_hash = $2, status = $3, waiting = $4, record_pb = $5, updated_at_ms = $6"
    " WHERE process_id = $1"
)


def _renumbered(statement: str, offset: int) -> str:
    """`statement` with its parameters moved up by `offset` (to share one statement's parameters)."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + offset}", statement)


# The writes of an append, with their notification, as one statement (data-modifying WITH clauses always
# run): an event, a record, or both.
_WRITE_EVENT = f"WITH event AS ({_INSERT_EVENT}) SELECT pg_notify($10, $11)"
_WRITE_PROCESS = f"WITH process AS ({_SAVE_PROCESS}) SELECT pg_notify($7, $8)"
_WRITE_EVENT_AND_PROCESS = (
    f"WITH event AS ({_INSERT_EVENT}), process AS ({_renumbered(_SAVE_PROCESS, 9)}) SELECT pg_notify($16, $17)"
)
_FIRST_EVENT_AFTER = (
    f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = $1 AND event_type = $2"
    " AND sequence > $3 ORDER BY sequence LIMIT 1"
)
_EVENTS_AFTER = (
    f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3"
)
_LEASE_WITH_PROCESS = (
    "SELECT l.process_id, l.owner_id, l.lease_token, l.fencing_token, l.claimed_at_ms, l.expires_at_ms"
    " FROM processes p LEFT JOIN process_leases l ON l.process_id = p.process_id WHERE p.process_id = $1"
)
_LEASE_INSERT = (
    f"INSERT INTO process_leases ({_LEASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
    " ON CONFLICT (process_id) DO NOTHING RETURNING 1"
)
# Compare-and-set: the row is written only if it is still exactly the one the decision was made on.
_LEASE_SWAP = (
    "UPDATE process_leases SET owner_id = $2, lease_token = $3, fencing_token = $4, claimed_at_ms = $5,"
    " expires_at_ms = $6 WHERE process_id = $1 AND owner_id IS NOT DISTINCT FROM $7"
    " AND lease_token IS NOT DISTINCT FROM $8 AND fencing_token = $9 AND claimed_at_ms = $10"
    " AND expires_at_ms = $11 AND $4 >= fencing_token RETURNING 1"
)
_LEASE_RELEASE = (
    "UPDATE process_leases SET owner_id = NULL, lease_token = NULL, claimed_at_ms = 0, expires_at_ms = 0"
    " WHERE process_id = $1 AND lease_token = $2 RETURNING 1"
)

STATEMENTS = {
    "lock_process": _LOCK_PROCESS,
    "append_context": _APPEND_CONTEXT,
    "first_event_after": _FIRST_EVENT_AFTER,
    "events_after": _EVENTS_AFTER,
    "lease_with_process": _LEASE_WITH_PROCESS,
    "lease_swap": _LEASE_SWAP,
}
"""The hot statements by name, so a test can check that their plans stay key lookups."""


def _lease(r: Any) -> LeaseRow:
    return LeaseRow(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]))


def _grant(r: Any) -> GrantRow:
    return GrantRow(scope_id=r[0], session_id=r[1], process_id=r[2], descriptor_json=r[3])


async def _process(conn: Any, process_id: str) -> ProcessRow | None:
    r = await conn.fetchrow(f"SELECT {PROCESS_COLUMNS} FROM processes WHERE process_id = $1", process_id)
    return None if r is None else process_row_from(r)


async def _locked_process(conn: Any, process_id: str) -> ProcessRow | None:
    """The process row, locked until the transaction ends: writers of one process take turns."""
    r = await conn.fetchrow(_LOCK_PROCESS, process_id)
    return None if r is None else process_row_from(r)


def _process_params(row: ProcessRow) -> tuple[Any, ...]:
    return (row.process_id, row.registration_hash, row.status, row.waiting, row.record_pb, row.updated_at_ms)


def _event_params(e: EventRow) -> tuple[Any, ...]:
    return (
        e.process_id,
        e.sequence,
        e.event_type,
        e.payload_hash,
        e.replay_key,
        _replay_hash(e.replay_key),
        e.has_wake,
        e.occurred_at_ms,
        e.event_pb,
    )


class PostgresProcessesStore:
    def __init__(self, backend: PostgresBackend) -> None:
        self._db = backend

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        self._db.listen(_DECODERS, listener)

    def _announce(self, process_id: str) -> tuple[str, str]:
        """pg_notify's arguments announcing a change of the process, delivered to the other replicas when
        the transaction commits."""
        return CHANNEL, self._db.payload({"t": _TAG, "p": process_id})

    async def _write(self, conn: Any, event: EventRow | None, process: ProcessRow | None) -> None:
        """The event and/or the record, and their announcement, in one statement."""
        if event is not None and process is not None:
            params = (*_event_params(event), *_process_params(process), *self._announce(process.process_id))
            await conn.execute(_WRITE_EVENT_AND_PROCESS, *params)
        elif event is not None:
            await conn.execute(_WRITE_EVENT, *_event_params(event), *self._announce(event.process_id))
        elif process is not None:
            await conn.execute(_WRITE_PROCESS, *_process_params(process), *self._announce(process.process_id))

    async def _run_append(self, conn: Any, plan: AppendPlan) -> Any | None:
        """The append of `plan` in the caller's transaction (announced when it writes)."""
        process = await _locked_process(conn, plan.process_id)
        if process is None:
            return None
        # Read after the lock (a new statement sees what the previous holder committed).
        context = await conn.fetchrow(_APPEND_CONTEXT, plan.process_id, _replay_hash(plan.replay_key), plan.replay_key)
        existing = None if context[1] is None else event_row_from(tuple(context)[1:])
        write = plan.decide(AppendContext(process, existing, int(context[0])))
        await self._write(conn, write.event, write.process)
        return write.answer

    # -- processes ---------------------------------------------------------------------------
    async def insert_process(self, row: ProcessRow) -> tuple[ProcessRow, bool]:
        async def run(conn: Any) -> tuple[ProcessRow, bool]:
            inserted = await conn.fetchrow(
                f"INSERT INTO processes ({PROCESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                f" ON CONFLICT (process_id) DO NOTHING RETURNING {PROCESS_COLUMNS}",
                row.process_id,
                row.registration_hash,
                row.status,
                row.waiting,
                row.record_pb,
                row.created_at_ms,
                row.updated_at_ms,
            )
            if inserted is not None:
                return process_row_from(inserted), True
            stored = await _process(conn, row.process_id)
            if stored is None:  # processes are never deleted: only a concurrent insert can have lost
                raise Retry("the process row is not there yet")
            return stored, False

        return await self._db.run("insert_process", run)

    async def get_process(self, process_id: str) -> ProcessRow | None:
        return await self._db.run("get_process", lambda conn: _process(conn, process_id))

    async def list_processes(self, status: str | None, waiting: bool | None) -> list[ProcessRow]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            params.append(status)
            clauses.append(f"status = ${len(params)}")
        if waiting is not None:
            params.append(waiting)
            clauses.append(f"waiting = ${len(params)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""

        async def run(conn: Any) -> list[ProcessRow]:
            rows = await conn.fetch(f"SELECT {PROCESS_COLUMNS} FROM processes{where} ORDER BY process_id", *params)
            return [process_row_from(r) for r in rows]

        return await self._db.run("list_processes", run)

    async def update_process(
        self, process_id: str, change: Callable[[ProcessRow], ProcessRow | None]
    ) -> ProcessRow | None:
        async def run(conn: Any) -> ProcessRow | None:
            row = await _locked_process(conn, process_id)
            if row is None:
                return None
            changed = change(row)
            if changed is None:
                return row
            await self._write(conn, None, changed)
            return changed

        return await self._db.run("update_process", run, transaction=True)

    # -- event logs --------------------------------------------------------------------------
    async def append_event(self, plan: AppendPlan) -> Any | None:
        return await self._db.run(
            "append_event", lambda conn: self._run_append(conn, plan), transaction=True, retry_unique=True
        )

    async def events_after(self, process_id: str, after_sequence: int, limit: int | None = None) -> list[EventRow]:
        async def run(conn: Any) -> list[EventRow]:
            bound = None if limit is None else _seq(limit)  # LIMIT NULL: all
            rows = await conn.fetch(_EVENTS_AFTER, process_id, _seq(after_sequence), bound)
            return [event_row_from(r) for r in rows]

        return await self._db.run("events_after", run)

    async def first_event_after(self, process_id: str, event_type: str, after_sequence: int) -> EventRow | None:
        async def run(conn: Any) -> EventRow | None:
            r = await conn.fetchrow(_FIRST_EVENT_AFTER, process_id, event_type, _seq(after_sequence))
            return None if r is None else event_row_from(r)

        return await self._db.run("first_event_after", run)

    async def wake_events_after(self, process_id: str, after_sequence: int) -> list[EventRow]:
        async def run(conn: Any) -> list[EventRow]:
            rows = await conn.fetch(
                f"SELECT {EVENT_COLUMNS} FROM process_events e WHERE e.process_id = $1 AND e.sequence > $2"
                " AND e.has_wake AND NOT EXISTS (SELECT 1 FROM process_wake_acks a"
                " WHERE a.process_id = e.process_id AND a.sequence = e.sequence) ORDER BY e.sequence",
                process_id,
                _seq(after_sequence),
            )
            return [event_row_from(r) for r in rows]

        return await self._db.run("wake_events_after", run)

    async def count_events_through(self, process_id: str, event_type: str, through_sequence: int) -> int:
        async def run(conn: Any) -> int:
            return int(
                await conn.fetchval(
                    "SELECT COUNT(*) FROM process_events WHERE process_id = $1 AND event_type = $2 AND sequence <= $3",
                    process_id,
                    event_type,
                    _seq(through_sequence),
                )
            )

        return await self._db.run("count_events_through", run)

    async def recent_events(self, process_id: str, limit: int) -> list[EventRow]:
        async def run(conn: Any) -> list[EventRow]:
            rows = await conn.fetch(
                f"SELECT {EVENT_COLUMNS} FROM process_events WHERE process_id = $1 ORDER BY sequence DESC LIMIT $2",
                process_id,
                _seq(limit),
            )
            return [event_row_from(r) for r in reversed(rows)]

        return await self._db.run("recent_events", run)

    async def ack_wake(self, process_id: str, sequence: int) -> bool:
        async def run(conn: Any) -> bool:
            if sequence > _I64_MAX:  # names no event
                return await _process(conn, process_id) is not None
            known = await conn.fetchval(
                "WITH p AS (SELECT process_id FROM processes WHERE process_id = $1),"
                " i AS (INSERT INTO process_wake_acks (process_id, sequence) SELECT process_id, $2 FROM p"
                " ON CONFLICT DO NOTHING)"
                " SELECT EXISTS (SELECT 1 FROM p)",
                process_id,
                sequence,
            )
            return bool(known)

        return await self._db.run("ack_wake", run)

    # -- handle grants -----------------------------------------------------------------------
    async def put_grant(self, grant: GrantRow) -> bool:
        async def run(conn: Any) -> bool:
            done = await conn.fetchval(
                "INSERT INTO process_handle_grants (scope_id, process_id, session_id, descriptor_json)"
                " SELECT $1, process_id, $3, $4 FROM processes WHERE process_id = $2"
                " ON CONFLICT (scope_id, process_id) DO UPDATE SET"
                " session_id = excluded.session_id, descriptor_json = excluded.descriptor_json RETURNING 1",
                grant.scope_id,
                grant.process_id,
                grant.session_id,
                grant.descriptor_json,
            )
            return done is not None

        return await self._db.run("put_grant", run)

    async def delete_grant(self, scope_id: str, process_id: str) -> None:
        async def run(conn: Any) -> None:
            await conn.execute(
                "DELETE FROM process_handle_grants WHERE scope_id = $1 AND process_id = $2", scope_id, process_id
            )

        await self._db.run("delete_grant", run)

    async def transfer_grants(
        self, from_scope_id: str, to_scope_id: str, to_session_id: str, process_ids: Sequence[str]
    ) -> str | None:
        async def run(conn: Any) -> str | None:
            descriptors: list[tuple[str, str]] = []
            for process_id in process_ids:
                if from_scope_id != to_scope_id and any(p == process_id for p, _ in descriptors):
                    return process_id  # moved by an earlier entry of the list
                # Locked: a concurrent transfer of the same grant waits, then finds it gone.
                descriptor = await conn.fetchval(
                    "SELECT descriptor_json FROM process_handle_grants WHERE scope_id = $1 AND process_id = $2"
                    " FOR UPDATE",
                    from_scope_id,
                    process_id,
                )
                if descriptor is None:
                    return process_id  # nothing moved: all or nothing
                descriptors.append((process_id, descriptor))
            for process_id, descriptor_json in descriptors:
                await conn.execute(
                    "DELETE FROM process_handle_grants WHERE scope_id = $1 AND process_id = $2",
                    from_scope_id,
                    process_id,
                )
                await conn.execute(
                    "INSERT INTO process_handle_grants (scope_id, process_id, session_id, descriptor_json)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (scope_id, process_id) DO UPDATE SET"
                    " session_id = excluded.session_id, descriptor_json = excluded.descriptor_json",
                    to_scope_id,
                    process_id,
                    to_session_id,
                    descriptor_json,
                )
            return None

        return await self._db.run("transfer_grants", run, transaction=True)

    async def grants_of_scope(self, scope_id: str) -> list[tuple[GrantRow, ProcessRow]]:
        async def run(conn: Any) -> list[tuple[GrantRow, ProcessRow]]:
            rows = await conn.fetch(
                f"SELECT {_GRANT_COLUMNS}, {_PROCESS_COLUMNS_P} FROM process_handle_grants g"
                " JOIN processes p ON p.process_id = g.process_id WHERE g.scope_id = $1 ORDER BY g.process_id",
                scope_id,
            )
            return [(_grant(r[:4]), process_row_from(r[4:])) for r in rows]

        return await self._db.run("grants_of_scope", run)

    async def has_grant(self, scope_id: str, process_id: str) -> bool:
        async def run(conn: Any) -> bool:
            found = await conn.fetchval(
                "SELECT 1 FROM process_handle_grants g JOIN processes p ON p.process_id = g.process_id"
                " WHERE g.scope_id = $1 AND g.process_id = $2",
                scope_id,
                process_id,
            )
            return found is not None

        return await self._db.run("has_grant", run)

    async def grants_of_process(self, process_id: str) -> list[GrantRow] | None:
        async def run(conn: Any) -> list[GrantRow] | None:
            if await _process(conn, process_id) is None:
                return None
            rows = await conn.fetch(
                f"SELECT {_GRANT_COLUMNS} FROM process_handle_grants g WHERE g.process_id = $1"
                " ORDER BY g.session_id, g.scope_id",
                process_id,
            )
            return [_grant(r) for r in rows]

        return await self._db.run("grants_of_process", run)

    async def delete_session(self, session_id: str, orphan_plan: OrphanPlan | None) -> tuple[int, list[DeletedGrant]]:
        async def run(conn: Any) -> tuple[int, list[DeletedGrant]]:
            # The deleted rows are the ones this transaction removed (a concurrent grant to the session
            # that commits later is not in them, nor in the count).
            gone = await conn.fetch(
                "DELETE FROM process_handle_grants g WHERE g.session_id = $1 RETURNING " + _GRANT_COLUMNS,
                session_id,
            )
            removed = sorted((_grant(r) for r in gone), key=lambda g: (g.process_id, g.scope_id))
            deleted: list[DeletedGrant] = []
            for grant in removed:
                process = await _process(conn, grant.process_id)
                if process is None:  # a dangling grant: counted, not reported
                    continue
                remaining = await conn.fetchval(
                    "SELECT COUNT(*) FROM process_handle_grants WHERE process_id = $1", grant.process_id
                )
                item = DeletedGrant(grant, process, int(remaining))
                deleted.append(item)
                plan = None if orphan_plan is None else orphan_plan(item)
                if plan is not None:
                    await self._run_append(conn, plan)
            return len(gone), deleted

        return await self._db.run("delete_session", run, transaction=True)

    # -- leases ------------------------------------------------------------------------------
    async def get_lease(self, process_id: str) -> LeaseRow | None:
        async def run(conn: Any) -> LeaseRow | None:
            r = await conn.fetchrow(f"SELECT {_LEASE_COLUMNS} FROM process_leases WHERE process_id = $1", process_id)
            return None if r is None else _lease(r)

        return await self._db.run("get_lease", run)

    async def put_lease(self, process_id: str, decide: LeaseDecide) -> LeaseRow | None:
        async def run(conn: Any) -> LeaseRow | None:
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LEASE_LOCK_CLASS, process_id)
            # Read after the lock (a new statement sees what the previous holder committed).
            found = await conn.fetchrow(_LEASE_WITH_PROCESS, process_id)
            if found is None:
                return None  # an unknown process
            current = None if found[0] is None else _lease(found)
            lease = decide(current)  # may raise: nothing is written
            new = (
                lease.process_id,
                lease.owner_id,
                lease.lease_token,
                lease.fencing_token,
                lease.claimed_at_ms,
                lease.expires_at_ms,
            )
            if current is None:
                swapped = await conn.fetchval(_LEASE_INSERT, *new)
            else:
                swapped = await conn.fetchval(
                    _LEASE_SWAP,
                    *new,
                    current.owner_id,
                    current.lease_token,
                    current.fencing_token,
                    current.claimed_at_ms,
                    current.expires_at_ms,
                )
            if swapped is None:
                raise Retry("the lease changed since it was read")  # decide again on the new row
            return lease

        return await self._db.run("put_lease", run, transaction=True)

    async def release_lease(self, process_id: str, lease_token: str) -> bool:
        async def run(conn: Any) -> bool:
            return await conn.fetchval(_LEASE_RELEASE, process_id, lease_token) is not None

        return await self._db.run("release_lease", run)

    # -- retention ---------------------------------------------------------------------------
    async def sweep_terminal_processes(self, before_ms: int, limit: int) -> Swept:
        async def run(conn: Any) -> int:
            # Locked like any writer of these rows; a process another replica holds is left for later.
            ids = [
                r[0]
                for r in await conn.fetch(
                    "SELECT process_id FROM processes WHERE status <> 'running' AND updated_at_ms < $1"
                    " ORDER BY updated_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED",
                    before_ms,
                    limit,
                )
            ]
            if ids:
                for table in _PROCESS_PARTS:
                    await conn.execute(f"DELETE FROM {table} WHERE process_id = ANY($1::text[])", ids)
                await conn.execute("DELETE FROM processes WHERE process_id = ANY($1::text[])", ids)
            return len(ids)

        deleted = await self._db.run("sweep_terminal_processes", run, transaction=True)
        return Swept(deleted, deleted == limit)

    async def count_terminal_processes(self, before_ms: int) -> int:
        async def run(conn: Any) -> int:
            return int(
                await conn.fetchval(
                    "SELECT COUNT(*) FROM processes WHERE status <> 'running' AND updated_at_ms < $1", before_ms
                )
            )

        return await self._db.run("count_terminal_processes", run)

    # -- operator queries (the console, the metrics) ------------------------------------------
    async def count_by_status(self) -> dict[str, int]:
        async def run(conn: Any) -> dict[str, int]:
            rows = await conn.fetch("SELECT status, COUNT(*) FROM processes GROUP BY status")
            return {r[0]: int(r[1]) for r in rows}

        return await self._db.run("count_by_status", run)

    async def page_processes(
        self, *, status: str | None, waiting: bool | None, contains: str | None, after_process_id: str, limit: int
    ) -> list[ProcessRow]:
        params: list[Any] = [after_process_id]
        clauses = ["process_id > $1"]
        if status is not None:
            params.append(status)
            clauses.append(f"status = ${len(params)}")
        if waiting is not None:
            params.append(waiting)
            clauses.append(f"waiting = ${len(params)}")
        if contains:
            params.append(contains)
            clauses.append(f"strpos(process_id, ${len(params)}) > 0")
        params.append(limit)
        sql = (
            f"SELECT {PROCESS_COLUMNS} FROM processes WHERE {' AND '.join(clauses)}"
            f" ORDER BY process_id LIMIT ${len(params)}"
        )

        async def run(conn: Any) -> list[ProcessRow]:
            return [process_row_from(r) for r in await conn.fetch(sql, *params)]

        return await self._db.run("page_processes", run)

    async def list_grant_sessions(self, *, contains: str | None, after: str, limit: int) -> list[str]:
        async def run(conn: Any) -> list[str]:
            rows = await conn.fetch(
                "SELECT DISTINCT session_id FROM process_handle_grants WHERE session_id > $1"
                " AND ($2::text IS NULL OR strpos(session_id, $2) > 0) ORDER BY session_id LIMIT $3",
                after,
                contains or None,
                limit,
            )
            return [r[0] for r in rows]

        return await self._db.run("list_grant_sessions", run)

    async def grants_of_session(
        self, session_id: str, after_process_id: str, limit: int
    ) -> list[tuple[GrantRow, ProcessRow]]:
        async def run(conn: Any) -> list[tuple[GrantRow, ProcessRow]]:
            rows = await conn.fetch(
                f"SELECT {_GRANT_COLUMNS}, {_PROCESS_COLUMNS_P} FROM process_handle_grants g"
                " JOIN processes p ON p.process_id = g.process_id WHERE g.session_id = $1 AND g.process_id IN ("
                " SELECT DISTINCT process_id FROM process_handle_grants WHERE session_id = $1 AND process_id > $2"
                " ORDER BY process_id LIMIT $3) ORDER BY g.process_id, g.scope_id",
                session_id,
                after_process_id,
                limit,
            )
            return [(_grant(r[:4]), process_row_from(r[4:])) for r in rows]

        return await self._db.run("grants_of_session", run)


_PROCESS_PARTS = ("process_events", "process_wake_acks", "process_handle_grants", "process_leases")
"""The tables that refer to a process, emptied of it before its row goes."""
