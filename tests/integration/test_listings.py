"""Listing what is there (issue 12 §1): sessions with their key counts, a session's pending keys with
tokens that resolve, and the journal's most recently updated scopes, on both backends."""

from __future__ import annotations

import pytest
from effectd import (
    CustomWait,
    DurableStepCommand,
    InvalidArgumentError,
    LocalExecutor,
    Ok,
    RemoteEffectController,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    TurnScope,
)
from effectd._client import Client

from tests.integration.codes import provoked


async def test_sessions_most_recent_first_with_counts(client: Client) -> None:
    assert await client.list_sessions() == []
    first = await client.mint_key(TurnScope("list-a", "t"), CustomWait("1"))
    await client.mint_key(TurnScope("list-a", "t"), CustomWait("2"))
    await client.mint_key(TurnScope("list-b", "t"), CustomWait("1"))
    await client.resolve(first, Ok(1))  # list-a is the most recently active
    revoked = await client.mint_key(TurnScope("list-c", "t"), CustomWait("1"))
    await client.revoke_session("list-c")
    del revoked
    sessions = {s.session_id: s for s in await client.list_sessions()}
    assert (sessions["list-a"].pending, sessions["list-a"].resolved, sessions["list-a"].revoked) == (1, 1, False)
    assert (sessions["list-b"].pending, sessions["list-b"].resolved) == (1, 0)
    assert sessions["list-c"].revoked
    ordered = [s.session_id for s in await client.list_sessions()]
    assert ordered.index("list-a") < ordered.index("list-b")
    assert [s.session_id for s in await client.list_sessions(limit=1)] == [ordered[0]]


async def test_pending_keys_come_with_tokens_that_resolve(client: Client) -> None:
    scope = TurnScope("pending-session", "t")
    a = await client.mint_key(scope, CustomWait("a"))
    b = await client.mint_key(scope, CustomWait("b"))
    await client.mint_key(TurnScope("other-session", "t"), CustomWait("a"))
    await client.resolve(a, Ok("done"))
    pending = await client.list_pending_keys("pending-session")
    assert [p.key.key_id for p in pending] == [b.key_id]
    assert pending[0].deadline_unix_ms is None and pending[0].created_at_unix_ms > 0
    # The listed key (signed again by the active signing key) is the same key: it resolves b.
    assert await client.resolve(pending[0].key.token, Ok(2)) is not None
    assert await client.await_event(b, timeout=5) == Ok(2)
    assert await client.list_pending_keys("pending-session") == []
    # A revoked session has nothing pending: every resolve of its keys answers unknown_or_revoked.
    await client.mint_key(TurnScope("pending-revoked", "t"), CustomWait("x"))
    await client.revoke_session("pending-revoked")
    assert await client.list_pending_keys("pending-revoked") == []


async def test_listing_limits_are_checked(client: Client) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        await client.list_sessions(limit=1001)
    assert raised.value.code == provoked("value_out_of_range")
    with pytest.raises(InvalidArgumentError) as raised:
        await client.list_pending_keys(" ")
    assert raised.value.code == "missing_session_id"


async def test_recent_scopes_of_the_journal(client: Client) -> None:
    controller = RemoteEffectController(client)
    assert await controller.list_scopes() == []
    for turn in ("t1", "t2"):
        for step in ("a", "b"):
            envelope = RuntimeEffectEnvelope(
                RuntimeInvocation.effect(
                    RuntimeScope("scopes-session"), step, RuntimeEffectKind.DURABLE_STEP, f"{turn}:{step}"
                ),
                DurableStepCommand(step, {}),
            )
            await controller.execute_effect(
                TurnScope("scopes-session", turn), envelope, LocalExecutor.durable_step(lambda v: v)
            )
    scopes = await controller.list_scopes()
    assert {s.scope for s in scopes} == {TurnScope("scopes-session", "t2"), TurnScope("scopes-session", "t1")}
    assert [s.effects for s in scopes] == [2, 2]
    assert scopes[0].updated_at_unix_ms >= scopes[1].updated_at_unix_ms  # most recently updated first
    if scopes[0].updated_at_unix_ms > scopes[1].updated_at_unix_ms:
        assert scopes[0].scope == TurnScope("scopes-session", "t2")
    assert len(await controller.list_scopes(limit=1)) == 1
