"""The await-event part of the PostgreSQL store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from effectd._errors import ConflictError, NotFoundError

from effectd_server.store._base import ChangeListener, Swept
from effectd_server.store.await_events import (
    KEY_LISTING_COLUMNS,
    PENDING_KEYS_QUERY,
    SESSIONS_QUERY,
    TIMEOUT_JSON,
    KeyCounts,
    KeyListing,
    KeyRevokedEvent,
    KeyringChanged,
    KeyRow,
    KeyState,
    KeyStateFilter,
    PendingKeyRow,
    ResolveItem,
    ResolveResult,
    SessionListing,
    SessionRevokedEvent,
    SessionRow,
    SigningKeyRow,
    TerminalRecorded,
    TerminalsRecorded,
    key_listing_from,
    pending_key_row_from,
    session_row_from,
    signing_key_from,
)
from effectd_server.store.postgres._backend import CHANNEL, PostgresBackend, Retry, fits
from effectd_server.store.postgres._backend import dumps_compact as _dumps

__all__ = ["RESOLVE_STATEMENTS", "PostgresAwaitEventsStore"]

# pg_advisory_xact_lock(class, 0) orders rotations of the keyring ("efkr").
_KEYRING_LOCK_CLASS = 0x65666B72
_RESOLVE_ROUNDS = 8
_GATHER_LIMIT = 512
"""Most single resolves that share one transaction."""
_NOTE_ROOM = 6000
"""Characters of batch notification entries per NOTIFY (PostgreSQL refuses 8000 bytes and more)."""
_IN_CHUNK = 10_000

_NO_REVOKED_SESSION = "NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = v.session_id)"

# Lock the batch's existing keys in one order, so that two batches never wait for each other in a cycle.
_LOCK_KEYS = 'SELECT 1 FROM await_keys WHERE key_id = ANY($1::text[]) ORDER BY key_id COLLATE "C" FOR UPDATE'

# First writer wins: a pending, unrevoked key takes the terminal. A batch announces what it recorded
# with one notification (see `_announce`), sent in the same transaction.
_RESOLVE_UPDATE = f"""
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $5::text[]) AS v(key_id, terminal, session_id, resolved_by)
)
UPDATE await_keys k
SET terminal_json = v.terminal, resolved_at_ms = $4, resolution_seq = nextval('resolution_seq'),
    resolved_by = v.resolved_by
FROM v
WHERE k.key_id = v.key_id AND k.terminal_json IS NULL AND k.revoked_at_ms IS NULL AND {_NO_REVOKED_SESSION}
RETURNING k.key_id, k.resolution_seq
"""

# A resolution that arrives before the key was recorded is kept: the key is inserted with it.
_RESOLVE_INSERT = f"""
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $7::text[])
        AS v(key_id, scope_json, wait_json, session_id, terminal, resolved_by)
)
INSERT INTO await_keys AS k (key_id, scope_json, wait_json, session_id, created_at_ms, terminal_json,
                             resolved_at_ms, resolution_seq, resolved_by)
SELECT v.key_id, v.scope_json, v.wait_json, v.session_id, $6, v.terminal, $6, nextval('resolution_seq'),
       v.resolved_by
