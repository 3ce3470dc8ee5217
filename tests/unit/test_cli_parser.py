"""The `effectd` parser (issue 12 §1): every argument has help, --help lists the scope and wait types
and the exit table, global options are accepted anywhere, and extension modules plug in."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pytest
from effectd import _cli
from effectd._cli import EXIT_STATUSES, build_parser, main
from effectd._scope import _SCOPES, _WAITS


def _parsers(parser: argparse.ArgumentParser, path: str = "effectd") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_parsers(sub, f"{path} {name}"))
    return found


def test_every_argument_and_command_has_help() -> None:
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{path} {choice.dest}: no help"
            elif not isinstance(action, argparse._HelpAction):
                assert action.help, f"{path} {action.option_strings or action.dest}: no help"


def test_help_lists_the_scope_and_wait_types_and_the_exit_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for tag, cls in [*_SCOPES.items(), *_WAITS.items()]:
        fields = "".join(f',"{f.name}":' for f in dataclasses.fields(cls))
        assert f'{{"type":"{tag}"' in text, tag
        for field in fields.split(",")[1:]:
            assert field in text, (tag, field)
    for status in EXIT_STATUSES:
        assert f"  {status.status:<3} {status.meaning}" in text


def test_exit_statuses_are_distinct() -> None:
    statuses = [s.status for s in EXIT_STATUSES]
    assert len(set(statuses)) == len(statuses)


@pytest.mark.parametrize(
    "argv",
    [
        ["--target", "h:1", "keys", "list"],
        ["keys", "--target", "h:1", "list"],
        ["keys", "list", "--target", "h:1"],
        ["key", "mint", "--scope", "{}", "--target", "h:1", "--wait", "{}"],
    ],
)
def test_global_options_anywhere_on_the_line(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).target == "h:1"


def test_the_default_target_stays_when_a_command_does_not_name_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EFFECTD_TARGET", raising=False)
    args = build_parser().parse_args(["keys", "list"])
    assert args.target == "127.0.0.1:50551" and args.connect_timeout == 10.0


def test_a_usage_error_is_one_coded_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "ek1_x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("effectd: invalid_request: ")


class _BadFlags(Exception):
    pass


class _Extension:
    """What a module in COMMAND_MODULES provides (here with the names the admin module uses)."""

    USAGE_ERRORS = (_BadFlags,)

    @staticmethod
    def add_global_flags(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tls-cert", dest="client_tls_cert", help="an extension's global option")
        parser.add_argument("--token", default="from-env", help="another")

    @staticmethod
    def add_admin_commands(commands: Any) -> None:
        hello = commands.add_parser("hello", help="an extension's command")
        hello.set_defaults(local=lambda args: 7 if args.token == "t" else 8)
        bad = commands.add_parser("bad", help="raises the extension's usage error")
        bad.set_defaults(local=_raise_bad_flags)

    @staticmethod
    def add_serve_flags(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tls-cert", dest="serve_tls_cert", help="serve's own --tls-cert")

    @staticmethod
    def add_keys_commands(keys: Any) -> None:
        keys.add_parser("rewrap", help="added to keys").set_defaults(local=lambda args: 0)


def _raise_bad_flags(args: argparse.Namespace) -> int:
    raise _BadFlags("--tls-cert and --tls-key go together")


def test_a_module_adds_commands_and_global_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli, "_modules", lambda: [_Extension])
    assert main(["hello", "--token", "t"]) == 7
    assert main(["--token", "t", "hello"]) == 7
    assert main(["hello"]) == 8  # the top-level default stays when the command does not name it
    assert main(["keys", "rewrap", "--target", "h:1"]) == 0
    parser = build_parser([_Extension])
    assert parser.parse_args(["keys", "list", "--tls-cert", "c.pem"]).client_tls_cert == "c.pem"
    served = parser.parse_args(["serve", "--tls-cert", "server.pem"])  # serve's own option wins
    assert served.serve_tls_cert == "server.pem" and served.client_tls_cert is None
    assert main(["bad"]) == 2
    assert capsys.readouterr().err == "effectd: invalid_request: --tls-cert and --tls-key go together\n"
