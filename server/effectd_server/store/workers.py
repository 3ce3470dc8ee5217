"""The workers part of the store: deliveries of delegated effects, fenced in their journal row.

A delivery writes the worker as the row's lease owner, the next fencing token and a lease expiry; a
result is recorded only while the row still carries that token (compare-and-set), so a worker that lost
its delivery can never overwrite the record of the one that has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from effectd_server.store._base import Backend, ChangeListener
from effectd_server.store.journal import EffectRow

__all__ = [
    "Delivery",
    "DeliveryClaim",
    "DeliveryStatus",
    "EffectOffered",
    "ProgressAnnounced",
    "Recording",
    "WorkersStore",
    "lease_token",
    "workers_store",
]


def lease_token(worker_id: str, fencing_token: int) -> str:
    """The journal row's lease token while a worker holds a delivery."""
    return f"worker:{worker_id}#{fencing_token}"


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    scope_json: str
    replay_key: str
    envelope_hash: str
    kind: str
    envelope_pb: bytes
    worker_id: str
    lease_ttl_ms: int
    expected_token: int | None
    """None for a first delivery (taken only if the row is new or its lease is free); otherwise a
    redelivery, taken only while the row still carries this token (the lost delivery's)."""
    counted: bool = True
    """Whether this delivery counts against the redelivery budget (not after a provider's rate limit)."""


DeliveryStatus = Literal["assigned", "recorded", "busy", "conflict"]


@dataclass(frozen=True, slots=True)
class Delivery:
    status: DeliveryStatus
    row: EffectRow | None
    fencing_token: int
    """The row's token after the claim (the new delivery's when `assigned`)."""
    deliveries: int
    """How many deliveries the effect has had, this one included."""


@dataclass(frozen=True, slots=True)
class Recording:
    recorded: bool
    """True when this result became the record."""
    row: EffectRow | None
    """The row as it ends up: the winner's record when another delivery recorded first."""


@dataclass(frozen=True, slots=True)
class EffectOffered:
    """Another replica has an effect for a worker it does not have (PostgreSQL only)."""

    scope_json: str
    replay_key: str
    options_json: str


@dataclass(frozen=True, slots=True)
class ProgressAnnounced:
    """Live progress of an effect another replica's worker runs for a runtime here (PostgreSQL only)."""

    scope_json: str
    replay_key: str
    value_json: str


class WorkersStore(Protocol):
    shared: bool
    """Several servers share this store (PostgreSQL): an effect no worker here can run is offered to the
    other replicas' workers."""

    async def open(self) -> None: ...

    def set_listener(self, listener: ChangeListener) -> None:
        """Receive EffectOffered and ProgressAnnounced from other replicas."""

    async def offer_effect(self, claim: DeliveryClaim, options_json: str, now_ms: int) -> Delivery:
        """Write the row unleased if it is new (`assigned` with token 0) and announce it to the other
        replicas; the recorded row, a hash conflict, or busy (someone holds it) otherwise."""

    async def withdraw_offer(self, scope_json: str, replay_key: str) -> bool:
        """Delete an offered row nobody ever took (no outcome, never leased): nothing stays journaled."""

    async def announce_progress(self, scope_json: str, replay_key: str, value_json: str) -> None:
        """Tell the other replicas an offered effect's live progress (not stored)."""

    async def claim_delivery(self, claim: DeliveryClaim, now_ms: int) -> Delivery:
        """Atomically: the recorded row, a hash conflict, busy (a live lease, or a redelivery whose token
        moved on), or a new delivery (new row, free or expired lease, or the expected token)."""

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
        """Record the outcome (or error) if the row is in progress under `fencing_token`."""

    async def extend_delivery(
        self, scope_json: str, replay_key: str, worker_id: str, fencing_token: int, ttl_ms: int, now_ms: int
    ) -> int | None:
        """The new lease expiry, or None when the delivery is no longer the row's."""

    async def release_delivery(
        self, scope_json: str, replay_key: str, worker_id: str, fencing_token: int, now_ms: int
    ) -> bool:
        """Give the delivery up without recording anything (the next caller claims at once)."""


def workers_store(backend: Backend) -> WorkersStore:
    """This capability's part on `backend`."""
    if backend.kind == "postgres":
        from effectd_server.store.postgres.workers import PostgresWorkersStore

        return PostgresWorkersStore(backend)  # type: ignore[arg-type]
    from effectd_server.store.sqlite.workers import SqliteWorkersStore

    return SqliteWorkersStore(backend)  # type: ignore[arg-type]
