"""The workers part of the PostgreSQL store. Deliveries are claimed under the journal row's lock; results
are recorded by a conditional UPDATE on the fencing token and announced like any finished journal row
(tag "e"), so a runtime waiting on another replica wakes."""

from __future__ import annotations

from typing import Any

import asyncpg

from effectd_server.store._base import ChangeListener
from effectd_server.store.journal import EFFECT_COLUMNS, EffectRow, effect_row_from
from effectd_server.store.postgres._backend import CHANNEL, PostgresBackend, Retry, dumps_compact, fits
from effectd_server.store.workers import (
    Delivery,
    DeliveryClaim,
    EffectOffered,
    ProgressAnnounced,
    Recording,
    lease_token,
)

__all__ = ["PostgresWorkersStore"]

# The journal's lock class for new rows of one scope (store/postgres/journal.py): new rows take turns.
_SCOPE_LOCK_CLASS = 0x65666664

_COLUMNS = f"{EFFECT_COLUMNS}, fencing_token, deliveries"

_INSERT = f"""
INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status, lease_owner,
                            lease_token, lease_expires_at_ms, created_at_ms, updated_at_ms, fencing_token, deliveries)
SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, 'in_progress', $6, $7, $8, $9, $9, 1, 1
FROM effect_journal WHERE scope_json = $1
ON CONFLICT (scope_json, replay_key) DO NOTHING
RETURNING {_COLUMNS}
"""


def _unpack(r: Any) -> tuple[EffectRow, int, int]:
    return effect_row_from(r), int(r[15]), int(r[16])


# Notification tags of this capability: an effect offered to the other replicas (wo), its live progress (wp).
_DECODERS = {
    "wo": lambda d: EffectOffered(str(d["c"]), str(d["r"]), str(d["x"])),
    "wp": lambda d: ProgressAnnounced(str(d["c"]), str(d["r"]), str(d["v"])),
}

_OFFER_INSERT = f"""
INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status,
                            lease_expires_at_ms, created_at_ms, updated_at_ms)
SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, 'in_progress', 0, $6, $6
FROM effect_journal WHERE scope_json = $1
ON CONFLICT (scope_json, replay_key) DO NOTHING
RETURNING {_COLUMNS}
"""


