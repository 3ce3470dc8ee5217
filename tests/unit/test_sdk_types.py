"""SDK constructors and methods given wrong types raise EffectdError subclasses with a code (issue 12 §1),
never a bare TypeError or AttributeError, and the message names the class and field, not Python internals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from effectd import (
    CheckpointCommand,
    CheckpointKind,
    CustomWait,
    DurableStepCommand,
    Err,
    ExternalCompletionError,
    InvalidArgumentError,
    Ok,
    ProcessSignalWait,
    RuntimeScope,
    SleepCommand,
    ToolCompletionWait,
    TurnScope,
)
from effectd._client import Client
from effectd._scope import scope_from_lash, wait_from_lash


@pytest.mark.parametrize(
    ("build", "names"),
    [
        (lambda: TurnScope(1, "t"), "TurnScope.session_id"),  # type: ignore[arg-type]
        (lambda: TurnScope("s", None), "TurnScope.turn_id"),  # type: ignore[arg-type]
        (lambda: CustomWait(b"k"), "CustomWait.key"),  # type: ignore[arg-type]
        (lambda: ToolCompletionWait(["c"]), "ToolCompletionWait.tool_call_id"),  # type: ignore[arg-type]
        (lambda: ProcessSignalWait("p", "s", True), "ProcessSignalWait.ordinal"),
        (lambda: ProcessSignalWait("p", "s", "1"), "ProcessSignalWait.ordinal"),  # type: ignore[arg-type]
        (lambda: Err("tool_failed"), "Err.payload"),  # type: ignore[arg-type]
        (lambda: ExternalCompletionError(1, "m"), "ExternalCompletionError.code"),  # type: ignore[arg-type]
        (lambda: SleepCommand(1.5), "SleepCommand.duration_ms"),  # type: ignore[arg-type]
        (lambda: DurableStepCommand(7, {}), "DurableStepCommand.step_id"),  # type: ignore[arg-type]
        (lambda: CheckpointCommand("sometime"), "CheckpointCommand.checkpoint"),  # type: ignore[arg-type]
        (lambda: RuntimeScope(None), "RuntimeScope.session_id"),  # type: ignore[arg-type]
    ],
)
def test_wrong_types_in_constructors_are_invalid_request(build: Callable[[], Any], names: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        build()
    assert raised.value.code == "invalid_request"
    assert raised.value.message.startswith(names + " must be"), raised.value.message


def test_right_types_still_construct_and_enum_names_become_members() -> None:
    assert TurnScope("s", "t").session_id == "s"
    assert ProcessSignalWait("p", "s", 2**64 - 1).ordinal == 2**64 - 1
    assert Ok({"any": ["json", 1, 1.0, None]}).payload == {"any": ["json", 1, 1.0, None]}
    assert CheckpointCommand("after_work").checkpoint is CheckpointKind.AFTER_WORK  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reader", "fragment"),
    [
        ({"type": "turn", "session_id": "s", "turn_id": "t", "extra": 1}, scope_from_lash, "unknown field 'extra'"),
        ({"type": "turn", "session_id": "s"}, scope_from_lash, "missing field 'turn_id'"),
        ({"type": "nope"}, scope_from_lash, "one of turn, process"),
        ({"type": "custom"}, wait_from_lash, "missing field 'key'"),
    ],
)
def test_lash_readers_name_the_field_not_python(value: Any, reader: Callable[[Any], Any], fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        reader(value)
    assert raised.value.code == "invalid_request"
    assert fragment in raised.value.message and "__init__" not in raised.value.message


@pytest.fixture
async def offline_client() -> AsyncIterator[Client]:
    """A client whose channel never connects: every check below fails before a call is made."""
    client = Client(grpc.aio.insecure_channel("127.0.0.1:1"))
    yield client
    await client.close()


CALLS: list[tuple[str, Callable[[Client], Awaitable[Any]], str]] = [
    ("mint_key scope", lambda c: c.mint_key("scope", CustomWait("w")), "invalid_request"),  # type: ignore[arg-type]
    ("mint_key wait", lambda c: c.mint_key(TurnScope("s", "t"), {"type": "custom"}), "invalid_request"),  # type: ignore[arg-type]
    ("resolve key", lambda c: c.resolve(123, Ok(1)), "invalid_request"),  # type: ignore[arg-type]
    ("resolve resolution", lambda c: c.resolve("ek1_x", "ok"), "invalid_request"),  # type: ignore[arg-type]
    ("resolve NaN", lambda c: c.resolve("ek1_x", Ok(float("nan"))), "invalid_json"),
    ("resolve object", lambda c: c.resolve("ek1_x", Ok(object())), "invalid_json"),
    ("await timeout", lambda c: c.await_event("ek1_x", timeout="3"), "invalid_request"),  # type: ignore[arg-type]
    ("await heartbeat", lambda c: c.await_event("ek1_x", heartbeat_interval="1"), "invalid_request"),  # type: ignore[arg-type]
    ("peek None", lambda c: c.peek(None), "invalid_request"),  # type: ignore[arg-type]
    ("revoke_session", lambda c: c.revoke_session(5), "invalid_request"),  # type: ignore[arg-type]
    ("cancel_session_waits", lambda c: c.cancel_session_waits(None), "invalid_request"),  # type: ignore[arg-type]
    ("retire_signing_key", lambda c: c.retire_signing_key(1), "invalid_request"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "call", "code"), CALLS, ids=[c[0] for c in CALLS])
async def test_wrong_types_in_methods_are_effectd_errors(
    offline_client: Client, name: str, call: Callable[[Client], Awaitable[Any]], code: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        await call(offline_client)
    assert raised.value.code == code, (name, raised.value)
