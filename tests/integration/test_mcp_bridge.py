"""The MCP bridge against a real MCP server over stdio (tests/mcp_counting_server.py), no mocks.

The server writes every call it receives (and every cancellation, and every start) to a file, so each
test can say what reached the server and how often.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from effectd import RuntimeScope, TurnScope, into_tool_call
from effectd._client import Client
from effectd._controller import RemoteEffectController
from effectd._lashjson import dumps
from effectd._lineage import PreparedToolCall
from effectd._process import ToolFailureClass
from effectd.mcp import (
    InvalidToolArgumentsError,
    McpBridge,
    McpServerSpec,
    McpServerUnavailableError,
    McpTool,
    ToolCallOutput,
    ToolEffects,
    ToolFailure,
    ToolProgress,
    completed_tool_call,
)

from tests.integration.codes import provoked

SERVER = str(Path(__file__).resolve().parent.parent / "mcp_counting_server.py")
BUILTIN = ["echo", "fail", "add", "progress", "wait_cancel", "crash", "add_tool"]


def counting(name: str, count_file: Path, *extra: str) -> McpServerSpec:
    return McpServerSpec.stdio(name, sys.executable, SERVER, "--name", name, "--count-file", str(count_file), *extra)


def events(count_file: Path, event: str | None = None) -> list[dict[str, Any]]:
    if not count_file.exists():
        return []
    lines = [json.loads(line) for line in count_file.read_text().splitlines() if line]
    return [line for line in lines if event is None or line["event"] == event]


def calls(count_file: Path, tool: str | None = None) -> list[dict[str, Any]]:
    return [line for line in events(count_file, "call") if tool is None or line["tool"] == tool]


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait until `check()` holds; fail after 20 s. It polls: what it reads is a file another process writes."""
    try:
        async with asyncio.timeout(20):
            while not check():  # noqa: ASYNC110 (no event to wait on across processes)
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"still waiting: {what}")


class ToolSets:
    """Collects what `on_tools_changed` delivers."""

    def __init__(self) -> None:
        self.seen: list[tuple[McpTool, ...]] = []
        self._queue: asyncio.Queue[tuple[McpTool, ...]] = asyncio.Queue()

    async def __call__(self, tools: tuple[McpTool, ...]) -> None:
        self.seen.append(tools)
        self._queue.put_nowait(tools)

    async def until(self, check: Callable[[list[str]], bool]) -> list[str]:
        async with asyncio.timeout(20):
            while True:
                names = [tool.name for tool in await self._queue.get()]
                if check(names):
                    return names


