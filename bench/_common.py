"""Shared helpers for the effectd benchmarks.

- `EffectdProcess`: effectd as a subprocess (`effectd serve`) on a free port with a temporary SQLite file
  (or, given a store URL, on that store: `postgresql://...` for replicas), its RSS (VmRSS, peak VmHWM)
  and CPU time read from /proc.
- `EchoProcess`: a bare grpc.aio echo server (raw bytes, generic handler, no protobuf) in a subprocess,
  with the same server options as effectd, so that every benchmark reports the gRPC ceiling of the
  same machine in the same run. `python bench/_common.py echo-server --port N` runs it.
- echo measurements (unary throughput with N in flight, sequential round trips), percentiles, output.

Every benchmark prints exactly one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import grpc
from effectd._channel import channel_options, server_options

T = TypeVar("T")
R = TypeVar("R")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
EFFECTD = str(Path(sys.executable).with_name("effectd"))

ECHO_SERVICE = "bench.Echo"
ECHO_UNARY = f"/{ECHO_SERVICE}/Unary"
ECHO_STREAM = f"/{ECHO_SERVICE}/Stream"
# Roughly the size of a ResolveRequest with a small Ok payload; benchmarks pass the real size.
DEFAULT_ECHO_PAYLOAD = 300
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_T0 = time.monotonic()


# -- output ---------------------------------------------------------------------------------------
def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """The benchmark's one JSON object, on stdout."""
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()


def rnd(value: float, digits: int = 3) -> float:
    return round(value, digits)


def environment() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
    }


# -- statistics -----------------------------------------------------------------------------------
def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); `pct` in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean in milliseconds of durations given in seconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": rnd(percentile(ms, 50)),
        "p90_ms": rnd(percentile(ms, 90)),
        "p99_ms": rnd(percentile(ms, 99)),
        "max_ms": rnd(max(ms)),
        "mean_ms": rnd(sum(ms) / len(ms)),
    }


# -- processes ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of `pid`, in kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(rest.split()[0])
    return out


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    # After the ")" of comm: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every core of this machine spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def runqueue_wait_seconds(pid: int) -> float:
    """Seconds the threads of `pid` waited on a run queue for a core (/proc/PID/task/*/schedstat)."""
    total = 0
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/task/{task}/schedstat") as h:
                total += int(h.read().split()[1])
    return total / 1e9


class _Subprocess:
    """A server subprocess: RSS, peak RSS and CPU readings, and a SIGTERM stop."""

    name = "server"

    def __init__(self, argv: list[str], port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.target = f"127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")  # closed in stop(); appended to when a server restarts on one folder
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return proc_status(self.pid)["VmRSS"] / 1024

    def peak_rss_mb(self) -> float:
        """The process's high-water RSS since start (or since the last `reset_peak`)."""
        return proc_status(self.pid)["VmHWM"] / 1024

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (writes 5 to clear_refs); False when not permitted."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")
            return True
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def memory(self) -> dict[str, float]:
        status = proc_status(self.pid)
        return {"rss_mb": rnd(status["VmRSS"] / 1024, 1), "peak_rss_mb": rnd(status["VmHWM"] / 1024, 1)}

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait for a clean exit; SIGKILL after `timeout` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within {timeout}s after SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        self._log.close()
        return self.exit_code


class EffectdProcess(_Subprocess):
    name = "effectd"

    def __init__(self, workdir: Path, store_url: str | None = None) -> None:
        """On a SQLite file in `workdir`, or on `store_url` (`--store`, e.g. a PostgreSQL URL) when given."""
        port = free_port()
        self.db_path = workdir / "effectd.db"
        self.store_url = store_url
        env = dict(os.environ)
        env.setdefault("EFFECTD_LOG_LEVEL", "WARNING")
        argv = [EFFECTD, "serve", "--listen", f"127.0.0.1:{port}"]
        argv += ["--store", store_url] if store_url else ["--db", str(self.db_path)]
        super().__init__(argv, port, workdir / "effectd.log", env)

    @property
    def store(self) -> str:
        """Where the data lives, for logs: the store URL or the SQLite file."""
        return self.store_url or str(self.db_path)


class EchoProcess(_Subprocess):
    name = "echo"

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        argv = [PYTHON, str(HERE / "_common.py"), "echo-server", "--port", str(port)]
        super().__init__(argv, port, workdir / "echo.log")


async def _wait_until(ready: Callable[[], Awaitable[bool]], process: _Subprocess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        process.check_alive()
        with contextlib.suppress(Exception):
            if await ready():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name} not ready after {timeout}s; log:\n{process.log_tail()}")
        await asyncio.sleep(0.05)


