"""`effectd worker run`, `effectd workers ls|show|drain` and `effectd tools ls`: the workers part of the
`effectd` command.

`effectd worker run MODULE:FUNCTION --worker-id ID` imports the module, calls `FUNCTION(worker)` to
register handlers on an `effectd.Worker`, and serves until drained (SIGTERM drains). `--mcp NAME=COMMAND
ARGS...` (a stdio MCP server the worker starts and supervises) or `--mcp NAME=URL` (Streamable HTTP),
repeatable, serves those servers' tools too (MODULE:FUNCTION is then optional; needs `effectd[mcp]`).
It prints one JSON line when registered, one each time the MCP tools offered change (`tools`) and one per
result the server answered (`recorded`, or the record that stood).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
import tomllib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from effectd._client import Client
from effectd._errors import InvalidArgumentError
from effectd._journal import RecordedError, RecordedOutcome
from effectd._lashjson import dumps
from effectd._worker import RemoteWorkers, ResultReceipt, Worker

__all__ = ["add_commands"]

Action = Callable[[Client], Awaitable[int]]


def _line(value: Any) -> None:
    sys.stdout.write(json.dumps(value, separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _labels(items: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgumentError("invalid_request", f"--label takes KEY=VALUE, got {item!r}")
        labels[name] = value
    return labels


def _setup_function(spec: str) -> Callable[[Worker], Any]:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise InvalidArgumentError("invalid_request", f"expected MODULE:FUNCTION, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError("invalid_request", f"cannot import {module_name}: {exc}") from None
    setup = getattr(module, attribute, None)
    if not callable(setup):
        raise InvalidArgumentError("invalid_request", f"{spec} is not a function")
    return setup  # type: ignore[no-any-return]


def _receipt_json(receipt: ResultReceipt) -> dict[str, Any]:
    line: dict[str, Any] = {
        "event": "result",
        "replay_key": receipt.assignment.replay_key,
        "fencing_token": receipt.assignment.fencing_token,
        "recorded": receipt.recorded,
    }
    existing = receipt.existing
    if isinstance(existing, RecordedOutcome):
        line["already_recorded"] = {"outcome": json.loads(dumps(existing.outcome))}
    elif isinstance(existing, RecordedError):
        line["already_recorded"] = {"error": {"code": existing.error.code, "message": existing.error.message}}
    return line


def _mcp_servers(items: list[str]) -> list[Any]:
    """The `--mcp` servers as `McpServerSpec`s (the `mcp` extra is imported only when one is given)."""
    if not items:
        return []
    try:
        from effectd.mcp import McpServerSpec  # the [mcp] extra is optional
    except ImportError as exc:
        raise InvalidArgumentError(
            "invalid_request", f"--mcp needs the MCP extra (pip install 'effectd[mcp]'): {exc}"
        ) from None
    specs = []
    for item in items:
        try:
            specs.append(McpServerSpec.parse(item))
        except ValueError as exc:
            raise InvalidArgumentError("invalid_request", f"--mcp: {exc}") from None
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise InvalidArgumentError("invalid_request", f"--mcp server names must be unique, got {names}")
    return specs


_WORKER_FILE_SETTINGS = {
    "setup": str,
    "worker_id": str,
    "slots": int,
    "heartbeat": float,
    "labels": dict,
    "mcp": list,
    "mcp_prefix": bool,
}


def _with_config_file(args: argparse.Namespace) -> None:
    """Fill what the flags left unset from the worker's TOML file (`--config`): `setup`, `worker_id`,
    `slots`, `heartbeat`, `labels` (a table), `mcp` (a list of "NAME=COMMAND" / "NAME=URL"), `mcp_prefix`.
    Flags win; `--mcp` and `--label` add to the file's."""
    if args.config is None:
        return
    try:
        with open(args.config, "rb") as handle:
            table = tomllib.load(handle)
    except OSError as exc:
        raise InvalidArgumentError(
            "invalid_request", f"cannot read worker config {args.config}: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError("invalid_request", f"worker config {args.config} is not valid TOML: {exc}") from None
    for name, value in table.items():
        kind = _WORKER_FILE_SETTINGS.get(name)
        if kind is None:
            known = ", ".join(sorted(_WORKER_FILE_SETTINGS))
            raise InvalidArgumentError("invalid_request", f"worker config: unknown setting {name!r} (known: {known})")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidArgumentError("invalid_request", f"worker config: {name} must be a {kind.__name__}")
        if isinstance(value, dict):  # labels
            args.label = [f"{k}={v}" for k, v in value.items()] + args.label
        elif isinstance(value, list):  # mcp
            if not all(isinstance(item, str) for item in value):
                raise InvalidArgumentError("invalid_request", "worker config: mcp is a list of NAME=COMMAND strings")
            args.mcp = list(value) + args.mcp
        elif name == "mcp_prefix":
            args.mcp_prefix = args.mcp_prefix or value
        elif getattr(args, name) is None:
            setattr(args, name, value)


def _worker_run(args: argparse.Namespace) -> Action:
    _with_config_file(args)
    if args.worker_id is None:
        raise InvalidArgumentError("invalid_request", "worker run needs --worker-id (or worker_id in --config)")
    if args.slots is None:
        args.slots = 16
    if args.heartbeat is None:
        args.heartbeat = 1.0
    if args.setup is None and not args.mcp:
        raise InvalidArgumentError(
            "invalid_request", "worker run needs MODULE:FUNCTION, --mcp NAME=COMMAND..., or both"
        )
    setup = _setup_function(args.setup) if args.setup is not None else None
    servers = _mcp_servers(args.mcp)
    if args.mcp_prefix and not servers:
        raise InvalidArgumentError("invalid_request", "--mcp-prefix needs --mcp")
    labels = _labels(args.label)
    if not 1 <= args.slots <= 100_000:
        raise InvalidArgumentError("value_out_of_range", f"--slots must be in 1..100000, got {args.slots}")
    if not 0.1 <= args.heartbeat <= 3600:
        raise InvalidArgumentError("value_out_of_range", f"--heartbeat must be in [0.1, 3600], got {args.heartbeat}")

    async def run(client: Client) -> int:
        logging.basicConfig(
            level=os.environ.get("EFFECTD_LOG_LEVEL", "WARNING").upper(),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        worker = Worker(
            client.rpc, worker_id=args.worker_id, slots=args.slots, labels=labels, heartbeat_interval=args.heartbeat
        )
        if setup is not None:
            setup(worker)

        async def report() -> None:
            await worker.registered.wait()
            _line({"event": "registered", "worker_id": worker.worker_id, "instance_id": worker.instance_id})
            while True:
                _line(_receipt_json(await worker.receipts.get()))

        reporter = asyncio.create_task(report())
        try:
            async with AsyncExitStack() as stack:
                if servers:
                    from effectd.mcp import McpWorkerTools  # the extra is there: _mcp_servers checked

                    def offered(tools: tuple[Any, ...]) -> None:
                        _line({"event": "tools", "tools": [tool.name for tool in tools]})

                    mcp_tools = McpWorkerTools(worker, servers, prefix=args.mcp_prefix, on_offered=offered)
                    await stack.enter_async_context(mcp_tools)
                await worker.run(handle_signals=True)
        finally:
            reporter.cancel()
        while not worker.receipts.empty():
            _line(_receipt_json(worker.receipts.get_nowait()))
        _line({"event": "drained", "worker_id": worker.worker_id})
        return 0

    return run


def _workers(args: argparse.Namespace) -> Action:
    async def run(client: Client) -> int:
        workers = RemoteWorkers(client.rpc)
        if args.workers_command == "ls":
            for info in await workers.list_workers():
                _line(info.to_json())
        elif args.workers_command == "show":
            _line((await workers.describe_worker(args.worker_id)).to_json())
        else:
            _line((await workers.drain_worker(args.worker_id)).to_json())
        return 0

    return run


def _tools(args: argparse.Namespace) -> Action:
    async def run(client: Client) -> int:
        for tool in await client.list_tools():
            _line(tool.to_json())
        return 0

    return run


def add_commands(commands: Any) -> None:
    """Add `worker` and `workers` to the `effectd` command's subparsers."""
    worker = commands.add_parser("worker", help="run a worker").add_subparsers(dest="worker_command", required=True)
    run = worker.add_parser("run", help="serve delegated effects with the handlers a function registers")
    run.add_argument(
        "setup",
        metavar="MODULE:FUNCTION",
        nargs="?",
        help="called with the effectd.Worker to register handlers (optional with --mcp)",
    )
    run.add_argument(
        "--mcp",
        action="append",
        default=[],
        metavar="NAME=COMMAND|NAME=URL",
        help="serve an MCP server's tools: a command started over stdio, or a Streamable HTTP URL; repeatable",
    )
    run.add_argument(
        "--mcp-prefix", action="store_true", help="offer each MCP tool as NAME.tool, to keep servers apart"
    )
    run.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file with any of setup, worker_id, slots, heartbeat, labels, mcp, mcp_prefix (flags win)",
    )
    run.add_argument("--worker-id", metavar="ID", help="this worker's stable id (its instance id is new each start)")
    run.add_argument("--slots", type=int, help="effects run at once (default 16)")
    run.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    run.add_argument("--heartbeat", type=float, metavar="SECONDS", help="heartbeat interval (default 1)")
    run.set_defaults(action=_worker_run)

    workers = commands.add_parser("workers", help="the connected workers").add_subparsers(
        dest="workers_command", required=True
    )
    workers.add_parser("ls", help="every connected worker, one JSON line each").set_defaults(action=_workers)
    show = workers.add_parser("show", help="one worker: capabilities, labels, slots, in-flight effects")
    show.add_argument("worker_id", metavar="ID", help="the worker's id (as `workers ls` prints it)")
    show.set_defaults(action=_workers)
    drain = workers.add_parser("drain", help="the worker finishes what it holds, takes nothing new, and exits")
    drain.add_argument("worker_id", metavar="ID", help="the worker's id (as `workers ls` prints it)")
    drain.set_defaults(action=_workers)

    tools = commands.add_parser("tools", help="the tools live workers offer").add_subparsers(
        dest="tools_command", required=True
    )
    tools.add_parser(
        "ls", help="every tool live workers offer (name, server, version, workers, input schema), one JSON line each"
    ).set_defaults(action=_tools)
