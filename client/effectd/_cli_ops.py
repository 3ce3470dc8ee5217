"""The operator's part of the `effectd` command: the serve flags for metrics, logs, tracing and retention,
and `effectd gc [--dry-run]`, plugged into `_cli` by its hooks (`add_serve_flags`, `serve_overrides`,
`add_commands`); a command added here runs through `args.local(args)` and returns its exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from typing import Any

__all__ = ["add_commands", "add_serve_flags", "serve_overrides"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


def add_serve_flags(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--admin-listen", metavar="HOST:PORT", help="serve /metrics here (env EFFECTD_ADMIN_LISTEN)")
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="log lines as text or JSON (env EFFECTD_LOG_FORMAT; default text)",
    )
    serve.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="export traces over OTLP/gRPC, e.g. http://127.0.0.1:4317 (off by default)",
    )
    retention = serve.add_argument_group("retention (seconds; 0 keeps forever; default 7 days each)")
    retention.add_argument("--retention-keys", type=float, metavar="S", help="resolved await-event keys")
    retention.add_argument("--retention-journal", type=float, metavar="S", help="completed and failed journal rows")
    retention.add_argument("--retention-processes", type=float, metavar="S", help="terminal process records")
    retention.add_argument("--retention-sweep", type=float, metavar="S", help="sweep interval (default 60; 0: off)")


def serve_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The flags above as config overrides (field path → value; None: not given)."""
    return {
        "metrics.admin_listen": getattr(args, "admin_listen", None),
        "logs.format": getattr(args, "log_format", None),
        "tracing.otlp_endpoint": getattr(args, "otlp_endpoint", None),
        "retention.resolved_keys_s": getattr(args, "retention_keys", None),
        "retention.journal_s": getattr(args, "retention_journal", None),
        "retention.processes_s": getattr(args, "retention_processes", None),
        "retention.sweep_interval_s": getattr(args, "retention_sweep", None),
    }


def add_commands(commands: Any) -> None:
    gc = commands.add_parser(
        "gc",
        help="delete what outlived its retention now (resolved keys, finished journal rows, terminal processes)",
        description="Through a running server's admin listener (--admin), or on the store directly (--store or"
        " --db; a SQLite file must not be in use by a server). Prints what was deleted, by kind, as JSON.",
    )
    gc.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    where = gc.add_mutually_exclusive_group()
    where.add_argument("--admin", metavar="HOST:PORT", help="a running server's --admin-listen address")
    where.add_argument("--store", help="store URL: a SQLite path or postgresql://... (env EFFECTD_STORE)")
    where.add_argument("--db", help="SQLite file (env EFFECTD_DB; default ./effectd.db)")
    gc.add_argument("--retention-keys", type=float, metavar="S", help="as for serve (env EFFECTD_RETENTION_KEYS_S)")
    gc.add_argument("--retention-journal", type=float, metavar="S", help="(env EFFECTD_RETENTION_JOURNAL_S)")
    gc.add_argument("--retention-processes", type=float, metavar="S", help="(env EFFECTD_RETENTION_PROCESSES_S)")
    gc.set_defaults(local=_gc)


def _fail(message: str, code: int) -> int:
    print(f"effectd: {message}", file=sys.stderr)
    return code


def _gc(args: argparse.Namespace) -> int:
    if args.admin:
        return _gc_through_admin(args.admin, args.dry_run)
    try:
        from effectd_server.config import load_config
        from effectd_server.retention import sweep_store
    except ImportError:
        return _fail("effectd gc needs the server extra: pip install 'effectd[server]'", EXIT_USAGE)
    try:
        config = load_config(db=args.db, store=args.store, overrides=serve_overrides(args))
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        report = asyncio.run(sweep_store(config, dry_run=args.dry_run))
    except OSError as exc:
        return _fail(f"cannot sweep: {exc} (sweep a served SQLite file with --admin HOST:PORT)", EXIT_ERROR)
    except Exception as exc:
        code = getattr(exc, "code", None)
        if code == "store_unavailable":
            return _fail(f"{code}: {getattr(exc, 'message', exc)}", EXIT_UNAVAILABLE)
        raise
    _print({"dry_run": report.dry_run, "deleted": report.deleted})
    return EXIT_OK


def _gc_through_admin(admin: str, dry_run: bool) -> int:
    host, sep, port = admin.rpartition(":")
    if not sep or not host or not port.isdigit():
        return _fail(f"--admin must be HOST:PORT, got {admin!r}", EXIT_USAGE)
    url = f"http://{admin}/gc?dry_run={1 if dry_run else 0}"
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            report = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return _fail(f"gc failed: HTTP {exc.code}: {exc.read().decode('utf-8', 'replace').strip()}", EXIT_ERROR)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _fail(f"unavailable: cannot reach the admin listener at {admin}: {reason}", EXIT_UNAVAILABLE)
    _print(report)
    return EXIT_OK


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()