FROM v WHERE {_NO_REVOKED_SESSION}
ORDER BY v.key_id COLLATE "C"
ON CONFLICT (key_id) DO NOTHING
RETURNING k.key_id, k.resolution_seq
"""

# One key, the usual case: scalar statements whose only sensible plan is a primary-key lookup, whatever
# the table's size was when the statement was prepared.
_RESOLVE_ONE_UPDATE = f"""
WITH u AS (
    UPDATE await_keys k
    SET terminal_json = $2, resolved_at_ms = $4, resolution_seq = nextval('resolution_seq'), resolved_by = $6
    WHERE k.key_id = $1 AND k.terminal_json IS NULL AND k.revoked_at_ms IS NULL
      AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = $3)
    RETURNING k.resolution_seq
)
SELECT resolution_seq, pg_notify('{CHANNEL}', '{{"q":' || resolution_seq || $5) FROM u
"""

_RESOLVE_ONE_INSERT = f"""
WITH i AS (
    INSERT INTO await_keys AS k (key_id, scope_json, wait_json, session_id, created_at_ms, terminal_json,
                                 resolved_at_ms, resolution_seq, resolved_by)
    SELECT $1, $2, $3, $4, $6, $5, $6, nextval('resolution_seq'), $8
    WHERE NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = $4)
    ON CONFLICT (key_id) DO NOTHING
    RETURNING k.resolution_seq
)
SELECT resolution_seq, pg_notify('{CHANNEL}', '{{"q":' || resolution_seq || $7) FROM i
"""

_RESOLVE_ONE_READ = """
SELECT k.key_id IS NOT NULL, k.terminal_json, k.resolution_seq, k.revoked_at_ms IS NOT NULL,
       EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = $2)
FROM (SELECT 1) AS one LEFT JOIN await_keys k ON k.key_id = $1
"""

_RESOLVE_READ = """
SELECT v.key_id, k.key_id IS NOT NULL, k.terminal_json, k.resolution_seq, k.revoked_at_ms IS NOT NULL,
       EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = v.session_id)
FROM unnest($1::text[], $2::text[]) AS v(key_id, session_id)
LEFT JOIN await_keys k ON k.key_id = v.key_id
"""

# Each due deadline is claimed by one replica (SKIP LOCKED) and rechecked under its row lock.
_FIRE_DUE = f"""
WITH due AS (
    SELECT key_id, session_id, revoked_at_ms IS NULL
           AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = a.session_id) AS usable
    FROM await_keys a
    WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL AND deadline_ms <= $1
    ORDER BY deadline_ms
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), fired AS (
    UPDATE await_keys k
    SET terminal_json = $3, resolved_at_ms = $1, resolution_seq = nextval('resolution_seq'), resolved_by = 'deadline'
    FROM due
    WHERE k.key_id = due.key_id AND due.usable AND k.terminal_json IS NULL AND k.revoked_at_ms IS NULL
    RETURNING k.key_id, k.resolution_seq
), forgotten AS (
    UPDATE await_keys k SET deadline_ms = NULL
    FROM due
    WHERE k.key_id = due.key_id AND NOT due.usable
)
SELECT key_id, resolution_seq,
       pg_notify('{CHANNEL}', '{{"q":' || resolution_seq || ',"t":"r","k":' || to_json(key_id)::text || $4)
