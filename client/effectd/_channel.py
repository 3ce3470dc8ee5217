"""The one place that builds gRPC channels and server options: message limits and keepalive.

The client pings at most every `CLIENT_KEEPALIVE_MS`; the server permits pings that often, so its
enforcement never answers a healthy client with GOAWAY (a test checks the two agree).

In this grpcio a keepalive ping's ack is awaited for `grpc.http2.ping_timeout_ms` (60 s by default),
not `grpc.keepalive_timeout_ms`, so both are set to the same value: a keepalive timeout of 10 s is 10 s.
Keepalive is the last line; SDK streams notice a silent link sooner from missing heartbeats (`_rpc`).

`open_channel` adds TLS (`TLSConfig`, read from its files each time a channel is opened, so rotated
client certificates are picked up by the next connection) and a bearer token, sent with every call as
`authorization: Bearer <token>` by a client interceptor (so it works on loopback without TLS too).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

__all__ = [
    "AUTHORIZATION_KEY",
    "CLIENT_KEEPALIVE_MS",
    "CLIENT_KEEPALIVE_TIMEOUT_MS",
    "MAX_MESSAGE_BYTES",
    "SERVER_MIN_PING_INTERVAL_MS",
    "TLSConfig",
    "channel_options",
    "insecure_channel",
    "open_channel",
    "server_options",
]

AUTHORIZATION_KEY = "authorization"
"""The metadata key of the bearer token ("Bearer <token>")."""

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CLIENT_KEEPALIVE_MS = 30_000
CLIENT_KEEPALIVE_TIMEOUT_MS = 10_000
SERVER_KEEPALIVE_MS = 60_000
SERVER_KEEPALIVE_TIMEOUT_MS = 20_000
SERVER_MIN_PING_INTERVAL_MS = 20_000
SERVER_MAX_PENDING_REQUESTS = 100_000

Options = list[tuple[str, int | str]]


# Spread calls over every address of the target (several replicas, or one DNS name with several
# addresses) and retry calls that failed with UNAVAILABLE on another one: a replica that dies or
# drains is skipped. A retried Resolve may answer already_resolved with its own resolution.
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                # Every method of every service: a capability added later needs no entry here.
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


def channel_options() -> Options:
    return [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.ping_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 1),
        # Connections belong to this channel, not to a process-wide pool shared by every channel with the
        # same options: a channel opened to replace one whose link went dead gets a new connection.
        ("grpc.use_local_subchannel_pool", 1),
    ]


def server_options(*, reuse_port: bool = False, max_message_bytes: int = MAX_MESSAGE_BYTES) -> Options:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", SERVER_KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", SERVER_KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.ping_timeout_ms", SERVER_KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
        ("grpc.http2.min_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
        # gRPC core cancels calls that arrive while more than this many wait to be picked up
        # (default 1000); bursts from many runtimes would otherwise see spurious CANCELLED.
        ("grpc.server.max_pending_requests", SERVER_MAX_PENDING_REQUESTS),
        ("grpc.server.max_pending_requests_hard_limit", SERVER_MAX_PENDING_REQUESTS),
    ]


def channel_target(target: str | Sequence[str]) -> str:
    """One gRPC target for one address or several: `["10.0.0.1:50551", "10.0.0.2:50551"]` becomes
    `ipv4:10.0.0.1:50551,10.0.0.2:50551`; host names are resolved to their addresses now."""
    if isinstance(target, str):
        return target
    addresses: list[str] = []
    for item in target:
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"a target is HOST:PORT, got {item!r}")
        host = host.strip("[]")
        try:
            ipaddress.ip_address(host)
            resolved = [host]
        except ValueError:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            resolved = sorted({str(info[4][0]) for info in infos})
        addresses.extend(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in resolved)
    if not addresses:
        raise ValueError("no target addresses")
    ipv4 = [a for a in addresses if not a.startswith("[")]
    if ipv4:  # one target holds one address family; prefer IPv4 when names resolve to both
        return "ipv4:" + ",".join(ipv4)
    return "ipv6:" + ",".join(addresses)


def insecure_channel(target: str | Sequence[str], extra: Sequence[tuple[str, int | str]] = ()) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(channel_target(target), options=[*channel_options(), *extra])


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """How a client speaks TLS to effectd: `Client.connect(target, tls=TLSConfig(ca_file="ca.pem"))`.

    The files are read each time a channel is opened (a reconnect after a dead link opens a new one), so a
    rotated client certificate is used from the next connection on."""

    ca_file: str | None = None
    """PEM certificates to trust for the server; None trusts the system's roots."""
    cert_file: str | None = None
    """PEM client certificate chain, for a server that requires client certificates (mTLS)."""
    key_file: str | None = None
    """PEM private key of `cert_file`."""
    server_name: str | None = None
    """The name to check the server certificate against, when it is not the target's host."""

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TLSConfig: cert_file and key_file go together")

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )

    def options(self) -> Options:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return handle.read()


class _BearerToken:
    """Adds `authorization: Bearer <token>` to a call's metadata."""

    def __init__(self, token: str) -> None:
        if not token or any(c.isspace() for c in token):
            raise ValueError("a bearer token is a non-empty string without spaces")
        self._value = f"Bearer {token}"

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(AUTHORIZATION_KEY, self._value)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# grpc.aio files an interceptor under the first of the four kinds it is an instance of, so each kind
# gets its own class.
class _UnaryUnaryToken(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: _BearerToken) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._token.details(client_call_details), request)


class _UnaryStreamToken(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: _BearerToken) -> None:
        self._token = token

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._token.details(client_call_details), request)


class _StreamUnaryToken(grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: _BearerToken) -> None:
        self._token = token

    async def intercept_stream_unary(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(self._token.details(client_call_details), request_iterator)


class _StreamStreamToken(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: _BearerToken) -> None:
        self._token = token

    async def intercept_stream_stream(self, continuation: Any, client_call_details: Any, request_iterator: Any) -> Any:
        return await continuation(self._token.details(client_call_details), request_iterator)


def _token_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    bearer = _BearerToken(token)
    return [_UnaryUnaryToken(bearer), _UnaryStreamToken(bearer), _StreamUnaryToken(bearer), _StreamStreamToken(bearer)]


def open_channel(
    target: str | Sequence[str],
    *,
    tls: TLSConfig | None = None,
    token: str | None = None,
    extra: Sequence[tuple[str, int | str]] = (),
) -> grpc.aio.Channel:
    """A channel to effectd: plaintext, or TLS with `tls`; with `token`, every call carries it."""
    interceptors = _token_interceptors(token) if token is not None else None
    if tls is None:
        return grpc.aio.insecure_channel(
            channel_target(target), options=[*channel_options(), *extra], interceptors=interceptors
        )
    return grpc.aio.secure_channel(
        channel_target(target),
        tls.credentials(),
        options=[*channel_options(), *tls.options(), *extra],
        interceptors=interceptors,
    )
