"""The journal part of the SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from effectd_server.store._base import ChangeListener, Swept
from effectd_server.store.journal import (
    EFFECT_COLUMNS,
    SCOPES_QUERY,
    ClaimResult,
    EffectClaim,
    EffectRow,
    ScopeListing,
    ScopeRow,
    effect_row_from,
    scope_row_from,
)
from effectd_server.store.sqlite._backend import SqliteBackend

__all__ = ["SqliteJournalStore"]


def _effect_row(conn: sqlite3.Connection, scope_json: str, replay_key: str) -> EffectRow | None:
    r = conn.execute(
        f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = ? AND replay_key = ?",
        (scope_json, replay_key),
    ).fetchone()
    return None if r is None else effect_row_from(r)


class SqliteJournalStore:
    def __init__(self, backend: SqliteBackend) -> None:
        self._db = backend

    async def open(self) -> None:
        """Nothing is kept beside the database."""

    def set_listener(self, listener: ChangeListener) -> None:
        """One process writes this file, so there are no foreign changes to report."""

    # -- the effect journal ------------------------------------------------------------------
    async def claim_effect(self, claim: EffectClaim, now_ms: int) -> ClaimResult:
        def run(conn: sqlite3.Connection) -> ClaimResult:
            row = _effect_row(conn, claim.scope_json, claim.replay_key)
            if row is None:
                if claim.strict:
                    return ClaimResult("missing", None)
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM effect_journal WHERE scope_json = ?", (claim.scope_json,)
                ).fetchone()[0]
                owner, token, expires = (
                    (claim.owner, claim.lease_token, now_ms + claim.lease_ttl_ms)
                    if claim.exclusive
                    else (None, None, 0)
                )
                conn.execute(
                    "INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb,"
                    " status, lease_owner, lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, ?)",
                    (
                        claim.scope_json,
                        claim.replay_key,
                        seq,
                        claim.envelope_hash,
                        claim.kind,
                        claim.envelope_pb,
                        owner,
                        token,
                        expires,
                        claim.due_at_ms,
                        now_ms,
                        now_ms,
                    ),
                )
                created = _effect_row(conn, claim.scope_json, claim.replay_key)
                return ClaimResult("claimed" if claim.exclusive else "shared", created)
            if row.envelope_hash != claim.envelope_hash:
                return ClaimResult("conflict", row)
            if row.status != "in_progress":
                return ClaimResult("recorded", row)
            if not claim.exclusive:
                return ClaimResult("shared", row)
            if row.lease_expires_at_ms > now_ms and row.lease_token is not None:
                return ClaimResult("busy", row)
            conn.execute(
                "UPDATE effect_journal SET lease_owner = ?, lease_token = ?, lease_expires_at_ms = ?,"
                " updated_at_ms = ? WHERE scope_json = ? AND replay_key = ?",
                (
                    claim.owner,
                    claim.lease_token,
                    now_ms + claim.lease_ttl_ms,
                    now_ms,
                    claim.scope_json,
                    claim.replay_key,
                ),
            )
            return ClaimResult("claimed", _effect_row(conn, claim.scope_json, claim.replay_key))

        return await self._db.write(run)

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

        def run(conn: sqlite3.Connection) -> EffectRow | None:
            guard = " AND lease_token = ?" if lease_token is not None else ""
            params: tuple[Any, ...] = (status, outcome_pb, error_json, now_ms, scope_json, replay_key)
            if lease_token is not None:
                params += (lease_token,)
            updated = conn.execute(
                "UPDATE effect_journal SET status = ?, outcome_pb = ?, error_json = ?, lease_owner = NULL,"
                " lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = ?"
                " WHERE scope_json = ? AND replay_key = ? AND status = 'in_progress'" + guard,
                params,
            ).rowcount
            row = _effect_row(conn, scope_json, replay_key)
            if updated == 0 and lease_token is not None:
                return None
            return row

        return await self._db.write(run)

    async def release_effect(self, scope_json: str, replay_key: str, lease_token: str, now_ms: int) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE effect_journal SET lease_owner = NULL, lease_token = NULL, lease_expires_at_ms = 0,"
                    " updated_at_ms = ? WHERE scope_json = ? AND replay_key = ? AND lease_token = ?"
                    " AND status = 'in_progress'",
                    (now_ms, scope_json, replay_key, lease_token),
                ).rowcount
                == 1
            )

        return await self._db.write(run)

    async def renew_effect(
        self, scope_json: str, replay_key: str, lease_token: str, ttl_ms: int, now_ms: int
    ) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            expires = now_ms + ttl_ms
            changed = conn.execute(
                "UPDATE effect_journal SET lease_expires_at_ms = ?, updated_at_ms = ?"
                " WHERE scope_json = ? AND replay_key = ? AND lease_token = ? AND status = 'in_progress'"
                " AND lease_expires_at_ms > ?",
                (expires, now_ms, scope_json, replay_key, lease_token, now_ms),
            ).rowcount
            return expires if changed == 1 else None

        return await self._db.write(run)

    async def get_effect(self, scope_json: str, replay_key: str) -> EffectRow | None:
        return await self._db.read(lambda conn: _effect_row(conn, scope_json, replay_key))

    async def list_effects(self, scope_json: str, after_seq: int, limit: int) -> list[EffectRow]:
        def run(conn: sqlite3.Connection) -> list[EffectRow]:
            rows = conn.execute(
                f"SELECT {EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = ? AND seq > ? ORDER BY seq LIMIT ?",
                (scope_json, after_seq, limit),
            ).fetchall()
            return [effect_row_from(r) for r in rows]

        return await self._db.read(run)

    async def recent_scopes(self, limit: int) -> list[ScopeRow]:
        def run(conn: sqlite3.Connection) -> list[ScopeRow]:
            rows = conn.execute(f"{SCOPES_QUERY} ORDER BY updated DESC, scope_json LIMIT ?", (limit,))
            return [scope_row_from(r) for r in rows]

        return await self._db.read(run)

    # -- operator queries (the console) ------------------------------------------------------
    async def count_effects_by_status(self) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                r[0]: int(r[1]) for r in conn.execute("SELECT status, COUNT(*) FROM effect_journal GROUP BY status")
            }

        return await self._db.read(run)

    async def list_scopes(
        self, *, prefixes: Sequence[str], contains: str | None, after_scope_json: str, limit: int
    ) -> list[ScopeListing]:
        clauses = ["scope_json > ?"]
        params: list[object] = [after_scope_json]
        if prefixes:
            clauses.append("(" + " OR ".join("substr(scope_json, 1, ?) = ?" for _ in prefixes) + ")")
            for prefix in prefixes:
                params += [len(prefix), prefix]
        if contains:
            clauses.append("instr(scope_json, ?) > 0")
            params.append(contains)
        params.append(limit)
        sql = (
            "SELECT scope_json, COUNT(*), SUM(status = 'in_progress'), SUM(status = 'failed'), MAX(updated_at_ms)"
            f" FROM effect_journal WHERE {' AND '.join(clauses)} GROUP BY scope_json ORDER BY scope_json LIMIT ?"
        )

        def run(conn: sqlite3.Connection) -> list[ScopeListing]:
            return [ScopeListing(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in conn.execute(sql, params)]

        return await self._db.read(run)

    # -- retention ---------------------------------------------------------------------------
    async def sweep_finished_effects(self, before_ms: int, limit: int) -> Swept:
        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(
                f"DELETE FROM effect_journal WHERE rowid IN (SELECT rowid FROM effect_journal j {_SWEEPABLE}"
                " ORDER BY j.updated_at_ms LIMIT ?)",
                (before_ms, limit),
            ).rowcount

        deleted = await self._db.write(run)
        return Swept(deleted, deleted == limit)

    async def count_finished_effects(self, before_ms: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute(f"SELECT COUNT(*) FROM effect_journal j {_SWEEPABLE}", (before_ms,)).fetchone()[0])

        return await self._db.read(run)


_SWEEPABLE = (
    "WHERE j.status <> 'in_progress' AND j.updated_at_ms < ? AND NOT EXISTS"
    " (SELECT 1 FROM effect_journal p WHERE p.scope_json = j.scope_json AND p.status = 'in_progress')"
)
"""Finished rows, old enough, of scopes with nothing in progress (the effect_journal_finished index)."""
