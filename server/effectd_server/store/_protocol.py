"""The `Store` protocol: durable state, with no knowledge of the core's rules beyond atomic steps.

Every write method returns only after its transaction committed (acknowledged means durable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from effectd._errors import UnavailableError

SigningKeyState = Literal["active", "verify_only", "retired"]


class StoreUnavailableError(UnavailableError):
    """The database cannot be reached or refused the operation; nothing was acknowledged."""

    def __init__(self, message: str) -> None:
        super().__init__("store_unavailable", message)


@dataclass(frozen=True, slots=True)
class SigningKeyRow:
    kid: str
    secret: bytes
    state: SigningKeyState
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class KeyRow:
    """An await-event key as stored: its identity rendered as lash-json."""

    key_id: str
    scope_json: str
    wait_json: str
    session_id: str | None


@dataclass(frozen=True, slots=True)
class KeyState:
    key_id: str
    terminal_json: str | None
    resolution_seq: int | None
    deadline_ms: int | None
    revoked: bool
    """The key itself, or its session, is revoked."""


@dataclass(frozen=True, slots=True)
class ResolveItem:
    key: KeyRow
    terminal_json: str


@dataclass(frozen=True, slots=True)
class ResolveResult:
    status: Literal["accepted", "already_resolved", "revoked"]
    terminal_json: str | None
    """The key's terminal: this item's on `accepted`, the winner's on `already_resolved`."""
    resolution_seq: int | None


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


@dataclass(frozen=True, slots=True)
class TerminalRecorded:
    """A key got its terminal (possibly through another replica)."""

    key_id: str
    terminal_json: str | None
    """None when it did not fit in the notification: read it with key_states."""
    resolution_seq: int


@dataclass(frozen=True, slots=True)
class KeyRevokedEvent:
    key_id: str


@dataclass(frozen=True, slots=True)
class SessionRevokedEvent:
    session_id: str


@dataclass(frozen=True, slots=True)
class KeyringChanged:
    """A signing key was created, rotated or retired."""


@dataclass(frozen=True, slots=True)
class EffectFinished:
    """A journal row was completed, failed, or its lease released."""

    scope_json: str
    replay_key: str


@dataclass(frozen=True, slots=True)
class ListenerResumed:
    """Change notifications were interrupted and are flowing again: some may have been missed."""


StoreEvent = (
    TerminalRecorded | KeyRevokedEvent | SessionRevokedEvent | KeyringChanged | EffectFinished | ListenerResumed
)
StoreListener = Callable[[StoreEvent], None]


class Store(Protocol):
    shared: bool
    """True when other processes write to the same database (replicas): their changes arrive as events."""

    deadline_poll_s: float
    """How often to look for due deadlines this process did not schedule itself."""

    async def open(self) -> None:
        """Connect and run pending migrations (safe to run twice)."""

    def set_listener(self, listener: StoreListener) -> None:
        """Receive the changes other processes commit (called on the event loop; must not block).
        Backends with one writer process never call it."""

    async def close(self) -> None: ...

    # The signing keyring.
    async def signing_keys(self) -> list[SigningKeyRow]: ...

    async def ensure_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        """Insert `candidate` as the active key unless one is active; return the keyring."""

    async def rotate_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        """Make `candidate` the active key; the old active key keeps verifying."""

    async def retire_signing_key(self, kid: str, now_ms: int) -> SigningKeyRow:
        """Retire a verify-only key. Raises NotFoundError / ConflictError (the active key)."""

    # Await-event keys.
    async def record_keys(self, rows: Sequence[KeyRow], now_ms: int) -> None:
        """Record minted keys as pending; keys already known are left as they are."""

    async def resolve(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        """First writer wins, per item, atomically with the revocation checks."""

    async def key_states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """States of the known keys among `key_ids`."""

    async def set_deadline(self, row: KeyRow, deadline_ms: int, now_ms: int) -> int | None:
        """Keep the earliest deadline of a pending key; return it (None when already terminal)."""

    async def pending_deadlines(self) -> list[tuple[str, int]]:
        """(key_id, deadline_ms) of every pending key with a deadline."""

    async def fire_due_deadlines(self, now_ms: int, limit: int) -> list[tuple[str, ResolveResult]]:
        """Record `timeout` on pending, unrevoked keys whose deadline passed; return those accepted."""

    async def revoke_key(self, row: KeyRow, now_ms: int) -> None: ...

    async def revoke_session(self, session_id: str, now_ms: int) -> None: ...

    async def revoked_sessions(self) -> set[str]: ...

    async def pending_keys_of_session(self, session_id: str) -> list[KeyRow]: ...

    # The effect journal.
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