async def start_effectd(workdir: Path, store_url: str | None = None, timeout: float = 30.0) -> EffectdProcess:
    """effectd in a subprocess on `workdir`/effectd.db (SQLite), or on `store_url` when given; returned once
    a Client can connect and call. The caller stops it (`stop()`); a restart on the same folder keeps the data."""
    from effectd import Client

    server = EffectdProcess(workdir, store_url)
    try:

        async def ready() -> bool:
            client = await Client.connect(server.target, connect_timeout=0.5)
            async with client:
                await client.list_signing_keys(timeout=2.0)
            return True

        await _wait_until(ready, server, timeout)
    except BaseException:
        server.stop()
        raise
    log(f"effectd ready on {server.target} (pid {server.pid}, store {server.store})")
    return server


@contextlib.asynccontextmanager
async def effectd_server(timeout: float = 30.0, *, store_url: str | None = None) -> AsyncIterator[EffectdProcess]:
    """effectd in a subprocess on a temporary SQLite database, or on `store_url` when given (several
    replicas may share one PostgreSQL store); ready when a Client can connect and call."""
    with tempfile.TemporaryDirectory(prefix="effectd-bench-") as folder:
        server = await start_effectd(Path(folder), store_url, timeout)
        try:
            yield server
        finally:
            code = server.stop()
            log(f"effectd stopped (exit code {code})")


@contextlib.asynccontextmanager
async def echo_server(timeout: float = 30.0) -> AsyncIterator[EchoProcess]:
    """The bare echo server in a subprocess; ready when a unary echo succeeds."""
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as folder:
        server = EchoProcess(Path(folder))
        try:

            async def ready() -> bool:
                async with echo_channel(server.target) as channel:
                    await asyncio.wait_for(channel.channel_ready(), 0.5)
                    reply = await channel.unary_unary(ECHO_UNARY)(b"ping", timeout=2.0)
                return bool(reply == b"ping")

            await _wait_until(ready, server, timeout)
            log(f"echo server ready on {server.target} (pid {server.pid})")
            yield server
        finally:
            server.stop()


# -- PostgreSQL ------------------------------------------------------------------------------------
DEFAULT_POSTGRES = os.environ.get("EFFECTD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to (or replacing those of) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextlib.asynccontextmanager
async def fresh_schema(dsn: str) -> AsyncIterator[str]:
    """A store URL on a new schema `effectd_bench_<hex>`, dropped (CASCADE) afterwards, whatever happens."""
    import asyncpg

    schema = f"effectd_bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    log(f"created schema {schema}")
    try:
        yield with_query(dsn, schema=schema)
    finally:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
        log(f"dropped schema {schema}")


def _postgres_processes() -> dict[int, tuple[str, float]]:
    """Every local process named `postgres`: pid -> (its command line, its user + system CPU seconds)."""
    found: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as handle:
                if handle.read().strip() != "postgres":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            cpu = proc_cpu_seconds(int(entry))
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry)] = (cmdline, cpu)
    return found


def postgres_cpu_seconds() -> float | None:
    """User + system CPU seconds of every local process named `postgres` (None when there are none:
    PostgreSQL on another machine or out of sight). Backends that exit during a phase drop out."""
    found = _postgres_processes()
    return sum(cpu for _, cpu in found.values()) if found else None


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def local_ports_to(pids: Sequence[int], remote_port: int) -> set[int]:
    """The local TCP ports of the connections that the processes `pids` hold to `remote_port`."""
    ports: set[int] = set()
    for pid in pids:
        inodes = _socket_inodes(pid)
        for table in ("tcp", "tcp6"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}", encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 9 and fields[9] in inodes and int(fields[2].rpartition(":")[2], 16) == remote_port:
                        ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


_BACKEND_PORT = re.compile(r"\((\d+)\)")


class PostgresCpu:
    """PostgreSQL's CPU over a phase, read from /proc (PostgreSQL on this machine):

    - `backends`: the backends serving the given effectd processes, found by the client port in each
      backend's title (`postgres: ... 127.0.0.1(PORT) ...`) matched with the effectd processes' TCP
      connections to `port`; a backend that appears during the phase counts from zero;
    - `all`: every process named `postgres` (WAL writer, checkpointer, autovacuum, and other users' backends:
      tests running meanwhile count here)."""

    def __init__(self, effectd_pids: Sequence[int], port: int = 5432) -> None:
        self._pids = list(effectd_pids)
        self._port = port
        self._start = _postgres_processes()

    def _ours(self, found: dict[int, tuple[str, float]]) -> dict[int, float]:
        ports = local_ports_to(self._pids, self._port)
        ours: dict[int, float] = {}
        for pid, (cmdline, cpu) in found.items():
            match = _BACKEND_PORT.search(cmdline)
            if match and int(match.group(1)) in ports:
                ours[pid] = cpu
        return ours

    def result(self) -> dict[str, float] | None:
        end = _postgres_processes()
        if not end:
            return None
        ours = self._ours(end)
        backends = sum(cpu - self._start.get(pid, ("", 0.0))[1] for pid, cpu in ours.items())
        every = sum(cpu - self._start[pid][1] for pid, (_, cpu) in end.items() if pid in self._start)
        every += sum(cpu for pid, (_, cpu) in end.items() if pid not in self._start)
        return {"backends_cpu_s": rnd(backends), "all_cpu_s": rnd(every), "backends": len(ours)}


