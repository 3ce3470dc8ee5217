"""End-to-end fixtures: `effectd serve` as a subprocess, and the `effectd` CLI as a subprocess.

Every server is started on 127.0.0.1 with a port found by binding port 0 first, on a SQLite file in the
test's tmp_path. A server is ready once an SDK `Client` connects to it. Every process a test started is
killed (SIGKILL) in the fixture's teardown, whatever the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from effectd import UnavailableError
from effectd._channel import channel_options
from effectd._client import Client

# The console script of the venv that runs the tests (`effectd = "effectd._cli:main"`).
EFFECTD = str(Path(sys.executable).with_name("effectd"))
READY_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0
AWAIT_METHOD = "/effectd.v1.AwaitEvents/Await"


def free_port() -> int:
    """A port nothing listens on right now (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any EFFECTD_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EFFECTD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    """One `effectd serve` subprocess; `start` again after a kill restarts it on the same port and DB."""

    port: int
    db: Path | None
    log_path: Path
    cwd: Path
    env: dict[str, str]
    args: list[str] | None = None
    """Arguments after `effectd`; default `serve --listen 127.0.0.1:PORT --db DB`."""
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.args is not None:
            return [EFFECTD, *self.args]
        assert self.db is not None
        return [EFFECTD, "serve", "--listen", self.target, "--db", str(self.db)]

    def launch(self) -> subprocess.Popen[bytes]:
        """Start the process (output appended to the log file); `start` also waits until it serves."""
        assert self.proc is None or self.proc.poll() is not None, "the server is still running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(), cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self.proc

    async def start(self) -> None:
        """Start the process and wait until a Client connects to it."""
        self.launch()
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"effectd exited with {self.proc.returncode} at start:\n{self.log()}")
            try:
                client = await Client.connect(self.target, connect_timeout=0.25)
            except UnavailableError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"effectd did not become ready:\n{self.log()}") from None
                await asyncio.sleep(0.05)
                continue
            await client.close()
            # A port found free can be taken by another process before this one binds it: ready means this
            # process said it listens (its line for this start, after the harness's own).
            said = self.log().rsplit(f"--- start #{self.starts}:", 1)[-1]
            if re.search(rf"effectd listening on \S+:{self.port}\b", said) is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"effectd did not say it listens:\n{self.log()}")
                await asyncio.sleep(0.05)
                continue
            return

    def kill9(self) -> None:
        """SIGKILL, and reap the process (it cannot run any cleanup)."""
        assert self.proc is not None and self.proc.poll() is None, "the server is not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_exit(self, timeout: float) -> int:
        """The exit code, waiting up to `timeout` seconds (without blocking the event loop)."""
        assert self.proc is not None
        return await asyncio.to_thread(self.proc.wait, timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Teardown: SIGKILL whatever still runs."""
        if self.running():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def connect(self, **kwargs: Any) -> Awaitable[Client]:
        return Client.connect(self.target, **kwargs)


SpawnServer = Callable[..., Awaitable[ServerProcess]]


@pytest.fixture
async def spawn_server(tmp_path: Path) -> AsyncIterator[SpawnServer]:
    """Start `effectd serve` subprocesses; all of them are killed at teardown."""
    started: list[ServerProcess] = []

    async def spawn(
        *,
        db: Path | None = None,
        port: int | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
    ) -> ServerProcess:
        index = len(started)
        server = ServerProcess(
            port=port or free_port(),
            db=db if db is not None or args is not None else tmp_path / f"effectd-{index}.db",
            log_path=tmp_path / f"server-{index}.log",
            cwd=cwd or tmp_path,
            env=clean_env(env),
            args=args,
        )
        started.append(server)
        await server.start()
        return server

    try:
        yield spawn
    finally:
        for server in started:
            server.stop()
        for server in started:
            # Shown by pytest only when the test failed.
            print(f"==== {server.log_path.name} ====\n{server.log()}")


@pytest.fixture
async def server(spawn_server: SpawnServer) -> ServerProcess:
    return await spawn_server()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    async with await server.connect() as connected:
        yield connected


# -- the CLI ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as one JSON document."""
        assert self.stdout.endswith("\n") and self.stdout.count("\n") == 1, self
        return json.loads(self.stdout)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines()]


async def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = CLI_TIMEOUT_S) -> CliResult:
    """Run `effectd ARGS...` and collect its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        EFFECTD,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(env),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return CliResult(tuple(args), proc.returncode, out.decode(), err.decode())


Cli = Callable[..., Awaitable[CliResult]]


@pytest.fixture
def cli(server: ServerProcess) -> Cli:
    """`effectd --target SERVER ARGS...`"""

    def run(*args: str, env: Mapping[str, str] | None = None) -> Awaitable[CliResult]:
        return run_cli("--target", server.target, *args, env=env)

    return run


# -- observing Await streams from the client side ------------------------------------------------


@dataclass
class AwaitProbe(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    """Counts Await calls and their responses (heartbeats included), so a test knows a stream is open."""

    calls: int = 0
    responses: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        call = await continuation(client_call_details, request)
        method = client_call_details.method
        if (method.decode() if isinstance(method, bytes) else method) != AWAIT_METHOD:
            return call
        self.calls += 1
        self._changed.set()
        return self._observe(call)

    async def _observe(self, call: Any) -> AsyncIterator[Any]:
        async for response in call:
            self.responses += 1
            self._changed.set()
            yield response

    async def wait_until(self, predicate: Callable[[AwaitProbe], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def probed_client(target: str) -> AsyncIterator[tuple[Client, AwaitProbe]]:
    """A Client whose channel carries an AwaitProbe (built with the SDK's own channel options)."""
    probe = AwaitProbe()
    channel = grpc.aio.insecure_channel(target, options=channel_options(), interceptors=[probe])
    async with Client(channel) as connected:
        yield connected, probe


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll `check` until it is true; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polls the server, nothing to wait on locally
            await asyncio.sleep(interval)
