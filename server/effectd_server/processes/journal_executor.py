"""`process` effects run by the journal on the server (SEED-SPEC §1.5, §1.7, §3.7): each op against the
registry, answered with lash's `ProcessEffectOutcome` shapes, which the journal records under the
envelope's replay key (so a replay answers the recorded outcome and runs nothing again).

A registry error (an unknown process, a conflict, ...) is raised, not journaled: a retry can succeed.
"""

from __future__ import annotations

from effectd._effects import ProcessEffectCommand, ProcessOutcome, RuntimeEffectEnvelope, RuntimeEffectOutcome
from effectd._errors import InvalidArgumentError
from effectd._process import (
    ProcessAwaitOp,
    ProcessAwaitResult,
    ProcessCancelOp,
    ProcessCancelResult,
    ProcessCommand,
    ProcessDeleteSessionOp,
    ProcessDeleteSessionResult,
    ProcessEffectOutcome,
    ProcessListMode,
    ProcessListOp,
    ProcessListResult,
    ProcessSignalOp,
    ProcessSignalResult,
    ProcessStartOp,
    ProcessStartResult,
    ProcessTransferOp,
    ProcessTransferResult,
    cancel_requested_request,
    process_signal_event_type,
)

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.journal.executors import ServerCall
from effectd_server.processes import rules
from effectd_server.processes.core import OrphanPolicy, ProcessRegistryCore
from effectd_server.processes.signals import send_signal

__all__ = ["ProcessExecutor"]


class ProcessExecutor:
    def __init__(self, registry: ProcessRegistryCore, await_events: AwaitEventCore) -> None:
        self._registry = registry
        self._await_events = await_events

    def due_at_ms(self, envelope: RuntimeEffectEnvelope, now_ms: int) -> int | None:
        return None

    async def run(self, call: ServerCall) -> RuntimeEffectOutcome:
        command = call.envelope.command
        assert isinstance(command, ProcessEffectCommand)
        return ProcessOutcome(await self.execute(command.command))

    async def execute(self, command: ProcessCommand) -> ProcessEffectOutcome:
        registry = self._registry
        match command:
            case ProcessStartOp():
                record = await registry.register_process(command.registration)
                if command.grant is not None:
                    grant = command.grant
                    await registry.grant_handle(grant.session_scope, record.id, grant.descriptor)
                return ProcessStartResult(record)
            case ProcessListOp():
                if command.mode is ProcessListMode.ALL:
                    entries = await registry.list_handle_grants(command.session_scope)
                else:
                    entries = await registry.list_live_handle_grants(command.session_scope)
                return ProcessListResult(tuple(entries))
            case ProcessTransferOp():
                await registry.transfer_handle_grants(command.from_scope, command.to_scope, command.process_ids)
                return ProcessTransferResult()
            case ProcessDeleteSessionOp():
                report = await registry.delete_session_process_state(command.session_id, OrphanPolicy.KEEP)
                return ProcessDeleteSessionResult(report)
            case ProcessAwaitOp():
                # Blocks until terminal; the caller's cancel ends the Execute stream, which cancels this
                # and records nothing.
                return ProcessAwaitResult(await registry.await_process(command.process_id))
            case ProcessCancelOp():
                # Idempotent by reason: the same reason is the same replay key (a new reason, a new event).
                await registry.append(command.process_id, cancel_requested_request(command.process_id, command.reason))
                current = await registry.get_process(command.process_id)
                if current is None:
                    raise rules.unknown_process(command.process_id)
                return ProcessCancelResult(current)
            case ProcessSignalOp():
                request = command.request
                expected_type = process_signal_event_type(command.signal_name)
                expected_key = rules.signal_replay_key(command.process_id, command.signal_name, command.signal_id)
                if request.event_type != expected_type or (
                    request.replay is not None and request.replay.key != expected_key
                ):
                    raise InvalidArgumentError(
                        "invalid_request",
                        f"a signal's request must be `{expected_type}` with replay key `{expected_key}`",
                    )
                answer = await send_signal(
                    registry,
                    self._await_events,
                    command.process_id,
                    command.signal_name,
                    command.signal_id,
                    request.payload,
                    request.wake_target_scope,
                )
                return ProcessSignalResult(answer.event)
        raise InvalidArgumentError("invalid_request", f"unknown process op {command!r}")