# -- client channels ------------------------------------------------------------------------------
def new_channel(target: str, *, index: int | None = None) -> grpc.aio.Channel:
    """A channel with effectd's client options. With `index`, a channel of its own TCP connection:
    grpc shares one connection among channels with equal arguments, the extra argument prevents that."""
    options = channel_options()
    if index is not None:
        options = [*options, ("grpc.use_local_subchannel_pool", 1), ("bench.channel_index", index)]
    return grpc.aio.insecure_channel(target, options=options)


@contextlib.asynccontextmanager
async def echo_channel(target: str) -> AsyncIterator[grpc.aio.Channel]:
    channel = new_channel(target)
    try:
        yield channel
    finally:
        await channel.close()


# -- closed-loop drivers --------------------------------------------------------------------------
class CpuMeter:
    """CPU seconds used by this (client) process and by a server process over a phase."""

    def __init__(self, server_pid: int | None = None) -> None:
        self._pid = server_pid
        self._wall = time.perf_counter()
        self._client = time.process_time()
        self._server = proc_cpu_seconds(server_pid) if server_pid else 0.0

    def result(self) -> dict[str, float]:
        wall = time.perf_counter() - self._wall
        client = time.process_time() - self._client
        out = {"wall_s": rnd(wall), "client_cpu_s": rnd(client), "client_cpu_util": rnd(client / wall, 2)}
        if self._pid:
            server = proc_cpu_seconds(self._pid) - self._server
            out.update(server_cpu_s=rnd(server), server_cpu_util=rnd(server / wall, 2))
        return out


async def run_closed_loop(
    call: Callable[[], Awaitable[Any]],
    *,
    in_flight: int,
    duration: float,
    warmup: float = 0.5,
    on_start: Callable[[], None] | None = None,
) -> tuple[int, float]:
    """`in_flight` workers call `call()` back to back; (calls completed, seconds) after a warm-up.
    `on_start()` is called when the warm-up ends and counting starts."""
    counting = False
    done = 0
    stop_at = 0.0

    async def worker() -> None:
        nonlocal done
        while True:
            await call()
            if counting:
                if time.perf_counter() >= stop_at:
                    return
                done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(in_flight)]
    try:
        await asyncio.sleep(warmup)
        if on_start is not None:
            on_start()
        start = time.perf_counter()
        stop_at = start + duration
        counting = True
        await asyncio.gather(*tasks)
        return done, time.perf_counter() - start
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_all(items: Sequence[T], call: Callable[[T], Awaitable[R]], *, in_flight: int) -> list[R]:
    """Call `call(item)` for every item with `in_flight` calls at a time; results in item order."""
    results: list[Any] = [None] * len(items)
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(items):
            index = position
            position += 1
            results[index] = await call(items[index])

    await asyncio.gather(*(worker() for _ in range(min(in_flight, len(items)))))
    return results


