"""Exact JSON on the wire (issue 8 §1): what was sent is what is stored, peeked and replayed, byte for byte;
text that is not strict JSON is refused with invalid_json, naming the field, and nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest
from effectd import CustomWait, KeyPending, Ok, TurnScope
from effectd._client import Client
from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._convert_envelope import envelope_to_proto
from effectd._convert_scope import key_to_proto, scope_to_proto
from effectd._effects import (
    DurableStepCommand,
    DurableStepOutcome,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    into_durable_step,
)
from effectd._lashjson import dumps
from effectd.v1 import await_events_pb2 as apb
from effectd.v1 import await_events_pb2_grpc as apb_grpc
from effectd.v1 import effect_controller_pb2 as cpb
from effectd.v1 import effect_controller_pb2_grpc as cpb_grpc
from effectd.v1 import envelope_pb2 as epb
from effectd.v1 import scope_pb2 as spb
from effectd_server import RunningServer
from google.rpc import error_details_pb2, status_pb2

from tests.integration.codes import provoked

SCOPE = TurnScope("session-1", "turn-1")
RUNTIME = RuntimeScope("session-1", "turn-1", 7, 0)
BIG = 9007199254740993  # 2**53 + 1: not a double
MARK = "MARKMARK"
BAD_UTF8 = b"\xff\xfe\xc3\x28\xed\xa0\x80a"  # as long as MARK

INVALID_TEXTS = {
    "nan": '{"x": NaN}',
    "infinity": "[Infinity]",
    "overflow": "1e400",
    "duplicate_keys": '{"a": 1, "a": 2}',
    "too_deep": "[" * 129 + "]" * 129,
    "empty": "",
    "lone_surrogate": '"\\ud800"',
    "trailing": "[1] [2]",
}


def _step(step_id: str, input: Any = None) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"durable-step:{step_id}", RuntimeEffectKind.DURABLE_STEP, f"r:{step_id}"),
        DurableStepCommand(step_id, input),
    )


def _reason(exc: grpc.aio.AioRpcError) -> tuple[str, str]:
    for name, value in exc.trailing_metadata() or ():
        if name == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason, status.message
    raise AssertionError(f"no ErrorInfo in {exc}")


async def expect_invalid_json(call: Awaitable[Any], field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value
    reason, message = _reason(raised.value)
    assert reason == provoked("invalid_json")
    assert message.startswith(f"{field}: "), message


async def _drain(call: Any) -> list[Any]:
    return [response async for response in call]


@pytest.fixture
async def channel(server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.target) as opened:
        yield opened


@pytest.fixture
def controller(client: Client) -> RemoteEffectController:
    return RemoteEffectController(client, lease_ttl=5.0)


# -- resolutions -------------------------------------------------------------------------------------


async def test_a_resolution_peeks_back_exactly(client: Client, channel: grpc.aio.Channel) -> None:
    key = await client.mint_key(SCOPE, CustomWait("exact"))
    payload = {"order_id": BIG, "f": 1.0, "z": -0.0, "u": 2**64 - 1, "i": -(2**63), "e": 1e20}
    await client.resolve(key, Ok(payload))
    peeked = await client.peek(key)
    assert peeked == Ok(payload)
    assert isinstance(peeked, Ok)
    assert type(peeked.payload["order_id"]) is int and type(peeked.payload["f"]) is float
    # On the wire: the lash-json text, keys sorted, floats as lash writes them.
    stub = apb_grpc.AwaitEventsStub(channel)
    response = await stub.Peek(apb.PeekRequest(key=key_to_proto(key)))
    assert response.terminal.ok.text == (
        '{"e":1e20,"f":1.0,"i":-9223372036854775808,"order_id":9007199254740993,"u":18446744073709551615,"z":-0.0}'
    )


async def test_json_text_from_any_language_is_read_as_serde_json_reads_it(
    client: Client, channel: grpc.aio.Channel
) -> None:
    """What JSON.stringify sends: spaces, any key order; numbers beyond u64 become f64 as in serde_json."""
    key = await client.mint_key(SCOPE, CustomWait("any-language"))
    stub = apb_grpc.AwaitEventsStub(channel)
    text = '{ "order_id": 9007199254740993, "f": 1.0, "big": 1000000000000000000000000000000 }'
    request = apb.ResolveRequest(key=key_to_proto(key), resolution=spb.Resolution(ok=spb.Json(text=text)))
    assert (await stub.Resolve(request)).outcome.WhichOneof("outcome") == "accepted"
    peeked = await stub.Peek(apb.PeekRequest(key=key_to_proto(key)))
    assert peeked.terminal.ok.text == '{"big":1e30,"f":1.0,"order_id":9007199254740993}'
    assert await client.peek(key) == Ok({"big": 1e30, "f": 1.0, "order_id": BIG})


async def test_await_and_watch_return_the_exact_payload(client: Client) -> None:
    key = await client.mint_key(SCOPE, CustomWait("await-exact"))
    await client.resolve(key, Ok({"id": BIG, "f": 1.0}))
    assert await client.await_event(key) == Ok({"id": BIG, "f": 1.0})
    events = [event async for event in client.watch([key])]
    assert [e.resolution for e in events] == [Ok({"id": BIG, "f": 1.0})]  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(INVALID_TEXTS))
async def test_invalid_resolution_json_is_refused_and_nothing_is_stored(
    client: Client, channel: grpc.aio.Channel, name: str
) -> None:
    key = await client.mint_key(SCOPE, CustomWait(f"invalid-{name}"))
    stub = apb_grpc.AwaitEventsStub(channel)
    ok = spb.Resolution(ok=spb.Json(text=INVALID_TEXTS[name]))
    await expect_invalid_json(stub.Resolve(apb.ResolveRequest(key=key_to_proto(key), resolution=ok)), "resolution.ok")
    raw = spb.Resolution(err=spb.ExternalCompletionError(code="c", message="m", raw=spb.Json(text=INVALID_TEXTS[name])))
    request = apb.ResolveRequest(key=key_to_proto(key), resolution=raw)
    await expect_invalid_json(stub.Resolve(request), "resolution.err.raw")
    assert await client.peek(key) == KeyPending(None)
    # ResolveMany answers the item on its own.
    many = await stub.ResolveMany(apb.ResolveManyRequest(items=[request]))
    assert many.results[0].error.code == "invalid_json"
    assert await client.peek(key) == KeyPending(None)


async def test_invalid_utf8_in_a_resolution_is_invalid_json(client: Client, channel: grpc.aio.Channel) -> None:
    key = await client.mint_key(SCOPE, CustomWait("invalid-utf8"))
    request = apb.ResolveRequest(key=key_to_proto(key), resolution=spb.Resolution(ok=spb.Json(text=f'"{MARK}"')))
    raw = request.SerializeToString().replace(MARK.encode(), BAD_UTF8)
    resolve = channel.unary_unary("/effectd.v1.AwaitEvents/Resolve")
    await expect_invalid_json(resolve(raw), "resolution.ok")
    assert await client.peek(key) == KeyPending(None)


# -- the journal ---------------------------------------------------------------------------------------


async def test_a_durable_step_replays_exactly(controller: RemoteEffectController) -> None:
    scoped = controller.scoped(SCOPE)
    value = {"id": BIG, "f": 1.0, "z": -0.0}
    first = await scoped.execute_effect(_step("exact", {"n": BIG}), LocalExecutor.durable_step(lambda _: value))
    assert into_durable_step(first) == value

    def never(_: Any) -> Any:
        raise AssertionError("ran on a replay")

    again = await scoped.execute_effect(_step("exact", {"n": BIG}), LocalExecutor.durable_step(never))
    replayed = into_durable_step(again)
    assert replayed == value and type(replayed["id"]) is int and type(replayed["f"]) is float
    record = await controller.get_effect(SCOPE, "r:exact")
    assert record.outcome is not None and dumps(record.outcome.value) == '{"f":1.0,"id":9007199254740993,"z":-0.0}'
    # On the wire, the recorded text itself, byte for byte.
    stub = controller.rpc.stub(cpb_grpc.EffectControllerStub)
    raw = await stub.GetEffect(cpb.GetEffectRequest(scope=scope_to_proto(SCOPE), replay_key="r:exact"))
    assert raw.effect.outcome.durable_step.value.text == '{"f":1.0,"id":9007199254740993,"z":-0.0}'
    assert record.envelope_hash == _step("exact", {"n": BIG}).stable_hash()


async def test_inputs_that_differ_past_2_53_conflict(controller: RemoteEffectController) -> None:
    """Two inputs that doubles would merge are two envelopes: the second is a hash conflict."""
    scoped = controller.scoped(SCOPE)
    await scoped.execute_effect(_step("twins", {"n": BIG}), LocalExecutor.durable_step(lambda _: 1))
    with pytest.raises(Exception) as raised:
        await scoped.execute_effect(_step("twins", {"n": BIG - 1}), LocalExecutor.durable_step(lambda _: 2))
    assert getattr(raised.value, "code", None) == "effect_replay_hash_conflict"
    with pytest.raises(Exception) as floats:
        await scoped.execute_effect(_step("twins", {"n": float(BIG)}), LocalExecutor.durable_step(lambda _: 3))
    assert getattr(floats.value, "code", None) == "effect_replay_hash_conflict"


def _execute(envelope: epb.RuntimeEffectEnvelope) -> cpb.ExecuteRequest:
    return cpb.ExecuteRequest(scope=scope_to_proto(SCOPE), envelope=envelope, owner_id="raw", lease_ttl_ms=5000)


def _step_with_input(step_id: str, input: spb.Json) -> epb.RuntimeEffectEnvelope:
    envelope = envelope_to_proto(_step(step_id, None))
    envelope.command.durable_step.input.CopyFrom(input)
    return envelope


async def test_empty_input_is_refused_and_null_is_not(
    controller: RemoteEffectController, channel: grpc.aio.Channel
) -> None:
    """An empty Json (what a mistyped field sends) is not null: refused, nothing stored."""
    stub = cpb_grpc.EffectControllerStub(channel)
    await expect_invalid_json(
        _drain(stub.Execute(_execute(_step_with_input("empty-vs-null", spb.Json())))),
        "envelope.command.durable_step.input",
    )
    assert await controller.list_effects(SCOPE) == []
    (answer,) = await _drain(stub.Execute(_execute(_step_with_input("empty-vs-null", spb.Json(text="null")))))
    assert answer.WhichOneof("event") == "lease"
    # Still refused once a row exists: it never replays the null step's outcome.
    await expect_invalid_json(
        _drain(stub.Execute(_execute(_step_with_input("empty-vs-null", spb.Json(text=""))))),
        "envelope.command.durable_step.input",
    )
    assert len(await controller.list_effects(SCOPE)) == 1


@pytest.mark.parametrize("name", sorted(INVALID_TEXTS))
async def test_invalid_input_json_is_refused_and_nothing_is_stored(
    controller: RemoteEffectController, channel: grpc.aio.Channel, name: str
) -> None:
    stub = cpb_grpc.EffectControllerStub(channel)
    envelope = _step_with_input("bad", spb.Json(text=INVALID_TEXTS[name]))
    await expect_invalid_json(_drain(stub.Execute(_execute(envelope))), "envelope.command.durable_step.input")
    assert await controller.list_effects(SCOPE) == []


async def test_invalid_utf8_in_an_input_is_invalid_json(
    controller: RemoteEffectController, channel: grpc.aio.Channel
) -> None:
    raw = _execute(_step_with_input("utf8", spb.Json(text=f'"{MARK}"'))).SerializeToString()
    execute = channel.unary_stream("/effectd.v1.EffectController/Execute")
    await expect_invalid_json(
        _drain(execute(raw.replace(MARK.encode(), BAD_UTF8))), "envelope.command.durable_step.input"
    )
    assert await controller.list_effects(SCOPE) == []


async def _leased(stub: Any, step_id: str) -> cpb.EffectLease:
    (answer,) = await _drain(stub.Execute(_execute(envelope_to_proto(_step(step_id, 1)))))
    lease: cpb.EffectLease = answer.lease
    assert lease.lease_token
    return lease


def _complete(step_id: str, lease: cpb.EffectLease, value: spb.Json) -> cpb.CompleteRequest:
    return cpb.CompleteRequest(
        scope=scope_to_proto(SCOPE),
        replay_key=f"r:{step_id}",
        lease_token=lease.lease_token,
        outcome=epb.RuntimeEffectOutcome(durable_step=epb.DurableStepOutcome(value=value)),
    )


@pytest.mark.parametrize("name", sorted(INVALID_TEXTS))
async def test_invalid_outcome_json_is_refused_and_nothing_is_recorded(
    controller: RemoteEffectController, channel: grpc.aio.Channel, name: str
) -> None:
    stub = cpb_grpc.EffectControllerStub(channel)
    lease = await _leased(stub, "complete")
    await expect_invalid_json(
        stub.Complete(_complete("complete", lease, spb.Json(text=INVALID_TEXTS[name]))), "outcome.durable_step.value"
    )
    record = (await stub.GetEffect(cpb.GetEffectRequest(scope=scope_to_proto(SCOPE), replay_key="r:complete"))).effect
    assert record.status == cpb.EFFECT_STATUS_IN_PROGRESS
    assert not record.HasField("outcome")
    # The lease still holds: a valid outcome is then recorded, as lash-json.
    await stub.Complete(_complete("complete", lease, spb.Json(text='{"id": 9007199254740993, "f": 1.0}')))
    record = (await stub.GetEffect(cpb.GetEffectRequest(scope=scope_to_proto(SCOPE), replay_key="r:complete"))).effect
    assert record.status == cpb.EFFECT_STATUS_COMPLETED
    assert record.outcome.durable_step.value.text == '{"f":1.0,"id":9007199254740993}'
    replay = await controller.scoped(SCOPE).execute_effect(
        _step("complete", 1), LocalExecutor.durable_step(lambda _: None)
    )
    assert replay == DurableStepOutcome({"f": 1.0, "id": BIG})


async def test_invalid_utf8_in_an_outcome_is_invalid_json(
    controller: RemoteEffectController, channel: grpc.aio.Channel
) -> None:
    stub = cpb_grpc.EffectControllerStub(channel)
    lease = await _leased(stub, "utf8-outcome")
    raw = _complete("utf8-outcome", lease, spb.Json(text=f'"{MARK}"')).SerializeToString()
    complete = channel.unary_unary("/effectd.v1.EffectController/Complete")
    await expect_invalid_json(complete(raw.replace(MARK.encode(), BAD_UTF8)), "outcome.durable_step.value")
    record = (
        await stub.GetEffect(cpb.GetEffectRequest(scope=scope_to_proto(SCOPE), replay_key="r:utf8-outcome"))
    ).effect
    assert record.status == cpb.EFFECT_STATUS_IN_PROGRESS
    assert not record.HasField("outcome")
