"""The effect journal core: validate, claim, replay, lease, run server-run kinds. Knows nothing of gRPC.

Outcomes are stored as the contract's protobuf bytes and answered as domain outcomes. Envelopes are
hashed as lash-json, never as protobuf. Kinds with an executor in the table run on the server; the
others are leased to the caller, who runs them and completes.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from effectd._convert_envelope import envelope_from_proto, outcome_from_proto, outcome_to_proto
from effectd._effects import ControllerError, RuntimeEffectEnvelope, RuntimeEffectOutcome, validate_envelope
from effectd._errors import ConflictError, LeaseLostError, NotFoundError
from effectd._journal import (
    ControllerDescription,
    DurabilityTier,
    EffectLease,
    EffectRecord,
    EffectStatus,
    RecordedError,
    RecordedOutcome,
    ScopeSummary,
)
from effectd._lashjson import dumps
from effectd._scope import ExecutionScope, scope_from_lash, validate_scope
from effectd.v1 import envelope_pb2

from effectd_server.config import JournalConfig
from effectd_server.edge.metrics import Metrics
from effectd_server.edge.tracing import Tracing
from effectd_server.journal.executors import DelegatedCall, DelegateOptions, Delegator, ExecutorTable, ServerCall
from effectd_server.store import ListenerResumed
from effectd_server.store.journal import EffectClaim, EffectFinished, EffectRow, JournalStore, ScopeListing

__all__ = [
    "DESCRIPTION",
    "EffectPage",
    "Journal",
    "Recorded",
    "decode_outcome",
    "effect_record",
    "now_ms",
    "session_scope_prefixes",
]

log = logging.getLogger("effectd.journal")

# Kinds that run only on the server: without an executor registered for them they are refused (not
# journaled, so that the same call succeeds once the capability is there).
_NEEDS_EXECUTOR = {
    "process": ("process_registry_unavailable", "this effectd has no process registry; process effects cannot run"),
}


def now_ms() -> int:
    return int(time.time() * 1000)


def decode_outcome(outcome_pb: bytes) -> RuntimeEffectOutcome:
    return outcome_from_proto(envelope_pb2.RuntimeEffectOutcome.FromString(outcome_pb))


def encode_outcome(outcome: RuntimeEffectOutcome) -> bytes:
    return outcome_to_proto(outcome).SerializeToString(deterministic=True)


Recorded = RecordedOutcome | RecordedError
"""A journaled answer: the outcome, or the executor's error."""

DESCRIPTION = ControllerDescription(
    durability_tier=DurabilityTier.DURABLE, supports_durable_effects=True, requires_durable_attachment_store=False
)


def _recorded(row: EffectRow, replayed: bool) -> Recorded:
    if row.status == "completed":
        return RecordedOutcome(decode_outcome(row.outcome_pb or b""), replayed)
    error = json.loads(row.error_json or "{}")
    return RecordedError(ControllerError(str(error.get("code", "")), str(error.get("message", ""))), replayed)


def effect_record(row: EffectRow) -> EffectRecord:
    """A journal row as the domain record the SDK also reads."""
    error = None
    if row.error_json is not None:
        fields = json.loads(row.error_json)
        error = ControllerError(str(fields.get("code", "")), str(fields.get("message", "")))
    return EffectRecord(
        scope=scope_from_lash(json.loads(row.scope_json)),
        replay_key=row.replay_key,
        envelope_hash=row.envelope_hash,
        status=EffectStatus(row.status),
        envelope=envelope_from_proto(envelope_pb2.RuntimeEffectEnvelope.FromString(row.envelope_pb)),
        outcome=None if row.outcome_pb is None else decode_outcome(row.outcome_pb),
        executor_error=error,
        lease_owner_id=row.lease_owner,
        lease_expires_at_unix_ms=row.lease_expires_at_ms or None,
        due_at_unix_ms=row.due_at_ms,
        created_at_unix_ms=row.created_at_ms,
        updated_at_unix_ms=row.updated_at_ms,
    )


