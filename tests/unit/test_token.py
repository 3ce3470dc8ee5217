"""Key tokens: one canonical string per key; any changed character is refused or fails verification."""

from __future__ import annotations

import base64
import string

import pytest
from effectd import (
    CustomWait,
    InvalidTokenError,
    ProcessScope,
    ProcessSignalWait,
    TurnScope,
    await_event_key_id,
    key_from_token,
    key_token,
)
from effectd._lashjson import dumps
from effectd._scope import TOKEN_PREFIX, AwaitEventKey
from effectd_server.await_events.keyring import Keyring, mac_message
from effectd_server.store.await_events import SigningKeyRow

ACTIVE = SigningKeyRow("k1", b"\x01" * 32, "active", 1)


def _verify(keyring: Keyring, key: AwaitEventKey) -> str | None:
    return keyring.verify_message(key.signature, mac_message(dumps(key.scope), dumps(key.wait), key.key_id))


def _keyring() -> Keyring:
    keyring = Keyring(store=None)  # type: ignore[arg-type]  # only the in-memory part is exercised
    keyring._install([ACTIVE])
    return keyring


def _key(keyring: Keyring, scope: object = None, wait: object = None) -> AwaitEventKey:
    scope = scope or TurnScope("s1", "t1")
    wait = wait or CustomWait("k é 😀")
    key_id = await_event_key_id(scope, wait)  # type: ignore[arg-type]
    return AwaitEventKey(scope, wait, key_id, keyring.sign_message(mac_message(dumps(scope), dumps(wait), key_id)))


def _encode(text: str) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_round_trip() -> None:
    keyring = _keyring()
    for key in (
        _key(keyring),
        _key(keyring, ProcessScope("p"), ProcessSignalWait("p", "ready", 2**64 - 1)),
    ):
        token = key_token(key)
        assert token == key.token
        assert token.startswith("ek1_")
        assert set(token[4:]) <= set(string.ascii_letters + string.digits + "-_")
        assert key_from_token(token) == key
        assert _verify(keyring, key_from_token(token)) is None


def test_the_token_is_base64url_of_scope_wait_and_signature() -> None:
    key = _key(_keyring())
    body = key.token[len(TOKEN_PREFIX) :]
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    assert payload == dumps((key.scope, key.wait, key.signature))


def test_every_single_character_change_is_refused_or_fails_verification() -> None:
    keyring = _keyring()
    key = _key(keyring)
    token = key.token
    alphabet = string.ascii_letters + string.digits + "-_=+/. é"
    refused = verified_otherwise = 0
    for position in range(len(token)):
        for char in alphabet:
            if char == token[position]:
                continue
            changed = token[:position] + char + token[position + 1 :]
            try:
                decoded = key_from_token(changed)
            except InvalidTokenError:
                refused += 1
                continue
            assert decoded != key, changed
            assert _verify(keyring, decoded) is not None, changed
            verified_otherwise += 1
    assert refused > 0 and verified_otherwise > 0


def test_deleted_or_added_characters_are_refused_or_fail_verification() -> None:
    keyring = _keyring()
    key = _key(keyring)
    token = key.token
    variants = [token[:i] + token[i + 1 :] for i in range(len(token))] + [token + "A", token + "=", "x" + token]
    for changed in variants:
        try:
            decoded = key_from_token(changed)
        except InvalidTokenError:
            continue
        assert _verify(keyring, decoded) is not None, changed


@pytest.mark.parametrize(
    "token",
    [
        "",
        "ek1_",
        "ek2_" + "A" * 10,
        "EK1_abc",
        "ek1_a",  # a length no base64 text has
        "ek1_abc=",  # padding
        "ek1_ab+/",  # standard alphabet
        "ek1_ab cd",
        _encode("not json"),
        _encode("[]"),
        _encode('["a","b","c"]'),
        _encode('[{"type":"turn","session_id":"s","turn_id":"t"},{"type":"custom","key":"k"},""]'),
        _encode('[{"type":"turn","session_id":"","turn_id":"t"},{"type":"custom","key":"k"},"v1.k1.00"]'),
        _encode('[{"type":"turn","session_id":"s","turn_id":"t"},{"type":"custom","key":"k"},"v1.k1.00",1]'),
        # Not canonical: spaces, other key order, an escape lash-json does not write.
        _encode('[{"type":"turn","session_id":"s","turn_id":"t"}, {"type":"custom","key":"k"},"v1.k1.00"]'),
        _encode('[{"session_id":"s","type":"turn","turn_id":"t"},{"type":"custom","key":"k"},"v1.k1.00"]'),
        _encode('[{"type":"turn","session_id":"\\u0073","turn_id":"t"},{"type":"custom","key":"k"},"v1.k1.00"]'),
        _encode(
            '[{"type":"process","process_id":"p"},{"type":"process_signal","process_id":"p",'
            '"signal_name":"s","ordinal":1.0},"v1.k1.00"]'
        ),
        TOKEN_PREFIX + "A" * 100_000,
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        key_from_token(token)


def test_non_canonical_base64_is_refused() -> None:
    keyring = _keyring()
    # A key whose token's last character carries unused bits (a payload length not divisible by 3).
    body = next(
        body
        for n in range(1, 4)
        if len(body := _key(keyring, wait=CustomWait("k" * n)).token[len(TOKEN_PREFIX) :]) % 4 != 0
    )
    # The last character carries unused low bits: setting one decodes to the same bytes, a second spelling.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    index = alphabet.index(body[-1])
    other = alphabet[index | 1] if index | 1 != index else alphabet[index & ~1]
    with pytest.raises(InvalidTokenError, match="canonical"):
        key_from_token(TOKEN_PREFIX + body[:-1] + other)


def test_invalid_token_error_is_a_value_error() -> None:
    assert issubclass(InvalidTokenError, ValueError)
