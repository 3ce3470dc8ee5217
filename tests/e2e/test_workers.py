"""Workers end to end: `effectd serve` and two `effectd worker run` subprocesses, each worker in its own
network namespace (a veth pair to the host) when this machine allows `ip netns add`; otherwise each
reaches the server over loopback through its own TCP proxy (tests/tcp_proxy.py), and the test says so.

Kill -9 one worker mid-effect: each effect is recorded exactly once, and the dead worker's effects are
with the other worker within twice the heartbeat interval. SIGSTOP one past its heartbeats, then SIGCONT:
its late result is answered with the outcome already recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from effectd import (
    DurableStepCommand,
    LocalExecutor,
    RemoteEffectController,
    RemoteWorkers,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    TurnScope,
    into_durable_step,
)
from effectd._client import Client

from tests.e2e.conftest import EFFECTD, SpawnServer, clean_env, eventually, free_port, run_cli
from tests.tcp_proxy import start_proxy

REPO = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 0.5
SCOPE = TurnScope("workers-e2e", "turn-1")
RUNTIME = RuntimeScope("workers-e2e", "turn-1", 1, 0)


def slow(key: str, sleep: float) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"slow:{key}", RuntimeEffectKind.DURABLE_STEP, key),
        DurableStepCommand("slow", {"sleep": sleep}),
    )


@dataclass
class Link:
    """How one worker reaches the server: a command prefix (its namespace) and the server's address."""

    prefix: list[str]
    target: str
    how: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def _namespaces(port: int) -> Iterator[list[Link] | None]:
    """Two namespaces, each with a veth pair to the host (10.X.N.1 host side, 10.X.N.2 inside); None
    when the machine does not allow it."""
    tag = f"{os.getpid() % 10000}"
    subnet = 100 + os.getpid() % 150
    names = [f"effd{tag}w{n}" for n in (1, 2)]
    made: list[str] = []
    try:
        for n, name in enumerate(names, start=1):
            _ip("netns", "add", name)
            made.append(name)
            host, inside = f"effd{tag}h{n}", f"effd{tag}n{n}"
            _ip("link", "add", host, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", name)
            _ip("addr", "add", f"10.{subnet}.{n}.1/30", "dev", host)
            _ip("link", "set", host, "up")
            _ip("netns", "exec", name, "ip", "addr", "add", f"10.{subnet}.{n}.2/30", "dev", inside)
            _ip("netns", "exec", name, "ip", "link", "set", inside, "up")
            _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    except (OSError, subprocess.SubprocessError):
        for name in made:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                _ip("netns", "del", name)
        yield None
        return
    try:
        yield [
            Link(["ip", "netns", "exec", name], f"10.{subnet}.{n}.1:{port}", f"network namespace {name}")
            for n, name in enumerate(names, start=1)
        ]
    finally:
        for name in names:  # deleting a namespace deletes its veth and the host's peer
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                _ip("netns", "del", name)


@contextlib.asynccontextmanager
async def worker_links(port: int) -> AsyncIterator[list[Link]]:
    with _namespaces(port) as links:
        if links is not None:
            yield links
            return
    # No network namespaces here: each worker gets its own loopback TCP proxy instead.
    print("workers e2e: `ip netns add` is not allowed here; workers reach the server through TCP proxies")
    async with start_proxy(f"127.0.0.1:{port}") as first, start_proxy(f"127.0.0.1:{port}") as second:
        yield [Link([], proxy.target, "loopback TCP proxy") for proxy in (first, second)]


@dataclass
class WorkerProcess:
    worker_id: str
    proc: subprocess.Popen[bytes]
    out: Path
    log: Path
    lines: list[dict[str, Any]] = field(default_factory=list)

    def output(self) -> list[dict[str, Any]]:
        text = self.out.read_text(errors="replace") if self.out.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Any]:
    started: list[WorkerProcess] = []
    events = tmp_path / "handlers.log"

    def spawn(worker_id: str, link: Link) -> WorkerProcess:
        out = tmp_path / f"{worker_id}.out"
        log = tmp_path / f"{worker_id}.err"
        command = [
            *link.prefix,
            EFFECTD,
            "--target",
            link.target,
            "worker",
            "run",
            "tests.e2e.workers_app:setup",
            "--worker-id",
            worker_id,
            "--heartbeat",
            str(HEARTBEAT_S),
        ]
        with out.open("wb") as stdout, log.open("wb") as stderr:
            proc = subprocess.Popen(
                command,
                cwd=REPO,
                env=clean_env({"EFFECTD_TEST_LOG": str(events), "EFFECTD_LOG_LEVEL": "DEBUG"}),
                stdout=stdout,
                stderr=stderr,
            )
        worker = WorkerProcess(worker_id, proc, out, log)
        started.append(worker)
        return worker

    try:
        yield spawn
    finally:
        for worker in started:
            worker.stop()
        for worker in started:
            print(f"==== {worker.worker_id} ====\n{worker.out.read_text(errors='replace')}")
            print(worker.log.read_text(errors="replace"))


