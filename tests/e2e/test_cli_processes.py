"""`effectd processes ...` against a server subprocess: JSON out, exit codes as the other commands."""

from __future__ import annotations

import asyncio

from effectd import (
    ExternalProcessInput,
    HostOriginator,
    ProcessAwaitSuccess,
    ProcessEventType,
    ProcessProvenance,
    ProcessRegistration,
    ProcessScope,
    ProcessSignalWait,
    RemoteProcessRegistry,
    SessionScope,
    SignalWait,
    WaitState,
)
from effectd._client import Client

from .conftest import Cli
from .test_cli import ok, one_line_error


def registration(pid: str) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=ExternalProcessInput(),
        event_types=(ProcessEventType("signal.ready"),),
        provenance=ProcessProvenance(HostOriginator(), "cli-host"),
    )


async def test_processes_commands(cli: Cli, client: Client) -> None:
    registry = RemoteProcessRegistry(client)
    await registry.register_process(registration("job-1"))
    await registry.register_process(registration("job-2"))
    await registry.grant_handle(SessionScope("s1"), "job-1")
    await registry.set_process_wait(
        "job-2", WaitState(SignalWait("ready", "signal.ready", "process:job-2:signal.ready:1", 1), 1)
    )

    listed = await cli("processes", "ls")
    assert [r["id"] for r in listed.json_lines()] == ["job-1", "job-2"]
    waiting = await cli("processes", "ls", "--waiting")
    assert [r["id"] for r in waiting.json_lines()] == ["job-2"]
    shown = ok(await cli("processes", "show", "job-1"))
    assert shown["id"] == "job-1" and shown["status"] == {"state": "running"}
    one_line_error(await cli("processes", "show", "nope"), 1, "process_unknown")

    signalled = ok(await cli("processes", "signal", "job-1", "ready", "--payload", '{"go":1}', "--signal-id", "a"))
    assert signalled["event"]["sequence"] == 1 and not signalled["replayed"]
    key = await client.mint_key(ProcessScope("job-1"), ProcessSignalWait("job-1", "ready", 1))
    assert signalled["resolved_key_id"] == key.key_id
    again = ok(await cli("processes", "signal", "job-1", "ready", "--payload", '{"go":1}', "--signal-id", "a"))
    assert again["replayed"] and again["resolved_key_id"] == ""

    cancelled = ok(await cli("processes", "cancel", "job-1", "--reason", "enough"))
    assert cancelled["status"] == {"state": "running"}
    events = (await cli("processes", "events", "job-1")).json_lines()
    assert [e["event_type"] for e in events] == ["signal.ready", "process.cancel_requested"]
    after = (await cli("processes", "events", "job-1", "--after", "1")).json_lines()
    assert [e["sequence"] for e in after] == [2]

    grants = (await cli("processes", "grants", "--session", "s1")).json_lines()
    assert [(g["grant"]["process_id"], g["record"]["id"]) for g in grants] == [("job-1", "job-1")]

    follow = asyncio.ensure_future(cli("processes", "events", "job-1", "--after", "2", "--follow"))
    waiter = asyncio.ensure_future(cli("processes", "await", "job-1"))
    await asyncio.sleep(0.5)
    assert not follow.done() and not waiter.done()
    await registry.complete_process("job-1", ProcessAwaitSuccess({"answer": 42}))
    assert ok(await waiter) == {"type": "success", "value": {"answer": 42}}
    followed = (await follow).json_lines()
    assert [e["event_type"] for e in followed] == ["process.completed"]


async def test_processes_usage_errors(cli: Cli) -> None:
    one_line_error(await cli("processes", "ls", "--status", "sleeping"), 2, "--status")
    one_line_error(await cli("processes", "signal", "p", "ready", "--payload", "{nope"), 2, "--payload")
    one_line_error(await cli("processes", "signal", "p", "bad name", "--payload", "{}"), 2, "invalid_request")
    one_line_error(await cli("processes", "events", "p", "--after", "-1"), 2, "--after")
    one_line_error(await cli("processes", "await", "missing"), 1, "process_unknown")
