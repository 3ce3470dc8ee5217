"""MCP tools served by workers, end to end: `effectd serve`, `effectd worker run --mcp NAME=COMMAND...`
subprocesses each running tests/mcp_counting_server.py over stdio, and runtimes calling the tools through
effectd (the test itself, or tests/e2e/mcp_runtime.py as a process killed with -9).

The counting server writes every call it receives (and every cancellation and start) to its count file,
so each test can say what reached the server and how often.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from effectd import (
    ExecutorError,
    LocalExecutor,
    RemoteEffectController,
    RemoteWorkers,
    RuntimeScope,
    ToolEffects,
    TurnScope,
    into_tool_call,
)
from effectd._client import Client
from effectd._lashjson import dumps

from tests.e2e.conftest import EFFECTD, ServerProcess, SpawnServer, clean_env, eventually, run_cli
from tests.e2e.mcp_runtime import CALLS
from tests.e2e.mcp_runtime import SCOPE as RUNTIME_SCOPE

REPO = Path(__file__).resolve().parents[2]
COUNTING = REPO / "tests" / "mcp_counting_server.py"
SCOPE = TurnScope("mcp-workers", "turn-1")
RUNTIME = RuntimeScope("mcp-workers", "turn-1", 0, 0)
BUILTIN = ["add", "add_tool", "crash", "echo", "fail", "progress", "wait_cancel"]
LISTING_ORDER = ["echo", "fail", "add", "progress", "wait_cancel", "crash", "add_tool"]
"""The counting server's tools in its listing order (what the worker's `tools` lines show)."""


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@dataclass
class McpWorker:
    worker_id: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    count_file: Path

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_lines(self.count_file) if e["event"] == "call" and tool in (None, e["tool"])]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [e for e in read_lines(self.count_file) if e["event"] == event]

    def output(self) -> list[dict[str, Any]]:
        return read_lines(self.out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def spawn_mcp_worker(tmp_path: Path) -> Iterator[Any]:
    """`effectd worker run --mcp NAME=python tests/mcp_counting_server.py ...`; killed at teardown (its
    stdio server ends with it: its stdin closes)."""
    started: list[McpWorker] = []

    def spawn(
        server: ServerProcess,
        worker_id: str,
        mcp_name: str = "counting",
        *extra: str,
        prefix: bool = False,
        url: str | None = None,
        count_file: Path | None = None,
    ) -> McpWorker:
        """A worker running the counting server over stdio, or connecting to `url` (Streamable HTTP)."""
        count_file = count_file or tmp_path / f"{worker_id}-{mcp_name}.calls.jsonl"
        command_line = url or " ".join(
            [sys.executable, str(COUNTING), "--name", mcp_name, "--count-file", str(count_file), *extra]
        )
        command = [
            EFFECTD,
            "--target",
            server.target,
            "worker",
            "run",
            "--worker-id",
            worker_id,
            "--heartbeat",
            "0.5",
            "--mcp",
            f"{mcp_name}={command_line}",
            *(["--mcp-prefix"] if prefix else []),
        ]
        return _launch(command, worker_id, count_file)

    def _launch(command: list[str], worker_id: str, count_file: Path) -> McpWorker:
        out = tmp_path / f"{worker_id}.out"
        err = tmp_path / f"{worker_id}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(command, cwd=REPO, env=clean_env(), stdout=stdout, stderr=stderr)
        worker = McpWorker(worker_id, proc, out, err, count_file)
        started.append(worker)
        return worker

    spawn.launch = _launch  # type: ignore[attr-defined]  # for a test that builds its own command line
    try:
        yield spawn
    finally:
        for worker in started:
            worker.stop()
        for worker in started:
            print(f"==== {worker.worker_id} ====\n{worker.out.read_text(errors='replace')}")
            print(worker.err.read_text(errors="replace")[-5000:])


async def offered(client: Client, *names: str) -> None:
    """Wait until live workers offer every tool in `names`."""

    async def check() -> bool:
        return set(names) <= {tool.name for tool in await client.list_tools()}

    await eventually(check, timeout=30)


async def until(check: Any, what: str) -> None:
    async def holds() -> bool:
        return bool(check())

    try:
        await eventually(holds, timeout=30)
    except TimeoutError:
        pytest.fail(f"still waiting: {what}")


def output_of(outcome: Any) -> dict[str, Any]:
    completed = into_tool_call(outcome)
    assert isinstance(completed, dict)
    output: dict[str, Any] = completed["output"]
    return output


async def test_a_runtime_killed_after_its_calls_replays_the_recorded_results_and_the_server_saw_each_once(
    spawn_server: SpawnServer, spawn_mcp_worker: Any, tmp_path: Path
) -> None:
    server = await spawn_server()
    worker = spawn_mcp_worker(server, "w1")
    async with await server.connect() as client:
        await offered(client, "echo", "add", "fail")
    first, second = tmp_path / "first.jsonl", tmp_path / "replay.jsonl"
    runtime = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.e2e.mcp_runtime", server.target, str(first),
        cwd=REPO, env=clean_env(), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert runtime.stdout is not None
        assert await asyncio.wait_for(runtime.stdout.readline(), 60) == b"done\n"
    finally:
        with contextlib.suppress(ProcessLookupError):
            runtime.send_signal(signal.SIGKILL)
        await runtime.wait()
    assert runtime.returncode == -signal.SIGKILL
    replay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.e2e.mcp_runtime", server.target, str(second), "--replay",
        cwd=REPO, env=clean_env(),
    )  # fmt: skip
    assert await asyncio.wait_for(replay.wait(), 60) == 0
    assert second.read_bytes() == first.read_bytes()  # the replay returns the recorded results byte for byte
    assert [(c["tool"], c["arguments"]) for c in worker.calls()] == [(tool, args) for _, tool, args in CALLS]
    outcomes = {line["replay_key"]: json.loads(line["outcome"]) for line in read_lines(first)}
    echo = outcomes["mcp:echo"]["launch"]["result"]["output"]["outcome"]
    assert echo == {"status": "success", "payload": [{"type": "text", "text": "hello"}]}
    # A tool that declares an output schema answers its structured content.
    add = outcomes["mcp:add"]["launch"]["result"]["output"]["outcome"]
    assert add == {"status": "success", "payload": {"sum": 42}}
    # A result marked as an error is the tool's failure outcome, recorded like any answer.
    failure = outcomes["mcp:fail"]["launch"]["result"]["output"]["outcome"]
    assert failure["status"] == "failure"
    assert (failure["payload"]["class"], failure["payload"]["code"], failure["payload"]["message"]) == (
        "execution",
        "mcp_tool_error",
        "it broke: disk full",
    )
    async with await server.connect() as client:
        records = await RemoteEffectController(client).list_effects(RUNTIME_SCOPE)
    assert sorted((r.replay_key, r.status.value) for r in records) == sorted((key, "completed") for key, _, _ in CALLS)


async def test_tools_ls_lists_every_tool_live_workers_offer_with_its_server_version_and_schema(
    spawn_server: SpawnServer, spawn_mcp_worker: Any
) -> None:
    server = await spawn_server()
    spawn_mcp_worker(server, "w1", "counting", "--version", "2.5.0")
    async with await server.connect() as client:
        await offered(client, *BUILTIN)
        tools = await client.list_tools()
    listed = await run_cli("--target", server.target, "tools", "ls")
    assert listed.rc == 0, listed
    lines = listed.json_lines()
    assert [line["name"] for line in lines] == BUILTIN
    assert lines == [tool.to_json() for tool in tools]
    [add] = [line for line in lines if line["name"] == "add"]
    assert (add["server"], add["version"], add["workers"], add["description"]) == (
        "counting",
        "2.5.0",
        ["w1"],
        "the add tool",
    )
    assert add["input_schema"] == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    shown = await run_cli("--target", server.target, "workers", "show", "w1")
    [capability] = [c for c in shown.json()["capabilities"] if c["name"] == "add"]
    assert capability["kind"] == "tool_call" and capability["tool"]["server"] == "counting"


async def test_arguments_against_the_schema_are_refused_and_nothing_is_sent(
    spawn_server: SpawnServer, spawn_mcp_worker: Any
) -> None:
    server = await spawn_server()
    worker = spawn_mcp_worker(server, "w1")
    async with await server.connect() as client:
        await offered(client, "add")
        effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
        with pytest.raises(ExecutorError) as refused:
            await effects.call_tool("add", {"a": "forty", "b": 2}, replay_key="bad-args")
        assert refused.value.code == "invalid_tool_arguments"
        assert "/a" in refused.value.message and "'forty' is not of type 'integer'" in refused.value.message
        # The refusal is the recorded answer: the same call replays it, and still nothing is sent.
        with pytest.raises(ExecutorError) as replayed:
            await effects.call_tool("add", {"a": "forty", "b": 2}, replay_key="bad-args", strict_replay=True)
        assert (replayed.value.code, replayed.value.message) == (refused.value.code, refused.value.message)
        ok = await effects.call_tool("add", {"a": 1, "b": 2}, replay_key="good-args")
    assert output_of(ok)["outcome"] == {"status": "success", "payload": {"sum": 3}}
    assert [c["arguments"] for c in worker.calls("add")] == [{"a": 1, "b": 2}]


async def test_a_tool_added_while_running_is_offered_and_called(
    spawn_server: SpawnServer, spawn_mcp_worker: Any
) -> None:
    server = await spawn_server()
    worker = spawn_mcp_worker(server, "w1")
    async with await server.connect() as client:
        await offered(client, "add_tool")
        effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
        assert "shout" not in {tool.name for tool in await client.list_tools()}
        await effects.call_tool("add_tool", {"name": "shout"}, replay_key="add-shout")
        await offered(client, "shout")  # the server announced the change; the registration followed
        outcome = await effects.call_tool("shout", {"text": "hey"}, replay_key="call-shout")
    assert output_of(outcome)["outcome"] == {"status": "success", "payload": [{"type": "text", "text": "hey"}]}
    assert worker.calls("shout") == [{"event": "call", "tool": "shout", "arguments": {"text": "hey"}}]
    assert {"event": "tools", "tools": [*LISTING_ORDER, "shout"]} in worker.output()


async def test_a_server_crashing_mid_call_is_restarted_and_the_call_delivered_again_and_recorded_once(
    spawn_server: SpawnServer, spawn_mcp_worker: Any, tmp_path: Path
) -> None:
    server = await spawn_server()
    marker = tmp_path / "crashed-once"
    worker = spawn_mcp_worker(server, "w1", "counting", "--crash-marker", str(marker))
    async with await server.connect() as client:
        await offered(client, "crash")
        controller = RemoteEffectController(client)
        effects = ToolEffects(controller.scoped(SCOPE), RUNTIME)
        outcome = await asyncio.wait_for(effects.call_tool("crash", {}, replay_key="crash-1"), 60)
        records = await controller.list_effects(SCOPE)
    assert output_of(outcome)["outcome"] == {"status": "success", "payload": [{"type": "text", "text": "survived"}]}
    assert marker.exists()
    assert len(worker.calls("crash")) == 2  # the crashed call, then the one delivered again
    assert len(worker.events("start")) == 2  # the stdio server was started again
    assert [(r.replay_key, r.status.value) for r in records] == [("crash-1", "completed")]
    results = [line for line in worker.output() if line["event"] == "result"]
    assert [(r["replay_key"], r["recorded"]) for r in results] == [("crash-1", True)]
    assert results[0]["fencing_token"] >= 2  # the first delivery was given up, not recorded


async def test_progress_reaches_the_runtime_in_order(spawn_server: SpawnServer, spawn_mcp_worker: Any) -> None:
    server = await spawn_server()
    spawn_mcp_worker(server, "w1")
    seen: list[Any] = []
    async with await server.connect() as client:
        await offered(client, "progress")
        effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
        outcome = await effects.call_tool(
            "progress", {"steps": 3}, replay_key="progress-1", executor=LocalExecutor.remote(on_progress=seen.append)
        )
        replayed: list[Any] = []
        again = await effects.call_tool(
            "progress",
            {"steps": 3},
            replay_key="progress-1",
            executor=LocalExecutor.remote(on_progress=replayed.append),
        )
    assert seen == [{"progress": step, "total": 3, "message": f"step {step}"} for step in (1, 2, 3)]
    assert output_of(outcome)["outcome"]["status"] == "success"
    assert (dumps(again), replayed) == (dumps(outcome), [])  # progress is live only, never journaled


async def test_cancellation_reaches_the_server(spawn_server: SpawnServer, spawn_mcp_worker: Any) -> None:
    server = await spawn_server()
    worker = spawn_mcp_worker(server, "w1")
    async with await server.connect() as client:
        await offered(client, "wait_cancel")
        controller = RemoteEffectController(client)
        effects = ToolEffects(controller.scoped(SCOPE), RUNTIME)
        cancel = asyncio.Event()
        call = asyncio.create_task(
            effects.call_tool("wait_cancel", {}, replay_key="cancel-1", executor=LocalExecutor.remote(cancel=cancel))
        )
        await until(lambda: worker.calls("wait_cancel"), "the call reached the server")
        cancel.set()
        with pytest.raises(ExecutorError) as cancelled:
            await asyncio.wait_for(call, 30)
        assert cancelled.value.code == "runtime_effect_remote_cancelled"
        await until(lambda: worker.events("cancelled"), "the MCP cancellation reached the server")
        # Nothing was recorded: the call can run again.
        records = await controller.list_effects(SCOPE)
    assert [r for r in records if r.status.value != "in_progress"] == []
    assert worker.events("cancelled") == [{"event": "cancelled", "tool": "wait_cancel"}]


async def test_two_workers_with_different_servers_route_calls_by_tool_name(
    spawn_server: SpawnServer, spawn_mcp_worker: Any
) -> None:
    server = await spawn_server()
    alpha = spawn_mcp_worker(server, "w-alpha", "alpha", prefix=True)
    beta = spawn_mcp_worker(server, "w-beta", "beta", prefix=True)
    async with await server.connect() as client:
        await offered(client, "alpha.echo", "beta.echo")
        tools = {tool.name: tool for tool in await client.list_tools()}
        effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
        to_alpha = await effects.call_tool("alpha.echo", {"text": "a"}, replay_key="route-a")
        to_beta = await effects.call_tool("beta.echo", {"text": "b"}, replay_key="route-b")
    assert (tools["alpha.echo"].workers, tools["alpha.echo"].server) == (("w-alpha",), "alpha")
    assert (tools["beta.echo"].workers, tools["beta.echo"].server) == (("w-beta",), "beta")
    assert output_of(to_alpha)["outcome"]["payload"] == [{"type": "text", "text": "a"}]
    assert output_of(to_beta)["outcome"]["payload"] == [{"type": "text", "text": "b"}]
    assert [c["arguments"] for c in alpha.calls()] == [{"text": "a"}]
    assert [c["arguments"] for c in beta.calls()] == [{"text": "b"}]


async def test_a_worker_serves_a_streamable_http_server_by_url(
    spawn_server: SpawnServer, spawn_mcp_worker: Any, tmp_path: Path
) -> None:
    count_file, port_file = tmp_path / "web.calls.jsonl", tmp_path / "web.port"
    web = await asyncio.create_subprocess_exec(
        sys.executable, str(COUNTING), "--count-file", str(count_file), "--http-port-file", str(port_file)
    )
    try:
        await until(port_file.exists, "the HTTP server is listening")
        server = await spawn_server()
        url = f"http://127.0.0.1:{port_file.read_text()}/mcp"
        worker = spawn_mcp_worker(server, "w-web", "web", url=url, count_file=count_file)
        async with await server.connect() as client:
            await offered(client, "add")
            [add] = [tool for tool in await client.list_tools() if tool.name == "add"]
            effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
            outcome = await effects.call_tool("add", {"a": 2, "b": 3}, replay_key="web-add")
    finally:
        web.kill()
        await web.wait()
    assert add.server == "web"
    assert output_of(outcome)["outcome"] == {"status": "success", "payload": {"sum": 5}}
    assert worker.calls() == [{"event": "call", "tool": "add", "arguments": {"a": 2, "b": 3}}]


async def test_worker_run_without_setup_or_mcp_is_refused() -> None:
    result = await run_cli("--target", "127.0.0.1:1", "worker", "run", "--worker-id", "w1")
    assert result.rc != 0 and "invalid_request" in result.stderr and "--mcp" in result.stderr
    bad = await run_cli("--target", "127.0.0.1:1", "worker", "run", "--worker-id", "w1", "--mcp", "a.b=true")
    assert bad.rc != 0 and "--mcp" in bad.stderr


async def test_a_worker_configured_by_file_serves_its_mcp_servers(
    spawn_server: SpawnServer, spawn_mcp_worker: Any, tmp_path: Path
) -> None:
    """`effectd worker run --config FILE`: the id, labels and MCP servers from the file; flags add to it."""
    server = await spawn_server()
    count_file = tmp_path / "filed.calls.jsonl"
    command_line = " ".join([sys.executable, str(COUNTING), "--name", "filed", "--count-file", str(count_file)])
    config = tmp_path / "worker.toml"
    config.write_text(
        'worker_id = "w-filed"\nheartbeat = 0.5\nmcp_prefix = true\n'
        f"mcp = [{json.dumps('filed=' + command_line)}]\n"
        '[labels]\nregion = "eu"\n'
    )
    command = [EFFECTD, "--target", server.target, "worker", "run", "--config", str(config), "--label", "tier=gold"]
    spawn_mcp_worker.launch(command, "w-filed", count_file)
    async with await server.connect() as client:
        await offered(client, "filed.echo")
        [info] = [w for w in await RemoteWorkers(client.rpc).list_workers() if w.worker_id == "w-filed"]
        assert info.labels == {"region": "eu", "tier": "gold"}
        effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
        called = await effects.call_tool("filed.echo", {"text": "from a file"}, replay_key="filed-1")
    assert output_of(called)["outcome"]["payload"] == [{"type": "text", "text": "from a file"}]
    bad = tmp_path / "bad.toml"
    bad.write_text('worker_idd = "x"\n')
    refused = await run_cli("--target", "127.0.0.1:1", "worker", "run", "--config", str(bad))
    assert refused.rc == 2 and "unknown setting 'worker_idd'" in refused.stderr