def handler_log(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "handlers.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


async def _serve(spawn_server: SpawnServer, tmp_path: Path) -> Any:
    port = free_port()
    # Reached from the namespaces over veth: a non-loopback listen, so it says it accepts the risk.
    args = ["serve", "--listen", f"0.0.0.0:{port}", "--db", str(tmp_path / "w.db"), "--insecure"]
    return await spawn_server(port=port, args=args)


async def _registered(client: Client, *worker_ids: str) -> None:
    workers = RemoteWorkers(client.rpc)

    async def check() -> bool:
        return {w.worker_id for w in await workers.list_workers()} >= set(worker_ids)

    await eventually(check, timeout=30)


async def test_kill9_a_worker_mid_effect_its_effects_move_at_once_and_are_recorded_once(
    spawn_server: SpawnServer, spawn_worker: Any, tmp_path: Path
) -> None:
    server = await _serve(spawn_server, tmp_path)
    async with worker_links(server.port) as links, await server.connect() as client:
        print("links:", [link.how for link in links])
        first = spawn_worker("w1", links[0])
        second = spawn_worker("w2", links[1])
        await _registered(client, "w1", "w2")
        controller = RemoteEffectController(client)
        workers = RemoteWorkers(client.rpc)
        keys = [f"k{i}" for i in range(8)]
        calls = [
            asyncio.create_task(controller.execute_effect(SCOPE, slow(key, 1.5), LocalExecutor.remote()))
            for key in keys
        ]

        async def all_started() -> bool:
            return len(handler_log(tmp_path)) == len(keys)

        await eventually(all_started)
        held = {ref.replay_key for ref in (await workers.describe_worker("w1")).in_flight}
        assert held, "the least-loaded pick gave w1 nothing"
        killed_at = time.monotonic()
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=10)

        async def moved() -> bool:
            keys_on_second = {ref.replay_key for ref in (await workers.describe_worker("w2")).in_flight}
            return held <= keys_on_second

        await eventually(moved, interval=0.005)
        redelivered_after = time.monotonic() - killed_at
        outcomes = dict(zip(keys, await asyncio.gather(*calls), strict=True))
        records = await controller.list_effects(SCOPE)
    print(f"redelivered {len(held)} effects {redelivered_after * 1000:.0f} ms after kill -9")
    assert redelivered_after < 2 * HEARTBEAT_S
    assert [r.replay_key for r in records] == keys
    for record in records:
        assert record.status.value == "completed"
        assert record.outcome == outcomes[record.replay_key]
        expected = "w2" if record.replay_key in held else into_durable_step(outcomes[record.replay_key])["worker"]
        assert into_durable_step(outcomes[record.replay_key]) == {"worker": expected, "key": record.replay_key}
    log = handler_log(tmp_path)
    for key in held:
        assert ["start", "w1", key, "1"] in log and ["end", "w1", key, "1"] not in log
        assert ["end", "w2", key, "2"] in log
    receipts = [line for line in second.output() if line["event"] == "result"]
    assert sorted(r["replay_key"] for r in receipts if r["recorded"]) == sorted(
        k for k in keys if into_durable_step(outcomes[k])["worker"] == "w2"
    )


