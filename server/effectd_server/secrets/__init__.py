"""Secrets at rest: the master key that encrypts the signing keys in the store (AES-GCM)."""

from effectd_server.secrets.master_key import (
    MasterKey,
    MasterKeyError,
    SecretBox,
    generate_master_key,
    load_master_keys,
    parse_master_keys,
)

__all__ = [
    "MasterKey",
    "MasterKeyError",
    "SecretBox",
    "generate_master_key",
    "load_master_keys",
    "parse_master_keys",
]
