"""Tokens files, roles and the loopback rule (edge/auth.py), without a network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from effectd import PermissionDeniedError, UnauthenticatedError
from effectd_server.edge.auth import Authorizer, append_token, exposure_problems, hash_token, is_loopback, load_tokens


def test_a_tokens_file_holds_hashes_and_roles_only(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens.toml")
    token = append_token(path, "resolver", name='webhook "a"\n')
    assert token.startswith("edt_") and len(token) > 40
    text = Path(path).read_text()
    assert token not in text and hash_token(token) in text
    assert os.stat(path).st_mode & 0o077 == 0  # readable by its owner only
    [entry] = load_tokens(path)
    assert (entry.role, entry.name, entry.sha256) == ("resolver", 'webhook "a"\n', hash_token(token))
    with pytest.raises(ValueError, match="role must be one of"):
        append_token(path, "root")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[tokens]]\nrole = "admin"\nsha256 = "abc"\n', "64 lowercase hex"),
        (f'[[tokens]]\nrole = "root"\nsha256 = "{"a" * 64}"\n', "role must be one of"),
        ('token = "plain"\n', r"\[\[tokens\]\] tables only"),
        ("[[tokens]\n", "not valid TOML"),
    ],
)
def test_bad_tokens_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Authorizer(str(path))


def test_the_authorizer_tells_unknown_callers_from_forbidden_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "tokens.toml")
    resolver = append_token(path, "resolver")
    admin = append_token(path, "admin")
    authorizer = Authorizer(path)
    resolve, mint = "effectd.v1.AwaitEvents/Resolve", "effectd.v1.AwaitEvents/MintKey"
    authorizer.check(resolve, [("authorization", f"Bearer {resolver}")])
    authorizer.check("effectd.v1.Future/Unknown", [("authorization", f"Bearer {admin}")])  # admin: everything
    with pytest.raises(PermissionDeniedError):
        authorizer.check(mint, [("authorization", f"Bearer {resolver}")])
    with pytest.raises(PermissionDeniedError):
        authorizer.check("effectd.v1.Future/Unknown", [("authorization", f"Bearer {resolver}")])
    for metadata in ([], [("authorization", resolver)], [("authorization", "Bearer nope")]):
        with pytest.raises(UnauthenticatedError):
            authorizer.check(resolve, metadata)


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [("127.0.0.1:1", True), ("127.9.9.9:1", True), ("localhost:1", True), ("[::1]:1", True),
     ("0.0.0.0:1", False), ("[::]:1", False), ("10.0.0.5:1", False), ("effectd.internal:1", False)],
)  # fmt: skip
def test_loopback_addresses(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback
    assert (exposure_problems(listen, tls=False, tokens=False) == []) is loopback
    assert exposure_problems(listen, tls=True, tokens=True) == []
