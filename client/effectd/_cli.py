"""The `effectd` command: a thin shell over the SDK. JSON in, JSON out, one exit table.

Every failure goes through one handler (`main`): one line on stderr, `effectd: <code>: <message>`, and
an exit status from `EXIT_STATUSES`. Modules that add commands are listed in `COMMAND_MODULES` and plug
in through the hooks described there; their commands go through the same handler and table, and every
global option (theirs too) is accepted anywhere on the line.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import importlib
import logging
import math
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc

from effectd._client import MAX_TIMEOUT_S, Client, KeyPending, WatchRejected, WatchTerminal
from effectd._convert_await_events import KeyRef
from effectd._errors import (
    DeadlineExceededError,
    EffectdError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    error_for,
)
from effectd._journal import EffectRecord
from effectd._json import parse_json
from effectd._lashjson import dumps, to_lash
from effectd._scope import (
    TOKEN_PREFIX,
    AwaitEventKey,
    Cancelled,
    CustomWait,
    Err,
    ExternalCompletionError,
    InvalidTokenError,
    Ok,
    ProcessScope,
    ProcessSignalWait,
    QueueDrainScope,
    Resolution,
    RuntimeOperationScope,
    SessionDeleteScope,
    Timeout,
    ToolCompletionWait,
    TurnScope,
    UnknownOrRevoked,
    key_from_lash,
    key_from_token,
    scope_from_lash,
    wait_from_lash,
)

__all__ = ["COMMAND_MODULES", "EXIT_STATUSES", "ExitStatus", "add_commands", "build_parser", "command_group", "main"]

DEFAULT_TARGET = "127.0.0.1:50551"


@dataclass(frozen=True, slots=True)
class ExitStatus:
    status: int
    meaning: str


EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_UNKNOWN_OR_REVOKED = 4
EXIT_TIMEOUT = 5
EXIT_CANCELLED = 6
EXIT_INTERRUPTED = 130

EXIT_STATUSES: tuple[ExitStatus, ...] = (
    ExitStatus(EXIT_OK, "success"),
    ExitStatus(EXIT_ERROR, "effectd answered an error (stderr: effectd: <code>: <message>), or serve could not start"),
    ExitStatus(EXIT_USAGE, "bad usage or input (an argument, JSON, a file), whether the CLI or the server found it"),
    ExitStatus(EXIT_UNAVAILABLE, "effectd unreachable (a refused connection fails within a second)"),
    ExitStatus(EXIT_UNKNOWN_OR_REVOKED, "the key is unknown, tampered with or revoked (unknown_or_revoked)"),
    ExitStatus(EXIT_TIMEOUT, "await: the terminal is timeout; watch: --timeout passed with keys still pending"),
    ExitStatus(EXIT_CANCELLED, "await: the terminal is cancelled"),
    ExitStatus(EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)
"""The one exit table: `effectd --help`, the README and the tests read it."""

COMMAND_MODULES: list[str] = ["effectd._cli_admin", "effectd._cli_ops", "effectd._cli_workers"]
"""Modules that add to the command, imported by name. Each may define (all optional):

- `add_global_options(parser)` (or `add_global_flags`): options of every command, added to the top-level
  parser with their defaults; they are then accepted after any command too.
- `add_commands(commands)` (or `add_admin_commands`): new commands on the subparsers action;
  `command_group(commands, "keys")` reaches an existing group. A command sets `action=` (a function of
  the arguments returning an `Action`, run with a connected client) or `local=` (a function of the
  arguments returning the exit status, for commands that need no server).
- `add_serve_flags(parser)`, `add_keys_commands(keys)`: flags of `serve`, commands of `keys`.
- `connect_options(args)`: keyword arguments for `Client.connect` (TLS, token).
- `serve_overrides(args)`: config overrides (field path → value) from the module's `serve` flags.
- `serve_config(args, overrides)`: the server configuration for `serve` instead of `load_config`.
- `USAGE_ERRORS`: exception classes that mean bad usage (exit 2, code `invalid_request`).
"""

MAX_LIST_LIMIT = 1000
AWAIT_GRACE_S = 2.0
"""How long `await --timeout T` waits past T for the server's `timeout` before it gives up on the server."""
CONNECT_TIMEOUT_S = 10.0


def exit_status_for(error: EffectdError) -> int:
    """The exit status of a failure: by its code first, then by its kind."""
    if error.code == "await_event_unknown_or_revoked":
        return EXIT_UNKNOWN_OR_REVOKED
    if isinstance(error, UnavailableError | DeadlineExceededError):
        return EXIT_UNAVAILABLE
    if isinstance(error, InvalidArgumentError):
        return EXIT_USAGE
    return EXIT_ERROR