FROM fired
ORDER BY resolution_seq
"""


async def _all_signing_keys(conn: Any) -> list[SigningKeyRow]:
    rows = await conn.fetch(
        'SELECT kid, secret, state, created_at_ms FROM signing_keys ORDER BY created_at_ms, kid COLLATE "C"'
    )
    return [signing_key_from(r) for r in rows]


# Notification tags of this capability: a terminal, a revoked key, a revoked session, the keyring.
_DECODERS = {
    "r": lambda d: TerminalRecorded(str(d["k"]), d.get("j"), int(d["q"])),
    "R": lambda d: TerminalsRecorded(tuple(TerminalRecorded(str(k), j, int(q)) for k, q, j in d["e"])),
    "k": lambda d: KeyRevokedEvent(str(d["k"])),
    "s": lambda d: SessionRevokedEvent(str(d["s"])),
    "g": lambda d: KeyringChanged(),
}


class PostgresAwaitEventsStore:
    deadline_poll_s = 1.0

    def __init__(self, backend: PostgresBackend) -> None:
        self._db = backend
        self._swept_seq = 0
        """Resolutions up to here were swept or are kept for good (revoked): the next sweep starts after."""
        self._gathered: list[tuple[ResolveItem, int, asyncio.Future[ResolveResult]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        self._db.listen(_DECODERS, listener)

    def _timeout_note(self) -> str:
        return ',"j":' + _dumps(TIMEOUT_JSON) + self._db.tail

    def _terminal_note(self, key_id: str, terminal_json: str) -> str:
        """A terminal's notification after its sequence number: `{"q":<seq>` + this."""
        tail = self._db.tail
        note = "," + _dumps({"t": "r", "k": key_id, "j": terminal_json})[1:-1] + tail
        if fits(note + '{"q":12345678901234567890'):
            return note
        note = "," + _dumps({"t": "r", "k": key_id, "j": None})[1:-1] + tail
        if fits(note + '{"q":12345678901234567890'):
            return note
        return ',"t":"x"' + tail  # read as "re-read everything"

    # -- keyring -----------------------------------------------------------------------------
    async def signing_keys(self) -> list[SigningKeyRow]:
        return await self._db.run("signing_keys", _all_signing_keys)

    async def ensure_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        payload = self._db.payload({"t": "g"})

        async def run(conn: Any) -> list[SigningKeyRow]:
            # The unique index on the active key settles two replicas starting at once.
            await conn.execute(
                "WITH i AS (INSERT INTO signing_keys (kid, secret, state, created_at_ms)"
                " VALUES ($1, $2, 'active', $3) ON CONFLICT DO NOTHING RETURNING kid)"
                f" SELECT pg_notify('{CHANNEL}', $4) FROM i",
                candidate.kid,
                candidate.secret,
                candidate.created_at_ms,
                payload,
            )
            return await _all_signing_keys(conn)

        return await self._db.run("ensure_signing_key", run)

    async def rotate_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        payload = self._db.payload({"t": "g"})

        async def run(conn: Any) -> list[SigningKeyRow]:
            # Rotations take turns, so each demotes the key the one before made active. (A first key that
            # ensure_signing_key commits meanwhile makes the insert a unique violation: run again.)
            await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", _KEYRING_LOCK_CLASS)
            await conn.execute("UPDATE signing_keys SET state = 'verify_only' WHERE state = 'active'")
            await conn.execute(
                "INSERT INTO signing_keys (kid, secret, state, created_at_ms) VALUES ($1, $2, 'active', $3)",
                candidate.kid,
                candidate.secret,
                candidate.created_at_ms,
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            return await _all_signing_keys(conn)

        return await self._db.run("rotate_signing_key", run, transaction=True, retry_unique=True)

    async def retire_signing_key(self, kid: str, now_ms: int) -> SigningKeyRow:
        payload = self._db.payload({"t": "g"})

        async def run(conn: Any) -> SigningKeyRow:
            row = await conn.fetchrow(
                "SELECT kid, secret, state, created_at_ms FROM signing_keys WHERE kid = $1 FOR UPDATE", kid
            )
            if row is None:
                raise NotFoundError("signing_key_not_found", f"no signing key with kid {kid!r}")
            if row[2] == "active":
                raise ConflictError("signing_key_active", f"signing key {kid!r} is active; rotate before retiring it")
            await conn.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at_ms = COALESCE(retired_at_ms, $1) WHERE kid = $2",
                now_ms,
                kid,
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            return SigningKeyRow(kid=row[0], secret=bytes(row[1]), state="retired", created_at_ms=int(row[3]))

        return await self._db.run("retire_signing_key", run, transaction=True)

    async def replace_signing_secrets(self, changes: Sequence[tuple[str, bytes, bytes]]) -> list[str]:
        async def run(conn: Any) -> list[str]:
            replaced: list[str] = []
            for kid, stored, replacement in changes:
                done = await conn.fetchval(
                    "UPDATE signing_keys SET secret = $1 WHERE kid = $2 AND secret = $3 RETURNING kid",
                    replacement,
                    kid,
                    stored,
                )
                if done is not None:
                    replaced.append(kid)
            return replaced

        return await self._db.run("replace_signing_secrets", run, transaction=True)

    # -- await-event keys --------------------------------------------------------------------
    async def record_keys(self, rows: Sequence[KeyRow], now_ms: int) -> None:
        if not rows:
            return
        ordered = sorted(rows, key=lambda r: r.key_id)

        async def run(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " SELECT v.key_id, v.scope_json, v.wait_json, v.session_id, $5"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " AS v(key_id, scope_json, wait_json, session_id)"
                ' ORDER BY v.key_id COLLATE "C" ON CONFLICT (key_id) DO NOTHING',
                [r.key_id for r in ordered],
                [r.scope_json for r in ordered],
                [r.wait_json for r in ordered],
                [r.session_id for r in ordered],
                now_ms,
            )

        await self._db.run("record_keys", run)

    async def resolve(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        """Single resolves that arrive together share one transaction (and one notification); a batch
        runs at once."""
        if len(items) != 1:
            return await self._resolve_now(items, now_ms)
        future: asyncio.Future[ResolveResult] = asyncio.get_running_loop().create_future()
        self._gathered.append((items[0], now_ms, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return [await future]

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the resolves of this loop iteration join
            while self._gathered:
                batch, self._gathered = self._gathered[:_GATHER_LIMIT], self._gathered[_GATHER_LIMIT:]
                started = time.perf_counter()
                try:
                    results = await self._resolve_now([item for item, _, _ in batch], max(t for _, t, _ in batch))
                except Exception as exc:  # every caller of the batch hears of it
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                observer = self._db.commit_observer
                if observer is not None:
                    observer(time.perf_counter() - started, len(batch))
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None

    async def _resolve_now(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        if not items:
            return []
        # Within one call the first item of a key competes; later items of the same key get its outcome.
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.key.key_id, index)
        unique = sorted(first.values(), key=lambda i: items[i].key.key_id)

        if len(unique) == 1:
            index = unique[0]
            note = self._terminal_note(items[index].key.key_id, items[index].terminal_json)
            one = await self._db.run("resolve", lambda conn: self._resolve_one(conn, items[index], note, now_ms))
            return [one if i == index or one.status == "revoked" else _already(one) for i in range(len(items))]

        async def run(conn: Any) -> dict[int, ResolveResult]:
            decided: dict[int, ResolveResult] = {}
            if len(unique) > 1:
                await conn.execute(_LOCK_KEYS, [items[i].key.key_id for i in unique])
            todo = unique
            for _ in range(_RESOLVE_ROUNDS):
                todo = await self._resolve_round(conn, items, todo, now_ms, decided)
                if not todo:
                    await self._announce(conn, [(items[i], decided[i]) for i in unique])
                    return decided
            raise Retry("resolve did not settle")

        decided = await self._db.run("resolve", run, transaction=len(unique) > 1)
        results: list[ResolveResult] = []
        for index, item in enumerate(items):
            winner = decided[first[item.key.key_id]]
            if first[item.key.key_id] == index or winner.status == "revoked":
                results.append(winner)
            else:
                results.append(ResolveResult("already_resolved", winner.terminal_json, winner.resolution_seq))
        return results

    async def _resolve_one(self, conn: Any, item: ResolveItem, note: str, now_ms: int) -> ResolveResult:
        key = item.key
        for _ in range(_RESOLVE_ROUNDS):
            row = await conn.fetchrow(
                _RESOLVE_ONE_UPDATE, key.key_id, item.terminal_json, key.session_id, now_ms, note, item.resolved_by
            )
            if row is not None:
                return ResolveResult("accepted", item.terminal_json, int(row[0]))
            row = await conn.fetchrow(
                _RESOLVE_ONE_INSERT,
                key.key_id,
                key.scope_json,
                key.wait_json,
                key.session_id,
                item.terminal_json,
                now_ms,
                note,
                item.resolved_by,
            )
            if row is not None:
                return ResolveResult("accepted", item.terminal_json, int(row[0]))
            found, terminal, seq, key_revoked, session_revoked = await conn.fetchrow(
                _RESOLVE_ONE_READ, key.key_id, key.session_id
            )
            if session_revoked or (found and key_revoked):
                return ResolveResult("revoked", None, None)
            if found and terminal is not None:
                return ResolveResult("already_resolved", terminal, int(seq))
            # Pending again (its row appeared between our statements): take another pass.
        raise Retry("resolve did not settle")

    async def _announce(self, conn: Any, decided: list[tuple[ResolveItem, ResolveResult]]) -> None:
        """One notification for the terminals a batch recorded (more only when they do not fit in one);
        a terminal too large to carry is sent without it and read back by the replicas."""
        tail = self._db.tail
        entries: list[str] = []
        size = 0
        payloads: list[str] = []
        for item, result in decided:
            if result.status != "accepted" or result.resolution_seq is None:
                continue
            entry = _dumps([item.key.key_id, result.resolution_seq, item.terminal_json])
            if len(entry) > _NOTE_ROOM:
                entry = _dumps([item.key.key_id, result.resolution_seq, None])
            if entries and size + len(entry) + 1 > _NOTE_ROOM:
                payloads.append('{"t":"R","e":[' + ",".join(entries) + "]" + tail)
                entries, size = [], 0
            entries.append(entry)
            size += len(entry) + 1
        if entries:
            payloads.append('{"t":"R","e":[' + ",".join(entries) + "]" + tail)
        for payload in payloads:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

    async def _resolve_round(
        self,
        conn: Any,
        items: Sequence[ResolveItem],
        todo: list[int],
        now_ms: int,
        decided: dict[int, ResolveResult],
    ) -> list[int]:
        """One pass of update / insert-if-missing / read; returns the items still undecided."""
        keys = [items[i].key for i in todo]
        rows = await conn.fetch(
            _RESOLVE_UPDATE,
            [k.key_id for k in keys],
            [items[i].terminal_json for i in todo],
            [k.session_id for k in keys],
            now_ms,
            [items[i].resolved_by for i in todo],
        )
        accepted = {r[0]: int(r[1]) for r in rows}
        rest = []
        for i in todo:
            seq = accepted.get(items[i].key.key_id)
            if seq is None:
                rest.append(i)
            else:
                decided[i] = ResolveResult("accepted", items[i].terminal_json, seq)
        if not rest:
            return []
        keys = [items[i].key for i in rest]
        rows = await conn.fetch(
            _RESOLVE_INSERT,
            [k.key_id for k in keys],
            [k.scope_json for k in keys],
            [k.wait_json for k in keys],
            [k.session_id for k in keys],
            [items[i].terminal_json for i in rest],
            now_ms,
            [items[i].resolved_by for i in rest],
        )
        accepted = {r[0]: int(r[1]) for r in rows}
        unsettled = []
        for i in rest:
            seq = accepted.get(items[i].key.key_id)
            if seq is None:
                unsettled.append(i)
            else:
                decided[i] = ResolveResult("accepted", items[i].terminal_json, seq)
        if not unsettled:
            return []
        rows = await conn.fetch(
            _RESOLVE_READ,
            [items[i].key.key_id for i in unsettled],
            [items[i].key.session_id for i in unsettled],
        )
        states = {r[0]: r for r in rows}
        again = []
        for i in unsettled:
            found, terminal, seq, key_revoked, session_revoked = states[items[i].key.key_id][1:]
            if session_revoked or (found and key_revoked):
                decided[i] = ResolveResult("revoked", None, None)
            elif found and terminal is not None:
                decided[i] = ResolveResult("already_resolved", terminal, int(seq))
            else:
                # Pending again (its row appeared between our statements): take another pass.
                again.append(i)
        return again

    async def key_states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        ids = list(dict.fromkeys(key_ids))
        if not ids:
            return {}

        async def run(conn: Any) -> dict[str, KeyState]:
            states: dict[str, KeyState] = {}
            for start in range(0, len(ids), _IN_CHUNK):
                for r in await conn.fetch(
                    "SELECT k.key_id, k.terminal_json, k.resolution_seq, k.deadline_ms,"
                    " k.revoked_at_ms IS NOT NULL"
                    " OR EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = k.session_id)"
                    " FROM await_keys k WHERE k.key_id = ANY($1::text[])",
                    ids[start : start + _IN_CHUNK],
                ):
                    states[r[0]] = KeyState(
                        r[0],
                        r[1],
                        None if r[2] is None else int(r[2]),
                        None if r[3] is None else int(r[3]),
                        bool(r[4]),
                    )
            return states

        return await self._db.run("key_states", run)

    async def set_deadline(self, row: KeyRow, deadline_ms: int, now_ms: int) -> int | None:
        update = (
            "UPDATE await_keys SET deadline_ms = LEAST(COALESCE(deadline_ms, $2), $2)"
            " WHERE key_id = $1 AND terminal_json IS NULL RETURNING deadline_ms"
        )

        async def run(conn: Any) -> int | None:
            found = await conn.fetchrow(update, row.key_id, deadline_ms)
            if found is None:
                inserted = await conn.fetchrow(
                    "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms, deadline_ms)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id) DO NOTHING RETURNING deadline_ms",
                    row.key_id,
                    row.scope_json,
                    row.wait_json,
                    row.session_id,
                    now_ms,
                    deadline_ms,
                )
                found = inserted or await conn.fetchrow(update, row.key_id, deadline_ms)
            return None if found is None else int(found[0])

        return await self._db.run("set_deadline", run)

    async def pending_deadlines(self) -> list[tuple[str, int]]:
        async def run(conn: Any) -> list[tuple[str, int]]:
            rows = await conn.fetch(
                "SELECT key_id, deadline_ms FROM await_keys WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL"
            )
            return [(r[0], int(r[1])) for r in rows]

        return await self._db.run("pending_deadlines", run)

    async def fire_due_deadlines(self, now_ms: int, limit: int) -> list[tuple[str, ResolveResult]]:
        async def run(conn: Any) -> list[tuple[str, ResolveResult]]:
            rows = await conn.fetch(_FIRE_DUE, now_ms, limit, TIMEOUT_JSON, self._timeout_note())
            return [(r[0], ResolveResult("accepted", TIMEOUT_JSON, int(r[1]))) for r in rows]

        return await self._db.run("fire_due_deadlines", run)

    async def revoke_key(self, row: KeyRow, now_ms: int) -> None:
        payload = self._db.payload({"t": "k", "k": row.key_id})

        async def run(conn: Any) -> None:
            await conn.execute(
                "WITH r AS (INSERT INTO await_keys AS k (key_id, scope_json, wait_json, session_id, created_at_ms,"
                " revoked_at_ms) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (key_id)"
                " DO UPDATE SET revoked_at_ms = COALESCE(k.revoked_at_ms, EXCLUDED.revoked_at_ms) RETURNING 1)"
                f" SELECT pg_notify('{CHANNEL}', $6) FROM r",
                row.key_id,
                row.scope_json,
                row.wait_json,
                row.session_id,
                now_ms,
                payload,
            )

        await self._db.run("revoke_key", run)

    async def revoke_session(self, session_id: str, now_ms: int) -> None:
        payload = self._db.payload({"t": "s", "s": session_id})

        async def run(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO revoked_sessions (session_id, revoked_at_ms) VALUES ($1, $2)"
                " ON CONFLICT (session_id) DO NOTHING",
                session_id,
                now_ms,
            )
            # Mark the session's pending keys too. A resolve racing this transaction then either
            # committed first (its row is no longer pending and keeps its terminal) or waits on the row
            # and, rechecking it, finds it revoked: a resolve is never `accepted` after the revocation
            # committed, whatever snapshot its revoked-session check read.
            await conn.execute(
                "UPDATE await_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $2)"
                " WHERE session_id = $1 AND terminal_json IS NULL",
                session_id,
                now_ms,
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

        await self._db.run("revoke_session", run, transaction=True)

    async def revoked_sessions(self) -> set[str]:
        async def run(conn: Any) -> set[str]:
            return {r[0] for r in await conn.fetch("SELECT session_id FROM revoked_sessions")}

        return await self._db.run("revoked_sessions", run)

    async def pending_keys_of_session(self, session_id: str) -> list[KeyRow]:
        async def run(conn: Any) -> list[KeyRow]:
            rows = await conn.fetch(
                "SELECT key_id, scope_json, wait_json, session_id FROM await_keys"
                " WHERE session_id = $1 AND terminal_json IS NULL AND revoked_at_ms IS NULL"
                ' ORDER BY created_at_ms, key_id COLLATE "C"',
                session_id,
            )
            return [KeyRow(r[0], r[1], r[2], r[3]) for r in rows]

        return await self._db.run("pending_keys_of_session", run)

    # -- retention ---------------------------------------------------------------------------
    async def sweep_resolved_keys(self, before_ms: int, limit: int) -> Swept:
        after = self._swept_seq

        async def run(conn: Any) -> tuple[int, int, bool]:
            # In resolution order (the resolution_seq index); the sequence itself survives deletions.
            rows = await conn.fetch(
                "SELECT key_id, resolution_seq, resolved_at_ms, revoked_at_ms FROM await_keys"
                " WHERE resolution_seq > $1 ORDER BY resolution_seq LIMIT $2",
                after,
                limit,
            )
            doomed: list[str] = []
            last, more = after, len(rows) == limit
            for key_id, seq, resolved_at_ms, revoked_at_ms in rows:
                if resolved_at_ms >= before_ms:
                    more = False
                    break
                if revoked_at_ms is None:
                    doomed.append(key_id)
                last = int(seq)
            if doomed:
                # Still resolved and unrevoked: a revocation racing the sweep keeps its row.
                await conn.execute(
                    "DELETE FROM await_keys WHERE key_id = ANY($1::text[]) AND revoked_at_ms IS NULL", doomed
                )
            return len(doomed), last, more

        deleted, last, more = await self._db.run("sweep_resolved_keys", run, transaction=True)
        self._swept_seq = max(self._swept_seq, last)
        return Swept(deleted, more)

    async def count_resolved_keys(self, before_ms: int) -> int:
        async def run(conn: Any) -> int:
            return int(
                await conn.fetchval(
                    "SELECT COUNT(*) FROM await_keys WHERE resolution_seq IS NOT NULL AND resolved_at_ms < $1"
                    " AND revoked_at_ms IS NULL",
                    before_ms,
                )
            )

        return await self._db.run("count_resolved_keys", run)

    async def count_open(self, now_ms: int) -> tuple[int, int]:
        async def run(conn: Any) -> tuple[int, int]:
            row = await conn.fetchrow(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE deadline_ms IS NOT NULL AND deadline_ms <= $1)"
                " FROM await_keys WHERE terminal_json IS NULL",
                now_ms,
            )
            return int(row[0]), int(row[1])

        return await self._db.run("count_open", run)

    # -- operator queries (the console) ------------------------------------------------------
    async def count_keys(self) -> KeyCounts:
        async def run(conn: Any) -> KeyCounts:
            row = await conn.fetchrow(
                "SELECT COUNT(*) FILTER (WHERE terminal_json IS NULL AND revoked_at_ms IS NULL AND (session_id IS NULL"
                " OR session_id NOT IN (SELECT session_id FROM revoked_sessions))),"
                " COUNT(*) FILTER (WHERE terminal_json IS NOT NULL),"
                " (SELECT COUNT(*) FROM revoked_sessions) FROM await_keys"
            )
            return KeyCounts(int(row[0]), int(row[1]), int(row[2]))

        return await self._db.run("count_keys", run)

    async def list_keys(
        self, *, state: KeyStateFilter, session_id: str | None, contains: str | None, after_key_id: str, limit: int
    ) -> list[KeyListing]:
        params: list[Any] = [after_key_id]
        # Key ids are hex, which every collation orders alike: the primary key serves the page.
        clauses = ["k.key_id > $1"]
        if state == "pending":
            clauses.append("k.terminal_json IS NULL")
        elif state == "resolved":
            clauses.append("k.terminal_json IS NOT NULL")
        if session_id is not None:
            params.append(session_id)
            clauses.append(f"k.session_id = ${len(params)}")
        if contains:
            params.append(contains)
            n = len(params)
            clauses.append(
                f"(strpos(k.key_id, ${n}) > 0 OR strpos(k.scope_json, ${n}) > 0 OR strpos(k.wait_json, ${n}) > 0)"
            )
        params.append(limit)
        sql = (
            f"SELECT {KEY_LISTING_COLUMNS} FROM await_keys k LEFT JOIN revoked_sessions r"
            f" ON r.session_id = k.session_id WHERE {' AND '.join(clauses)}"
            f" ORDER BY k.key_id LIMIT ${len(params)}"
        )

        async def run(conn: Any) -> list[KeyListing]:
            return [key_listing_from(r) for r in await conn.fetch(sql, *params)]

        return await self._db.run("list_keys", run)

    async def get_key(self, key_id: str) -> KeyListing | None:
        async def run(conn: Any) -> KeyListing | None:
            r = await conn.fetchrow(
                f"SELECT {KEY_LISTING_COLUMNS} FROM await_keys k LEFT JOIN revoked_sessions r"
                " ON r.session_id = k.session_id WHERE k.key_id = $1",
                key_id,
            )
            return None if r is None else key_listing_from(r)

        return await self._db.run("get_key", run)

    async def list_key_sessions(self, *, contains: str | None, after: str, limit: int) -> list[SessionListing]:
        async def run(conn: Any) -> list[SessionListing]:
            rows = await conn.fetch(
                "SELECT s, EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = s) FROM ("
                ' SELECT DISTINCT session_id COLLATE "C" AS s FROM await_keys'
                ' WHERE session_id IS NOT NULL AND session_id COLLATE "C" > $1'
                ' UNION SELECT session_id COLLATE "C" FROM revoked_sessions WHERE session_id COLLATE "C" > $1) u'
                " WHERE $2::text IS NULL OR strpos(s, $2) > 0 ORDER BY s LIMIT $3",
                after,
                contains or None,
                limit,
            )
            return [SessionListing(r[0], bool(r[1])) for r in rows]

        return await self._db.run("list_key_sessions", run)

    async def list_sessions(self, limit: int) -> list[SessionRow]:
        async def run(conn: Any) -> list[SessionRow]:
            query = f'{SESSIONS_QUERY} ORDER BY last_activity DESC, k.session_id COLLATE "C" LIMIT $1'
            return [session_row_from(r) for r in await conn.fetch(query, limit)]

        return await self._db.run("list_sessions", run)

    async def list_pending_keys(self, session_id: str, limit: int) -> list[PendingKeyRow]:
        async def run(conn: Any) -> list[PendingKeyRow]:
            query = PENDING_KEYS_QUERY.format(session="$1") + ' ORDER BY created_at_ms, key_id COLLATE "C" LIMIT $2'
            return [pending_key_row_from(r) for r in await conn.fetch(query, session_id, limit)]

        return await self._db.run("list_pending_keys", run)


def _already(winner: ResolveResult) -> ResolveResult:
    return ResolveResult("already_resolved", winner.terminal_json, winner.resolution_seq)


RESOLVE_STATEMENTS = {
    "resolve_one_update": _RESOLVE_ONE_UPDATE,
    "resolve_one_insert": _RESOLVE_ONE_INSERT,
    "resolve_one_read": _RESOLVE_ONE_READ,
    "resolve_update": _RESOLVE_UPDATE,
    "resolve_insert": _RESOLVE_INSERT,
    "resolve_read": _RESOLVE_READ,
}
"""The hot statements of a resolve, for the test that keeps their plans key lookups."""
