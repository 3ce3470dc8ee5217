"""The box that seals signing secrets under the master key (AES-GCM, the kid as associated data)."""

from __future__ import annotations

import pytest
from effectd_server.secrets import MasterKeyError, SecretBox, generate_master_key, parse_master_keys
from effectd_server.secrets.master_key import MAGIC

SECRET = bytes(range(32))


def _key() -> SecretBox:
    return SecretBox(parse_master_keys(generate_master_key(), "test"))


def test_sealed_secrets_open_only_on_their_row_and_under_their_key() -> None:
    box = _key()
    sealed = box.seal("kid1", SECRET)
    assert sealed.startswith(MAGIC) and SECRET not in sealed
    assert box.seal("kid1", SECRET) != sealed  # a fresh nonce each time
    assert box.open("kid1", sealed) == SECRET
    with pytest.raises(MasterKeyError, match="altered"):
        box.open("kid2", sealed)  # copied onto another row
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(MasterKeyError, match="altered"):
        box.open("kid1", tampered)
    with pytest.raises(MasterKeyError, match="not among the configured master keys"):
        _key().open("kid1", sealed)
    with pytest.raises(MasterKeyError, match="no master key is configured"):
        SecretBox().open("kid1", sealed)


def test_without_a_master_key_secrets_stay_in_the_clear() -> None:
    box = SecretBox()
    assert not box.encrypts
    assert box.seal("k", SECRET) == SECRET and box.open("k", SECRET) == SECRET
    assert box.current(SECRET) and not _key().current(SECRET)


def test_the_first_key_of_a_file_seals_and_every_key_opens() -> None:
    old, new = generate_master_key(), generate_master_key()
    sealed_by_old = SecretBox(parse_master_keys(old, "old")).seal("k", SECRET)
    both = SecretBox(parse_master_keys(f"# rotating\n{new}\n{old}\n", "both"))
    assert both.open("k", sealed_by_old) == SECRET
    assert not both.current(sealed_by_old)
    assert both.current(both.seal("k", SECRET))
    urlsafe = new.replace("+", "-").replace("/", "_").rstrip("=")
    assert parse_master_keys(urlsafe, "urlsafe") == parse_master_keys(new, "standard")