def _usage(message: str) -> InvalidArgumentError:
    return InvalidArgumentError("invalid_request", message)


# -- the types a user writes on the command line ---------------------------------------------------

_SCOPE_TYPES = (TurnScope, ProcessScope, QueueDrainScope, SessionDeleteScope, RuntimeOperationScope)
_WAIT_TYPES = (ToolCompletionWait, ProcessSignalWait, CustomWait)


def _shape(cls: type[Any]) -> str:
    tag, name = cls.LASH_TAG
    parts = [f'"{tag}":"{name}"']
    for item in dataclasses.fields(cls):
        parts.append(f'"{item.name}":{"INT" if item.type == "int" else "STR"}')
    return "{" + ",".join(parts) + "}"


def types_help() -> str:
    """The scope and wait shapes, for --help (docs/contract.md explains each)."""
    scopes = "\n".join("  " + _shape(cls) for cls in _SCOPE_TYPES)
    waits = "\n".join("  " + _shape(cls) for cls in _WAIT_TYPES)
    return f"scope types (--scope):\n{scopes}\nwait types (--wait):\n{waits}"


def _exit_help() -> str:
    return "exit statuses:\n" + "\n".join(f"  {e.status:<3} {e.meaning}" for e in EXIT_STATUSES)


# -- reading arguments -------------------------------------------------------------------------------


def _read_arg(text: str, what: str) -> str:
    """The argument's text: itself, stdin for `-`, a file's content for `@FILE`."""
    try:
        if text == "-":
            return sys.stdin.read()
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                return handle.read()
    except OSError as exc:
        raise _usage(f"{what}: cannot read {text[1:]}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise _usage(f"{what}: {text[1:] or 'stdin'} is not UTF-8 text") from None
    return text


def _json_arg(text: str, what: str) -> Any:
    """JSON read strictly, as the server reads it (exact integers, no NaN, no duplicate keys)."""
    text = _read_arg(text, what).strip()
    try:
        return parse_json(text, what)
    except EffectdError as exc:
        raise InvalidArgumentError("invalid_json", f"{what} is not valid JSON: {exc.message}") from None


def _key_arg(text: str) -> KeyRef:
    """A key as JSON (`effectd key mint` prints it; a "token" field in it is ignored), or its token."""
    text = _read_arg(text, "KEY").strip()
    if text.startswith(TOKEN_PREFIX):
        return text  # sent as is: the server answers an invalid token like a tampered key
    return key_from_lash(_json_arg(text, "KEY"))


def _timeout_arg(value: float | None, what: str = "--timeout") -> float | None:
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_TIMEOUT_S):
        raise InvalidArgumentError(
            "value_out_of_range", f"{what} must be a number of seconds between 0 and {MAX_TIMEOUT_S}, got {value:g}"
        )
    return value


def _key_with_token(key: AwaitEventKey) -> str:
    """The key's lash JSON with its token added as a last field, "token"."""
    return key.to_json()[:-1] + ',"token":' + dumps(key.token) + "}"


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _print(value: Any) -> None:
    _write(dumps(to_lash(value)))


def _resolution_arg(args: argparse.Namespace) -> Resolution:
    if args.ok is not None:
        return Ok(_json_arg(args.ok, "--ok"))
    if args.err is not None:
        code, message = args.err
        return Err(ExternalCompletionError(code, message))
    return Cancelled()


Action = Callable[[Client], Awaitable[int]]
"""What a command does with a connected client; made from the arguments before connecting, so that a bad
argument never waits for a server."""


# -- connecting ----------------------------------------------------------------------------------------


def _targets(text: str) -> str | list[str]:
    targets = [t.strip() for t in text.split(",") if t.strip()]
    if not targets:
        raise _usage("--target must be HOST:PORT, or several comma-separated")
    return targets[0] if len(targets) == 1 else targets


