"""Bearer tokens and roles, enforced at the edge for every RPC.

A call carries `authorization: Bearer <token>`. The tokens file holds only SHA-256 hashes of tokens (random
256-bit strings, so an unsalted hash is enough), each with a role; `effectd tokens add --role R` appends
one and prints the token once. `METHOD_ROLES` says which roles may call which RPC: one table, and a test
walks the service descriptors so that a new RPC cannot be added without a line here (an RPC missing from
it is refused to every role but admin).

Without a tokens file nothing is checked: the server then serves loopback only (`exposure_problems`),
unless told `insecure`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from effectd._channel import AUTHORIZATION_KEY
from effectd._errors import PermissionDeniedError, UnauthenticatedError

__all__ = [
    "METHOD_ROLES",
    "ROLES",
    "Authorizer",
    "Role",
    "TokenEntry",
    "append_token",
    "exposure_problems",
    "hash_token",
    "is_loopback",
    "load_tokens",
    "new_token",
]

Role = Literal["runtime", "resolver", "worker", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

_RUNTIME: frozenset[Role] = frozenset({"runtime", "admin"})
_RESOLVER: frozenset[Role] = frozenset({"runtime", "resolver", "admin"})
_ADMIN: frozenset[Role] = frozenset({"admin"})
_WORKER: frozenset[Role] = frozenset({"worker", "admin"})
_RUNTIME_OR_WORKER: frozenset[Role] = frozenset({"runtime", "worker", "admin"})
_ANY: frozenset[Role] = frozenset(ROLES)


def _service(name: str, roles: Mapping[str, frozenset[Role]]) -> dict[str, frozenset[Role]]:
    return {f"effectd.v1.{name}/{method}": allowed for method, allowed in roles.items()}


_PROCESS_RUNNER_METHODS = frozenset(
    {
        "GetProcess",
        "EventsAfter",
        "RecentEvents",
        "CountEventsThrough",
        "WaitEventAfter",
        "AppendEvent",
        "SetProcessWait",
        "ClearProcessWait",
        "CompleteProcess",
        "ClaimProcessLease",
        "RenewProcessLease",
        "CompleteProcessLease",
    }
)
"""What a worker running a process calls: its state and log, its events, its lease, its completion."""

METHOD_ROLES: dict[str, frozenset[Role]] = {
    # A runtime executes, completes and inspects its effects; anyone may ask what the server is.
    **_service(
        "EffectController",
        {
            "Describe": _ANY,
            "Execute": _RUNTIME,
            "Complete": _RUNTIME,
            "RenewLease": _RUNTIME,
            "ListEffects": _RUNTIME,
            "GetEffect": _RUNTIME,
            # Operators' listings across sessions.
            "ListScopes": _ADMIN,
        },
    ),
    # A resolver resolves, peeks and cancels by key or token, nothing else. A runtime also resolves (lash's
    # inline host resolves its own keys) and revokes or cancels its sessions' keys (the effect-host trait's
    # `revoke_await_events_for_session`); revoking single keys is an operator's act.
    **_service(
        "AwaitEvents",
        {
            "MintKey": _RUNTIME,
            "Resolve": _RESOLVER,
            "ResolveMany": _RESOLVER,
            "Await": _RUNTIME,
            "Watch": _RUNTIME,
            "Peek": _RESOLVER,
            "Cancel": _RESOLVER,
            "RevokeKey": _ADMIN,
            "RevokeSession": _RUNTIME,
            "CancelSessionWaits": _RUNTIME,
            # Operators' listings across sessions (pending keys come with tokens that resolve them).
            "ListSessions": _ADMIN,
            "ListPendingKeys": _ADMIN,
        },
    ),
    **_service("Keyring", {"ListSigningKeys": _ADMIN, "RotateSigningKey": _ADMIN, "RetireSigningKey": _ADMIN}),
    # The process registry is the runtime's (lash's ProcessRegistry trait), every method; a worker that runs
    # processes also reads and writes the ones it is assigned (below).
    **_service(
        "Processes",
        {
            method: _RUNTIME_OR_WORKER if method in _PROCESS_RUNNER_METHODS else _RUNTIME
            for method in (
                "RegisterProcess",
                "GetProcess",
                "ListProcesses",
                "ListNonTerminal",
                "SetExternalRef",
                "GrantHandle",
                "RevokeHandle",
                "HasHandleGrant",
                "ListHandleGrants",
                "ListLiveHandleGrants",
                "HandleGrantsForProcess",
                "TransferHandleGrants",
                "DeleteSessionProcessState",
                "AppendEvent",
                "EventsAfter",
                "WakeEventsAfter",
                "AckWake",
                "CountEventsThrough",
                "RecentEvents",
                "WaitEventAfter",
                "SetProcessWait",
                "ClearProcessWait",
                "CompleteProcess",
                "AwaitProcess",
                "ClaimProcessLease",
                "RenewProcessLease",
                "CompleteProcessLease",
                "Signal",
                "StreamEvents",
            )
        },
    ),
    # A worker holds the worker stream; runtimes watch their delegated effects' progress and see the fleet.
    **_service(
        "Workers",
        {
            "Connect": _WORKER,
            "ListWorkers": _RUNTIME,
            "DescribeWorker": _RUNTIME,
            "DrainWorker": _ADMIN,
            "WatchProgress": _RUNTIME,
        },
    ),
}
"""Which roles may call each RPC ("effectd.v1.Service/Method"). Admin may call everything."""

TOKEN_PREFIX = "edt_"
_BEARER = "Bearer "
_RELOAD_CHECK_S = 1.0


def new_token() -> str:
    """A new bearer token: a prefix (so scanners recognise it) and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenEntry:
    sha256: str
    role: Role
    name: str = ""


