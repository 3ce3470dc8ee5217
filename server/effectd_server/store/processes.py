"""The processes part of the store: process rows, their event logs, handle grants, wake acks, leases.

Records and events are stored as the contract's protobuf bytes (as the journal stores outcomes), beside
the columns queries need (status, waiting, event type, replay key, payload hash). The store knows
nothing of the registry's rules: where a write depends on what is stored (an append, a record change, a
lease), the core hands it a decision function that the store runs inside the write's transaction, on
the rows it read there, and whose answer it writes. A decision that raises writes nothing.

Every write is atomic and returns only after its transaction committed (acknowledged means durable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from effectd_server.store._base import Backend, ChangeListener, Swept

__all__ = [
    "EVENT_COLUMNS",
    "PROCESS_COLUMNS",
    "AppendContext",
    "AppendDecide",
    "AppendPlan",
    "AppendWrite",
    "DeletedGrant",
    "EventRow",
    "GrantRow",
    "LeaseDecide",
    "LeaseRow",
    "OrphanPlan",
    "ProcessChanged",
    "ProcessRow",
    "ProcessesStore",
    "event_row_from",
    "process_row_from",
    "processes_store",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProcessRow:
    process_id: str
    registration_hash: str
    status: str
    """`running`, `completed`, `failed` or `cancelled` (the record's status, for queries)."""
    waiting: bool
    """The record has a wait state (for queries)."""
    record_pb: bytes
    """The whole ProcessRecord (contract protobuf)."""
    created_at_ms: int
    updated_at_ms: int


PROCESS_COLUMNS = "process_id, registration_hash, status, waiting, record_pb, created_at_ms, updated_at_ms"


def process_row_from(r: Any) -> ProcessRow:
    """Row mapper shared by the backends, for a row selected as PROCESS_COLUMNS."""
    return ProcessRow(
        process_id=r[0],
        registration_hash=r[1],
        status=r[2],
        waiting=bool(r[3]),
        record_pb=bytes(r[4]),
        created_at_ms=int(r[5]),
        updated_at_ms=int(r[6]),
    )


@dataclass(frozen=True, slots=True)
class EventRow:
    process_id: str
    sequence: int
    event_type: str
    payload_hash: str
    """sha256 of lash-json `[event_type, payload]`: what a replayed key is compared with."""
    replay_key: str | None
    has_wake: bool
    """The event materialised a wake (it is listed by wake_events_after until acked)."""
    occurred_at_ms: int
    event_pb: bytes
    """The whole ProcessEvent (contract protobuf)."""


EVENT_COLUMNS = "process_id, sequence, event_type, payload_hash, replay_key, has_wake, occurred_at_ms, event_pb"


def event_row_from(r: Any) -> EventRow:
    """Row mapper shared by the backends, for a row selected as EVENT_COLUMNS."""
    return EventRow(
        process_id=r[0],
        sequence=int(r[1]),
        event_type=r[2],
        payload_hash=r[3],
        replay_key=r[4],
        has_wake=bool(r[5]),
        occurred_at_ms=int(r[6]),
        event_pb=bytes(r[7]),
    )


@dataclass(frozen=True, slots=True)
class GrantRow:
    """A handle grant: a session scope (session or agent frame) may address a process."""

    scope_id: str
    session_id: str
    process_id: str
    descriptor_json: str
    """The ProcessHandleDescriptor as lash-json."""


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A process lease; a released lease keeps its row (owner and token None) and its fencing token."""

    process_id: str
    owner_id: str | None
    lease_token: str | None
    fencing_token: int
    claimed_at_ms: int
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class AppendContext:
    """What an append decides on, read in its transaction."""

    process: ProcessRow
    existing: EventRow | None
    """The event stored under the request's replay key, if any."""
    next_sequence: int
    """1 + the last sequence of the process (1-based, gapless)."""


@dataclass(frozen=True, slots=True)
class AppendWrite(Generic[T]):
    """What an append writes, and what it answers."""

    event: EventRow | None
    """The event to insert (at `next_sequence`), None when nothing is appended (a replay)."""
    process: ProcessRow | None
    """The process row as it becomes, None when unchanged."""
    answer: T


AppendDecide = Callable[[AppendContext], AppendWrite[Any]]


@dataclass(frozen=True, slots=True)
class AppendPlan:
    """One append: the process, the replay key to look up, the decision."""

    process_id: str
    replay_key: str | None
    decide: AppendDecide


@dataclass(frozen=True, slots=True)
class DeletedGrant:
    """A grant removed by delete_session: its process as it stands, and the grants it has left."""

    grant: GrantRow
    process: ProcessRow
    remaining_grants: int


OrphanPlan = Callable[[DeletedGrant], AppendPlan | None]
"""Called for each removed grant of an existing process; an append it returns runs in the same transaction."""

LeaseDecide = Callable[[LeaseRow | None], LeaseRow]


@dataclass(frozen=True, slots=True)
class ProcessChanged:
    """A process got an event or a new record (possibly through another replica)."""

    process_id: str


class ProcessesStore(Protocol):
    async def open(self) -> None: ...

    def set_listener(self, listener: ChangeListener) -> None:
        """Receive ProcessChanged and ListenerResumed committed by other processes (single-writer
        backends never call it)."""

    # Processes.
    async def insert_process(self, row: ProcessRow) -> tuple[ProcessRow, bool]:
        """Insert unless the id exists; the stored row and whether it was inserted now."""

    async def get_process(self, process_id: str) -> ProcessRow | None: ...

    async def list_processes(self, status: str | None, waiting: bool | None) -> list[ProcessRow]:
        """Rows with that status and wait facet (None: any), sorted by process id."""

    async def update_process(
        self, process_id: str, change: Callable[[ProcessRow], ProcessRow | None]
    ) -> ProcessRow | None:
        """Atomically read, change (None: unchanged) and write a row; the row as it ends up, None when
        the process is unknown. A change that raises writes nothing."""

    # Event logs.
    async def append_event(self, plan: AppendPlan) -> Any | None:
        """Atomically run the plan's decision on the process row, the event under its replay key and the
        next sequence, and write what it decides. Its answer, or None when the process is unknown."""

    async def events_after(self, process_id: str, after_sequence: int, limit: int | None = None) -> list[EventRow]:
        """Events with a greater sequence, ascending."""

    async def first_event_after(self, process_id: str, event_type: str, after_sequence: int) -> EventRow | None: ...

    async def wake_events_after(self, process_id: str, after_sequence: int) -> list[EventRow]:
        """Events after `after_sequence` that materialised a wake and are not acked, ascending."""

    async def count_events_through(self, process_id: str, event_type: str, through_sequence: int) -> int: ...

    async def recent_events(self, process_id: str, limit: int) -> list[EventRow]:
        """The last `limit` events, ascending."""

    async def ack_wake(self, process_id: str, sequence: int) -> bool:
        """Mark a wake consumed; False when the process is unknown."""

    # Handle grants.
    async def put_grant(self, grant: GrantRow) -> bool:
        """Insert or replace the grant of (scope, process); False (nothing written) for an unknown process."""

    async def delete_grant(self, scope_id: str, process_id: str) -> None: ...

    async def transfer_grants(
        self, from_scope_id: str, to_scope_id: str, to_session_id: str, process_ids: Sequence[str]
    ) -> str | None:
        """Move each grant to the other scope, keeping its descriptor; all or nothing. The first process id
        not granted to `from_scope_id` (and nothing moved), or None."""

    async def grants_of_scope(self, scope_id: str) -> list[tuple[GrantRow, ProcessRow]]:
        """The grants of one scope joined with their processes (dangling grants dropped), by process id."""

    async def has_grant(self, scope_id: str, process_id: str) -> bool:
        """The grant exists and so does its process."""

    async def grants_of_process(self, process_id: str) -> list[GrantRow] | None:
        """Every grant of a process, by session id then scope id; None when the process is unknown."""

    async def delete_session(self, session_id: str, orphan_plan: OrphanPlan | None) -> tuple[int, list[DeletedGrant]]:
        """Atomically remove every grant of the session (all its scopes): the number removed, and each
        removed grant of an existing process with what is left of its grants. `orphan_plan` may add an
        append per removed grant, in the same transaction."""

    # Leases.
    async def get_lease(self, process_id: str) -> LeaseRow | None: ...

    async def put_lease(self, process_id: str, decide: LeaseDecide) -> LeaseRow | None:
        """Atomically read the lease row and write the one `decide` answers; None for an unknown process."""

    async def sweep_terminal_processes(self, before_ms: int, limit: int) -> Swept:
        """Delete up to `limit` terminal processes last changed before `before_ms` (oldest first), with
        their events, wake acks, grants and lease."""

    async def count_terminal_processes(self, before_ms: int) -> int:
        """How many processes `sweep_terminal_processes` would delete (for `effectd gc --dry-run`)."""

    async def count_by_status(self) -> dict[str, int]:
        """Processes by status: a gauge read at scrape time."""

    async def release_lease(self, process_id: str, lease_token: str) -> bool:
        """Clear owner, token and expiry if the token is the current one (the fencing token stays)."""

    # Operator queries (the console): every list is one page, after a cursor, in byte order.

    async def page_processes(
        self, *, status: str | None, waiting: bool | None, contains: str | None, after_process_id: str, limit: int
    ) -> list[ProcessRow]:
        """Like list_processes, one page: ids > `after_process_id` (containing `contains`), by id."""

    async def list_grant_sessions(self, *, contains: str | None, after: str, limit: int) -> list[str]:
        """Sessions holding a grant, with id > `after` (containing `contains`), by id."""

    async def grants_of_session(
        self, session_id: str, after_process_id: str, limit: int
    ) -> list[tuple[GrantRow, ProcessRow]]:
        """The grants of one session (every scope) with their processes, process id > the cursor, by
        process id then scope id."""


def processes_store(backend: Backend) -> ProcessesStore:
    """This capability's part on `backend`."""
    if backend.kind == "postgres":
        from effectd_server.store.postgres.processes import PostgresProcessesStore

        return PostgresProcessesStore(backend)  # type: ignore[arg-type]
    from effectd_server.store.sqlite.processes import SqliteProcessesStore

    return SqliteProcessesStore(backend)  # type: ignore[arg-type]
