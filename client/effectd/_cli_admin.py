"""The operator's part of the `effectd` command: connection security flags shared by every command
(`--tls-ca/--tls-cert/--tls-key/--token`, `--version`), the serve flags of issue 11 (`--config`, TLS,
tokens, master key, `--insecure`), and the commands that work without a server: `effectd tokens add`,
`effectd keys rewrap`, `effectd keys new-master-key`, `effectd config show`.

`_cli.py` calls the few functions here; everything about these flags lives in this module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from effectd._channel import TLSConfig

__all__ = [
    "add_admin_commands",
    "add_global_flags",
    "add_keys_commands",
    "add_serve_flags",
    "connect_options",
    "serve_config",
]

ROLES = ("runtime", "resolver", "worker", "admin")
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class AdminUsageError(Exception):
    """Bad flags or configuration: exit 2 with one line on stderr."""


USAGE_ERRORS = (AdminUsageError,)
"""What `_cli`'s one handler reports as bad usage."""


def _version() -> str:
    try:
        return metadata.version("effectd")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- every command: how to reach the server -------------------------------------------------------------


def add_global_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"effectd {_version()}")
    parser.add_argument(
        "--tls-ca", dest="client_tls_ca", metavar="FILE", default=os.environ.get("EFFECTD_TLS_CA"),
        help="speak TLS, trusting these PEM CA certificates (env EFFECTD_TLS_CA)",
    )  # fmt: skip
    parser.add_argument(
        "--tls-cert", dest="client_tls_cert", metavar="FILE", default=os.environ.get("EFFECTD_TLS_CLIENT_CERT"),
        help="client certificate for mTLS (env EFFECTD_TLS_CLIENT_CERT)",
    )  # fmt: skip
    parser.add_argument(
        "--tls-key", dest="client_tls_key", metavar="FILE", default=os.environ.get("EFFECTD_TLS_CLIENT_KEY"),
        help="the client certificate's key (env EFFECTD_TLS_CLIENT_KEY)",
    )  # fmt: skip
    parser.add_argument(
        "--tls-server-name", dest="client_tls_server_name", metavar="NAME",
        help="the name the server certificate must carry, when it is not the target's host",
    )  # fmt: skip
    parser.add_argument(
        "--token", default=os.environ.get("EFFECTD_TOKEN"),
        help="bearer token sent with every call (env EFFECTD_TOKEN, which keeps it out of the process list)",
    )  # fmt: skip


def connect_options(args: argparse.Namespace) -> dict[str, Any]:
    """`Client.connect` keyword arguments from the global flags."""
    tls: TLSConfig | None = None
    cert, key = args.client_tls_cert, args.client_tls_key
    if (cert is None) != (key is None):
        raise AdminUsageError("--tls-cert and --tls-key go together")
    for path in (args.client_tls_ca, cert, key):
        if path is not None and not os.access(path, os.R_OK):
            raise AdminUsageError(f"cannot read {path}")
    if args.client_tls_ca is not None or cert is not None or args.client_tls_server_name is not None:
        tls = TLSConfig(
            ca_file=args.client_tls_ca, cert_file=cert, key_file=key, server_name=args.client_tls_server_name
        )
    return {"tls": tls, "token": args.token or None}


# -- effectd serve (and config show): the configuration ------------------------------------------------


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file (env EFFECTD_CONFIG)")
    parser.add_argument("--tls-cert", dest="serve_tls_cert", metavar="FILE", help="server certificate: serve TLS only")
    parser.add_argument("--tls-key", dest="serve_tls_key", metavar="FILE", help="the server certificate's key")
    parser.add_argument(
        "--tls-client-ca", dest="serve_tls_client_ca", metavar="FILE", help="require client certificates of this CA"
    )
    parser.add_argument("--tokens-file", metavar="FILE", help="bearer-token hashes and roles (effectd tokens add)")
    parser.add_argument(
        "--master-key-file",
        metavar="FILE",
        help="master key that encrypts signing keys at rest (env EFFECTD_MASTER_KEY)",
    )
    parser.add_argument(
        "--insecure",
        action="store_const",
        const=True,
        help="allow a non-loopback --listen without TLS and tokens (logged as a warning)",
    )