def session_scope_prefixes(session_id: str) -> list[str]:
    """How the lash-json of every scope of a session begins (turn, queue drain, session delete): the tag
    first, then the session id, so a prefix finds them."""
    session = dumps(session_id)
    return [
        f'{{"type":"turn","session_id":{session},',
        f'{{"type":"queue_drain","session_id":{session},',
        f'{{"type":"session_delete","session_id":{session}}}',
    ]


@dataclass(frozen=True, slots=True)
class EffectPage:
    records: list[EffectRecord]
    next_after: int | None
    """The cursor of the next page, None on the last one."""


def _hash_conflict(replay_key: str, scope_json: str, recorded: str, new: str) -> ConflictError:
    return ConflictError(
        "effect_replay_hash_conflict",
        f"runtime effect replay key {replay_key!r} in scope {scope_json} was reused with a different"
        f" envelope hash: recorded {recorded}, new {new}",
    )


async def _replayed(row: EffectRow) -> Recorded:
    if row.due_at_ms is not None and row.due_at_ms > now_ms():
        # A completed timed effect (a sleep) replays only after its original due time.
        await asyncio.sleep((row.due_at_ms - now_ms()) / 1000)
    return _recorded(row, replayed=True)


class _Waiters:
    """Callers waiting for an in-progress row held by someone else; woken on finish or release."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[str, str], set[asyncio.Future[None]]] = {}

    def wait(self, key: tuple[str, str]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, set()).add(future)
        return future

    def forget(self, key: tuple[str, str], future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiting[key]

    def wake_all(self) -> None:
        for key in list(self._waiting):
            self.wake(key)

    def wake(self, key: tuple[str, str]) -> None:
        for future in self._waiting.pop(key, ()):
            if not future.done():
                future.set_result(None)


class Journal:
    def __init__(
        self,
        store: JournalStore,
        executors: ExecutorTable,
        config: JournalConfig | None = None,
        *,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.store = store
        self.executors = executors
        self.config = config or JournalConfig()
        self.delegator: Delegator | None = None
        """Runs effects on workers when the workers capability is there."""
        self._waiters = _Waiters()
        self.metrics = metrics or Metrics()
        self.tracing = tracing or Tracing()

    def on_store_event(self, event: object) -> None:
        """Another replica finished or released a row: its waiters here retry their claim."""
        if isinstance(event, EffectFinished):
            self._waiters.wake((event.scope_json, event.replay_key))
        elif isinstance(event, ListenerResumed):
            self._waiters.wake_all()

    def _ttl(self, requested_ms: int) -> int:
        if requested_ms <= 0:
            return self.config.default_lease_ttl_ms
        return min(requested_ms, self.config.max_lease_ttl_ms)

    async def execute(
        self,
        scope: ExecutionScope,
        envelope: RuntimeEffectEnvelope,
        envelope_pb: bytes,
        *,
        strict: bool = False,
        owner_id: str = "",
        lease_ttl_ms: int = 0,
        await_deadline_ms: int | None = None,
        delegate: DelegateOptions | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Recorded | EffectLease:
        args = (scope, envelope, envelope_pb, strict, owner_id, lease_ttl_ms, await_deadline_ms, delegate, progress)
        if not self.tracing.enabled:
            return await self._execute(*args)
        attributes = {"effectd.effect.kind": envelope.command.kind.value, "effectd.strict_replay": strict}
        with self.tracing.span("effect.execute", attributes):
            return await self._execute(*args)

    async def _execute(
        self,
        scope: ExecutionScope,
        envelope: RuntimeEffectEnvelope,
        envelope_pb: bytes,
        strict: bool,
        owner_id: str,
        lease_ttl_ms: int,
        await_deadline_ms: int | None,
        delegate: DelegateOptions | None,
        progress: Callable[[str], None] | None,
    ) -> Recorded | EffectLease:
        validate_scope(scope)
        validate_envelope(envelope)
        kind = envelope.command.kind.value
        executor = self.executors.get(kind)
        if executor is None and kind in _NEEDS_EXECUTOR:
            raise ConflictError(*_NEEDS_EXECUTOR[kind])
        scope_json = dumps(scope)
        replay_key = envelope.invocation.replay.key if envelope.invocation.replay else ""
        envelope_hash = envelope.stable_hash()
        owner = owner_id or f"runtime-{secrets.token_hex(4)}"
        server_owned = executor is not None
        # Replays are the common case: answer them from a read, without a write transaction.
        recorded = await self.store.get_effect(scope_json, replay_key)
        if recorded is not None and recorded.status != "in_progress":
            if recorded.envelope_hash != envelope_hash:
                self.metrics.journal_conflicts.inc()
                raise _hash_conflict(replay_key, scope_json, recorded.envelope_hash, envelope_hash)
            self.metrics.journal_replays.inc()
            return await _replayed(recorded)
        delegator = self.delegator
        if not server_owned and delegator is not None and delegator.routes(envelope, delegate):
            if strict and recorded is None:
                raise NotFoundError(
                    "effect_replay_missing",
                    f"no recorded runtime effect for scope {scope_json} and replay key {replay_key!r}",
                )
            return await delegator.run(
                DelegatedCall(scope_json, replay_key, envelope_hash, envelope, envelope_pb, delegate, progress)
            )
        due_at = None if executor is None else executor.due_at_ms(envelope, now_ms())
        holder_expired = False
        while True:
            claim = EffectClaim(
                scope_json=scope_json,
                replay_key=replay_key,
                envelope_hash=envelope_hash,
                kind=kind,
                envelope_pb=envelope_pb,
                owner=owner,
                lease_token=f"{owner}:{secrets.token_hex(8)}",
                lease_ttl_ms=self._ttl(lease_ttl_ms),
                due_at_ms=due_at,
                exclusive=not server_owned,
                strict=strict,
            )
            with self.tracing.span("effect.claim"):
                result = await self.store.claim_effect(claim, now_ms())
            row = result.row
            if result.status == "missing":
                raise NotFoundError(
                    "effect_replay_missing",
                    f"no recorded runtime effect for scope {scope_json} and replay key {replay_key!r}",
                )
            assert row is not None
            if result.status == "conflict":
                self.metrics.journal_conflicts.inc()
                raise _hash_conflict(replay_key, scope_json, row.envelope_hash, envelope_hash)
            if result.status == "recorded":
                self.metrics.journal_replays.inc()
                return await _replayed(row)
            if result.status == "claimed":
                self.metrics.journal_claims.inc()
                if holder_expired:
                    self.metrics.journal_lease_takeovers.inc()
                assert row.lease_token is not None
                return EffectLease(row.lease_token, row.lease_owner or owner, row.lease_expires_at_ms, envelope_hash)
            if result.status == "shared":
                return await self._run_server_owned(envelope, row, await_deadline_ms)
            holder_expired = await self.wait_for_holder(row)

    def finished(self, scope_json: str, replay_key: str) -> None:
        """A row was finished or released outside this core (a worker's result): wake its waiters."""
        self._waiters.wake((scope_json, replay_key))

    async def wait_for_holder(self, row: EffectRow) -> bool:
        """Sleep until the holder finishes or releases (notified), or until its lease expires (True)."""
        key = (row.scope_json, row.replay_key)
        future = self._waiters.wait(key)
        try:
            remaining = max(0.0, (row.lease_expires_at_ms - now_ms()) / 1000) + 0.001
            try:
                await asyncio.wait_for(asyncio.shield(future), timeout=remaining)
            except TimeoutError:
                return True
            return False
        finally:
            self._waiters.forget(key, future)

    async def _run_server_owned(
        self, envelope: RuntimeEffectEnvelope, row: EffectRow, await_deadline_ms: int | None
    ) -> Recorded:
        executor = self.executors[row.kind]
        with self.tracing.span("effect.run", {"effectd.effect.kind": row.kind}):
            outcome = await executor.run(ServerCall(envelope, row.due_at_ms, await_deadline_ms))
        outcome_pb = encode_outcome(outcome)
        with self.tracing.span("effect.complete"):
            finished = await self.store.finish_effect(row.scope_json, row.replay_key, None, outcome_pb, None, now_ms())
        self._waiters.wake((row.scope_json, row.replay_key))
        assert finished is not None
        # Another executor may have recorded first; its record is the answer.
        return _recorded(finished, replayed=finished.outcome_pb != outcome_pb)

    async def complete(
        self,
        scope: ExecutionScope,
        replay_key: str,
        lease_token: str,
        outcome: RuntimeEffectOutcome | None,
        error: tuple[str, str] | None,
    ) -> None:
        validate_scope(scope)
        scope_json = dumps(scope)
        outcome_pb = None if outcome is None else encode_outcome(outcome)
        error_json = None if error is None else json.dumps({"code": error[0], "message": error[1]})
        with self.tracing.span("effect.complete"):
            finished = await self.store.finish_effect(
                scope_json, replay_key, lease_token, outcome_pb, error_json, now_ms()
            )
        if finished is None:
            raise LeaseLostError(
                "effect_replay_lease_lost",
                f"runtime effect replay lease was lost before finalizing scope {scope_json} replay key {replay_key!r}",
            )
        self._waiters.wake((scope_json, replay_key))

    async def release(self, scope: ExecutionScope, replay_key: str, lease_token: str) -> None:
        scope_json = dumps(scope)
        if await self.store.release_effect(scope_json, replay_key, lease_token, now_ms()):
            self._waiters.wake((scope_json, replay_key))

    async def renew(self, scope: ExecutionScope, replay_key: str, lease_token: str, ttl_ms: int) -> int:
        validate_scope(scope)
        scope_json = dumps(scope)
        expires = await self.store.renew_effect(scope_json, replay_key, lease_token, self._ttl(ttl_ms), now_ms())
        if expires is None:
            raise LeaseLostError(
                "effect_replay_lease_lost", f"the lease on replay key {replay_key!r} in scope {scope_json} was lost"
            )
        return expires

    def describe(self) -> ControllerDescription:
        return DESCRIPTION

    async def get(self, scope: ExecutionScope, replay_key: str) -> EffectRecord:
        validate_scope(scope)
        row = await self.store.get_effect(dumps(scope), replay_key)
        if row is None:
            raise NotFoundError("effect_not_found", f"no journaled effect with replay key {replay_key!r}")
        return effect_record(row)

    async def scopes(self, limit: int) -> list[ScopeSummary]:
        """The scopes with journaled effects, most recently updated first."""
        rows = await self.store.recent_scopes(limit)
        return [ScopeSummary(scope_from_lash(json.loads(r.scope_json)), r.effects, r.updated_at_ms) for r in rows]

    async def list(self, scope: ExecutionScope, after_seq: int, limit: int) -> EffectPage:
        validate_scope(scope)
        rows = await self.store.list_effects(dumps(scope), after_seq, limit)
        return EffectPage([effect_record(row) for row in rows], rows[-1].seq if len(rows) == limit else None)

    # -- operator queries (the console) ----------------------------------------------------------
    async def count_by_status(self) -> dict[str, int]:
        return await self.store.count_effects_by_status()

    async def list_scopes(
        self, *, session_id: str | None = None, contains: str | None = None, after_scope_json: str = "", limit: int = 50
    ) -> builtins.list[ScopeListing]:
        """Journal scopes by their lash-json; with `session_id`, the scopes of that session."""
        prefixes = [] if session_id is None else session_scope_prefixes(session_id)
        return await self.store.list_scopes(
            prefixes=prefixes, contains=contains, after_scope_json=after_scope_json, limit=limit
        )

    async def list_rows(self, scope_json: str, after_seq: int, limit: int) -> builtins.list[EffectRecord]:
        """A scope's effects in order, by the scope's stored lash-json."""
        return [effect_record(row) for row in await self.store.list_effects(scope_json, after_seq, limit)]