@pytest.fixture
def count_file(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


@pytest.fixture
async def bridge(count_file: Path) -> AsyncIterator[McpBridge]:
    async with McpBridge([counting("counting", count_file, "--version", "2.5.0")], restart_backoff=0.1) as running:
        yield running


def output_of(outcome: Any) -> dict[str, Any]:
    completed = into_tool_call(outcome)
    assert isinstance(completed, dict)
    output: dict[str, Any] = completed["output"]
    return output


# -- servers by spec --------------------------------------------------------------------------------


def test_a_spec_is_a_command_or_a_url() -> None:
    stdio = McpServerSpec.parse("files=npx -y server-files '/tmp/a b'")
    assert (stdio.name, stdio.transport, stdio.command, stdio.args) == (
        "files",
        "stdio",
        "npx",
        ("-y", "server-files", "/tmp/a b"),
    )
    http = McpServerSpec.parse("search=https://mcp.example/mcp")
    assert (http.name, http.transport, http.url) == ("search", "http", "https://mcp.example/mcp")
    for bad in ("files", "=npx", "files=", "a.b=npx", "files=npx 'open", "x=http://a b"):
        with pytest.raises(ValueError):
            McpServerSpec.parse(bad)


def test_server_names_are_unique() -> None:
    spec = McpServerSpec.parse("a=true")
    with pytest.raises(ValueError, match="unique"):
        McpBridge([spec, spec])


# -- listing ----------------------------------------------------------------------------------------


async def test_tools_are_listed_across_pages_with_the_server_version_and_schemas(bridge: McpBridge) -> None:
    assert [tool.name for tool in bridge.tools] == BUILTIN  # two per page: the cursor was followed
    add = bridge.tool("add")
    assert add is not None
    assert (add.server, add.server_tool, add.version) == ("counting", "add", "2.5.0")
    assert add.input_schema["required"] == ["a", "b"]
    assert add.output_schema is not None and add.output_schema["required"] == ["sum"]
    status = bridge.status()[0]
    assert (status.connected, status.version, status.tools, status.restarts) == (True, "2.5.0", 7, 0)


# -- replies mapped to the recorded outcome ---------------------------------------------------------


async def test_a_success_answers_lashs_completed_tool_call(bridge: McpBridge, count_file: Path) -> None:
    outcome = await bridge.call_tool("echo", {"text": "hi"}, call_id="call-1")
    completed = into_tool_call(outcome)
    assert isinstance(completed["duration_ms"], int) and completed["duration_ms"] >= 0
    completed["duration_ms"] = 0
    assert completed == {
        "call_id": "call-1",
        "tool_name": "echo",
        "args": {"text": "hi"},
        "output": {"outcome": {"status": "success", "payload": [{"type": "text", "text": "hi"}]}},
        "model_return": {
            "call_id": "call-1",
            "tool_name": "echo",
            "parts": [{"type": "text", "text": '[{"text":"hi","type":"text"}]'}],
        },
        "duration_ms": 0,
        "replay": None,
    }
    assert calls(count_file) == [{"event": "call", "tool": "echo", "arguments": {"text": "hi"}}]


async def test_structured_content_when_the_tool_declares_an_output_schema(bridge: McpBridge) -> None:
    outcome = await bridge.call_tool("add", {"a": 40, "b": 2})
    assert output_of(outcome) == {"outcome": {"status": "success", "payload": {"sum": 42}}}
    assert into_tool_call(outcome)["model_return"]["parts"] == [{"type": "text", "text": '{"sum":42}'}]


async def test_a_result_marked_as_an_error_is_the_tools_failure(bridge: McpBridge) -> None:
    outcome = await bridge.call_tool("fail", {"reason": "disk full"})
    payload = output_of(outcome)["outcome"]
    assert payload["status"] == "failure"
    failure = payload["payload"]
    assert (failure["class"], failure["code"], failure["message"]) == (
        "execution",
        "mcp_tool_error",
        "it broke: disk full",
    )
    assert (failure["source"], failure["retry"]) == ("tool", {"type": "never"})
    assert failure["raw"]["isError"] is True
    assert failure["raw"]["content"] == [{"type": "text", "text": "it broke: disk full"}]
    parts = into_tool_call(outcome)["model_return"]["parts"]
    assert parts == [{"type": "text", "text": "[Tool execution failed]\nit broke: disk full"}]


async def test_arguments_against_the_schema_are_refused_and_nothing_is_sent(
    bridge: McpBridge, count_file: Path
) -> None:
    with pytest.raises(InvalidToolArgumentsError) as raised:
        await bridge.call_tool("add", {"a": "forty", "b": 2})
    assert raised.value.code == provoked("invalid_tool_arguments")
    assert raised.value.status is grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.schema_error == {
        "message": "'forty' is not of type 'integer'",
        "path": "/a",
        "schema_path": "/properties/a/type",
        "validator": "type",
    }
    assert "/a" in raised.value.message
    with pytest.raises(InvalidToolArgumentsError, match="'b' is a required property"):
        await bridge.call_tool("add", {"a": 1})
    with pytest.raises(InvalidToolArgumentsError, match="JSON object"):
        await bridge.call_tool("add", [1, 2])
    await bridge.call_tool("echo", {"text": "after"})  # the server is there: it saw only this call
    assert [call["tool"] for call in calls(count_file)] == ["echo"]


async def test_an_unknown_tool_is_unavailable_not_an_answer(bridge: McpBridge) -> None:
    with pytest.raises(McpServerUnavailableError, match="no connected MCP server offers tool 'nope'"):
        await bridge.call_tool("nope", {})


# -- progress and cancellation ----------------------------------------------------------------------


async def test_progress_notifications_reach_on_progress_in_order(bridge: McpBridge) -> None:
    received: list[ToolProgress] = []

    async def on_progress(progress: ToolProgress) -> None:
        received.append(progress)

    outcome = await bridge.call_tool("progress", {"steps": 5}, on_progress=on_progress)
    assert received == [ToolProgress(float(step), 5.0, f"step {step}") for step in range(1, 6)]
    assert received[0].to_json() == {"progress": 1.0, "total": 5.0, "message": "step 1"}
    assert output_of(outcome)["outcome"]["status"] == "success"


async def test_a_cancel_sends_the_mcp_cancellation_to_the_server(bridge: McpBridge, count_file: Path) -> None:
    cancel = asyncio.Event()
    call = asyncio.create_task(bridge.call_tool("wait_cancel", {}, cancel=cancel))
    await eventually(lambda: bool(calls(count_file, "wait_cancel")), "the call reached the server")
    cancel.set()
    outcome = await call
    assert output_of(outcome) == {
        "outcome": {
            "status": "cancelled",
            "payload": {"message": "the tool call was cancelled", "source": "cancellation"},
        }
    }
    await eventually(lambda: bool(events(count_file, "cancelled")), "the server saw the cancellation")
    assert events(count_file, "cancelled") == [{"event": "cancelled", "tool": "wait_cancel"}]


async def test_a_cancelled_caller_task_cancels_the_call_on_the_server(bridge: McpBridge, count_file: Path) -> None:
    call = asyncio.create_task(bridge.call_tool("wait_cancel", {}))
    await eventually(lambda: bool(calls(count_file, "wait_cancel")), "the call reached the server")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await eventually(lambda: bool(events(count_file, "cancelled")), "the server saw the cancellation")


async def test_a_cancel_set_before_the_call_sends_nothing(bridge: McpBridge, count_file: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    outcome = await bridge.call_tool("echo", {"text": "x"}, cancel=cancel)
    assert output_of(outcome)["outcome"]["status"] == "cancelled"
    assert calls(count_file) == []


async def test_a_server_that_does_not_answer_in_time_is_an_executor_error(bridge: McpBridge, count_file: Path) -> None:
    with pytest.raises(McpServerUnavailableError, match=r"did not answer 'wait_cancel' within 0\.3s") as raised:
        await bridge.call_tool("wait_cancel", {}, timeout=0.3)
    assert raised.value.code == provoked("mcp_server_unavailable")
    assert raised.value.status is grpc.StatusCode.UNAVAILABLE
    await eventually(lambda: bool(events(count_file, "cancelled")), "the timed-out call was cancelled on the server")
    outcome = await bridge.call_tool("echo", {"text": "still here"})  # a slow call is not a dead server
    assert output_of(outcome)["outcome"]["status"] == "success"
    assert bridge.status()[0].restarts == 0


# -- supervision ------------------------------------------------------------------------------------


async def test_a_crashed_server_fails_the_call_as_an_executor_error_and_is_restarted(count_file: Path) -> None:
    tool_sets = ToolSets()
    spec = counting("counting", count_file)
    async with McpBridge([spec], on_tools_changed=tool_sets, restart_backoff=0.1) as bridge:
        assert [tool.name for tool in tool_sets.seen[-1]] == BUILTIN
        with pytest.raises(McpServerUnavailableError, match="went away during the call of 'crash'") as raised:
            await bridge.call_tool("crash", {})
        assert raised.value.server == "counting"
        with pytest.raises(McpServerUnavailableError):
            await bridge.call_tool("echo", {"text": "while down"})
        await tool_sets.until(lambda names: names == [])  # the tools of a server that is down are withdrawn
        await tool_sets.until(lambda names: names == BUILTIN)  # and offered again once it is back
        assert bridge.status()[0].restarts == 1
        outcome = await bridge.call_tool("echo", {"text": "back"})
        assert output_of(outcome)["outcome"]["status"] == "success"
    assert len(events(count_file, "start")) == 2
    assert [call["tool"] for call in calls(count_file)] == ["crash", "echo"]


async def test_a_server_that_cannot_start_is_retried_and_offers_nothing(tmp_path: Path, count_file: Path) -> None:
    tool_sets = ToolSets()
    missing = McpServerSpec.stdio("missing", str(tmp_path / "no-such-server"))
    specs = [missing, counting("counting", count_file)]
    async with McpBridge(specs, on_tools_changed=tool_sets, restart_backoff=0.05, restart_backoff_max=0.2) as bridge:
        assert [tool.name for tool in tool_sets.seen[-1]] == BUILTIN  # the other server is served
        down = bridge.status()[0]
        assert (down.name, down.connected, down.tools) == ("missing", False, 0)
        assert down.last_error is not None and "FileNotFoundError" in down.last_error
        await eventually(lambda: bridge.status()[0].restarts >= 2, "the missing server is tried again")
    assert tool_sets.seen[-1] == ()  # closing withdraws every tool


@pytest.mark.parametrize("era", ["2026", "handshake"])
async def test_a_tool_added_while_running_is_followed(count_file: Path, era: str) -> None:
    tool_sets = ToolSets()
    extra = ("--legacy",) if era == "handshake" else ()
    async with McpBridge([counting("counting", count_file, *extra)], on_tools_changed=tool_sets) as bridge:
        expected_protocol = "2026-07-28" if era == "2026" else "2025-11-25"
        assert bridge.status()[0].protocol_version == expected_protocol
        await bridge.call_tool("add_tool", {"name": "late"})
        assert await tool_sets.until(lambda names: "late" in names) == [*BUILTIN, "late"]
        outcome = await bridge.call_tool("late", {"text": "new"})
        assert output_of(outcome)["outcome"]["payload"] == [{"type": "text", "text": "new"}]
        with pytest.raises(InvalidToolArgumentsError):  # its input schema came with it
            await bridge.call_tool("late", {"text": 1})
    assert calls(count_file, "late") == [{"event": "call", "tool": "late", "arguments": {"text": "new"}}]


async def test_two_servers_with_prefixes_route_by_tool_name(tmp_path: Path) -> None:
    alpha, beta = tmp_path / "alpha.jsonl", tmp_path / "beta.jsonl"
    specs = [counting("alpha", alpha), counting("beta", beta)]
    async with McpBridge(specs, prefix=True) as bridge:
        names = [tool.name for tool in bridge.tools]
        assert names == [f"alpha.{name}" for name in BUILTIN] + [f"beta.{name}" for name in BUILTIN]
        beta_echo = bridge.tool("beta.echo")
        assert beta_echo is not None and (beta_echo.server, beta_echo.server_tool) == ("beta", "echo")
        outcome = await bridge.call_tool("beta.echo", {"text": "to beta"})
        assert into_tool_call(outcome)["tool_name"] == "beta.echo"
        await bridge.call_tool("alpha.add", {"a": 1, "b": 1})
        with pytest.raises(McpServerUnavailableError):
            await bridge.call_tool("echo", {"text": "which?"})
    assert [call["tool"] for call in calls(beta)] == ["echo"]
    assert [call["tool"] for call in calls(alpha)] == ["add"]


async def test_without_prefixes_the_first_server_serves_a_shared_name(tmp_path: Path) -> None:
    alpha, beta = tmp_path / "alpha.jsonl", tmp_path / "beta.jsonl"
    async with McpBridge([counting("alpha", alpha), counting("beta", beta)]) as bridge:
        assert [tool.name for tool in bridge.tools] == BUILTIN
        echo = bridge.tool("echo")
        assert echo is not None and echo.server == "alpha"
        await bridge.call_tool("echo", {"text": "x"})
    assert len(calls(alpha)) == 1 and calls(beta) == []


async def test_a_streamable_http_server_by_url(tmp_path: Path, count_file: Path) -> None:
    port_file = tmp_path / "port"
    process = await asyncio.create_subprocess_exec(
        sys.executable, SERVER, "--count-file", str(count_file), "--http-port-file", str(port_file)
    )
    try:
        await eventually(port_file.exists, "the HTTP server is listening")
        tool_sets = ToolSets()
        spec = McpServerSpec.parse(f"web=http://127.0.0.1:{port_file.read_text()}/mcp")
        async with McpBridge([spec], on_tools_changed=tool_sets, restart_backoff=0.1) as bridge:
            assert [tool.name for tool in bridge.tools] == BUILTIN
            received: list[ToolProgress] = []

            async def on_progress(progress: ToolProgress) -> None:
                received.append(progress)

            outcome = await bridge.call_tool("progress", {"steps": 2}, on_progress=on_progress)
            assert output_of(outcome)["outcome"]["payload"] == [{"type": "text", "text": "done"}]
            assert [progress.progress for progress in received] == [1.0, 2.0]
            await bridge.call_tool("add_tool", {"name": "late"})
            await tool_sets.until(lambda names: "late" in names)
            process.kill()
            await process.wait()
            with pytest.raises(McpServerUnavailableError):
                await bridge.call_tool("echo", {"text": "gone"})
            await tool_sets.until(lambda names: names == [])
            assert not bridge.status()[0].connected
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert [call["tool"] for call in calls(count_file)] == ["progress", "add_tool"]


# -- through the journal ----------------------------------------------------------------------------


async def test_tool_effects_call_once_and_replay_the_recorded_outcome(
    client: Client, bridge: McpBridge, count_file: Path, scope: TurnScope
) -> None:
    controller = RemoteEffectController(client, lease_ttl=5.0)
    scoped = controller.scoped(scope)
    effects = ToolEffects(scoped, RuntimeScope(scope.session_id, scope.turn_id, 0, 0))
    first = await effects.call_tool("add", {"a": 2, "b": 3}, replay_key="r1", executor=bridge.local_executor())
    replayed = await effects.call_tool("add", {"a": 2, "b": 3}, replay_key="r1", executor=bridge.local_executor())
    assert dumps(replayed) == dumps(first)  # byte for byte, duration included
    assert into_tool_call(first)["output"]["outcome"]["payload"] == {"sum": 5}
    assert into_tool_call(first)["call_id"] == "r1"
    assert len(calls(count_file, "add")) == 1

    # Not answers, so not recorded: refused arguments and a server that went away.
    with pytest.raises(InvalidToolArgumentsError):
        await effects.call_tool("add", {"a": "x", "b": 3}, replay_key="r2", executor=bridge.local_executor())
    with pytest.raises(McpServerUnavailableError):
        await effects.call_tool("crash", {}, replay_key="r3", executor=bridge.local_executor())
    for replay_key in ("r2", "r3"):
        record = await controller.get_effect(scope, replay_key)
        assert (record.status.value, record.outcome, record.executor_error) == ("in_progress", None, None)
        assert record.lease_owner_id is None  # released: the next execution runs it
    assert len(calls(count_file, "add")) == 1


async def test_progress_and_cancel_through_the_local_executor(
    client: Client, bridge: McpBridge, count_file: Path, scope: TurnScope
) -> None:
    effects = ToolEffects(RemoteEffectController(client).scoped(scope), RuntimeScope(scope.session_id))
    received: list[float] = []

    async def on_progress(progress: ToolProgress) -> None:
        received.append(progress.progress)

    executor = bridge.local_executor(on_progress=on_progress)
    await effects.call_tool("progress", {"steps": 3}, replay_key="p1", executor=executor)
    assert received == [1.0, 2.0, 3.0]
    cancel = asyncio.Event()
    call = asyncio.create_task(
        effects.call_tool("wait_cancel", {}, replay_key="p2", executor=bridge.local_executor(cancel=cancel))
    )
    await eventually(lambda: bool(calls(count_file, "wait_cancel")), "the call reached the server")
    cancel.set()
    assert output_of(await call)["outcome"]["status"] == "cancelled"
    await eventually(lambda: bool(events(count_file, "cancelled")), "the server saw the cancellation")


# -- lash's shapes ----------------------------------------------------------------------------------


def test_tool_values_escape_lashs_reserved_key_and_render_for_the_model() -> None:
    call = PreparedToolCall("c", "t", {"q": 1})
    value = {"$lash_tool_value": "x", "b": [1.5, "s", None, 10**20]}
    outcome = completed_tool_call(call, ToolCallOutput.success(value), 7)
    completed = into_tool_call(outcome)
    assert completed["output"]["outcome"]["payload"] == {
        "$lash_tool_value": "object",
        "entries": {"$lash_tool_value": "x", "b": [1.5, "s", None, 10**20]},
    }
    text = '{"$lash_tool_value":"x","b":[1.5,"s",null,1e20]}'  # past u64, serde_json holds an f64
    assert completed["model_return"]["parts"] == [{"type": "text", "text": text}]
    plain = into_tool_call(completed_tool_call(call, ToolCallOutput.success("just text"), 0))
    assert plain["model_return"]["parts"] == [{"type": "text", "text": "just text"}]
    empty = into_tool_call(completed_tool_call(call, ToolCallOutput.success(""), 0))
    assert empty["model_return"]["parts"] == []
    failure = ToolFailure(ToolFailureClass.EXECUTION, "code", "")
    failed = into_tool_call(completed_tool_call(call, ToolCallOutput.failure(failure), 0))
    assert failed["output"] == {
        "outcome": {
            "status": "failure",
            "payload": {
                "class": "execution",
                "code": "code",
                "message": "",
                "source": "tool",
                "retry": {"type": "never"},
            },
        }
    }
    assert failed["model_return"]["parts"] == [{"type": "text", "text": "[Tool execution failed]"}]


def test_the_public_surface_of_effectd_mcp() -> None:
    import effectd.mcp

    assert sorted(effectd.mcp.__all__) == [
        "CompletedToolCall",
        "InvalidToolArgumentsError",
        "McpBridge",
        "McpServerSpec",
        "McpServerStatus",
        "McpServerUnavailableError",
        "McpTool",
        "McpWorkerTools",
        "ModelToolReturn",
        "ToolCallOutput",
        "ToolCancellation",
        "ToolCancelled",
        "ToolEffects",
        "ToolFailed",
        "ToolFailure",
        "ToolFailureSource",
        "ToolProgress",
        "ToolSuccess",
        "completed_tool_call",
        "tool_value",
    ]