def serve_config(args: argparse.Namespace, more_overrides: Mapping[str, object] | None = None) -> Any:
    """The effective configuration (an effectd_server ServerConfig; the SDK does not import the server):
    the config file, then EFFECTD_* variables, then these flags and `more_overrides` (other modules' flags)."""
    from effectd_server.config import load_config

    overrides: dict[str, object] = {
        **(more_overrides or {}),
        "tls.cert": getattr(args, "serve_tls_cert", None),
        "tls.key": getattr(args, "serve_tls_key", None),
        "tls.client_ca": getattr(args, "serve_tls_client_ca", None),
        "auth.tokens_file": getattr(args, "tokens_file", None),
        "auth.insecure": getattr(args, "insecure", None),
        "secrets.master_key_file": getattr(args, "master_key_file", None),
    }
    try:
        return load_config(
            config_file=getattr(args, "config", None),
            overrides=overrides,
            listen=getattr(args, "listen", None),
            db=getattr(args, "db", None),
            store=getattr(args, "store", None),
        )
    except ValueError as exc:
        raise AdminUsageError(str(exc)) from None


def _store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help="HOST:PORT (env EFFECTD_LISTEN)")
    parser.add_argument("--db", help="SQLite file (env EFFECTD_DB)")
    parser.add_argument("--store", help="store URL (env EFFECTD_STORE)")


# -- commands without a server --------------------------------------------------------------------------


def add_admin_commands(commands: Any) -> None:
    tokens = commands.add_parser("tokens", help="bearer tokens").add_subparsers(dest="tokens_command", required=True)
    add = tokens.add_parser("add", help="add a token with a role to the tokens file; print it (only this once)")
    add.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="runtime (keys, journal, processes), resolver (resolve, peek, cancel), worker, or admin (everything)",
    )
    add.add_argument("--name", default="", help="a note kept beside the hash (who or what holds the token)")
    add.add_argument(
        "--tokens-file", metavar="FILE", help="default: auth.tokens_file of --config / EFFECTD_TOKENS_FILE"
    )
    add.add_argument("--config", metavar="FILE", help="TOML configuration file naming the tokens file")
    add.set_defaults(local=_tokens_add)

    config = commands.add_parser("config", help="the server configuration").add_subparsers(
        dest="config_command", required=True
    )
    show = config.add_parser("show", help="print the effective configuration as JSON, secrets redacted")
    _store_flags(show)
    add_serve_flags(show)
    show.set_defaults(local=_config_show)


def add_keys_commands(keys: Any) -> None:
    rewrap = keys.add_parser(
        "rewrap",
        help="encrypt the stored signing keys under the configured master key (--master-key-file); "
        "run it with the server stopped on SQLite, at any time on PostgreSQL",
    )
    _store_flags(rewrap)
    rewrap.add_argument("--config", metavar="FILE", help="TOML configuration file")
    rewrap.add_argument("--master-key-file", metavar="FILE", help="the new master key (env EFFECTD_MASTER_KEY)")
    rewrap.add_argument(
        "--old-master-key-file",
        metavar="FILE",
        action="append",
        default=[],
        help="a master key the secrets are encrypted under now (repeatable; none if they are in the clear)",
    )
    rewrap.set_defaults(local=_keys_rewrap)
    new = keys.add_parser("new-master-key", help="print a new random master key (base64) for a master key file")
    new.set_defaults(local=_new_master_key)


def _tokens_add(args: argparse.Namespace) -> int:
    from effectd_server.edge.auth import append_token

    path = args.tokens_file
    if path is None:
        path = serve_config(argparse.Namespace(config=args.config)).auth.tokens_file
    if path is None:
        raise AdminUsageError("no tokens file: give --tokens-file, or auth.tokens_file in --config")
    try:
        token = append_token(path, args.role, args.name)
    except (OSError, ValueError) as exc:
        raise AdminUsageError(str(exc)) from None
    sys.stdout.write(token + "\n")
    print(f"effectd: token with role {args.role} added to {path}; it is shown only now", file=sys.stderr)
    return EXIT_OK


def _config_show(args: argparse.Namespace) -> int:
    from effectd_server.config import redacted_config

    sys.stdout.write(json.dumps(redacted_config(serve_config(args)), indent=2) + "\n")
    return EXIT_OK


def _keys_rewrap(args: argparse.Namespace) -> int:
    from effectd_server.secrets import MasterKeyError, load_master_keys
    from effectd_server.secrets.rewrap import rewrap_store

    config = serve_config(args)
    try:
        old = [key for path in args.old_master_key_file for key in load_master_keys(file=path, value=None)]
        report = asyncio.run(rewrap_store(config, old))
    except MasterKeyError as exc:
        print(f"effectd: {exc}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(json.dumps({"rewrapped": report.rewrapped, "unchanged": report.unchanged}) + "\n")
    return EXIT_OK


def _new_master_key(args: argparse.Namespace) -> int:
    from effectd_server.secrets import generate_master_key

    sys.stdout.write(generate_master_key() + "\n")
    return EXIT_OK
