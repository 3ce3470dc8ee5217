"""Which MCP servers a bridge connects: `NAME=COMMAND ARGS...` (stdio) or `NAME=URL` (Streamable HTTP)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["McpServerSpec"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    """One MCP server: a command the bridge starts and supervises (stdio), or a URL (Streamable HTTP)."""

    name: str
    """Names the server in logs and status, and is the tool-name prefix (`NAME.tool`) when prefixing."""
    transport: Literal["stdio", "http"]
    command: str = ""
    """stdio: the executable."""
    args: tuple[str, ...] = ()
    """stdio: its arguments."""
    url: str = ""
    """http: the Streamable HTTP endpoint."""
    env: dict[str, str] = field(default_factory=dict)
    """stdio: extra environment variables for the server process."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"MCP server name must be 1-64 ASCII letters, digits, '_' or '-', got {self.name!r}")
        if self.transport == "stdio" and not self.command:
            raise ValueError(f"MCP server {self.name!r} needs a command")
        if self.transport == "http" and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r} needs an http:// or https:// URL, got {self.url!r}")

    @classmethod
    def stdio(cls, name: str, command: str, *args: str, env: dict[str, str] | None = None) -> McpServerSpec:
        return cls(name, "stdio", command=command, args=args, env=dict(env or {}))

    @classmethod
    def http(cls, name: str, url: str) -> McpServerSpec:
        return cls(name, "http", url=url)

    @classmethod
    def parse(cls, text: str) -> McpServerSpec:
        """`NAME=URL` (an http:// or https:// URL) or `NAME=COMMAND ARGS...` (split as a POSIX shell would)."""
        name, sep, rest = text.partition("=")
        name, rest = name.strip(), rest.strip()
        if not sep or not rest:
            raise ValueError(f"an MCP server is NAME=COMMAND ARGS... or NAME=URL, got {text!r}")
        if rest.startswith(("http://", "https://")):
            if any(char.isspace() for char in rest):
                raise ValueError(f"an MCP server URL cannot hold spaces, got {rest!r}")
            return cls.http(name, rest)
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            raise ValueError(f"cannot split the command of MCP server {name!r}: {exc}") from None
        if not words:
            raise ValueError(f"MCP server {name!r} needs a command")
        return cls.stdio(name, words[0], *words[1:])

    def describe(self) -> str:
        """The command line or URL, for logs."""
        return self.url if self.transport == "http" else shlex.join([self.command, *self.args])
