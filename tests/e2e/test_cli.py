"""The `effectd` command against a running `effectd serve`, both as subprocesses.

Exit statuses: the table in effectd/_cli.py (`EXIT_STATUSES`); test_cli_errors.py checks it end to end.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from effectd import (
    Accepted,
    CustomWait,
    Ok,
    ToolCompletionWait,
    TurnScope,
    await_event_key_id,
)
from effectd._client import Client
from effectd._scope import key_from_lash

from .conftest import Cli, CliResult, ServerProcess, run_cli

SCOPE = {"type": "turn", "session_id": "cli-session", "turn_id": "turn-1"}


def wait_json(name: str) -> str:
    return json.dumps({"type": "custom", "key": name})


async def mint(cli: Cli, name: str, scope: dict[str, Any] = SCOPE) -> str:
    """A key minted by the CLI, as the JSON text it printed."""
    result = await cli("key", "mint", "--scope", json.dumps(scope), "--wait", wait_json(name))
    assert result.rc == 0, result
    return result.stdout.strip()


def ok(result: CliResult, rc: int = 0) -> Any:
    assert result.rc == rc, result
    assert result.stderr == "", result
    return result.json()


def one_line_error(result: CliResult, rc: int, code: str) -> None:
    assert result.rc == rc, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and code in lines[0], result


async def test_key_mint_prints_the_lash_key(cli: Cli, client: Client) -> None:
    scope = {"type": "turn", "session_id": "s1", "turn_id": "t1"}
    wait = {"type": "tool_completion", "tool_call_id": "c1"}
    result = await cli("key", "mint", "--scope", json.dumps(scope), "--wait", json.dumps(wait))
    key = ok(result)
    assert list(key) == ["scope", "wait", "key_id", "signature", "token"]  # lash field order, then the token
    assert key["scope"] == scope and key["wait"] == wait
    assert key["key_id"] == await_event_key_id(TurnScope("s1", "t1"), ToolCompletionWait("c1"))
    version, kid, mac = key["signature"].split(".")
    assert version == "v1" and len(mac) == 64
    assert [k.kid for k in await client.list_signing_keys()] == [kid]
    # Deterministic, and the same key as the SDK mints.
    sdk_key = await client.mint_key(TurnScope("s1", "t1"), ToolCompletionWait("c1"))
    assert result.stdout == sdk_key.to_json()[:-1] + ',"token":"' + sdk_key.token + '"}\n'
    assert key["token"] == sdk_key.token and key["token"].startswith("ek1_")
    assert (await cli("key", "mint", "--scope", json.dumps(scope), "--wait", json.dumps(wait))).stdout == result.stdout


async def test_key_mint_rejects_an_invalid_scope(cli: Cli) -> None:
    blank = {"type": "turn", "session_id": " ", "turn_id": "t1"}
    result = await cli("key", "mint", "--scope", json.dumps(blank), "--wait", wait_json("w"))
    one_line_error(result, 2, "missing_execution_scope_id")


async def test_resolve_ok_is_accepted_once_then_already_resolved(cli: Cli) -> None:
    key = await mint(cli, "resolve-ok")
    assert ok(await cli("resolve", key, "--ok", '{"answer": 42, "list": [1, "two", null]}')) == {"status": "accepted"}
    first = {"answer": 42, "list": [1, "two", None]}
    second = await cli("resolve", key, "--ok", '{"answer": 0}')
    assert ok(second) == {"status": "already_resolved", "terminal": {"status": "ok", "payload": first}}
    assert ok(await cli("peek", key)) == {"status": "ok", "payload": first}
    assert ok(await cli("await", key)) == {"status": "ok", "payload": first}
    assert ok(await cli("cancel", key)) == {
        "status": "already_resolved",
        "terminal": {"status": "ok", "payload": first},
    }


async def test_resolve_err_and_cancelled(cli: Cli) -> None:
    failed, cancelled = await asyncio.gather(mint(cli, "resolve-err"), mint(cli, "resolve-cancelled"))
    assert ok(await cli("resolve", failed, "--err", "tool_failed", "the tool failed")) == {"status": "accepted"}
    err = {"status": "err", "payload": {"code": "tool_failed", "message": "the tool failed"}}
    assert ok(await cli("peek", failed)) == err
    assert ok(await cli("resolve", failed, "--cancelled")) == {"status": "already_resolved", "terminal": err}

    assert ok(await cli("resolve", cancelled, "--cancelled")) == {"status": "accepted"}
    assert ok(await cli("await", cancelled), 6) == {"status": "cancelled"}
    assert ok(await cli("resolve", cancelled, "--ok", "1")) == {
        "status": "already_resolved",
        "terminal": {"status": "cancelled"},
    }


async def test_await_with_timeout_on_a_pending_key_prints_timeout(cli: Cli) -> None:
    key = await mint(cli, "await-timeout")
    assert ok(await cli("peek", key)) == {"status": "pending", "deadline_unix_ms": None}
    assert ok(await cli("await", key, "--timeout", "0.2"), 5) == {"status": "timeout"}
    # The timeout is the key's recorded terminal now.
    assert ok(await cli("peek", key)) == {"status": "timeout"}
    assert ok(await cli("resolve", key, "--ok", "1")) == {
        "status": "already_resolved",
        "terminal": {"status": "timeout"},
    }


async def test_watch_prints_one_line_per_key(cli: Cli, server: ServerProcess, client: Client) -> None:
    first, second = await asyncio.gather(mint(cli, "watch-1"), mint(cli, "watch-2"))
    assert ok(await cli("resolve", first, "--ok", '"one"')) == {"status": "accepted"}

    watching = asyncio.create_task(cli("watch", first, second))
    # The second terminal is recorded while the watch runs (or before it subscribes: same output).
    await asyncio.sleep(0.2)
    second_key = json.loads(second)
    assert await client.resolve(key_from_lash(second_key), Ok("two")) == Accepted()
    result = await asyncio.wait_for(watching, 60)
    assert result.rc == 0 and result.stderr == "", result
    lines = result.json_lines()
    assert len(lines) == 2, result
    by_key = {line["key_id"]: line for line in lines}
    assert by_key.keys() == {json.loads(first)["key_id"], second_key["key_id"]}
    assert by_key[json.loads(first)["key_id"]]["terminal"] == {"status": "ok", "payload": "one"}
    assert by_key[second_key["key_id"]]["terminal"] == {"status": "ok", "payload": "two"}
    cursors = [line["cursor"] for line in lines]
    assert all(isinstance(c, int) and c > 0 for c in cursors) and len(set(cursors)) == 2


async def test_revoke_session_then_resolve_and_await_are_refused(cli: Cli) -> None:
    revoked_scope = {"type": "turn", "session_id": "cli-revoked", "turn_id": "t1"}
    key, other = await asyncio.gather(mint(cli, "to-revoke", revoked_scope), mint(cli, "other-session"))
    assert ok(await cli("revoke-session", "cli-revoked")) == {"revoked_session": "cli-revoked"}

    resolved = await cli("resolve", key, "--ok", "1")
    assert resolved.rc == 4, resolved
    assert resolved.json() == {"status": "unknown_or_revoked"}
    one_line_error(await cli("await", key), 4, "await_event_unknown_or_revoked")
    one_line_error(await cli("peek", key), 4, "await_event_unknown_or_revoked")
    watched = await cli("watch", key)
    assert watched.rc == 4, watched
    [line] = watched.json_lines()
    assert line["key_id"] == json.loads(key)["key_id"]
    assert line["rejected"]["code"] == "await_event_unknown_or_revoked"
    # Other sessions are untouched.
    assert ok(await cli("resolve", other, "--ok", "1")) == {"status": "accepted"}


async def test_revoke_key_and_cancel_session_waits(cli: Cli) -> None:
    scope = {"type": "turn", "session_id": "cli-cancel-waits", "turn_id": "t1"}
    revoked, pending_a, pending_b = await asyncio.gather(
        mint(cli, "revoke-me"), mint(cli, "a", scope), mint(cli, "b", scope)
    )
    assert ok(await cli("revoke-key", revoked)) == {"revoked_key_id": json.loads(revoked)["key_id"]}
    result = await cli("resolve", revoked, "--ok", "1")
    assert (result.rc, result.json()) == (4, {"status": "unknown_or_revoked"})

    assert ok(await cli("cancel-session-waits", "cli-cancel-waits")) == {"cancelled": 2}
    assert ok(await cli("peek", pending_a)) == {"status": "cancelled"}
    assert ok(await cli("await", pending_b), 6) == {"status": "cancelled"}
    assert ok(await cli("cancel-session-waits", "cli-cancel-waits")) == {"cancelled": 0}


async def test_keys_list_rotate_retire(cli: Cli) -> None:
    listed = ok(await cli("keys", "list"))
    assert [k["state"] for k in listed] == ["active"]
    old_kid = listed[0]["kid"]

    old_a, old_b = await asyncio.gather(mint(cli, "old-a"), mint(cli, "old-b"))
    assert json.loads(old_a)["signature"].split(".")[1] == old_kid

    one_line_error(await cli("keys", "retire", old_kid), 1, "signing_key_active")
    one_line_error(await cli("keys", "retire", "no-such-kid"), 1, "signing_key_not_found")

    rotated = ok(await cli("keys", "rotate"))
    new_kid = rotated["kid"]
    assert rotated["state"] == "active" and new_kid != old_kid
    states = {k["kid"]: k["state"] for k in ok(await cli("keys", "list"))}
    assert states == {old_kid: "verify_only", new_kid: "active"}

    # New keys are signed with the new kid; keys signed with the old kid still verify.
    again = json.loads(await mint(cli, "old-a"))
    assert again["key_id"] == json.loads(old_a)["key_id"]
    assert again["signature"].split(".")[1] == new_kid
    assert ok(await cli("resolve", old_a, "--ok", '"old kid verifies"')) == {"status": "accepted"}

    retired = ok(await cli("keys", "retire", old_kid))
    assert (retired["kid"], retired["state"]) == (old_kid, "retired")
    states = {k["kid"]: k["state"] for k in ok(await cli("keys", "list"))}
    assert states == {old_kid: "retired", new_kid: "active"}

    # Retired: every key signed with it answers unknown_or_revoked, resolved or not.
    for key in (old_b, old_a):
        result = await cli("resolve", key, "--ok", "1")
        assert (result.rc, result.json()) == (4, {"status": "unknown_or_revoked"}), result
    one_line_error(await cli("await", old_a), 4, "await_event_unknown_or_revoked")
    # The same key re-signed with the active kid works.
    assert ok(await cli("peek", json.dumps(again))) == {"status": "ok", "payload": "old kid verifies"}


async def test_bad_json_exits_2(cli: Cli) -> None:
    key = await mint(cli, "bad-json")
    results = await asyncio.gather(
        cli("resolve", key, "--ok", "{not json"),
        cli("resolve", "{not json", "--ok", "1"),
        cli("key", "mint", "--scope", "{", "--wait", wait_json("w")),
        cli("peek", "["),
    )
    for result in results:
        assert result.rc == 2, result
        assert result.stdout == "" and "not valid JSON" in result.stderr, result
    # Nothing was recorded by the bad resolve.
    assert ok(await cli("peek", key)) == {"status": "pending", "deadline_unix_ms": None}


async def test_bad_usage_exits_2(cli: Cli) -> None:
    key = await mint(cli, "bad-usage")
    results = await asyncio.gather(
        cli("resolve", key),  # no --ok / --err / --cancelled
        cli("resolve", key, "--ok", "1", "--cancelled"),
        cli("no-such-command"),
    )
    for result in results:
        assert result.rc == 2, result
        assert result.stdout == "", result


async def test_unreachable_target_exits_3() -> None:
    result = await run_cli("--target", "127.0.0.1:1", "--connect-timeout", "0.5", "keys", "list")
    one_line_error(result, 3, "unavailable")


async def test_effectd_target_env_is_honoured(server: ServerProcess) -> None:
    env = {"EFFECTD_TARGET": server.target}
    result = await run_cli("keys", "list", env=env)
    assert result.rc == 0, result
    assert [k["state"] for k in result.json()] == ["active"]

    unreachable = {"EFFECTD_TARGET": "127.0.0.1:1"}
    one_line_error(await run_cli("--connect-timeout", "0.5", "keys", "list", env=unreachable), 3, "127.0.0.1:1")
    # --target wins over the environment.
    assert (await run_cli("--target", server.target, "keys", "list", env=unreachable)).rc == 0


async def test_every_key_command_takes_the_token(cli: Cli, client: Client) -> None:
    token = json.loads(await mint(cli, "by-token"))["token"]
    key_id = json.loads(await mint(cli, "by-token"))["key_id"]
    assert ok(await cli("peek", token))["status"] == "pending"
    payload = '{"order_id": 9007199254740993, "f": 1.0}'
    assert ok(await cli("resolve", token, "--ok", payload)) == {"status": "accepted"}
    # Exact on the way back: the integer past 2**53 and the float 1.0 are what was sent.
    peeked = await cli("peek", token)
    assert peeked.stdout == '{"status":"ok","payload":{"f":1.0,"order_id":9007199254740993}}\n'
    awaited = await cli("await", token)
    assert awaited.stdout == peeked.stdout, awaited
    assert ok(await cli("cancel", token))["status"] == "already_resolved"
    watched = await cli("watch", token)
    assert watched.json()["key_id"] == key_id
    other = json.loads(await mint(cli, "revoke-by-token"))
    assert ok(await cli("revoke-key", other["token"])) == {"revoked_key_id": other["key_id"]}
    assert (await cli("resolve", other["token"], "--ok", "1")).rc == 4
    # The minted JSON, token field included, is still a KEY_JSON.
    third = await mint(cli, "key-json-with-token")
    assert ok(await cli("resolve", third, "--ok", "1")) == {"status": "accepted"}


async def test_a_tampered_token_answers_unknown_or_revoked(cli: Cli) -> None:
    token = json.loads(await mint(cli, "tampered-token"))["token"]
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:10] + "x" + token[11:], "ek1_nonsense"):
        resolved = await cli("resolve", bad, "--ok", "1")
        assert resolved.rc == 4 and resolved.json() == {"status": "unknown_or_revoked"}, resolved
        assert (await cli("cancel", bad)).rc == 4
        one_line_error(await cli("peek", bad), 4, "await_event_unknown_or_revoked")
    assert ok(await cli("peek", token))["status"] == "pending"


async def test_cli_and_sdk_interoperate(cli: Cli, client: Client) -> None:
    key = await client.mint_key(TurnScope("interop", "t1"), CustomWait("sdk-minted"))
    assert ok(await cli("resolve", key.to_json(), "--ok", '{"from": "cli"}')) == {"status": "accepted"}
    assert await client.await_event(key) == Ok({"from": "cli"})


# -- known bugs: each case fails today; strict, so a fix turns it into a failure until the mark goes --

KEY_FIELDS_MISSING = (
    '{"scope": {"type": "turn", "session_id": "s", "turn_id": "t"}, "wait": {"type": "custom", "key": "k"}}'
)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["resolve", "KEY", "--ok", "NaN"], id="ok-NaN"),
        pytest.param(["resolve", "KEY", "--ok", '{"x": 1e999}'], id="ok-infinity"),
        pytest.param(["resolve", "KEY", "--ok", "@/nonexistent/payload.json"], id="ok-missing-file"),
        pytest.param(
            [
                "key",
                "mint",
                "--scope",
                '{"type": "process", "process_id": "p"}',
                "--wait",
                '{"type": "process_signal", "process_id": "p", "signal_name": "s", "ordinal": 18446744073709551616}',
            ],
            id="ordinal-over-uint64",
        ),
    ],
)
async def test_bad_input_is_a_usage_error_not_a_traceback(cli: Cli, argv: list[str]) -> None:
    key = await mint(cli, "bug-input")
    result = await cli(*[key if a == "KEY" else a for a in argv])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.rc == 2, result
    assert len(result.stderr.splitlines()) == 1, result


async def test_key_json_of_the_wrong_shape_exits_2(cli: Cli) -> None:
    result = await cli("resolve", KEY_FIELDS_MISSING, "--ok", "1")
    one_line_error(result, 2, "invalid_await_event_key")


async def test_bad_json_exits_2_even_when_the_server_is_unreachable() -> None:
    result = await run_cli("--target", "127.0.0.1:1", "--connect-timeout", "0.5", "resolve", "{not json", "--ok", "1")
    assert result.rc == 2, result


async def test_effects_ls_and_show(cli: Cli, client: Client) -> None:
    from effectd import (
        DurableStepCommand,
        LocalExecutor,
        RemoteEffectController,
        RuntimeEffectEnvelope,
        RuntimeEffectKind,
        RuntimeInvocation,
        RuntimeScope,
    )

    controller = RemoteEffectController(client)
    for name in ("create", "complete"):
        envelope = RuntimeEffectEnvelope(
            RuntimeInvocation.effect(RuntimeScope("cli-session"), name, RuntimeEffectKind.DURABLE_STEP, f"r:{name}"),
            DurableStepCommand(name, {"n": name}),
        )
        await controller.execute_effect(
            TurnScope("cli-session", "turn-1"), envelope, LocalExecutor.durable_step(lambda v: {"done": v})
        )
    listed = await cli("effects", "ls", "--scope", json.dumps(SCOPE))
    assert listed.rc == 0, listed
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["replay_key"] for r in rows] == ["r:create", "r:complete"]
    assert all(r["status"] == "completed" for r in rows)
    assert rows[0]["outcome"] == {"type": "durable_step", "value": {"done": {"n": "create"}}}
    assert rows[0]["envelope"]["command"] == {"type": "durable_step", "step_id": "create", "input": {"n": "create"}}
    shown = ok(await cli("effects", "show", "--scope", json.dumps(SCOPE), "r:complete"))
    assert shown == rows[1]
    one_line_error(await cli("effects", "show", "--scope", json.dumps(SCOPE), "r:none"), 1, "effect_not_found")
    assert (await cli("effects", "ls", "--scope", "{not json")).rc == 2


async def test_a_huge_timeout_is_refused_and_the_server_keeps_writing(cli: Cli) -> None:
    """`--timeout 9.3e15` once overflowed SQLite's integers inside the batch writer and wedged every
    later write until a restart; `--timeout 1e30` overflowed the request and printed a traceback."""
    key = await mint(cli, "huge-timeout")
    one_line_error(await cli("await", key, "--timeout", "1e30"), 2, "--timeout")
    refused = await cli("await", key, "--timeout", "9.3e15")
    assert refused.rc == 2 and "Traceback" not in refused.stderr, refused
    one_line_error(refused, refused.rc, "timeout")
    # The store still writes: a resolve is accepted and recorded.
    assert ok(await cli("resolve", key, "--ok", '{"after": true}')) == {"status": "accepted"}
    assert ok(await cli("peek", key)) == {"status": "ok", "payload": {"after": True}}


async def test_numbers_pass_the_wire_exactly(cli: Cli) -> None:
    key = await mint(cli, "exact-numbers")
    assert ok(await cli("resolve", key, "--ok", '{"order_id": 9007199254740993, "f": 1.0}')) == {"status": "accepted"}
    peeked = await cli("peek", key)
    assert peeked.rc == 0, peeked
    assert peeked.stdout.strip() == '{"status":"ok","payload":{"f":1.0,"order_id":9007199254740993}}'
