"""The master key and the box that seals signing secrets under it.

A sealed secret is `MAGIC + key id (8 bytes) + nonce (12 bytes) + AES-256-GCM(secret)`, with the row's kid
as associated data, so a sealed secret copied onto another row does not open. The key id (a hash of the
master key) names the master key that sealed it, so a rewrap knows which rows are still under an old one.
A secret stored without a master key is the bare 32 bytes (never starts with MAGIC and is shorter).

A master key file holds one key per line (base64 of 32 bytes; `#` comments allowed): the first seals,
every one opens, so replicas can be given the new key before `effectd keys rewrap` moves the rows to it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "MasterKey",
    "MasterKeyError",
    "SecretBox",
    "generate_master_key",
    "load_master_keys",
    "parse_master_keys",
]

MAGIC = b"\x00efk1"
_ID_BYTES = 8
_NONCE_BYTES = 12
_KEY_BYTES = 32


class MasterKeyError(ValueError):
    """A master key that cannot be read, or a sealed secret that no configured master key opens."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    key: bytes

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(b"effectd master key id\x00" + self.key).digest()[:_ID_BYTES]

    def __repr__(self) -> str:  # never the key itself
        return f"MasterKey(id={self.key_id.hex()})"


def generate_master_key() -> str:
    """A new master key as its file holds it (base64 of 32 random bytes)."""
    return base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def parse_master_keys(text: str, source: str) -> list[MasterKey]:
    keys: list[MasterKey] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            # Standard or URL-safe base64, padded or not.
            normalized = line.replace("-", "+").replace("_", "/").rstrip("=")
            raw = base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(f"{source}: a master key is base64 of 32 bytes") from None
        if len(raw) != _KEY_BYTES:
            raise MasterKeyError(f"{source}: a master key is base64 of 32 bytes, got {len(raw)} bytes")
        keys.append(MasterKey(raw))
    if not keys:
        raise MasterKeyError(f"{source}: no master key in it")
    return keys


def load_master_keys(*, file: str | None, value: str | None) -> list[MasterKey]:
    """The configured master keys (first one seals), or [] when none is configured."""
    if value is not None:
        return parse_master_keys(value, "the master key value")
    if file is None:
        return []
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {file}: {exc.strerror}") from None
    return parse_master_keys(text, f"master key file {file}")


def _aad(kid: str) -> bytes:
    return b"effectd signing key\x00" + kid.encode()


class SecretBox:
    """Seals signing secrets under the first master key and opens them with any of `keys`. Without keys
    secrets are kept in the clear (the server says so at start)."""

    def __init__(self, keys: Sequence[MasterKey] = ()) -> None:
        self.keys = list(keys)
        self._by_id = {key.key_id: AESGCM(key.key) for key in self.keys}

    @property
    def encrypts(self) -> bool:
        return bool(self.keys)

    @staticmethod
    def is_sealed(stored: bytes) -> bool:
        return stored.startswith(MAGIC)

    @staticmethod
    def sealed_by(stored: bytes) -> bytes | None:
        """The key id of the master key that sealed `stored`, or None for a secret in the clear."""
        if not stored.startswith(MAGIC):
            return None
        return stored[len(MAGIC) : len(MAGIC) + _ID_BYTES]

    def seal(self, kid: str, secret: bytes) -> bytes:
        if not self.keys:
            return secret
        current = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        return MAGIC + current.key_id + nonce + self._by_id[current.key_id].encrypt(nonce, secret, _aad(kid))

    def open(self, kid: str, stored: bytes) -> bytes:
        key_id = self.sealed_by(stored)
        if key_id is None:
            return stored
        box = self._by_id.get(key_id)
        if box is None:
            held = "no master key is configured" if not self.keys else "it is not among the configured master keys"
            raise MasterKeyError(f"signing key {kid} is encrypted under master key {key_id.hex()}, and {held}")
        start = len(MAGIC) + _ID_BYTES
        try:
            return box.decrypt(stored[start : start + _NONCE_BYTES], stored[start + _NONCE_BYTES :], _aad(kid))
        except InvalidTag:
            raise MasterKeyError(f"signing key {kid} does not decrypt: its row was altered") from None

    def current(self, stored: bytes) -> bool:
        """Whether `stored` is kept as this box would keep it now (sealed by the first key, or clear)."""
        key_id = self.sealed_by(stored)
        return key_id == (self.keys[0].key_id if self.keys else None)