async def _wait_ready(channel: grpc.aio.Channel, target: str, timeout: float) -> None:
    """Until the channel is ready; UnavailableError as soon as every address refused (no waiting out the
    timeout for a server that is not there), or when `timeout` passes."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            raise UnavailableError("unavailable", f"cannot reach effectd at {target}: the connection failed")
        remaining = until - loop.time()
        if remaining <= 0:
            raise UnavailableError("unavailable", f"cannot reach effectd at {target} within {timeout:g} s")
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
        except TimeoutError:
            continue
        state = channel.get_state(try_to_connect=True)


def _connect_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for module in _modules():
        if (hook := _hook(module, "connect_options")) is not None:
            options.update(hook(args))
    return options


async def _connect(args: argparse.Namespace) -> Client:
    timeout = args.connect_timeout
    if not (math.isfinite(timeout) and timeout > 0):
        raise _usage(f"--connect-timeout must be a positive number of seconds, got {timeout:g}")
    target = _targets(args.target)
    try:
        client = await Client.connect(target, connect_timeout=None, **_connect_options(args))
    except ValueError as exc:
        raise _usage(f"--target: {exc}") from None
    except OSError as exc:  # a host name that does not resolve
        raise UnavailableError("unavailable", f"cannot reach effectd at {args.target}: {exc}") from None
    try:
        await _wait_ready(client.rpc.channel, args.target, timeout)
    except BaseException:
        await client.close()
        raise
    return client


class _ReconnectReporter:
    """Says `reconnecting` on stderr (once per outage) while a long command's streams retry."""

    def __init__(self, client: Client, target: str) -> None:
        self._client = client
        self._target = target
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        reported = False
        while True:
            channel = self._client.rpc.channel
            state = channel.get_state()
            if state == grpc.ChannelConnectivity.READY:
                if reported:
                    print(f"effectd: reconnected to {self._target}", file=sys.stderr, flush=True)
                reported = False
            elif state != grpc.ChannelConnectivity.IDLE and not reported:
                print(f"effectd: reconnecting to {self._target} ...", file=sys.stderr, flush=True)
                reported = True
            # Bounded: the Rpc may replace its channel (a dead link), and then this one never changes.
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), 1.0)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


# -- commands ------------------------------------------------------------------------------------------


def _key_mint(args: argparse.Namespace) -> Action:
    scope = scope_from_lash(_json_arg(args.scope, "--scope"))
    wait = wait_from_lash(_json_arg(args.wait, "--wait"))

    async def run(client: Client) -> int:
        key = await client.mint_key(scope, wait)
        _write(_key_with_token(key))
        return EXIT_OK

    return run


def _resolve(args: argparse.Namespace) -> Action:
    key, resolution = _key_arg(args.key), _resolution_arg(args)

    async def run(client: Client) -> int:
        outcome = await client.resolve(key, resolution)
        _print(outcome)
        return EXIT_UNKNOWN_OR_REVOKED if isinstance(outcome, UnknownOrRevoked) else EXIT_OK

    return run


def _terminal_status(resolution: Resolution) -> int:
    if isinstance(resolution, Timeout):
        return EXIT_TIMEOUT
    if isinstance(resolution, Cancelled):
        return EXIT_CANCELLED
    return EXIT_OK


def _await(args: argparse.Namespace) -> Action:
    key = _key_arg(args.key)
    timeout = _timeout_arg(args.timeout)

    async def run(client: Client) -> int:
        reporter = _ReconnectReporter(client, args.target)
        try:
            if timeout is None:
                resolution = await client.await_event(key)
            else:
                waiting = client.await_event(key, timeout=timeout, reconnect_for=timeout + AWAIT_GRACE_S)
                try:
                    resolution = await asyncio.wait_for(waiting, timeout + AWAIT_GRACE_S)
                except TimeoutError:
                    raise UnavailableError(
                        "unavailable",
                        f"no answer from effectd within the timeout ({timeout:g} s); "
                        "the server records timeout for the key when it is back",
                    ) from None
        finally:
            await reporter.stop()
        _print(resolution)
        return _terminal_status(resolution)

    return run


def _peek(args: argparse.Namespace) -> Action:
    key = _key_arg(args.key)

    async def run(client: Client) -> int:
        state = await client.peek(key)
        if isinstance(state, KeyPending):
            _print({"status": "pending", "deadline_unix_ms": state.deadline_unix_ms})
        else:
            _print(state)
        return EXIT_OK

    return run


def _watch(args: argparse.Namespace) -> Action:
    keys = [_key_arg(k) for k in args.keys]
    timeout = _timeout_arg(args.timeout)

    async def run(client: Client) -> int:
        status = EXIT_OK
        reporter = _ReconnectReporter(client, args.target)
        watch = client.watch(keys)

        async def deliver() -> None:
            nonlocal status
            async for event in watch:
                if isinstance(event, WatchTerminal):
                    _print({"key_id": event.key_id, "cursor": event.cursor, "terminal": to_lash(event.resolution)})
                elif isinstance(event, WatchRejected):
                    rejected: dict[str, Any] = {"key_id": event.key_id}
                    if event.token:
                        rejected["token"] = event.token
                    _print({**rejected, "rejected": {"code": event.code, "message": event.message}})
                    # The status its code has anywhere else (unknown_or_revoked: 4); the first one counts.
                    if status == EXIT_OK:
                        status = exit_status_for(error_for(event.code, event.message))

        try:
            await asyncio.wait_for(deliver(), timeout)
        except TimeoutError:
            print(
                f"effectd: timeout: {watch.pending} of {len(keys)} keys have no terminal after {timeout:g} s",
                file=sys.stderr,
            )
            return EXIT_TIMEOUT
        finally:
            await watch.aclose()
            await reporter.stop()
        return status

    return run