def _entries(table: Mapping[str, Any], source: str) -> list[TokenEntry]:
    items = table.get("tokens", [])
    unknown = set(table) - {"tokens"}
    if unknown or not isinstance(items, list):
        raise ValueError(f"{source}: a tokens file holds [[tokens]] tables only")
    entries: list[TokenEntry] = []
    for index, item in enumerate(items):
        where = f"{source}: tokens[{index}]"
        if not isinstance(item, dict) or set(item) - {"sha256", "role", "name"}:
            raise ValueError(f"{where}: a token has sha256, role and an optional name")
        digest, role, name = item.get("sha256"), item.get("role"), item.get("name", "")
        if not isinstance(digest, str) or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"{where}: sha256 must be 64 lowercase hex digits")
        if role not in ROLES:
            raise ValueError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(name, str):
            raise ValueError(f"{where}: name must be a string")
        entries.append(TokenEntry(digest, role, name))
    return entries


def load_tokens(path: str) -> list[TokenEntry]:
    """The entries of a tokens file; ValueError when it cannot be read or is not one."""
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except OSError as exc:
        raise ValueError(f"cannot read the tokens file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the tokens file {path} is not valid TOML: {exc}") from None
    return _entries(table, f"tokens file {path}")


def append_token(path: str, role: Role, name: str = "") -> str:
    """Add a new token with `role` to the tokens file (created if missing, readable by its owner only) and
    return the token: the only time it is ever shown."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if os.path.exists(path):
        load_tokens(path)  # never append to a file the server could not read
    token = new_token()
    block = f'\n[[tokens]]\nname = {_toml_string(name)}\nrole = "{role}"\nsha256 = "{hash_token(token)}"\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write("# effectd bearer tokens: SHA-256 hashes only (`effectd tokens add --role R` adds one).\n")
        handle.write(block)
    return token


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


class Authorizer:
    """Checks each call's bearer token against the tokens file and the method against `METHOD_ROLES`.
    The file is re-read when it changes (looked at no more than once a second), so tokens can be added
    or removed without a restart; a file that no longer parses keeps the last good one (and is logged)."""

    def __init__(self, path: str, *, on_reload_error: Callable[[str], None] | None = None) -> None:
        self._path = path
        self._on_reload_error = on_reload_error
        self._stamp = self._stat()
        self._roles = self._index(load_tokens(path))
        self._checked = time.monotonic()

    def _stat(self) -> tuple[int, int, int]:
        try:
            info = os.stat(self._path)
        except OSError:
            return (0, 0, 0)
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    @staticmethod
    def _index(entries: Iterable[TokenEntry]) -> dict[bytes, Role]:
        return {bytes.fromhex(entry.sha256): entry.role for entry in entries}

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < _RELOAD_CHECK_S:
            return
        self._checked = now
        stamp = self._stat()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._roles = self._index(load_tokens(self._path))
        except ValueError as exc:
            if self._on_reload_error is not None:
                self._on_reload_error(str(exc))

    def role_of(self, metadata: Iterable[Any] | None) -> Role:
        """The role of the call's token; UnauthenticatedError without a known one."""
        self._maybe_reload()
        for key, value in metadata or ():
            if key != AUTHORIZATION_KEY:
                continue
            if not isinstance(value, str) or not value.startswith(_BEARER):
                break
            # Looked up by the token's hash: timing reveals at most something of a hash the caller computed,
            # never of a stored token.
            role = self._roles.get(hashlib.sha256(value[len(_BEARER) :].encode()).digest())
            if role is not None:
                return role
            break
        raise UnauthenticatedError(
            "unauthenticated", "this call needs a known bearer token (authorization: Bearer ...)"
        )

    def role_of_header(self, header: str | None) -> Role | None:
        """The role of an HTTP `Authorization: Bearer ...` header's token; None without a known one."""
        try:
            return self.role_of([(AUTHORIZATION_KEY, header)] if header else [])
        except UnauthenticatedError:
            return None

    def check(self, method: str, metadata: Iterable[Any] | None) -> Role:
        """The caller's role; UnauthenticatedError or PermissionDeniedError unless the call may go on."""
        role = self.role_of(metadata)
        if role == "admin" or role in METHOD_ROLES.get(method, ()):
            return role
        raise PermissionDeniedError("permission_denied", f"the role {role} may not call {method}")


def is_loopback(listen: str) -> bool:
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problems(listen: str, *, tls: bool, tokens: bool) -> list[str]:
    """What is missing to serve `listen` safely: a non-loopback address needs TLS and tokens."""
    if is_loopback(listen):
        return []
    missing = [what for what, present in (("TLS", tls), ("bearer tokens", tokens)) if not present]
    return [f"{listen} is not a loopback address and the server has no {' and no '.join(missing)}"] if missing else []