async def test_a_worker_stopped_past_its_heartbeats_gets_already_recorded_for_its_late_result(
    spawn_server: SpawnServer, spawn_worker: Any, tmp_path: Path
) -> None:
    server = await _serve(spawn_server, tmp_path)
    async with worker_links(server.port) as links, await server.connect() as client:
        stopped = spawn_worker("w1", links[0])
        await _registered(client, "w1")
        controller = RemoteEffectController(client)
        call = asyncio.create_task(controller.execute_effect(SCOPE, slow("late", 1.0), LocalExecutor.remote()))

        async def started() -> bool:
            return ["start", "w1", "late", "1"] in handler_log(tmp_path)

        await eventually(started)
        os.kill(stopped.proc.pid, signal.SIGSTOP)
        spawn_worker("w2", links[1])
        outcome = await asyncio.wait_for(call, 30)
        assert into_durable_step(outcome) == {"worker": "w2", "key": "late"}
        os.kill(stopped.proc.pid, signal.SIGCONT)

        async def answered() -> bool:
            return any(line["event"] == "result" for line in stopped.output())

        await eventually(answered)
        record = await controller.get_effect(SCOPE, "late")
    [receipt] = [line for line in stopped.output() if line["event"] == "result"]
    assert receipt["recorded"] is False and receipt["fencing_token"] == 1
    assert receipt["already_recorded"]["outcome"] == {
        "type": "durable_step",
        "value": {"key": "late", "worker": "w2"},
    }
    assert record.outcome == outcome
    assert ["end", "w1", "late", "1"] in handler_log(tmp_path)


async def test_cli_lists_shows_and_drains_workers_and_sigterm_drains(
    spawn_server: SpawnServer, spawn_worker: Any, tmp_path: Path
) -> None:
    server = await spawn_server()
    loopback = Link([], server.target, "loopback")
    first = spawn_worker("w1", loopback)
    second = spawn_worker("w2", loopback)
    async with await server.connect() as client:
        await _registered(client, "w1", "w2")
        listed = await run_cli("--target", server.target, "workers", "ls")
        assert listed.rc == 0, listed
        assert sorted(line["worker_id"] for line in listed.json_lines()) == ["w1", "w2"]
        shown = await run_cli("--target", server.target, "workers", "show", "w1")
        assert shown.rc == 0
        assert {"kind": "durable_step", "name": "slow", "version": "", "slots": 0} in shown.json()["capabilities"]
        unknown = await run_cli("--target", server.target, "workers", "show", "nobody")
        assert unknown.rc == 1 and "worker_unknown" in unknown.stderr
        # `effectd workers drain` on an idle worker: it takes nothing new and exits at once.
        drained = await run_cli("--target", server.target, "workers", "drain", "w2")
        assert drained.rc == 0 and drained.json()["draining"] is True
        assert await asyncio.to_thread(second.proc.wait, 30) == 0
        # SIGTERM while w1 holds an effect: the effect is finished and recorded, then w1 exits 0.
        controller = RemoteEffectController(client)
        call = asyncio.create_task(controller.execute_effect(SCOPE, slow("drain-1", 1.0), LocalExecutor.remote()))

        async def started() -> bool:
            return ["start", "w1", "drain-1", "1"] in handler_log(tmp_path)

        await eventually(started)
        first.proc.send_signal(signal.SIGTERM)
        outcome = await asyncio.wait_for(call, 30)
        assert await asyncio.to_thread(first.proc.wait, 30) == 0
    assert into_durable_step(outcome) == {"worker": "w1", "key": "drain-1"}
    lines = first.output()
    assert lines[-1] == {"event": "drained", "worker_id": "w1"}
    assert any(line["event"] == "result" and line["recorded"] for line in lines)