def _cancel(args: argparse.Namespace) -> Action:
    key = _key_arg(args.key)

    async def run(client: Client) -> int:
        outcome = await client.cancel(key)
        _print(outcome)
        return EXIT_UNKNOWN_OR_REVOKED if isinstance(outcome, UnknownOrRevoked) else EXIT_OK

    return run


def _revoke_key(args: argparse.Namespace) -> Action:
    key = _key_arg(args.key)
    key_id = key.key_id if isinstance(key, AwaitEventKey) else _token_key_id(key)

    async def run(client: Client) -> int:
        await client.revoke_key(key)
        _print({"revoked_key_id": key_id} if key_id is not None else {"revoked_token": key})
        return EXIT_OK

    return run


def _token_key_id(token: str) -> str | None:
    try:
        return key_from_token(token).key_id
    except InvalidTokenError:
        return None


def _revoke_session(args: argparse.Namespace) -> Action:
    async def run(client: Client) -> int:
        await client.revoke_session(args.session_id)
        _print({"revoked_session": args.session_id})
        return EXIT_OK

    return run


def _cancel_session_waits(args: argparse.Namespace) -> Action:
    async def run(client: Client) -> int:
        _print({"cancelled": await client.cancel_session_waits(args.session_id)})
        return EXIT_OK

    return run


def _effect_json(record: EffectRecord) -> dict[str, Any]:
    return {
        "replay_key": record.replay_key,
        "status": record.status.value,
        "envelope_hash": record.envelope_hash,
        "envelope": to_lash(record.envelope),
        "outcome": to_lash(record.outcome) if record.outcome is not None else None,
        "executor_error": (
            {"code": record.executor_error.code, "message": record.executor_error.message}
            if record.executor_error is not None
            else None
        ),
        "lease_owner_id": record.lease_owner_id,
        "lease_expires_at_unix_ms": record.lease_expires_at_unix_ms,
        "due_at_unix_ms": record.due_at_unix_ms,
        "created_at_unix_ms": record.created_at_unix_ms,
        "updated_at_unix_ms": record.updated_at_unix_ms,
    }


def _effects(args: argparse.Namespace) -> Action:
    scope = scope_from_lash(_json_arg(args.scope, "--scope")) if args.scope is not None else None
    limit = _limit_arg(getattr(args, "limit", 100))

    async def run(client: Client) -> int:
        from effectd._controller import RemoteEffectController

        controller = RemoteEffectController(client)
        if scope is None:  # `effects ls` without --scope (`effects show` requires one)
            for summary in await controller.list_scopes(limit=limit):
                _print(
                    {
                        "scope": to_lash(summary.scope),
                        "effects": summary.effects,
                        "updated_at_unix_ms": summary.updated_at_unix_ms,
                    }
                )
        elif args.effects_command == "ls":
            for record in await controller.list_effects(scope):
                _print(_effect_json(record))
        else:
            _print(_effect_json(await controller.get_effect(scope, args.replay_key)))
        return EXIT_OK

    return run


