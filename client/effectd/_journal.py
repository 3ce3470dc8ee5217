"""What the effect journal answers about itself: the controller's description, journal rows, leases.

`RemoteEffectController.describe()`, `list_effects()` and `get_effect()` return these; the conversion to
and from `effect_controller.proto` lives in `_convert_effect_controller`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from effectd._effects import ControllerError, RuntimeEffectEnvelope, RuntimeEffectOutcome
from effectd._scope import ExecutionScope

__all__ = [
    "ControllerDescription",
    "DurabilityTier",
    "EffectLease",
    "EffectRecord",
    "EffectStatus",
    "RecordedError",
    "RecordedOutcome",
    "ScopeSummary",
]


class DurabilityTier(enum.StrEnum):
    """lash's `DurabilityTier`: `inline` (in-process, nothing survives a crash) or `durable` (journaled)."""

    INLINE = "inline"
    DURABLE = "durable"


@dataclass(frozen=True, slots=True)
class ControllerDescription:
    """What kind of controller the server is (the seed's tier and capability flags)."""

    durability_tier: DurabilityTier
    supports_durable_effects: bool
    requires_durable_attachment_store: bool


class EffectStatus(enum.StrEnum):
    """A journal row's state: running under a lease, or finished with an outcome or an executor error."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EffectRecord:
    """One journal row: the first execution of (scope, replay_key) and what it recorded."""

    scope: ExecutionScope
    replay_key: str
    envelope_hash: str
    """lash's envelope hash of `envelope`; a replay with another hash is `effect_replay_hash_conflict`."""
    status: EffectStatus
    envelope: RuntimeEffectEnvelope
    outcome: RuntimeEffectOutcome | None
    """The recorded outcome (status `completed`), else None."""
    executor_error: ControllerError | None
    """The recorded executor error (status `failed`), else None."""
    lease_owner_id: str | None
    """Who holds the lease of a runtime-owned effect in progress; None once it completed, and for
    server-owned kinds."""
    lease_expires_at_unix_ms: int | None
    due_at_unix_ms: int | None
    """For a sleep: when it is due (stored at the first execution)."""
    created_at_unix_ms: int
    updated_at_unix_ms: int


@dataclass(frozen=True, slots=True)
class EffectLease:
    """The server's answer to a new runtime-owned effect: run it here and complete it with `lease_token`."""

    lease_token: str
    owner_id: str
    expires_at_unix_ms: int
    envelope_hash: str


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """An effect's outcome: run on the server now, or recorded earlier (`replayed`)."""

    outcome: RuntimeEffectOutcome
    replayed: bool


@dataclass(frozen=True, slots=True)
class RecordedError:
    """An executor's recorded error: answered now, or recorded earlier (`replayed`)."""

    error: ControllerError
    replayed: bool


@dataclass(frozen=True, slots=True)
class ScopeSummary:
    """A scope with journaled effects, as `RemoteEffectController.list_scopes()` lists it."""

    scope: ExecutionScope
    effects: int
    updated_at_unix_ms: int
