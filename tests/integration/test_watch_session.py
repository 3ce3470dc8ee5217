"""A Watch stream's logic without gRPC: the core, a real store, and WatchSession fed directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from effectd import CustomWait, Ok, TurnScope
from effectd._errors import ResourceExhaustedError
from effectd_server.await_events.core import AwaitEventCore
from effectd_server.await_events.hub import Hub
from effectd_server.await_events.keyring import Keyring
from effectd_server.await_events.watch import WatchAck, WatchRejection, WatchSession, WatchTerminalEvent
from effectd_server.store.await_events import await_events_store
from effectd_server.store.sqlite import SqliteBackend

SCOPE = TurnScope("s", "t")


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[AwaitEventCore]:
    backend = SqliteBackend(tmp_path / "watch.db")
    await backend.open()
    store = await_events_store(backend)
    await store.open()
    keyring = Keyring(store)
    await keyring.load()
    core = AwaitEventCore(store, keyring, Hub())
    await core.start()
    yield core
    await core.stop()
    await backend.close()


def _drain(session: WatchSession) -> list[object]:
    answers = []
    while (answer := session.take()) is not None:
        answers.append(answer)
    return answers


async def test_terminals_before_and_after_adding_revocations_and_removals(core: AwaitEventCore) -> None:
    done, pending, removed = [await core.mint(SCOPE, CustomWait(name)) for name in ("done", "pending", "removed")]
    await core.resolve(done, Ok("early"))
    session = WatchSession(core, max_keys=10, max_queued=100, max_queued_bytes=1 << 20)
    await session.apply([done, pending, removed], [])
    first = _drain(session)
    assert isinstance(first[0], WatchTerminalEvent) and first[0].resolution == Ok("early")
    assert first[-1] == WatchAck(added=3, removed=0)
    await session.apply([], [removed.key_id])
    assert _drain(session) == [WatchAck(added=0, removed=1)]
    await core.resolve(removed, Ok("unseen"))
    await core.resolve(pending, Ok("late"))
    late = _drain(session)
    assert [(a.key_id, a.resolution) for a in late if isinstance(a, WatchTerminalEvent)] == [
        (pending.key_id, Ok("late"))
    ]
    assert session.idle()


async def test_a_revoked_session_rejects_its_watched_keys(core: AwaitEventCore) -> None:
    key = await core.mint(TurnScope("doomed", "t"), CustomWait("k"))
    session = WatchSession(core, max_keys=10, max_queued=100, max_queued_bytes=1 << 20)
    await session.apply([key], [])
    _drain(session)
    await core.revoke_session("doomed")
    [rejection] = _drain(session)
    assert isinstance(rejection, WatchRejection) and rejection.code == "await_event_unknown_or_revoked"


async def test_a_reader_that_falls_behind_ends_with_stream_too_slow(core: AwaitEventCore) -> None:
    keys = [await core.mint(SCOPE, CustomWait(f"k{i}")) for i in range(20)]
    session = WatchSession(core, max_keys=100, max_queued=10, max_queued_bytes=1 << 20)
    await session.apply(keys, [])
    assert _drain(session) == [WatchAck(added=20, removed=0)]
    for key in keys:  # pushed by the hub while nobody takes: past the bound of 10
        await core.resolve(key, Ok(1))
    with pytest.raises(ResourceExhaustedError) as ended:
        session.take()
    assert ended.value.code == "stream_too_slow"


async def test_a_large_snapshot_waits_for_the_reader_instead_of_overflowing(core: AwaitEventCore) -> None:
    import asyncio

    keys = [await core.mint(SCOPE, CustomWait(f"s{i}")) for i in range(50)]
    for key in keys:
        await core.resolve(key, Ok(2))
    session = WatchSession(core, max_keys=100, max_queued=10, max_queued_bytes=1 << 20)
    adding = asyncio.ensure_future(session.apply(keys, []))
    seen: list[object] = []
    while not adding.done() or session.has_answer():
        answer = session.take()
        if answer is None:
            await asyncio.sleep(0)
        else:
            seen.append(answer)
    await adding
    assert len([a for a in seen if isinstance(a, WatchTerminalEvent)]) == 50