def _limit_arg(limit: int) -> int:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidArgumentError("value_out_of_range", f"--limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
    return limit


def _sessions(args: argparse.Namespace) -> Action:
    limit = _limit_arg(args.limit)

    async def run(client: Client) -> int:
        for session in await client.list_sessions(limit=limit):
            _print(
                {
                    "session_id": session.session_id,
                    "pending": session.pending,
                    "resolved": session.resolved,
                    "revoked": session.revoked,
                    "last_activity_unix_ms": session.last_activity_unix_ms,
                }
            )
        return EXIT_OK

    return run


def _keys_pending(args: argparse.Namespace) -> Action:
    limit = _limit_arg(args.limit)

    async def run(client: Client) -> int:
        for pending in await client.list_pending_keys(args.session, limit=limit):
            # The key in lash field order (as `key mint` prints it), then when it was minted and its deadline.
            created, deadline = dumps(pending.created_at_unix_ms), dumps(pending.deadline_unix_ms)
            _write(
                f'{_key_with_token(pending.key)[:-1]},"created_at_unix_ms":{created},"deadline_unix_ms":{deadline}}}'
            )
        return EXIT_OK

    return run


def _process_status_filter(text: str) -> Any:
    from effectd._process import ProcessStatusFilter

    try:
        return ProcessStatusFilter(text)
    except ValueError:
        choices = ", ".join(s.value for s in ProcessStatusFilter)
        raise _usage(f"--status must be one of {choices}, got {text!r}") from None


def _processes(args: argparse.Namespace) -> Action:
    """`effectd processes ...`: the process registry, one JSON line per record, event or grant."""
    from effectd._process import ProcessListFilter, SessionScope

    command = args.processes_command
    payload = _json_arg(args.payload, "--payload") if command == "signal" else None
    if command == "events" and args.after < 0:
        raise InvalidArgumentError("value_out_of_range", f"--after must be at least 0, got {args.after}")
    list_filter = None
    if command == "ls":
        list_filter = ProcessListFilter(
            status=_process_status_filter(args.status), waiting=True if args.waiting else None
        )

    async def run(client: Client) -> int:
        from effectd._processes import RemoteProcessRegistry

        registry = RemoteProcessRegistry(client)
        if command == "ls":
            for record in await registry.list_processes(list_filter):
                _print(record)
        elif command == "show":
            found = await registry.get_process(args.process_id)
            if found is None:
                raise NotFoundError("process_unknown", f"unknown process `{args.process_id}`")
            _print(found)
        elif command == "events":
            if args.follow:
                async for event in registry.stream_events(args.process_id, args.after, until_terminal=True):
                    _print(event)
            else:
                for event in await registry.events_after(args.process_id, args.after):
                    _print(event)
        elif command == "signal":
            signal_id = args.signal_id or secrets.token_hex(8)
            receipt = await registry.signal(args.process_id, args.name, signal_id, payload)
            _print({"event": receipt.event, "replayed": receipt.replayed, "resolved_key_id": receipt.resolved_key_id})
        elif command == "cancel":
            _print(await registry.cancel_process(args.process_id, args.reason))
        elif command == "await":
            _print(await registry.await_process(args.process_id))
        else:
            for grant, record in await registry.list_handle_grants(SessionScope(args.session, args.frame)):
                _print({"grant": grant, "record": record})
        return EXIT_OK

    return run


def _signing_key_json(key: Any) -> dict[str, Any]:
    return {"kid": key.kid, "state": key.state, "created_at_unix_ms": key.created_at_unix_ms}


def _keys(args: argparse.Namespace) -> Action:
    async def run(client: Client) -> int:
        if args.keys_command == "list":
            _print([_signing_key_json(k) for k in await client.list_signing_keys()])
        elif args.keys_command == "rotate":
            _print(_signing_key_json(await client.rotate_signing_key()))
        else:
            _print(_signing_key_json(await client.retire_signing_key(args.kid)))
        return EXIT_OK

    return run


# -- serve ---------------------------------------------------------------------------------------------

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level() -> str:
    level = os.environ.get("EFFECTD_LOG_LEVEL", "INFO").strip().upper()
    if level not in _LOG_LEVELS:
        raise _usage(f"EFFECTD_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {level[:32]!r}")
    return level


def _serve_config(args: argparse.Namespace, load_config: Callable[..., Any]) -> Any:
    """The configuration of `serve`: the modules' flags as overrides, read by a module's
    `serve_config(args, overrides)` (a config file, more flags), else by `load_config` with the flags and
    EFFECTD_* variables."""
    overrides: dict[str, object] = {}
    for module in _modules():
        if (hook := _hook(module, "serve_overrides")) is not None:
            overrides.update(hook(args))
    for module in _modules():
        if (hook := _hook(module, "serve_config")) is not None:
            return hook(args, overrides)
    return load_config(listen=args.listen, db=args.db, store=args.store, overrides=overrides)


def _serve(args: argparse.Namespace) -> int:
    try:
        from effectd_server import load_config, serve
        from effectd_server.http import check_listen
    except ImportError:
        raise _usage("effectd serve needs the server extra: pip install 'effectd[server]'") from None
    level = _log_level()
    try:
        config = _serve_config(args, load_config)
        if args.http_listen is not None:
            check_listen(args.http_listen)
            config = dataclasses.replace(config, http_listen=args.http_listen)
    except ValueError as exc:
        raise _usage(str(exc)) from None
    if config.store.is_postgres():
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise _usage(
                "a postgresql:// store needs the postgres extra: pip install 'effectd[server,postgres]'"
            ) from None
    else:
        folder = Path(config.store.sqlite_path()).parent
        if not folder.is_dir():
            raise _usage(f"the folder of the SQLite file does not exist: {folder}")
    from effectd_server.log_format import configure_logging

    configure_logging(config.logs, level)

    async def run() -> None:
        # On SIGTERM the server drains (refuses new calls with UNAVAILABLE, lets accepted ones finish)
        # and closes its store; gRPC core is not shut down (that would answer calls it still holds
        # CANCELLED): the process exits and the kernel closes the sockets (clients see UNAVAILABLE).
        async with serve(config, stop_listening=False) as server:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            print(f"effectd listening on {server.target}", file=sys.stderr, flush=True)
            if server.http is not None:
                print(f"effectd HTTP resolve endpoint on {server.http.url}", file=sys.stderr, flush=True)
            await stop.wait()
            logging.getLogger("effectd.server").info("shutting down")
        logging.getLogger("effectd.server").info("drained; exiting")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)

    try:
        asyncio.run(run())
    except EffectdError as exc:
        print(f"effectd: {exc.code}: cannot serve: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bind failure, a file that is not a database, ...: one line, not a traceback
        print(f"effectd: serve_failed: cannot serve: {_describe(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- the parser ------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors go through the one handler: `effectd: invalid_request: ...`, exit 2."""

    def error(self, message: str) -> NoReturn:
        raise _usage(f"{message} (see `{self.prog} --help`)")


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes (accepted anywhere on the line: see `_mirror_global_options`)."""
    parser.add_argument(
        "--target",
        default=os.environ.get("EFFECTD_TARGET", DEFAULT_TARGET),
        help=f"server address HOST:PORT, several comma-separated (env EFFECTD_TARGET; default {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=CONNECT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long to wait for a server that accepts the connection (default {CONNECT_TIMEOUT_S:g}); "
        "a refused connection fails at once",
    )


def _command(commands: Any, name: str, help: str, **kwargs: Any) -> Any:
    return commands.add_parser(
        name, help=help, description=help, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )


KEY_HELP = "the key: its token (ek1_...), its JSON as `key mint` prints it, - for stdin or @FILE"


def add_commands(commands: Any) -> None:
    """The await-event, journal, process and keyring commands, and serve."""
    serve = _command(commands, "serve", "run the server")
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help="gRPC address (env EFFECTD_LISTEN; default 127.0.0.1:50551)"
    )
    serve.add_argument("--db", metavar="PATH", help="SQLite file (env EFFECTD_DB; default ./effectd.db)")
    serve.add_argument(
        "--store", metavar="URL", help="store URL: a SQLite path or postgresql://... for replicas (env EFFECTD_STORE)"
    )
    serve.add_argument(
        "--http-listen",
        metavar="HOST:PORT",
        help="also serve the HTTP resolve endpoint (POST /v1/resolve/{token}, GET /v1/keys/{token}) here",
    )
    serve.set_defaults(local=_serve)

    key = _command(commands, "key", "await-event keys").add_subparsers(
        dest="key_command", required=True, metavar="COMMAND"
    )
    mint = _command(key, "mint", "mint the signed key for a scope and a wait", epilog=types_help())
    mint.add_argument("--scope", required=True, metavar="JSON", help="the execution scope (types below)")
    mint.add_argument("--wait", required=True, metavar="JSON", help="what is awaited (types below)")
    mint.set_defaults(action=_key_mint)

    resolve = _command(commands, "resolve", "resolve a key (first writer wins)")
    resolve.add_argument("key", metavar="KEY", help=KEY_HELP)
    how = resolve.add_mutually_exclusive_group(required=True)
    how.add_argument("--ok", metavar="JSON", help="succeed with this JSON value (- for stdin, @FILE)")
    how.add_argument("--err", nargs=2, metavar=("CODE", "MESSAGE"), help="fail with an error code and message")
    how.add_argument("--cancelled", action="store_true", help="record cancelled")
    resolve.set_defaults(action=_resolve)

    wait = _command(commands, "await", "wait for a key's terminal and print it")
    wait.add_argument("key", metavar="KEY", help=KEY_HELP)
    wait.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="the server records timeout when they pass (exit 5); with the server gone, gives up then (exit 3)",
    )
    wait.set_defaults(action=_await)

    peek = _command(commands, "peek", "a key's state, without waiting")
    peek.add_argument("key", metavar="KEY", help=KEY_HELP)
    peek.set_defaults(action=_peek)

    watch = _command(commands, "watch", "wait for many keys; one JSON line per terminal")
    watch.add_argument("keys", metavar="KEY", nargs="+", help=KEY_HELP)
    watch.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop after this long (exit 5 when keys are still pending)"
    )
    watch.set_defaults(action=_watch)

    cancel = _command(commands, "cancel", "record cancelled as a key's terminal")
    cancel.add_argument("key", metavar="KEY", help=KEY_HELP)
    cancel.set_defaults(action=_cancel)

    revoke_key = _command(commands, "revoke-key", "revoke one key")
    revoke_key.add_argument("key", metavar="KEY", help=KEY_HELP)
    revoke_key.set_defaults(action=_revoke_key)

    revoke_session = _command(commands, "revoke-session", "revoke every key of a session, for good")
    revoke_session.add_argument("session_id", metavar="ID", help="the session id")
    revoke_session.set_defaults(action=_revoke_session)

    cancel_waits = _command(commands, "cancel-session-waits", "cancel every pending key of a session (it stays usable)")
    cancel_waits.add_argument("session_id", metavar="ID", help="the session id")
    cancel_waits.set_defaults(action=_cancel_session_waits)

    effects = _command(commands, "effects", "the effect journal").add_subparsers(
        dest="effects_command", required=True, metavar="COMMAND"
    )
    effects_ls = _command(
        effects,
        "ls",
        "a scope's journal, oldest first, one JSON line per effect; without --scope the most recently "
        "updated scopes, one JSON line each",
    )
    effects_ls.add_argument("--scope", metavar="JSON", help='e.g. {"type":"turn","session_id":"s1","turn_id":"t1"}')
    effects_ls.add_argument("--limit", type=int, default=100, metavar="N", help="without --scope: at most N scopes")
    effects_ls.set_defaults(action=_effects)
    effects_show = _command(effects, "show", "one journaled effect")
    effects_show.add_argument("--scope", required=True, metavar="JSON", help="the execution scope")
    effects_show.add_argument("replay_key", metavar="REPLAY_KEY", help="the effect's replay key")
    effects_show.set_defaults(action=_effects)

    _add_process_commands(commands)

    keys = _command(commands, "keys", "the signing keyring").add_subparsers(
        dest="keys_command", required=True, metavar="COMMAND"
    )
    _command(keys, "list", "list signing keys").set_defaults(action=_keys)
    _command(keys, "rotate", "make a new active signing key").set_defaults(action=_keys)
    retire = _command(keys, "retire", "retire a signing key (its keys stop verifying)")
    retire.add_argument("kid", metavar="KID", help="the signing key id, as `keys list` prints it")
    retire.set_defaults(action=_keys)
    pending = _command(keys, "pending", "a session's pending await-event keys, oldest first, with tokens")
    pending.add_argument("--session", required=True, metavar="ID", help="the session id")
    pending.add_argument("--limit", type=int, default=100, metavar="N", help="at most N keys (default 100)")
    pending.set_defaults(action=_keys_pending)

    sessions = _command(commands, "sessions", "sessions that have keys").add_subparsers(
        dest="sessions_command", required=True, metavar="COMMAND"
    )
    sessions_ls = _command(sessions, "ls", "sessions, most recently active first: pending and resolved keys, revoked")
    sessions_ls.add_argument("--limit", type=int, default=100, metavar="N", help="at most N sessions (default 100)")
    sessions_ls.set_defaults(action=_sessions)


def _add_process_commands(commands: Any) -> None:
    processes = _command(commands, "processes", "the process registry").add_subparsers(
        dest="processes_command", required=True, metavar="COMMAND"
    )
    ls = _command(processes, "ls", "processes by id, one JSON line each (default: running)")
    ls.add_argument("--status", default="running", help="running, completed, failed, cancelled or any")
    ls.add_argument("--waiting", action="store_true", help="only processes in a wait state")
    show = _command(processes, "show", "one process record")
    show.add_argument("process_id", metavar="ID", help="the process id")
    events = _command(processes, "events", "a process's events, one JSON line each")
    events.add_argument("process_id", metavar="ID", help="the process id")
    events.add_argument("--after", type=int, default=0, metavar="N", help="only events with a sequence above N")
    events.add_argument(
        "--follow", action="store_true", help="then each new event as it is appended, until the terminal one"
    )
    signal_ = _command(processes, "signal", "send a signal (resolves its await-event key)")
    signal_.add_argument("process_id", metavar="ID", help="the process id")
    signal_.add_argument("name", metavar="NAME", help="the signal name")
    signal_.add_argument("--payload", required=True, metavar="JSON", help="the payload; - for stdin, @FILE")
    signal_.add_argument("--signal-id", help="deduplicates resends (default: a new random id)")
    cancel = _command(processes, "cancel", "request cancellation (idempotent by reason)")
    cancel.add_argument("process_id", metavar="ID", help="the process id")
    cancel.add_argument("--reason", help="why (the same reason twice cancels once)")
    await_ = _command(processes, "await", "wait until the process is terminal; print its output")
    await_.add_argument("process_id", metavar="ID", help="the process id")
    grants = _command(processes, "grants", "a session scope's handle grants with their records")
    grants.add_argument("--session", required=True, metavar="ID", help="the session id")
    grants.add_argument("--frame", metavar="AGENT_FRAME_ID", help="an agent frame within the session")
    for sub in (ls, show, events, signal_, cancel, await_, grants):
        sub.set_defaults(action=_processes)


def command_group(commands: Any, name: str) -> Any:
    """The subcommands of an existing group (`keys`, `effects`, ...), for a module that adds to it:
    `command_group(commands, "keys").add_parser(...)`."""
    for action in commands.choices[name]._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise KeyError(name)


def _modules() -> list[Any]:
    return [importlib.import_module(name) for name in COMMAND_MODULES]


def _hook(module: Any, *names: str) -> Any:
    """The module's function under the first of `names` it defines, or None."""
    for name in names:
        if hasattr(module, name):
            return getattr(module, name)
    return None


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found.append(sub)
                found.extend(_subparsers(sub))
    return found


def _mirror_global_options(parser: argparse.ArgumentParser) -> None:
    """Accept every global option after any command too: each command gets a copy that leaves the
    top-level value alone when the option is not given there (default SUPPRESS). A command's own option
    of the same name (`serve --tls-cert`) wins."""
    globals_ = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    for sub in _subparsers(parser):
        for action in globals_:
            if any(option in sub._option_string_actions for option in action.option_strings):
                continue
            mirrored = copy.copy(action)
            mirrored.default = argparse.SUPPRESS
            mirrored.required = False
            sub._add_action(mirrored)


def build_parser(modules: Sequence[Any] | None = None) -> argparse.ArgumentParser:
    modules = _modules() if modules is None else modules
    parser = _Parser(
        prog="effectd",
        description="effectd: the effect controller for agent runtimes. JSON in, JSON out.",
        epilog=types_help() + "\n\n" + _exit_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser)
    for module in modules:
        if (add_global := _hook(module, "add_global_options", "add_global_flags")) is not None:
            add_global(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(commands)
    for module in modules:
        if (add := _hook(module, "add_commands", "add_admin_commands")) is not None:
            add(commands)
        if (add_serve := _hook(module, "add_serve_flags")) is not None:
            add_serve(commands.choices["serve"])
        if (add_keys := _hook(module, "add_keys_commands")) is not None:
            add_keys(command_group(commands, "keys"))
    _mirror_global_options(parser)
    return parser


async def _run_action(args: argparse.Namespace, action: Action) -> int:
    client = await _connect(args)
    async with client:
        return await action(client)


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    local = getattr(args, "local", None)
    if local is not None:
        status: int = local(args)
        return status
    # Inputs are read and checked before connecting: a bad argument never waits for a server.
    action: Action = args.action(args)
    return asyncio.run(_run_action(args, action))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the one place every failure becomes a line on stderr and an exit status."""
    try:
        return _run(argv)
    except EffectdError as exc:
        print(f"effectd: {exc.code}: {_one_line(exc.message)}", file=sys.stderr)
        return exit_status_for(exc)
    except _usage_errors() as exc:
        print(f"effectd: invalid_request: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`effectd keys list | true`): nothing to say, and nobody to say it to.
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except RecursionError:
        print("effectd: invalid_request: the input is nested too deeply", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # a command of the server extra, without it
        print(f"effectd: invalid_request: this command needs the server extra ({exc.name}): "
              "pip install 'effectd[server]'", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except Exception as exc:  # a bug: still one line, with a stable code
        print(f"effectd: internal: {type(exc).__name__}: {_one_line(_describe(exc))}", file=sys.stderr)
        return EXIT_ERROR


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Exception classes the modules raise for bad usage (their `USAGE_ERRORS`)."""
    try:
        return tuple(error for module in _modules() for error in getattr(module, "USAGE_ERRORS", ()))
    except ImportError:
        return ()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
