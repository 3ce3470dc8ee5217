"""Signing and verification of await-event keys (DESIGN.md "Await events")."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from effectd import CustomWait, TurnScope, await_event_key_id
from effectd._lashjson import dumps
from effectd._scope import AwaitEventKey
from effectd_server.await_events.keyring import Keyring, mac_message
from effectd_server.store.await_events import SigningKeyRow


def _keyring(*rows: SigningKeyRow) -> Keyring:
    keyring = Keyring(store=None)  # type: ignore[arg-type]  # only the in-memory part is exercised
    keyring._install(list(rows))
    return keyring


ACTIVE = SigningKeyRow("k1", b"\x01" * 32, "active", 1)
OLD = SigningKeyRow("k0", b"\x02" * 32, "verify_only", 0)
RETIRED = SigningKeyRow("kr", b"\x03" * 32, "retired", 0)


def _verify(keyring: Keyring, key: AwaitEventKey) -> str | None:
    return keyring.verify_message(key.signature, mac_message(dumps(key.scope), dumps(key.wait), key.key_id))


def _key(keyring: Keyring) -> AwaitEventKey:
    scope, wait = TurnScope("s1", "t1"), CustomWait("k")
    key_id = await_event_key_id(scope, wait)
    return AwaitEventKey(scope, wait, key_id, keyring.sign_message(mac_message(dumps(scope), dumps(wait), key_id)))


def test_signature_is_hmac_over_lash_json_of_scope_wait_and_key_id() -> None:
    keyring = _keyring(ACTIVE)
    key = _key(keyring)
    message = dumps((key.scope, key.wait, key.key_id)).encode()
    assert message.startswith(b'[{"type":"turn","session_id":"s1","turn_id":"t1"},{"type":"custom","key":"k"},"')
    expected = hmac.new(ACTIVE.secret, message, hashlib.sha256).hexdigest()
    assert key.signature == f"v1.k1.{expected}"
    assert _verify(keyring, key) is None


def test_minting_is_deterministic_for_a_signing_key() -> None:
    assert _key(_keyring(ACTIVE)) == _key(_keyring(ACTIVE, OLD))


def test_verify_only_keys_verify_and_retired_or_unknown_do_not() -> None:
    old_key = _key(_keyring(dataclasses.replace(OLD, state="active")))
    assert _verify(_keyring(ACTIVE, OLD), old_key) is None
    assert _verify(_keyring(ACTIVE, dataclasses.replace(OLD, state="retired")), old_key) == "retired signing key kid=k0"
    assert _verify(_keyring(ACTIVE), old_key) == "unknown signing key kid=k0"


def test_tampering_is_detected() -> None:
    keyring = _keyring(ACTIVE, RETIRED)
    key = _key(keyring)
    assert _verify(keyring, dataclasses.replace(key, wait=CustomWait("other"))) == "signature mismatch"
    assert _verify(keyring, dataclasses.replace(key, signature="v2.k1.00")) == "malformed signature"
    assert _verify(keyring, dataclasses.replace(key, signature="garbage")) == "malformed signature"
    assert _verify(keyring, dataclasses.replace(key, signature=key.signature.upper())) is not None


def test_verification_uses_a_constant_time_comparison(monkeypatch: object) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    import effectd_server.await_events.keyring as module

    monkeypatch.setattr(module.hmac, "compare_digest", spy)  # type: ignore[attr-defined]
    keyring = _keyring(ACTIVE)
    assert _verify(keyring, _key(keyring)) is None
    assert len(calls) == 1
