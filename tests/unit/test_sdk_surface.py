"""The public surface: `__all__` is pinned, and every RPC has exactly one SDK method."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pkgutil
from pathlib import Path

import effectd
from effectd._client import RPC_METHODS, Client
from effectd._controller import RemoteEffectController
from effectd._processes import RemoteProcessRegistry
from effectd._worker import RemoteWorkers, Worker
from effectd.v1 import await_events_pb2, effect_controller_pb2, envelope_pb2, process_pb2, scope_pb2, workers_pb2

# The whole public surface, sorted. A name added to or removed from `effectd.__all__` is a change to this list.
EXPECTED_ALL = [
    "Accepted",
    "AlreadyResolved",
    "AssignmentRef",
    "AuthError",
    "AwaitEventCommand",
    "AwaitEventKey",
    "AwaitEventOutcome",
    "AwaitEventWaitIdentity",
    "Cancelled",
    "CausalRef",
    "CheckpointCommand",
    "CheckpointKind",
    "CheckpointOutcome",
    "Client",
    "ConflictError",
    "ControllerDescription",
    "ControllerError",
    "CustomWait",
    "DeadlineExceededError",
    "DelegatedEffect",
    "DeliverAgain",
    "DirectCommand",
    "DirectOutcome",
    "DurabilityTier",
    "DurableStepCommand",
    "DurableStepOutcome",
    "DurableSteps",
    "EffectRecord",
    "EffectRef",
    "EffectStatus",
    "EffectSubject",
    "EffectdError",
    "Err",
    "ExecCodeCommand",
    "ExecCodeOutcome",
    "ExecutionScope",
    "ExecutorError",
    "ExternalCompletionError",
    "ExternalProcessInput",
    "HostOriginator",
    "InternalError",
    "InvalidArgumentError",
    "InvalidTokenError",
    "KeyPending",
    "LashlangProcessInput",
    "LashlangProcessRef",
    "LeaseLostError",
    "LlmCallCommand",
    "LlmCallOutcome",
    "LocalExecutor",
    "NotFoundError",
    "Ok",
    "OrphanPolicy",
    "OutcomeError",
    "PermissionDeniedError",
    "PreparedToolCall",
    "ProcessAwaitCancelled",
    "ProcessAwaitFailure",
    "ProcessAwaitOp",
    "ProcessAwaitOutput",
    "ProcessAwaitResult",
    "ProcessAwaitSuccess",
    "ProcessCancelOp",
    "ProcessCancelResult",
    "ProcessCancelled",
    "ProcessCommand",
    "ProcessCompleted",
    "ProcessDefinitionSelector",
    "ProcessDeleteSessionOp",
    "ProcessDeleteSessionResult",
    "ProcessEffectCommand",
    "ProcessEffectOutcome",
    "ProcessEvent",
    "ProcessEventAppendRequest",
    "ProcessEventAppendResult",
    "ProcessEventRef",
    "ProcessEventSemantics",
    "ProcessEventSemanticsSpec",
    "ProcessEventSubject",
    "ProcessEventType",
    "ProcessExecutionContext",
    "ProcessExternalRef",
    "ProcessFailed",
    "ProcessHandleDescriptor",
    "ProcessHandleGrant",
    "ProcessHandleGrantEntry",
    "ProcessInput",
    "ProcessLease",
    "ProcessLeaseCompletion",
    "ProcessListFilter",
    "ProcessListMode",
    "ProcessListOp",
    "ProcessListResult",
    "ProcessOriginator",
    "ProcessOutcome",
    "ProcessProvenance",
    "ProcessRecord",
    "ProcessRef",
    "ProcessRegistration",
    "ProcessRunContext",
    "ProcessRunning",
    "ProcessScope",
    "ProcessSessionDeleteReport",
    "ProcessSignalOp",
    "ProcessSignalResult",
    "ProcessSignalWait",
    "ProcessStartGrant",
    "ProcessStartOp",
    "ProcessStartResult",
    "ProcessStatus",
    "ProcessStatusFilter",
    "ProcessSubject",
    "ProcessTemplate",
    "ProcessTerminalSemantics",
    "ProcessTerminalSpec",
    "ProcessTransferOp",
    "ProcessTransferResult",
    "ProcessValueSelector",
    "ProcessWakeDelivery",
    "ProcessWakeSemantics",
    "ProcessWakeSpec",
    "ProviderRateLimited",
    "QueueDrainScope",
    "RemoteEffectController",
    "RemoteEffectHost",
    "RemoteProcessRegistry",
    "RemoteWorkers",
    "Resolution",
    "ResolveOutcome",
    "ResourceExhaustedError",
    "Result",
    "ResultErr",
    "ResultOk",
    "ResultReceipt",
    "Rpc",
    "RuntimeEffectCommand",
    "RuntimeEffectEnvelope",
    "RuntimeEffectKind",
    "RuntimeEffectOutcome",
    "RuntimeInvocation",
    "RuntimeOperationScope",
    "RuntimeReplay",
    "RuntimeScope",
    "RuntimeSubject",
    "ScopedEffectController",
    "SessionDeleteScope",
    "SessionNodeRef",
    "SessionNodeSubject",
    "SessionOriginator",
    "SessionScope",
    "SessionTurnProcessInput",
    "SignalReceipt",
    "SignalWait",
    "SigningKey",
    "SleepCommand",
    "SleepOutcome",
    "SyncExecutionEnvironmentCommand",
    "SyncExecutionEnvironmentOutcome",
    "SystemTime",
    "TLSConfig",
    "TemplateSelector",
    "TerminalState",
    "Timeout",
    "ToolCallCommand",
    "ToolCallDone",
    "ToolCallLaunch",
    "ToolCallOutcome",
    "ToolCallPending",
    "ToolCallProcessInput",
    "ToolCallRef",
    "ToolCompletionWait",
    "ToolDescription",
    "ToolEffects",
    "ToolFailureClass",
    "ToolInfo",
    "TriggerOccurrenceRef",
    "TriggerOccurrenceSubject",
    "TurnRef",
    "TurnScope",
    "UnauthenticatedError",
    "UnavailableError",
    "UnknownOrRevoked",
    "UnknownOrRevokedError",
    "WaitKind",
    "WaitState",
    "Watch",
    "WatchRejected",
    "WatchTerminal",
    "Worker",
    "WorkerCapability",
    "WorkerContext",
    "WorkerInfo",
    "await_event_key_id",
    "await_output_from_lash",
    "cancel_requested_replay_key",
    "cancel_requested_request",
    "causal_ref_from_lash",
    "event_semantics_from_lash",
    "into_await_event",
    "into_checkpoint",
    "into_direct_response",
    "into_durable_step",
    "into_exec_code",
    "into_llm_call",
    "into_process",
    "into_sleep",
    "into_sync_execution_environment",
    "into_tool_call",
    "into_tool_call_effect",
    "invocation_from_lash",
    "key_from_token",
    "key_token",
    "prepared_tool_call_from_lash",
    "process_signal_event_type",
    "process_signal_wait_key",
    "runtime_scope_from_lash",
    "selector_from_lash",
    "subject_from_lash",
    "terminal_spec_from_lash",
    "validate_envelope",
    "wake_id",
    "wake_spec_from_lash",
]


def test_public_names_are_pinned() -> None:
    assert EXPECTED_ALL == sorted(EXPECTED_ALL)
    assert sorted(effectd.__all__) == EXPECTED_ALL
    assert len(effectd.__all__) == len(set(effectd.__all__))
    for name in effectd.__all__:
        assert hasattr(effectd, name), name


def test_the_process_types_are_public() -> None:
    from effectd import _process

    assert set(_process.__all__) <= set(effectd.__all__)


def test_nothing_public_is_generated_code() -> None:
    for name in effectd.__all__:
        module = getattr(getattr(effectd, name), "__module__", "") or ""
        assert not module.startswith("effectd.v1"), name


def test_every_rpc_has_exactly_one_sdk_method() -> None:
    rpcs = {
        f"{service.full_name}/{method.name}"
        for module in (await_events_pb2, effect_controller_pb2, envelope_pb2, process_pb2, scope_pb2, workers_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(RPC_METHODS) == rpcs
    names = list(RPC_METHODS.values())
    assert len(names) == len(set(names))
    owners = {
        "Client": Client,
        "RemoteEffectController": RemoteEffectController,
        "RemoteProcessRegistry": RemoteProcessRegistry,
        "RemoteWorkers": RemoteWorkers,
        "Worker": Worker,
    }
    for name in names:
        owner, _, method = name.rpartition(".")
        assert callable(getattr(owners[owner or "Client"], method)), name


def test_unary_sdk_methods_take_a_per_call_timeout() -> None:
    streaming = {"await_event", "watch"}
    for name in {n for n in RPC_METHODS.values() if "." not in n} - streaming:
        parameters = inspect.signature(getattr(Client, name)).parameters
        assert parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY, name
    for name in ("describe", "list_effects", "get_effect"):
        parameters = inspect.signature(getattr(RemoteEffectController, name)).parameters
        assert parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY, name


def _sdk_modules() -> list[str]:
    package = Path(effectd.__file__).parent
    return sorted(info.name for info in pkgutil.iter_modules([str(package)]) if info.name.startswith("_"))


def _imports(module: str) -> set[str]:
    """The `effectd._*` modules a module imports at run time (TYPE_CHECKING blocks do not count)."""
    spec = importlib.util.find_spec(f"effectd.{module}")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            raise AssertionError(f"effectd.{module} imports under TYPE_CHECKING (an import cycle hidden)")
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("effectd._"):
                found.add(node.module.removeprefix("effectd."))
            elif node.module == "effectd":
                found.update(alias.name for alias in node.names if alias.name.startswith("_"))
    return found


def test_sdk_imports_run_one_way() -> None:
    """No cycle among the SDK's private modules: lineage <- process <- effects, and so on up."""
    graph = {module: _imports(module) for module in _sdk_modules()}
    assert "_effects" not in graph["_lineage"] and "_process" not in graph["_lineage"]
    assert "_effects" not in graph["_process"]
    assert "_process" in graph["_effects"] and "_lineage" in graph["_effects"]
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError(" -> ".join((*path, module)))
        if module in done:
            return
        for imported in graph.get(module, set()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_facades_reach_the_server_only_through_rpc() -> None:
    """No facade reads another facade's private attributes (`client._...`)."""
    for module in ("_controller", "_host", "_processes"):
        spec = importlib.util.find_spec(f"effectd.{module}")
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = ast.unparse(node.value)
                assert owner in {"self", "cls"}, f"effectd.{module}: {ast.unparse(node)}"
