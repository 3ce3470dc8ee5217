"""The `effectd` command: a thin shell over the SDK. JSON in, JSON out, meaningful exit codes.

Exit codes: 0 success; 1 the server answered with an error (one line on stderr: code and message);
2 bad usage or bad JSON; 3 effectd unreachable; 4 resolve answered unknown_or_revoked.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from effectd._cli_workers import add_commands as add_worker_commands
from effectd._client import MAX_TIMEOUT_S, Client, KeyPending, WatchRejected, WatchTerminal
from effectd._convert_await_events import KeyRef
from effectd._errors import EffectdError, NotFoundError, UnavailableError
from effectd._journal import EffectRecord
from effectd._json import parse_json
from effectd._lashjson import dumps, to_lash
from effectd._scope import (
    TOKEN_PREFIX,
    AwaitEventKey,
    Cancelled,
    Err,
    ExternalCompletionError,
    InvalidTokenError,
    Ok,
    Resolution,
    UnknownOrRevoked,
    key_from_lash,
    key_from_token,
    scope_from_lash,
    wait_from_lash,
)

__all__ = ["main"]

DEFAULT_TARGET = "127.0.0.1:50551"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_UNKNOWN_OR_REVOKED = 0, 1, 2, 3, 4


class UsageError(Exception):
    pass


def _read_arg(text: str, what: str) -> str:
    """The argument's text: itself, stdin for `-`, a file's content for `@FILE`."""
    try:
        if text == "-":
            return sys.stdin.read()
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                return handle.read()
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {text[1:]}: {exc.strerror}") from None
    return text


def _json_arg(text: str, what: str) -> Any:
    """JSON read strictly, as the server reads it (exact integers, no NaN, no duplicate keys)."""
    text = _read_arg(text, what).strip()
    try:
        return parse_json(text, what)
    except EffectdError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.message}") from None


def _key_arg(text: str) -> KeyRef:
    """A key as JSON (`effectd key mint` prints it; a "token" field in it is ignored), or its token."""
    text = _read_arg(text, "KEY_JSON").strip()
    if text.startswith(TOKEN_PREFIX):
        return text  # sent as is: the server answers an invalid token like a tampered key
    return key_from_lash(_json_arg(text, "KEY_JSON"))


def _key_with_token(key: AwaitEventKey) -> str:
    """The key's lash JSON with its token added as a last field, "token"."""
    return key.to_json()[:-1] + ',"token":' + dumps(key.token) + "}"


def _print(value: Any) -> None:
    sys.stdout.write(dumps(to_lash(value)) + "\n")
    sys.stdout.flush()


def _resolution_arg(args: argparse.Namespace) -> Resolution:
    if args.ok is not None:
        return Ok(_json_arg(args.ok, "--ok"))
    if args.err is not None:
        code, message = args.err
        return Err(ExternalCompletionError(code, message))
    return Cancelled()


Action = Callable[[Client], Awaitable[int]]


async def _with_client(args: argparse.Namespace, action: Action) -> int:
    client = await Client.connect(args.target, connect_timeout=args.connect_timeout)
    async with client:
        return await action(client)


def _key_mint(args: argparse.Namespace) -> Action:
    scope = scope_from_lash(_json_arg(args.scope, "--scope"))
    wait = wait_from_lash(_json_arg(args.wait, "--wait"))

    async def run(client: Client) -> int:
        key = await client.mint_key(scope, wait)
        sys.stdout.write(_key_with_token(key) + "\n")
        sys.stdout.flush()
        return EXIT_OK

    return run


def _resolve(args: argparse.Namespace) -> Action:
    key, resolution = _key_arg(args.key), _resolution_arg(args)

    async def run(client: Client) -> int:
        outcome = await client.resolve(key, resolution)
        _print(outcome)
        return EXIT_UNKNOWN_OR_REVOKED if isinstance(outcome, UnknownOrRevoked) else EXIT_OK

    return run


