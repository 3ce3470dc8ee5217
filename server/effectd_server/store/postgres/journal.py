"""The journal part of the PostgreSQL store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from effectd_server.store._base import ChangeListener, Swept
from effectd_server.store.journal import (
    EFFECT_COLUMNS,
    SCOPES_QUERY,
    ClaimResult,
    ClaimStatus,
    EffectClaim,
    EffectFinished,
    EffectRow,
    ScopeListing,
    ScopeRow,
    effect_row_from,
    scope_row_from,
    settled_claim,
)
from effectd_server.store.postgres._backend import CHANNEL, PostgresBackend, Retry

__all__ = ["PostgresJournalStore"]

# pg_advisory_xact_lock(class, hashtext(scope_json)) orders new journal rows of one scope ("effd").
_SCOPE_LOCK_CLASS = 0x65666664

_CLAIM_INSERT = f"""
INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status, lease_owner,
                            lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms)
SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, 'in_progress', $6, $7, $8, $9, $10, $10
FROM effect_journal WHERE scope_json = $1
ON CONFLICT (scope_json, replay_key) DO NOTHING
RETURNING {EFFECT_COLUMNS}
"""


# Notification tag of this capability: a row finished or its lease was released.
_DECODERS = {"e": lambda d: EffectFinished(str(d["c"]), str(d["r"]))}


class PostgresJournalStore:
    def __init__(self, backend: PostgresBackend) -> None:
        self._db = backend

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        self._db.listen(_DECODERS, listener)

    # -- the effect journal ------------------------------------------------------------------
    async def claim_effect(self, claim: EffectClaim, now_ms: int) -> ClaimResult:
        owner, token, expires = (
            (claim.owner, claim.lease_token, now_ms + claim.lease_ttl_ms) if claim.exclusive else (None, None, 0)
        )
        new_status: ClaimStatus = "claimed" if claim.exclusive else "shared"

        async def insert(conn: Any) -> EffectRow | None:
            """A new row with the scope's next seq (MAX + 1); None when the row exists."""
            created = await conn.fetchrow(
                _CLAIM_INSERT,
                claim.scope_json,
                claim.replay_key,
                claim.envelope_hash,
                claim.kind,
                claim.envelope_pb,
                owner,
                token,
                expires,
                claim.due_at_ms,
                now_ms,
            )
            return None if created is None else effect_row_from(created)

        async def insert_alone(conn: Any) -> tuple[bool, EffectRow | None]:
            try:
                return False, await insert(conn)
            except asyncpg.UniqueViolationError:
                # A concurrent claim in this scope took the same seq.
                return True, None

        async def insert_in_turn(conn: Any) -> EffectRow | None:
            # New rows of one scope take turns (until commit), so each reads the seq the one before wrote.
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _SCOPE_LOCK_CLASS, claim.scope_json)
            return await insert(conn)

        if not claim.strict:
            contended, created = await self._db.run("claim_effect", insert_alone)
            if contended:
                created = await self._db.run("claim_effect", insert_in_turn, transaction=True, retry_unique=True)
            if created is not None:
                return ClaimResult(new_status, created)
            # The row exists. Recorded rows and hash conflicts never change: answer them without a lock.
            existing = await self.get_effect(claim.scope_json, claim.replay_key)
            if existing is not None:
                answer = settled_claim(claim, existing)
                if answer is not None:
                    return answer

        async def run(conn: Any) -> ClaimResult:
            found = await conn.fetchrow(
                f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2 FOR UPDATE",
                claim.scope_json,
                claim.replay_key,
            )
            if found is None:
                if claim.strict:
                    return ClaimResult("missing", None)
                created = await insert_in_turn(conn)
                if created is None:
                    raise Retry("the journal row appeared meanwhile")
                return ClaimResult(new_status, created)
            row = effect_row_from(found)
            answer = settled_claim(claim, row)
            if answer is not None:
                return answer
            if row.lease_expires_at_ms > now_ms and row.lease_token is not None:
                return ClaimResult("busy", row)
            taken = await conn.fetchrow(
                "UPDATE effect_journal SET lease_owner = $1, lease_token = $2, lease_expires_at_ms = $3,"
                f" updated_at_ms = $4 WHERE scope_json = $5 AND replay_key = $6 RETURNING {EFFECT_COLUMNS}",
                claim.owner,
                claim.lease_token,
                now_ms + claim.lease_ttl_ms,
                now_ms,
                claim.scope_json,
                claim.replay_key,
            )
            return ClaimResult("claimed", effect_row_from(taken))

        return await self._db.run("claim_effect", run, transaction=True, retry_unique=True)

    async def finish_effect(
        self,
        scope_json: str,
        replay_key: str,
        lease_token: str | None,
        outcome_pb: bytes | None,
        error_json: str | None,
        now_ms: int,
    ) -> EffectRow | None:
        status = "completed" if outcome_pb is not None else "failed"
        payload = self._db.payload({"t": "e", "c": scope_json, "r": replay_key})
        guard = " AND lease_token = $8" if lease_token is not None else ""
        params: tuple[Any, ...] = (status, outcome_pb, error_json, now_ms, scope_json, replay_key, payload)
        if lease_token is not None:
            params += (lease_token,)

        async def run(conn: Any) -> EffectRow | None:
            updated = await conn.fetchrow(
                "WITH u AS (UPDATE effect_journal SET status = $1, outcome_pb = $2, error_json = $3,"
                " lease_owner = NULL, lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = $4"
                " WHERE scope_json = $5 AND replay_key = $6 AND status = 'in_progress'"
                + guard
                + f" RETURNING {EFFECT_COLUMNS})"
                f" SELECT u.*, pg_notify('{CHANNEL}', $7) FROM u",
                *params,
            )
            if updated is not None:
                return effect_row_from(updated)
            if lease_token is not None:
                return None
            # Another executor finished first: its record is the answer.
            existing = await conn.fetchrow(
                f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2",
                scope_json,
                replay_key,
            )
            return None if existing is None else effect_row_from(existing)

        return await self._db.run("finish_effect", run)

    async def release_effect(self, scope_json: str, replay_key: str, lease_token: str, now_ms: int) -> bool:
        payload = self._db.payload({"t": "e", "c": scope_json, "r": replay_key})

        async def run(conn: Any) -> bool:
            rows = await conn.fetch(
                "WITH u AS (UPDATE effect_journal SET lease_owner = NULL, lease_token = NULL,"
                " lease_expires_at_ms = 0, updated_at_ms = $1 WHERE scope_json = $2 AND replay_key = $3"
                " AND lease_token = $4 AND status = 'in_progress' RETURNING 1)"
                f" SELECT pg_notify('{CHANNEL}', $5) FROM u",
                now_ms,
                scope_json,
                replay_key,
                lease_token,
                payload,
            )
            return len(rows) == 1

        return await self._db.run("release_effect", run)

    async def renew_effect(
        self, scope_json: str, replay_key: str, lease_token: str, ttl_ms: int, now_ms: int
    ) -> int | None:
        expires = now_ms + ttl_ms

        async def run(conn: Any) -> int | None:
            changed = await conn.fetchrow(
                "UPDATE effect_journal SET lease_expires_at_ms = $1, updated_at_ms = $2"
                " WHERE scope_json = $3 AND replay_key = $4 AND lease_token = $5 AND status = 'in_progress'"
                " AND lease_expires_at_ms > $2 RETURNING 1",
                expires,
                now_ms,
                scope_json,
                replay_key,
                lease_token,
            )
            return None if changed is None else expires

        return await self._db.run("renew_effect", run)

    async def get_effect(self, scope_json: str, replay_key: str) -> EffectRow | None:
        async def run(conn: Any) -> EffectRow | None:
            found = await conn.fetchrow(
                f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2",
                scope_json,
                replay_key,
            )
            return None if found is None else effect_row_from(found)

        return await self._db.run("get_effect", run)

    async def list_effects(self, scope_json: str, after_seq: int, limit: int) -> list[EffectRow]:
        async def run(conn: Any) -> list[EffectRow]:
            rows = await conn.fetch(
                f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                scope_json,
                after_seq,
                limit,
            )
            return [effect_row_from(r) for r in rows]

        return await self._db.run("list_effects", run)

    async def recent_scopes(self, limit: int) -> list[ScopeRow]:
        async def run(conn: Any) -> list[ScopeRow]:
            query = f'{SCOPES_QUERY} ORDER BY updated DESC, scope_json COLLATE "C" LIMIT $1'
            return [scope_row_from(r) for r in await conn.fetch(query, limit)]

        return await self._db.run("recent_scopes", run)

    # -- operator queries (the console) ------------------------------------------------------
    async def count_effects_by_status(self) -> dict[str, int]:
        async def run(conn: Any) -> dict[str, int]:
            rows = await conn.fetch("SELECT status, COUNT(*) FROM effect_journal GROUP BY status")
            return {r[0]: int(r[1]) for r in rows}

        return await self._db.run("count_effects_by_status", run)

    async def list_scopes(
        self, *, prefixes: Sequence[str], contains: str | None, after_scope_json: str, limit: int
    ) -> list[ScopeListing]:
        params: list[Any] = [after_scope_json]
        # The database's collation, as the primary key's: the index serves the page (a cursor needs only
        # one consistent order).
        clauses = ["scope_json > $1"]
        if prefixes:
            alternatives = []
            for prefix in prefixes:
                params.append(prefix)
                alternatives.append(f"starts_with(scope_json, ${len(params)})")
            clauses.append("(" + " OR ".join(alternatives) + ")")
        if contains:
            params.append(contains)
            clauses.append(f"strpos(scope_json, ${len(params)}) > 0")
        params.append(limit)
        sql = (
            "SELECT scope_json, COUNT(*), COUNT(*) FILTER (WHERE status = 'in_progress'),"
            " COUNT(*) FILTER (WHERE status = 'failed'), MAX(updated_at_ms)"
            f" FROM effect_journal WHERE {' AND '.join(clauses)} GROUP BY scope_json"
            f" ORDER BY scope_json LIMIT ${len(params)}"
        )

        async def run(conn: Any) -> list[ScopeListing]:
            rows = await conn.fetch(sql, *params)
            return [ScopeListing(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

        return await self._db.run("list_scopes", run)

    # -- retention ---------------------------------------------------------------------------
    async def sweep_finished_effects(self, before_ms: int, limit: int) -> Swept:
        async def run(conn: Any) -> int:
            deleted = await conn.fetch(
                "DELETE FROM effect_journal d USING (SELECT j.scope_json, j.replay_key FROM effect_journal j"
                f" {_SWEEPABLE} ORDER BY j.updated_at_ms LIMIT $2) s"
                " WHERE d.scope_json = s.scope_json AND d.replay_key = s.replay_key AND d.status <> 'in_progress'"
                " RETURNING 1",
                before_ms,
                limit,
            )
            return len(deleted)

        deleted = await self._db.run("sweep_finished_effects", run)
        return Swept(deleted, deleted == limit)

    async def count_finished_effects(self, before_ms: int) -> int:
        async def run(conn: Any) -> int:
            return int(await conn.fetchval(f"SELECT COUNT(*) FROM effect_journal j {_SWEEPABLE}", before_ms))

        return await self._db.run("count_finished_effects", run)


_SWEEPABLE = (
    "WHERE j.status <> 'in_progress' AND j.updated_at_ms < $1 AND NOT EXISTS"
    " (SELECT 1 FROM effect_journal p WHERE p.scope_json = j.scope_json AND p.status = 'in_progress')"
)
"""Finished rows, old enough, of scopes with nothing in progress (the effect_journal_finished index)."""
