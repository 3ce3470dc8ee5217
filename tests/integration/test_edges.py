"""Hardened edges, each found by a hostile client: numeric ranges, sizes, heartbeat floods, stream caps,
slow readers, and logs that cannot be forged. After each, the server keeps serving and writing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from effectd import CustomWait, DurableStepCommand, Ok, RuntimeEffectEnvelope, TurnScope
from effectd._client import Client, KeyPending
from effectd._convert_envelope import envelope_to_proto
from effectd._convert_scope import key_to_proto, resolution_to_proto, scope_to_proto, wait_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd.v1 import effect_controller_pb2 as epb
from effectd.v1 import effect_controller_pb2_grpc as epb_grpc
from effectd.v1 import scope_pb2
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from effectd_server.config import LimitsConfig, StreamsConfig

from tests.integration.test_bad_input import INVALID, expect_error
from tests.pg import fresh_schema, require_postgres

SCOPE = TurnScope("s", "t")


@pytest.fixture
async def channel(server: RunningServer) -> Any:
    async with grpc.aio.insecure_channel(server.target) as opened:
        yield opened


async def _still_writes(client: Client) -> None:
    key = await client.mint_key(SCOPE, CustomWait("after"))
    await client.resolve(key, Ok("written"))
    assert await client.peek(key) == Ok("written")


async def _first(call: Any) -> Any:
    async for response in call:
        return response
    return None


async def test_a_huge_timeout_is_refused_and_the_store_keeps_writing(client: Client, channel: Any) -> None:
    stub = pb_grpc.AwaitEventsStub(channel)
    minted = await client.mint_key(SCOPE, CustomWait("huge-timeout"))
    key = key_to_proto(minted)
    # 9.3e15 s as the CLI sends it: a valid uint64 that overflowed SQLite's integers and wedged its writer.
    await expect_error(
        _first(stub.Await(pb.AwaitRequest(key=key, timeout_ms=9_300_000_000_000_000_000))),
        INVALID,
        "value_out_of_range",
    )
    await expect_error(
        _first(stub.Await(pb.AwaitRequest(key=key, deadline_unix_ms=2**63))), INVALID, "value_out_of_range"
    )
    await expect_error(
        _first(stub.Await(pb.AwaitRequest(key=key, timeout_ms=1000, heartbeat_interval_ms=4_000_000_000))),
        INVALID,
        "value_out_of_range",
    )
    assert isinstance(await client.peek(minted), KeyPending)
    await _still_writes(client)


async def test_out_of_range_journal_fields_are_refused(client: Client, channel: Any) -> None:
    from effectd import RuntimeEffectKind, RuntimeInvocation, RuntimeScope

    stub = epb_grpc.EffectControllerStub(channel)
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RuntimeScope("s", "t", 0, 0), "1", RuntimeEffectKind.DURABLE_STEP, "rk-range"),
        DurableStepCommand("step", {"n": 1}),
    )
    request = epb.ExecuteRequest(
        scope=scope_to_proto(SCOPE), envelope=envelope_to_proto(envelope), lease_ttl_ms=4_000_000_000
    )
    await expect_error(_first(stub.Execute(request)), INVALID, "value_out_of_range")
    listing = epb.ListEffectsRequest(scope=scope_to_proto(SCOPE), page_token=str(2**70))
    await expect_error(stub.ListEffects(listing), INVALID, "value_out_of_range")
    await _still_writes(client)


async def test_oversized_ids_and_envelopes_are_refused_with_their_limit(
    start_server: Callable[..., Any],
) -> None:
    from effectd import RuntimeEffectKind, RuntimeInvocation, RuntimeScope

    limits = LimitsConfig(max_id_bytes=256, max_envelope_bytes=64 * 1024)
    async with start_server(limits=limits) as small, await Client.connect(small.target) as client:
        async with grpc.aio.insecure_channel(small.target) as channel:
            stub = pb_grpc.AwaitEventsStub(channel)
            huge_session = TurnScope("s" * 300, "t")
            request = pb.MintKeyRequest(scope=scope_to_proto(huge_session), wait=wait_to_proto(CustomWait("k")))
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.MintKey(request)
            assert "256" in (raised.value.details() or "")
            await expect_error(stub.MintKey(request), INVALID, "id_too_long")
            await expect_error(
                stub.RevokeSession(pb.RevokeSessionRequest(session_id="x" * 300)), INVALID, "id_too_long"
            )
            controller = epb_grpc.EffectControllerStub(channel)
            envelope = RuntimeEffectEnvelope(
                RuntimeInvocation.effect(RuntimeScope("s", "t", 0, 0), "1", RuntimeEffectKind.DURABLE_STEP, "rk"),
                DurableStepCommand("step", {"blob": "x" * 100_000}),
            )
            execute = epb.ExecuteRequest(scope=scope_to_proto(SCOPE), envelope=envelope_to_proto(envelope))
            await expect_error(_first(controller.Execute(execute)), INVALID, "envelope_too_large")
            listed = await controller.ListEffects(epb.ListEffectsRequest(scope=scope_to_proto(SCOPE)))
            assert list(listed.effects) == []  # nothing was leased or stored
        await _still_writes(client)


async def test_requested_heartbeats_are_raised_to_the_server_minimum(start_server: Callable[..., Any]) -> None:
    streams = StreamsConfig(min_heartbeat_interval_s=0.5)
    async with start_server(streams=streams) as running, await Client.connect(running.target) as client:
        key = key_to_proto(await client.mint_key(SCOPE, CustomWait("flood")))
        async with grpc.aio.insecure_channel(running.target) as channel:
            stub = pb_grpc.AwaitEventsStub(channel)
            call = stub.Await(pb.AwaitRequest(key=key, heartbeat_interval_ms=10))
            beats = 0

            async def count() -> None:
                nonlocal beats
                async for response in call:
                    if response.HasField("heartbeat"):
                        beats += 1

            reading = asyncio.ensure_future(count())
            await asyncio.sleep(1.3)
            call.cancel()
            await asyncio.gather(reading, return_exceptions=True)
        # Asked for 10 ms (130 heartbeats); the server's 0.5 s minimum allows 2, or 3 at the edge.
        assert 1 <= beats <= 3


async def test_streams_per_connection_are_capped(start_server: Callable[..., Any]) -> None:
    streams = StreamsConfig(max_streams_per_connection=3)
    async with start_server(streams=streams) as running, await Client.connect(running.target) as client:
        keys = [key_to_proto(await client.mint_key(SCOPE, CustomWait(f"cap-{i}"))) for i in range(5)]
        async with (
            grpc.aio.insecure_channel(running.target) as one,
            grpc.aio.insecure_channel(running.target, options=[("grpc.use_local_subchannel_pool", 1)]) as other,
        ):
            stub = pb_grpc.AwaitEventsStub(one)
            calls = [stub.Await(pb.AwaitRequest(key=k, heartbeat_interval_ms=1000)) for k in keys[:3]]
            for call in calls:
                assert (await _first(call)).HasField("heartbeat")
            await expect_error(
                _first(stub.Await(pb.AwaitRequest(key=keys[3]))), grpc.StatusCode.RESOURCE_EXHAUSTED, "too_many_streams"
            )
            # Another connection has its own allowance, and a closed stream frees a place.
            other_stub = pb_grpc.AwaitEventsStub(other)
            other_call = other_stub.Await(pb.AwaitRequest(key=keys[4], heartbeat_interval_ms=1000))
            assert (await _first(other_call)).HasField("heartbeat")
            calls[0].cancel()
            await asyncio.sleep(0.2)
            again = stub.Await(pb.AwaitRequest(key=keys[3], heartbeat_interval_ms=1000))
            assert (await _first(again)).HasField("heartbeat")
            for call in [*calls, other_call, again]:
                call.cancel()
        await _still_writes(client)


async def test_a_watch_reader_that_falls_behind_is_ended_and_resumes_from_its_cursor(
    start_server: Callable[..., Any],
) -> None:
    streams = StreamsConfig(max_queued_responses=1000, max_queued_bytes=1 << 20)
    async with start_server(streams=streams) as running, await Client.connect(running.target) as client:
        keys = [await client.mint_key(SCOPE, CustomWait(f"slow-{i}")) for i in range(120)]
        async with grpc.aio.insecure_channel(running.target) as channel:
            stub = pb_grpc.AwaitEventsStub(channel)
            requests: asyncio.Queue[pb.WatchRequest | None] = asyncio.Queue()

            async def feed() -> Any:
                while (request := await requests.get()) is not None:
                    yield request

            call = stub.Watch(feed())
            await requests.put(pb.WatchRequest(add_keys=[key_to_proto(k) for k in keys]))
            assert (await call.read()).HasField("ack")
            # Never read while 120 terminals of 256 KiB each arrive: far past the 1 MiB bound.
            big = "x" * (256 * 1024)
            for key in keys:
                await client.resolve(key, Ok(big))
            seen: dict[str, int] = {}
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        break
                    if response.HasField("terminal"):
                        seen[response.terminal.key_id] = response.terminal.cursor
            assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            from tests.integration.codes import PROVOKED
            from tests.integration.test_bad_input import _error_info

            assert _error_info(ended.value) == "stream_too_slow"
            PROVOKED.add("stream_too_slow")
            assert len(seen) < len(keys)
            await requests.put(None)
        # Resuming: the SDK re-adds what it has not seen and gets every remaining terminal once.
        rest = [k for k in keys if k.key_id not in seen]
        delivered = []
        async for event in client.watch(rest):
            delivered.append(event.key_id)
            if len(delivered) == len(rest):
                break
        assert sorted(delivered) == sorted(k.key_id for k in rest)
        await _still_writes(client)


async def test_caller_text_in_logs_is_escaped_and_truncated(
    client: Client, channel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stub = pb_grpc.AwaitEventsStub(channel)
    key = key_to_proto(await client.mint_key(SCOPE, CustomWait("log")))
    forged = scope_pb2.AwaitEventKey()
    forged.CopyFrom(key)
    forged.key_id = 'abc\n{"event": "forged"}' + "y" * 5000
    caplog.set_level(logging.INFO)
    response = await stub.Resolve(pb.ResolveRequest(key=forged, resolution=resolution_to_proto(Ok(1))))
    assert response.outcome.HasField("unknown_or_revoked")
    lines = [record.getMessage() for record in caplog.records]
    refused = [line for line in lines if "resolve refused" in line]
    assert refused, lines
    for line in lines:
        assert "\n" not in line
        assert len(line) < 2000
    assert any("abc\\n" in line for line in refused)


async def test_the_server_start_line_holds_no_password(caplog: pytest.LogCaptureFixture) -> None:
    await require_postgres()
    async with fresh_schema() as url:
        secret_url = url.replace("postgresql://postgres@", "postgresql://postgres:not-a-real-password@")
        caplog.set_level(logging.INFO, logger="effectd.server")
        async with serve(ServerConfig(listen="127.0.0.1:0", store=StoreConfig(secret_url))):
            pass
    lines = [record.getMessage() for record in caplog.records if record.name == "effectd.server"]
    assert any("listening" in line for line in lines), lines
    assert not any("not-a-real-password" in line for line in lines), lines


async def test_an_error_quoting_huge_caller_text_keeps_its_code(server: RunningServer) -> None:
    """The message quotes the caller's kid; unbounded, it overflowed the client's metadata limit and the
    caller saw RESOURCE_EXHAUSTED without the error's code."""
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.KeyringStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.RetireSigningKey(pb.RetireSigningKeyRequest(kid="k" * 70_000))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert len(raised.value.details() or "") < 1_100 and "more characters" in (raised.value.details() or "")
        await expect_error(
            stub.RetireSigningKey(pb.RetireSigningKeyRequest(kid="k" * 70_000)),
            grpc.StatusCode.NOT_FOUND,
            "signing_key_not_found",
        )