def _await(args: argparse.Namespace) -> Action:
    key = _key_arg(args.key)
    if args.timeout is not None and not (math.isfinite(args.timeout) and 0 <= args.timeout <= MAX_TIMEOUT_S):
        raise UsageError(f"--timeout must be a number of seconds between 0 and {MAX_TIMEOUT_S}")

    async def run(client: Client) -> int:
        _print(await client.await_event(key, timeout=args.timeout))
        return EXIT_OK

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

    async def run(client: Client) -> int:
        status = EXIT_OK
        async for event in client.watch(keys):
            if isinstance(event, WatchTerminal):
                _print({"key_id": event.key_id, "cursor": event.cursor, "terminal": to_lash(event.resolution)})
            elif isinstance(event, WatchRejected):
                rejected: dict[str, Any] = {"key_id": event.key_id}
                if event.token:
                    rejected["token"] = event.token
                _print({**rejected, "rejected": {"code": event.code, "message": event.message}})
                status = EXIT_ERROR
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
    scope = scope_from_lash(_json_arg(args.scope, "--scope"))

    async def run(client: Client) -> int:
        from effectd._controller import RemoteEffectController

        controller = RemoteEffectController(client)
        if args.effects_command == "ls":
            for record in await controller.list_effects(scope):
                _print(_effect_json(record))
        else:
            _print(_effect_json(await controller.get_effect(scope, args.replay_key)))
        return EXIT_OK

    return run


def _process_status_filter(text: str) -> Any:
    from effectd._process import ProcessStatusFilter

    try:
        return ProcessStatusFilter(text)
    except ValueError:
        choices = ", ".join(s.value for s in ProcessStatusFilter)
        raise UsageError(f"--status must be one of {choices}, got {text!r}") from None


def _processes(args: argparse.Namespace) -> Action:
    """`effectd processes ...`: the process registry, one JSON line per record, event or grant."""
    from effectd._process import ProcessListFilter, SessionScope

    command = args.processes_command
    payload = _json_arg(args.payload, "--payload") if command == "signal" else None
    if command == "events" and args.after < 0:
        raise UsageError(f"--after must be at least 0, got {args.after}")
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


