"""The signing keyring: HMAC keys stored in the database, one active, rotatable.

signature = "v1." + kid + "." + hex(HMAC-SHA256(secret[kid], lash-json([scope, wait, key_id])))

With a master key the store holds each secret sealed under it (`SecretBox`), so a copy of the database
alone cannot sign; the keyring opens them when it loads and seals new ones before they are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, replace

from effectd._client import SigningKey

from effectd_server.secrets import SecretBox
from effectd_server.store.await_events import AwaitEventsStore, SigningKeyRow

__all__ = ["Keyring", "RewrapReport", "describe", "rewrap"]

log = logging.getLogger("effectd.keyring")

SIGNATURE_VERSION = "v1"
_REFRESH_INTERVAL_S = 1.0


def _new_key(box: SecretBox, now_ms: int) -> SigningKeyRow:
    """A new active key as the store keeps it (its secret sealed when there is a master key)."""
    kid = secrets.token_hex(6)
    return SigningKeyRow(kid=kid, secret=box.seal(kid, secrets.token_bytes(32)), state="active", created_at_ms=now_ms)


@dataclass(frozen=True, slots=True)
class RewrapReport:
    rewrapped: list[str]
    """Kids whose stored secret was sealed anew (under the first master key)."""
    unchanged: list[str]
    """Kids already sealed under it."""


async def rewrap(store: AwaitEventsStore, box: SecretBox) -> RewrapReport:
    """Seal every stored signing secret under `box`'s first master key, opening each with any of its keys
    (or taking it from the clear). Compare-and-set per row, so replicas rotating meanwhile lose nothing.
    Raises MasterKeyError when a secret is sealed under a key `box` does not hold."""
    changes: list[tuple[str, bytes, bytes]] = []
    unchanged: list[str] = []
    for row in await store.signing_keys():
        if box.current(row.secret):
            unchanged.append(row.kid)
            continue
        changes.append((row.kid, row.secret, box.seal(row.kid, box.open(row.kid, row.secret))))
    rewrapped = await store.replace_signing_secrets(changes) if changes else []
    return RewrapReport(rewrapped, unchanged)


def describe(row: SigningKeyRow) -> SigningKey:
    """A signing key as callers see it: never its secret."""
    return SigningKey(row.kid, row.state, row.created_at_ms)


def mac_message(scope_json: str, wait_json: str, key_id: str) -> bytes:
    """lash-json([scope, wait, key_id]) from the already-rendered scope and wait (key_id is plain hex)."""
    return f'[{scope_json},{wait_json},"{key_id}"]'.encode()


def _mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class Keyring:
    """Signs with the active key; verifies with every key that is not retired."""

    def __init__(self, store: AwaitEventsStore, box: SecretBox | None = None) -> None:
        self._store = store
        self._box = box if box is not None else SecretBox()
        self._opened: dict[tuple[str, bytes], bytes] = {}
        self._keys: dict[str, SigningKeyRow] = {}
        self._active: SigningKeyRow | None = None
        self._last_refresh = 0.0

    def _open(self, row: SigningKeyRow) -> SigningKeyRow:
        """The row with its secret in the clear (kept in memory only)."""
        opened = self._opened.get((row.kid, row.secret))
        if opened is None:
            opened = self._opened[(row.kid, row.secret)] = self._box.open(row.kid, row.secret)
        return replace(row, secret=opened)

    def _install(self, rows: list[SigningKeyRow]) -> None:
        rows = [self._open(row) for row in rows]
        self._keys = {row.kid: row for row in rows}
        active = [row for row in rows if row.state == "active"]
        self._active = active[0] if active else None
        self._last_refresh = time.monotonic()

    async def load(self) -> None:
        """Load the keyring, creating the first key on a new database. With a master key, secrets still
        stored in the clear (or under an older master key of the file) are sealed under it first."""
        if self._box.encrypts:
            report = await rewrap(self._store, self._box)
            if report.rewrapped:
                log.info("signing keys sealed under the master key: %s", ", ".join(report.rewrapped))
        else:
            log.warning(
                "no master key configured: signing secrets are stored in the clear, so a copy of the "
                "database can sign keys (set secrets.master_key_file or EFFECTD_MASTER_KEY)"
            )
        self._install(await self._store.ensure_signing_key(_new_key(self._box, int(time.time() * 1000))))

    async def refresh(self) -> None:
        """Re-read the keyring (another replica may have rotated or retired a key)."""
        self._install(await self._store.signing_keys())

    def described(self) -> list[SigningKey]:
        """The keyring without its secrets, oldest first."""
        return [describe(row) for row in self.keys()]

    def keys(self) -> list[SigningKeyRow]:
        return sorted(self._keys.values(), key=lambda row: (row.created_at_ms, row.kid))

    async def rotate(self) -> SigningKeyRow:
        rows = await self._store.rotate_signing_key(_new_key(self._box, int(time.time() * 1000)))
        self._install(rows)
        assert self._active is not None  # rotate_signing_key always leaves one active key
        log.info("signing key rotated: active kid=%s", self._active.kid)
        return self._active

    async def retire(self, kid: str) -> SigningKeyRow:
        retired = await self._store.retire_signing_key(kid, int(time.time() * 1000))
        await self.refresh()
        log.info("signing key retired: kid=%s", kid)
        return retired

    def sign_message(self, message: bytes) -> str:
        active = self._active
        if active is None:
            raise RuntimeError("the keyring has no active signing key")
        return f"{SIGNATURE_VERSION}.{active.kid}.{_mac(active.secret, message)}"

    def usable(self, kid: str) -> bool:
        """The kid exists here and is not retired."""
        row = self._keys.get(kid)
        return row is not None and row.state != "retired"

    def needs_refresh_for(self, signature: str) -> bool:
        """True when the signature names a kid this replica has not seen and a refresh is due."""
        parts = signature.split(".")
        return (
            len(parts) == 3
            and parts[1] not in self._keys
            and time.monotonic() - self._last_refresh >= _REFRESH_INTERVAL_S
        )

    def verify_message(self, signature: str, message: bytes) -> str | None:
        version, _, rest = signature.partition(".")
        kid, _, mac = rest.partition(".")
        if version != SIGNATURE_VERSION or not kid or not mac:
            return "malformed signature"
        row = self._keys.get(kid)
        if row is None:
            return f"unknown signing key kid={kid}"
        if row.state == "retired":
            return f"retired signing key kid={kid}"
        expected = _mac(row.secret, message)
        if not hmac.compare_digest(expected, mac):
            return "signature mismatch"
        return None