class PostgresWorkersStore:
    shared = True

    def __init__(self, backend: PostgresBackend) -> None:
        self._db = backend

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        """Offers from other replicas; finished rows are announced with the journal's tag (its waiters)."""
        self._db.listen(_DECODERS, listener)

    async def offer_effect(self, claim: DeliveryClaim, options_json: str, now_ms: int) -> Delivery:
        payload = self._db.payload({"t": "wo", "c": claim.scope_json, "r": claim.replay_key, "x": options_json})

        async def run(conn: Any) -> Delivery:
            found = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2 FOR UPDATE",
                claim.scope_json,
                claim.replay_key,
            )
            if found is None:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))", _SCOPE_LOCK_CLASS, claim.scope_json
                )
                found = await conn.fetchrow(
                    _OFFER_INSERT,
                    claim.scope_json,
                    claim.replay_key,
                    claim.envelope_hash,
                    claim.kind,
                    claim.envelope_pb,
                    now_ms,
                )
                if found is None:
                    raise Retry("the journal row appeared meanwhile")
            row, token, deliveries = _unpack(found)
            if row.envelope_hash != claim.envelope_hash:
                return Delivery("conflict", row, token, deliveries)
            if row.status != "in_progress":
                return Delivery("recorded", row, token, deliveries)
            if row.lease_token is not None and row.lease_expires_at_ms > now_ms:
                return Delivery("busy", row, token, deliveries)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            return Delivery("assigned", row, token, deliveries)

        return await self._db.run("offer_effect", run, transaction=True, retry_unique=True)

    async def announce_progress(self, scope_json: str, replay_key: str, value_json: str) -> None:
        # Not through `payload`: progress too large for a notification is dropped, not turned into a resync.
        payload = dumps_compact({"t": "wp", "c": scope_json, "r": replay_key, "v": value_json})[:-1] + self._db.tail
        if not fits(payload):
            return  # the runtime gets the outcome only

        async def run(conn: Any) -> None:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)

        await self._db.run("announce_progress", run)

    async def withdraw_offer(self, scope_json: str, replay_key: str) -> bool:
        async def run(conn: Any) -> bool:
            deleted = await conn.fetchrow(
                "DELETE FROM effect_journal WHERE scope_json = $1 AND replay_key = $2 AND status = 'in_progress'"
                " AND lease_token IS NULL AND fencing_token = 0 RETURNING 1",
                scope_json,
                replay_key,
            )
            return deleted is not None

        return await self._db.run("withdraw_offer", run)

    async def claim_delivery(self, claim: DeliveryClaim, now_ms: int) -> Delivery:
        expires = now_ms + claim.lease_ttl_ms

        async def insert_alone(conn: Any) -> tuple[bool, Delivery | None]:
            """A new row without any lock (the common case); (True, None) when a concurrent insert in the
            scope took the same seq, (False, None) when the row exists."""
            try:
                created = await conn.fetchrow(
                    _INSERT,
                    claim.scope_json,
                    claim.replay_key,
                    claim.envelope_hash,
                    claim.kind,
                    claim.envelope_pb,
                    claim.worker_id,
                    lease_token(claim.worker_id, 1),
                    expires,
                    now_ms,
                )
            except asyncpg.UniqueViolationError:
                return True, None
            return False, None if created is None else Delivery("assigned", effect_row_from(created), 1, 1)

        if claim.expected_token is None:
            _contended, fresh = await self._db.run("claim_delivery", insert_alone)
            if fresh is not None:
                return fresh

        async def run(conn: Any) -> Delivery:
            found = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2 FOR UPDATE",
                claim.scope_json,
                claim.replay_key,
            )
            if found is None:
                if claim.expected_token is not None:
                    return Delivery("busy", None, 0, 0)
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))", _SCOPE_LOCK_CLASS, claim.scope_json
                )
                created = await conn.fetchrow(
                    _INSERT,
                    claim.scope_json,
                    claim.replay_key,
                    claim.envelope_hash,
                    claim.kind,
                    claim.envelope_pb,
                    claim.worker_id,
                    lease_token(claim.worker_id, 1),
                    expires,
                    now_ms,
                )
                if created is None:
                    raise Retry("the journal row appeared meanwhile")
                return Delivery("assigned", effect_row_from(created), 1, 1)
            row, token, deliveries = _unpack(found)
            if row.envelope_hash != claim.envelope_hash:
                return Delivery("conflict", row, token, deliveries)
            if row.status != "in_progress":
                return Delivery("recorded", row, token, deliveries)
            if claim.expected_token is None:
                if row.lease_token is not None and row.lease_expires_at_ms > now_ms:
                    return Delivery("busy", row, token, deliveries)
            elif token != claim.expected_token:
                return Delivery("busy", row, token, deliveries)
            taken = await conn.fetchrow(
                "UPDATE effect_journal SET lease_owner = $1, lease_token = $2, lease_expires_at_ms = $3,"
                " fencing_token = $4, deliveries = $5, updated_at_ms = $6 WHERE scope_json = $7 AND replay_key = $8"
                f" RETURNING {_COLUMNS}",
                claim.worker_id,
                lease_token(claim.worker_id, token + 1),
                expires,
                token + 1,
                deliveries + (1 if claim.counted else 0),
                now_ms,
                claim.scope_json,
                claim.replay_key,
            )
            return Delivery("assigned", effect_row_from(taken), token + 1, deliveries + (1 if claim.counted else 0))

        return await self._db.run("claim_delivery", run, transaction=True, retry_unique=True)

    async def record_result(
        self,
        scope_json: str,
        replay_key: str,
        worker_id: str,
        fencing_token: int,
        outcome_pb: bytes | None,
        error_json: str | None,
        now_ms: int,
    ) -> Recording:
        status = "completed" if outcome_pb is not None else "failed"
        payload = self._db.payload({"t": "e", "c": scope_json, "r": replay_key})

        async def run(conn: Any) -> Recording:
            updated = await conn.fetchrow(
                "WITH u AS (UPDATE effect_journal SET status = $1, outcome_pb = $2, error_json = $3,"
                " lease_owner = NULL, lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = $4"
                " WHERE scope_json = $5 AND replay_key = $6 AND status = 'in_progress' AND fencing_token = $7"
                f" AND lease_token = $9 RETURNING {EFFECT_COLUMNS})"
                f" SELECT u.*, pg_notify('{CHANNEL}', $8) FROM u",
                status,
                outcome_pb,
                error_json,
                now_ms,
                scope_json,
                replay_key,
                fencing_token,
                payload,
                lease_token(worker_id, fencing_token),
            )
            if updated is not None:
                return Recording(True, effect_row_from(updated))
            existing = await conn.fetchrow(
                f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2",
                scope_json,
                replay_key,
            )
            return Recording(False, None if existing is None else effect_row_from(existing))

        return await self._db.run("record_result", run)

    async def extend_delivery(
        self, scope_json: str, replay_key: str, worker_id: str, fencing_token: int, ttl_ms: int, now_ms: int
    ) -> int | None:
        expires = now_ms + ttl_ms

        async def run(conn: Any) -> int | None:
            changed = await conn.fetchrow(
                "UPDATE effect_journal SET lease_expires_at_ms = $1, updated_at_ms = $2"
                " WHERE scope_json = $3 AND replay_key = $4 AND status = 'in_progress' AND fencing_token = $5"
                " AND lease_token = $6 RETURNING 1",
                expires,
                now_ms,
                scope_json,
                replay_key,
                fencing_token,
                lease_token(worker_id, fencing_token),
            )
            return None if changed is None else expires

        return await self._db.run("extend_delivery", run)

    async def release_delivery(
        self, scope_json: str, replay_key: str, worker_id: str, fencing_token: int, now_ms: int
    ) -> bool:
        payload = self._db.payload({"t": "e", "c": scope_json, "r": replay_key})

        async def run(conn: Any) -> bool:
            rows = await conn.fetch(
                "WITH u AS (UPDATE effect_journal SET lease_owner = NULL, lease_token = NULL,"
                " lease_expires_at_ms = 0, updated_at_ms = $1 WHERE scope_json = $2 AND replay_key = $3"
                " AND status = 'in_progress' AND fencing_token = $4 AND lease_token = $6 RETURNING 1)"
                f" SELECT pg_notify('{CHANNEL}', $5) FROM u",
                now_ms,
                scope_json,
                replay_key,
                fencing_token,
                payload,
                lease_token(worker_id, fencing_token),
            )
            return len(rows) == 1

        return await self._db.run("release_delivery", run)