# -- echo measurements ----------------------------------------------------------------------------
async def echo_unary_throughput(
    target: str,
    *,
    in_flight: int = 64,
    duration: float = 3.0,
    payload_bytes: int = DEFAULT_ECHO_PAYLOAD,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Unary echo calls per second with `in_flight` concurrent calls on one channel."""
    payload = os.urandom(payload_bytes)
    async with echo_channel(target) as channel:
        await channel.channel_ready()
        method = channel.unary_unary(ECHO_UNARY)

        async def call() -> None:
            await method(payload, timeout=10.0)

        meters: list[CpuMeter] = []
        busy: list[float] = []

        def start() -> None:  # after the warm-up, as the calls counted
            meters.append(CpuMeter(server_pid))
            busy.append(machine_busy_seconds())

        done, seconds = await run_closed_loop(call, in_flight=in_flight, duration=duration, on_start=start)
        cpu = meters[0]
        result = cpu.result()
        if server_pid:
            others = machine_busy_seconds() - busy[0] - result["client_cpu_s"] - result["server_cpu_s"]
            # Cores kept busy by other processes meanwhile: other users' work, effectd idling.
            result["others_cpu_util"] = rnd(max(others, 0.0) / result["wall_s"], 2)
        return {
            "calls_per_s": rnd(done / seconds, 1),
            "calls": done,
            "seconds": rnd(seconds),
            "in_flight": in_flight,
            "payload_bytes": payload_bytes,
            "cpu": result,
        }


async def echo_sequential_latency(
    target: str, *, iterations: int = 1000, payload_bytes: int = DEFAULT_ECHO_PAYLOAD
) -> dict[str, Any]:
    """Round trip of one unary echo at a time: p50/p99 in ms."""
    payload = os.urandom(payload_bytes)
    async with echo_channel(target) as channel:
        await channel.channel_ready()
        method = channel.unary_unary(ECHO_UNARY)
        for _ in range(100):
            await method(payload, timeout=10.0)
        samples: list[float] = []
        for _ in range(iterations):
            start = time.perf_counter()
            await method(payload, timeout=10.0)
            samples.append(time.perf_counter() - start)
    return {**latency_summary_ms(samples), "payload_bytes": payload_bytes}


async def echo_stream_wakeup_latency(
    target: str,
    *,
    iterations: int = 300,
    gap_s: float = 0.0,
    warm: bool = False,
    payload_bytes: int = DEFAULT_ECHO_PAYLOAD,
) -> dict[str, Any]:
    """The echo analogue of resolve → waiter woken: a unary call (the "resolve") releases a server
    stream open on another channel (the "waiter"); timed until the stream's reader gets the message.

    Between the stream's first message and the release the run pauses `gap_s` seconds: idle (sleeping)
    or, with `warm`, making back-to-back unary echo calls, as bench_latency does before resolving."""
    payload = os.urandom(payload_bytes)
    async with echo_channel(target) as waiter_channel, echo_channel(target) as resolver_channel:
        stream_method = waiter_channel.unary_stream(ECHO_STREAM)
        unary_method = resolver_channel.unary_unary(ECHO_UNARY)
        samples: list[float] = []
        for i in range(iterations + 20):
            tag = f"wake-{i}".encode()
            call = stream_method(tag)
            # The stream handler answers at once (the "registered" signal), then waits for the release.
            first = await call.read()
            assert first == b"registered", first
            if gap_s:
                if warm:
                    until = time.perf_counter() + gap_s
                    while time.perf_counter() < until:
                        await unary_method(payload, timeout=10.0)
                else:
                    await asyncio.sleep(gap_s)
            received: list[float] = []

            async def read(call: Any = call, received: list[float] = received) -> None:
                message = await call.read()
                received.append(time.perf_counter())
                assert message is not grpc.aio.EOF

            reader = asyncio.create_task(read())
            await asyncio.sleep(0)  # the reader now waits in read()
            start = time.perf_counter()
            await unary_method(b"release:" + tag + b":" + payload, timeout=10.0)
            await reader
            await call.read()  # the end of the stream
            if i >= 20:
                samples.append(received[0] - start)
    return {**latency_summary_ms(samples), "gap_ms": round(gap_s * 1000), "warm": warm}


# -- the echo server itself -----------------------------------------------------------------------
async def _serve_echo(port: int) -> None:
    waiting: dict[bytes, asyncio.Future[bytes]] = {}

    async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        if request.startswith(b"release:"):
            tag, _, payload = request[len(b"release:") :].partition(b":")
            future = waiting.get(tag)
            if future is not None and not future.done():
                future.set_result(payload)
        return request

    async def stream(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
        if request.startswith(b"wake-"):
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            waiting[request] = future
            try:
                yield b"registered"
                yield await future
            finally:
                waiting.pop(request, None)
            return
        # Otherwise: echo the request, `count` times when it starts with "<count>:".
        head, sep, _ = request.partition(b":")
        count = int(head) if sep and head.isdigit() else 1
        for _ in range(count):
            yield request

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    }
    await serve_raw_until_signalled(ECHO_SERVICE, handlers, port, grace_s=1.0, ready_line="echo listening")


async def serve_raw_until_signalled(
    service: str, handlers: dict[str, Any], port: int, *, grace_s: float, ready_line: str | None = None
) -> None:
    """A bare grpc.aio server of raw-bytes `handlers` on 127.0.0.1:`port` until SIGTERM or SIGINT; a bench
    baseline (no protobuf, no effectd). `ready_line` is printed on stderr once it serves."""
    server = grpc.aio.server(options=server_options())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise OSError(f"cannot listen on 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready_line is not None:
        print(f"{ready_line} on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    await stop.wait()
    await server.stop(grace_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark helpers")
    commands = parser.add_subparsers(dest="command", required=True)
    echo = commands.add_parser("echo-server", help="run the bare grpc.aio echo server")
    echo.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "echo-server":
        asyncio.run(_serve_echo(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
