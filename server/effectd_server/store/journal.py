"""The journal part of the store: one row per (scope, replay key) with its lease and its record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from effectd_server.store._base import Backend, ChangeListener, Swept

__all__ = [
    "EFFECT_COLUMNS",
    "SCOPES_QUERY",
    "ClaimResult",
    "ClaimStatus",
    "EffectClaim",
    "EffectFinished",
    "EffectRow",
    "EffectStatus",
    "JournalStore",
    "ScopeListing",
    "ScopeRow",
    "effect_row_from",
    "journal_store",
    "scope_row_from",
    "settled_claim",
]

EffectStatus = Literal["in_progress", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class EffectRow:
    """One journal row. Outcomes and envelopes are stored as the contract's protobuf bytes."""

    scope_json: str
    replay_key: str
    seq: int
    envelope_hash: str
    kind: str
    envelope_pb: bytes
    status: EffectStatus
    outcome_pb: bytes | None
    error_json: str | None
    lease_owner: str | None
    lease_token: str | None
    lease_expires_at_ms: int
    due_at_ms: int | None
    created_at_ms: int
    updated_at_ms: int


EFFECT_COLUMNS = (
    "scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status, outcome_pb, error_json, lease_owner,"
    " lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms"
)


def effect_row_from(r: Any) -> EffectRow:
    """Row mapper shared by the backends, for a row selected as EFFECT_COLUMNS."""
    return EffectRow(
        scope_json=r[0],
        replay_key=r[1],
        seq=int(r[2]),
        envelope_hash=r[3],
        kind=r[4],
        envelope_pb=bytes(r[5]),
        status=r[6],
        outcome_pb=None if r[7] is None else bytes(r[7]),
        error_json=r[8],
        lease_owner=r[9],
        lease_token=r[10],
        lease_expires_at_ms=int(r[11]),
        due_at_ms=None if r[12] is None else int(r[12]),
        created_at_ms=int(r[13]),
        updated_at_ms=int(r[14]),
    )


@dataclass(frozen=True, slots=True)
class EffectClaim:
    scope_json: str
    replay_key: str
    envelope_hash: str
    kind: str
    envelope_pb: bytes
    owner: str
    lease_token: str
    lease_ttl_ms: int
    due_at_ms: int | None
    """For sleeps: when the sleep ends (kept from the first execution)."""
    exclusive: bool
    """Runtime-owned effects take a lease; server-owned ones (sleep, await_event) are shared."""
    strict: bool
    """A missing row is an answer (`missing`), not a new execution."""


ClaimStatus = Literal["claimed", "shared", "recorded", "busy", "conflict", "missing"]


@dataclass(frozen=True, slots=True)
class ClaimResult:
    status: ClaimStatus
    row: EffectRow | None


def settled_claim(claim: EffectClaim, row: EffectRow) -> ClaimResult | None:
    """The answer to a claim on an existing row when no lease changes hands, else None."""
    if row.envelope_hash != claim.envelope_hash:
        return ClaimResult("conflict", row)
    if row.status != "in_progress":
        return ClaimResult("recorded", row)
    if not claim.exclusive:
        return ClaimResult("shared", row)
    return None


@dataclass(frozen=True, slots=True)
class EffectFinished:
    """A journal row was completed, failed, or its lease released."""

    scope_json: str
    replay_key: str


@dataclass(frozen=True, slots=True)
class ScopeListing:
    """A journal scope as an operator sees it (the console)."""

    scope_json: str
    effects: int
    in_progress: int
    failed: int
    updated_at_ms: int
    """The latest change of any of its effects."""


@dataclass(frozen=True, slots=True)
class ScopeRow:
    scope_json: str
    effects: int
    updated_at_ms: int


SCOPES_QUERY = "SELECT scope_json, COUNT(*), MAX(updated_at_ms) AS updated FROM effect_journal GROUP BY scope_json"
"""Shared by the backends, which add the order (latest update first, then scope) and the limit."""


def scope_row_from(r: Any) -> ScopeRow:
    return ScopeRow(str(r[0]), int(r[1]), int(r[2]))


class JournalStore(Protocol):
    async def open(self) -> None: ...

    def set_listener(self, listener: ChangeListener) -> None:
        """Receive EffectFinished and ListenerResumed committed by other processes."""

    async def claim_effect(self, claim: EffectClaim, now_ms: int) -> ClaimResult:
        """Atomically: the recorded row, a hash conflict, a live lease (busy), or a claim (new row or an
        expired lease taken over with a new token)."""

    async def finish_effect(
        self,
        scope_json: str,
        replay_key: str,
        lease_token: str | None,
        outcome_pb: bytes | None,
        error_json: str | None,
        now_ms: int,
    ) -> EffectRow | None:
        """Record the outcome (or error) if the row is in progress and, when `lease_token` is given, still
        leased with it. Returns the row as it ends up (the winner's record when another finished first),
        or None when the lease was lost."""

    async def release_effect(self, scope_json: str, replay_key: str, lease_token: str, now_ms: int) -> bool:
        """Give a lease up without recording anything, so that the next caller claims at once."""

    async def renew_effect(
        self, scope_json: str, replay_key: str, lease_token: str, ttl_ms: int, now_ms: int
    ) -> int | None:
        """The new expiry, or None when the lease is no longer held with this token."""

    async def get_effect(self, scope_json: str, replay_key: str) -> EffectRow | None: ...

    async def list_effects(self, scope_json: str, after_seq: int, limit: int) -> list[EffectRow]: ...

    async def sweep_finished_effects(self, before_ms: int, limit: int) -> Swept:
        """Delete up to `limit` completed or failed rows that finished before `before_ms`, oldest first,
        of scopes with no effect in progress."""

    async def count_finished_effects(self, before_ms: int) -> int:
        """How many rows `sweep_finished_effects` would delete (for `effectd gc --dry-run`)."""

    # Operator queries (the console).
    async def count_effects_by_status(self) -> dict[str, int]: ...

    async def list_scopes(
        self, *, prefixes: Sequence[str], contains: str | None, after_scope_json: str, limit: int
    ) -> list[ScopeListing]:
        """Scopes with scope_json > `after_scope_json` in byte order, starting with one of `prefixes` (any
        when empty) and containing `contains`."""

    async def recent_scopes(self, limit: int) -> list[ScopeRow]:
        """Scopes with journaled effects, latest update first (an operator's listing: it reads every row)."""


def journal_store(backend: Backend) -> JournalStore:
    """This capability's part on `backend`."""
    if backend.kind == "postgres":
        from effectd_server.store.postgres.journal import PostgresJournalStore

        return PostgresJournalStore(backend)  # type: ignore[arg-type]
    from effectd_server.store.sqlite.journal import SqliteJournalStore

    return SqliteJournalStore(backend)  # type: ignore[arg-type]