def _serve(args: argparse.Namespace) -> int:
    try:
        from effectd_server import load_config, serve
    except ImportError:
        raise UsageError("effectd serve needs the server extra: pip install 'effectd[server]'") from None
    logging.basicConfig(
        level=os.environ.get("EFFECTD_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        config = load_config(listen=args.listen, db=args.db, store=args.store)
    except ValueError as exc:
        raise UsageError(str(exc)) from None

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
            await stop.wait()
            logging.getLogger("effectd.server").info("shutting down")
        logging.getLogger("effectd.server").info("drained; exiting")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"effectd: cannot serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="effectd", description="effectd: the effect controller for agent runtimes")
    parser.add_argument(
        "--target",
        default=os.environ.get("EFFECTD_TARGET", DEFAULT_TARGET),
        help="server address host:port (env EFFECTD_TARGET; default %(default)s)",
    )
    parser.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to wait for the server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--listen", help="HOST:PORT (env EFFECTD_LISTEN; default 127.0.0.1:50551)")
    serve.add_argument("--db", help="SQLite file (env EFFECTD_DB; default ./effectd.db)")
    serve.add_argument("--store", help="store URL: a SQLite path or postgresql://... for replicas (env EFFECTD_STORE)")

    key = commands.add_parser("key", help="await-event keys").add_subparsers(dest="key_command", required=True)
    mint = key.add_parser("mint", help="mint the signed key for a scope and a wait")
    mint.add_argument("--scope", required=True, help='e.g. {"type":"turn","session_id":"s1","turn_id":"t1"}')
    mint.add_argument("--wait", required=True, help='e.g. {"type":"tool_completion","tool_call_id":"c1"}')
    mint.set_defaults(action=_key_mint)

    resolve = commands.add_parser("resolve", help="resolve a key (first writer wins)")
    resolve.add_argument("key", metavar="KEY_JSON", help="the key as JSON or its token, - for stdin, @FILE for a file")
    how = resolve.add_mutually_exclusive_group(required=True)
    how.add_argument("--ok", metavar="JSON")
    how.add_argument("--err", nargs=2, metavar=("CODE", "MESSAGE"))
    how.add_argument("--cancelled", action="store_true")
    resolve.set_defaults(action=_resolve)

    wait = commands.add_parser("await", help="wait for a key's terminal")
    wait.add_argument("key", metavar="KEY_JSON")
    wait.add_argument("--timeout", type=float, help="seconds; when they pass the server records timeout")
    wait.set_defaults(action=_await)

    peek = commands.add_parser("peek", help="a key's state, without waiting")
    peek.add_argument("key", metavar="KEY_JSON")
    peek.set_defaults(action=_peek)

    watch = commands.add_parser("watch", help="wait for many keys; one JSON line per terminal")
    watch.add_argument("keys", metavar="KEY_JSON", nargs="+")
    watch.set_defaults(action=_watch)

    cancel = commands.add_parser("cancel", help="record cancelled as a key's terminal")
    cancel.add_argument("key", metavar="KEY_JSON")
    cancel.set_defaults(action=_cancel)

    revoke_key = commands.add_parser("revoke-key", help="revoke one key")
    revoke_key.add_argument("key", metavar="KEY_JSON")
    revoke_key.set_defaults(action=_revoke_key)

    revoke_session = commands.add_parser("revoke-session", help="revoke every key of a session, for good")
    revoke_session.add_argument("session_id", metavar="ID")
    revoke_session.set_defaults(action=_revoke_session)

    cancel_waits = commands.add_parser("cancel-session-waits", help="cancel every pending key of a session")
    cancel_waits.add_argument("session_id", metavar="ID")
    cancel_waits.set_defaults(action=_cancel_session_waits)

    effects = commands.add_parser("effects", help="the effect journal").add_subparsers(
        dest="effects_command", required=True
    )
    effects_ls = effects.add_parser("ls", help="a scope's journal, oldest first, one JSON line per effect")
    effects_ls.add_argument("--scope", required=True, help='e.g. {"type":"turn","session_id":"s1","turn_id":"t1"}')
    effects_ls.set_defaults(action=_effects)
    effects_show = effects.add_parser("show", help="one journaled effect")
    effects_show.add_argument("--scope", required=True)
    effects_show.add_argument("replay_key", metavar="REPLAY_KEY")
    effects_show.set_defaults(action=_effects)

    processes = commands.add_parser("processes", help="the process registry").add_subparsers(
        dest="processes_command", required=True
    )
    processes_ls = processes.add_parser("ls", help="processes by id, one JSON line each (default: running)")
    processes_ls.add_argument("--status", default="running", help="running, completed, failed, cancelled or any")
    processes_ls.add_argument("--waiting", action="store_true", help="only processes in a wait state")
    processes_show = processes.add_parser("show", help="one process record")
    processes_show.add_argument("process_id", metavar="ID")
    processes_events = processes.add_parser("events", help="a process's events, one JSON line each")
    processes_events.add_argument("process_id", metavar="ID")
    processes_events.add_argument("--after", type=int, default=0, help="only events with a sequence above N")
    processes_events.add_argument(
        "--follow", action="store_true", help="then each new event as it is appended, until the terminal one"
    )
    processes_signal = processes.add_parser("signal", help="send a signal (resolves its await-event key)")
    processes_signal.add_argument("process_id", metavar="ID")
    processes_signal.add_argument("name", metavar="NAME")
    processes_signal.add_argument("--payload", required=True, metavar="JSON", help="- for stdin, @FILE for a file")
    processes_signal.add_argument("--signal-id", help="deduplicates resends (default: a new random id)")
    processes_cancel = processes.add_parser("cancel", help="request cancellation (idempotent by reason)")
    processes_cancel.add_argument("process_id", metavar="ID")
    processes_cancel.add_argument("--reason")
    processes_await = processes.add_parser("await", help="wait until the process is terminal; print its output")
    processes_await.add_argument("process_id", metavar="ID")
    processes_grants = processes.add_parser("grants", help="a session scope's handle grants with their records")
    processes_grants.add_argument("--session", required=True, metavar="ID")
    processes_grants.add_argument("--frame", metavar="AGENT_FRAME_ID")
    for sub in (
        processes_ls,
        processes_show,
        processes_events,
        processes_signal,
        processes_cancel,
        processes_await,
        processes_grants,
    ):
        sub.set_defaults(action=_processes)

    keys = commands.add_parser("keys", help="the signing keyring").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("list", help="list signing keys").set_defaults(action=_keys)
    keys.add_parser("rotate", help="make a new active signing key").set_defaults(action=_keys)
    retire = keys.add_parser("retire", help="retire a signing key (its keys stop verifying)")
    retire.add_argument("kid")
    retire.set_defaults(action=_keys)
    add_worker_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        try:
            # Inputs are read and checked before connecting: a bad argument never waits for a server.
            action = args.action(args)
        except EffectdError as exc:
            raise UsageError(f"{exc.code}: {exc.message}") from None
        return asyncio.run(_with_client(args, action))
    except UsageError as exc:
        print(f"effectd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnavailableError as exc:
        print(f"effectd: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except EffectdError as exc:
        print(f"effectd: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
