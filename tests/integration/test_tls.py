"""TLS and mTLS with trustme-made CAs: who is refused, who is accepted, and certificates rotated under load
with no failed call. TLS sits in front of the store, so these run on SQLite only."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from effectd import CustomWait, TLSConfig, TurnScope, UnavailableError
from effectd._client import Client
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from effectd_server.config import TLSConfig as ServerTLSConfig

SCOPE = TurnScope("s", "t")
REFUSED_WITHIN_S = 3.0


@dataclass(frozen=True, slots=True)
class Pki:
    directory: Path
    ca: trustme.CA

    def path(self, name: str) -> str:
        return str(self.directory / name)

    def write_leaf(self, leaf: trustme.LeafCert, name: str) -> tuple[str, str]:
        """Write a leaf's chain and key as NAME.pem and NAME.key; return their paths."""
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        key.write_bytes(leaf.private_key_pem.bytes())
        cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        return str(cert), str(key)

    def write_ca(self, ca: trustme.CA, name: str) -> str:
        path = self.directory / name
        path.write_bytes(ca.cert_pem.bytes())
        return str(path)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA()
    made = Pki(tmp_path, ca)
    made.write_ca(ca, "ca.pem")
    made.write_leaf(ca.issue_cert("127.0.0.1", "localhost"), "server")
    made.write_leaf(ca.issue_cert("runtime-1.example"), "client")
    return made


@contextlib.asynccontextmanager
async def _tls_server(pki: Pki, *, client_ca: bool = True) -> AsyncIterator[RunningServer]:
    tls = ServerTLSConfig(
        cert=pki.path("server.pem"), key=pki.path("server.key"), client_ca=pki.path("ca.pem") if client_ca else None
    )
    config = ServerConfig(listen="127.0.0.1:0", store=StoreConfig(url=pki.path("effectd.db")), tls=tls)
    async with serve(config) as running:
        yield running


def _client_tls(pki: Pki, name: str | None = "client", ca: str = "ca.pem") -> TLSConfig:
    if name is None:
        return TLSConfig(ca_file=pki.path(ca))
    return TLSConfig(ca_file=pki.path(ca), cert_file=pki.path(f"{name}.pem"), key_file=pki.path(f"{name}.key"))


async def _mint(target: str, tls: TLSConfig | None, *, connect_timeout: float = 10.0) -> str:
    async with await Client.connect(target, tls=tls, connect_timeout=connect_timeout) as client:
        return (await client.mint_key(SCOPE, CustomWait("tls"))).key_id


async def _until(condition: Callable[[], bool]) -> None:
    while True:
        if condition():
            return
        await asyncio.sleep(0.05)


async def _refused(target: str, tls: TLSConfig | None) -> None:
    with pytest.raises(UnavailableError):
        await _mint(target, tls, connect_timeout=REFUSED_WITHIN_S)


async def test_a_client_with_a_certificate_of_the_ca_is_accepted(pki: Pki) -> None:
    async with _tls_server(pki) as running:
        assert await _mint(running.target, _client_tls(pki))


async def test_a_client_without_a_certificate_is_refused(pki: Pki) -> None:
    async with _tls_server(pki) as running:
        await _refused(running.target, _client_tls(pki, None))
        assert await _mint(running.target, _client_tls(pki))  # and the server goes on serving


async def test_a_client_certificate_of_another_ca_is_refused(pki: Pki) -> None:
    pki.write_leaf(trustme.CA().issue_cert("runtime-1.example"), "stranger")
    async with _tls_server(pki) as running:
        await _refused(running.target, _client_tls(pki, "stranger"))


async def test_an_expired_client_certificate_is_refused(pki: Pki) -> None:
    now = datetime.datetime.now(datetime.UTC)
    expired = pki.ca.issue_cert(
        "runtime-1.example", not_before=now - datetime.timedelta(days=2), not_after=now - datetime.timedelta(days=1)
    )
    pki.write_leaf(expired, "expired")
    async with _tls_server(pki) as running:
        await _refused(running.target, _client_tls(pki, "expired"))


async def test_a_server_certificate_for_another_name_is_refused_by_the_client(pki: Pki) -> None:
    pki.write_leaf(pki.ca.issue_cert("other.example"), "server")
    async with _tls_server(pki) as running:
        await _refused(running.target, _client_tls(pki))
        # The same certificate is accepted when the client is told to expect that name.
        named = TLSConfig(
            ca_file=pki.path("ca.pem"),
            cert_file=pki.path("client.pem"),
            key_file=pki.path("client.key"),
            server_name="other.example",
        )
        assert await _mint(running.target, named)


async def test_plaintext_clients_are_refused_by_a_tls_server(pki: Pki) -> None:
    async with _tls_server(pki, client_ca=False) as running:
        await _refused(running.target, None)
        assert await _mint(running.target, _client_tls(pki, None))  # TLS without a client certificate


async def test_certificates_rotated_under_load_fail_no_call(pki: Pki) -> None:
    """Clients trust the old and the new CA. While calls run on long-lived connections and on new ones,
    the server's certificate and key are rewritten (key first: for a moment they do not match) with ones
    of the new CA; no call fails, and afterwards a client that trusts only the new CA gets in."""
    new_ca = trustme.CA()
    pki.write_ca(new_ca, "new-ca.pem")
    (pki.directory / "both.pem").write_bytes(pki.ca.cert_pem.bytes() + new_ca.cert_pem.bytes())
    new_server = new_ca.issue_cert("127.0.0.1", "localhost")
    both = TLSConfig(ca_file=pki.path("both.pem"), cert_file=pki.path("client.pem"), key_file=pki.path("client.key"))
    # The server still requires client certificates of the old CA (its client CA file is unchanged).
    failures: list[BaseException] = []
    calls = [0]
    stop = asyncio.Event()

    async def long_lived() -> None:
        async with await Client.connect(running.target, tls=both) as client:
            while not stop.is_set():
                try:
                    await client.mint_key(SCOPE, CustomWait(f"l{calls[0]}"))
                    calls[0] += 1
                except Exception as exc:
                    failures.append(exc)

    async def reconnecting() -> None:
        while not stop.is_set():
            try:
                await _mint(running.target, both)
                calls[0] += 1
            except Exception as exc:
                failures.append(exc)

    async with _tls_server(pki) as running:
        assert running.certificates is not None
        workers = [asyncio.create_task(long_lived()) for _ in range(2)]
        workers += [asyncio.create_task(reconnecting()) for _ in range(2)]
        await _until(lambda: calls[0] >= 20)
        (pki.directory / "server.key").write_bytes(new_server.private_key_pem.bytes())
        await _until(lambda: calls[0] >= 40)  # handshakes now find a key that does not match the certificate yet
        (pki.directory / "server.pem").write_bytes(b"".join(blob.bytes() for blob in new_server.cert_chain_pems))
        certificates = running.certificates
        await _until(lambda: certificates.reloads > 0)
        seen = calls[0]
        await _until(lambda: calls[0] >= seen + 20)
        stop.set()
        await asyncio.gather(*workers)
        assert failures == []
        assert running.certificates.reloads == 1
        new_only = TLSConfig(
            ca_file=pki.path("new-ca.pem"), cert_file=pki.path("client.pem"), key_file=pki.path("client.key")
        )
        assert await _mint(running.target, new_only)
        await _refused(running.target, _client_tls(pki))  # the old CA no longer names the server
