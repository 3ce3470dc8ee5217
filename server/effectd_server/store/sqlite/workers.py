"""The workers part of the SQLite store."""

from __future__ import annotations

import sqlite3

from effectd_server.store._base import ChangeListener
from effectd_server.store.journal import EFFECT_COLUMNS, EffectRow, effect_row_from
from effectd_server.store.sqlite._backend import SqliteBackend
from effectd_server.store.workers import Delivery, DeliveryClaim, Recording, lease_token

__all__ = ["SqliteWorkersStore"]


def _row(conn: sqlite3.Connection, scope_json: str, replay_key: str) -> tuple[EffectRow, int, int] | None:
    r = conn.execute(
        f"SELECT {EFFECT_COLUMNS}, fencing_token, deliveries FROM effect_journal"
        " WHERE scope_json = ? AND replay_key = ?",
        (scope_json, replay_key),
    ).fetchone()
    return None if r is None else (effect_row_from(r), int(r[15]), int(r[16]))


class SqliteWorkersStore:
    shared = False
    """One server per file: there is no other replica to offer an effect to."""

    def __init__(self, backend: SqliteBackend) -> None:
        self._db = backend

    async def offer_effect(self, claim: DeliveryClaim, options_json: str, now_ms: int) -> Delivery:
        raise NotImplementedError("a SQLite store has no other replicas")

    async def withdraw_offer(self, scope_json: str, replay_key: str) -> bool:
        raise NotImplementedError("a SQLite store has no other replicas")

    async def announce_progress(self, scope_json: str, replay_key: str, value_json: str) -> None:
        raise NotImplementedError("a SQLite store has no other replicas")

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        """One process writes this file, so there are no foreign changes to report."""

    async def claim_delivery(self, claim: DeliveryClaim, now_ms: int) -> Delivery:
        def run(conn: sqlite3.Connection) -> Delivery:
            found = _row(conn, claim.scope_json, claim.replay_key)
            expires = now_ms + claim.lease_ttl_ms
            if found is None:
                if claim.expected_token is not None:
                    return Delivery("busy", None, 0, 0)
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM effect_journal WHERE scope_json = ?", (claim.scope_json,)
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb,"
                    " status, lease_owner, lease_token, lease_expires_at_ms, created_at_ms, updated_at_ms,"
                    " fencing_token, deliveries) VALUES (?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, 1, 1)",
                    (
                        claim.scope_json,
                        claim.replay_key,
                        seq,
                        claim.envelope_hash,
                        claim.kind,
                        claim.envelope_pb,
                        claim.worker_id,
                        lease_token(claim.worker_id, 1),
                        expires,
                        now_ms,
                        now_ms,
                    ),
                )
                created = _row(conn, claim.scope_json, claim.replay_key)
                assert created is not None
                return Delivery("assigned", created[0], 1, 1)
            row, token, deliveries = found
            if row.envelope_hash != claim.envelope_hash:
                return Delivery("conflict", row, token, deliveries)
            if row.status != "in_progress":
                return Delivery("recorded", row, token, deliveries)
            if claim.expected_token is None:
                if row.lease_token is not None and row.lease_expires_at_ms > now_ms:
                    return Delivery("busy", row, token, deliveries)
            elif token != claim.expected_token:
                return Delivery("busy", row, token, deliveries)
            token += 1
            deliveries += 1 if claim.counted else 0
            conn.execute(
                "UPDATE effect_journal SET lease_owner = ?, lease_token = ?, lease_expires_at_ms = ?,"
                " fencing_token = ?, deliveries = ?, updated_at_ms = ? WHERE scope_json = ? AND replay_key = ?",
                (
                    claim.worker_id,
                    lease_token(claim.worker_id, token),
                    expires,
                    token,
                    deliveries,
                    now_ms,
                    claim.scope_json,
                    claim.replay_key,
                ),
            )
            taken = _row(conn, claim.scope_json, claim.replay_key)
            assert taken is not None
            return Delivery("assigned", taken[0], token, deliveries)

        return await self._db.write(run)

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
        token = lease_token(worker_id, fencing_token)

        def run(conn: sqlite3.Connection) -> Recording:
            updated = conn.execute(
                "UPDATE effect_journal SET status = ?, outcome_pb = ?, error_json = ?, lease_owner = NULL,"
                " lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = ?"
                " WHERE scope_json = ? AND replay_key = ? AND status = 'in_progress' AND fencing_token = ?"
                " AND lease_token = ?",
                (status, outcome_pb, error_json, now_ms, scope_json, replay_key, fencing_token, token),
            ).rowcount
            found = _row(conn, scope_json, replay_key)
            return Recording(updated == 1, None if found is None else found[0])

        return await self._db.write(run)

    async def extend_delivery(
        self, scope_json: str, replay_key: str, worker_id: str, fencing_token: int, ttl_ms: int, now_ms: int
    ) -> int | None:
        expires = now_ms + ttl_ms
        token = lease_token(worker_id, fencing_token)

        def run(conn: sqlite3.Connection) -> int | None:
            changed = conn.execute(
                "UPDATE effect_journal SET lease_expires_at_ms = ?, updated_at_ms = ?"
                " WHERE scope_json = ? AND replay_key = ? AND status = 'in_progress' AND fencing_token = ?"
                " AND lease_token = ?",
                (expires, now_ms, scope_json, replay_key, fencing_token, token),
            ).rowcount
            return expires if changed == 1 else None

        return await self._db.write(run)

    async def release_delivery(
        self, scope_json: str, replay_key: str, worker_id: str, fencing_token: int, now_ms: int
    ) -> bool:
        token = lease_token(worker_id, fencing_token)

        def run(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE effect_journal SET lease_owner = NULL, lease_token = NULL, lease_expires_at_ms = 0,"
                " updated_at_ms = ? WHERE scope_json = ? AND replay_key = ? AND status = 'in_progress'"
                " AND fencing_token = ? AND lease_token = ?",
                (now_ms, scope_json, replay_key, fencing_token, token),
            ).rowcount
            return bool(changed == 1)

        return await self._db.write(run)
