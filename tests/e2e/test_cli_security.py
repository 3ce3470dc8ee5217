"""Issue 11 from the command line: `effectd --version`, `effectd config show`, `effectd tokens add` and the
`--token` flag against a server with a tokens file, mTLS with the global `--tls-*` flags, a non-loopback
`--listen` refused without `--insecure`, and `effectd keys rewrap` between two master keys."""

from __future__ import annotations

import asyncio
import json
import subprocess
from importlib import metadata
from pathlib import Path

import trustme

from .conftest import EFFECTD, ServerProcess, SpawnServer, clean_env, free_port, run_cli

SCOPE = json.dumps({"type": "turn", "session_id": "secure", "turn_id": "t1"})


def _wait(name: str) -> str:
    return json.dumps({"type": "custom", "key": name})


async def test_version() -> None:
    result = await run_cli("--version")
    assert (result.rc, result.stdout.strip()) == (0, f"effectd {metadata.version('effectd')}")


async def test_config_show_layers_the_file_the_environment_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "effectd.toml"
    config.write_text('listen = "127.0.0.1:7001"\n[limits]\nmax_id_bytes = 2048\nmax_key_bytes = 9000\n')
    env = {
        "EFFECTD_LIMITS_MAX_ID_BYTES": "4096",
        "EFFECTD_MASTER_KEY": "bm90LXByaW50ZWQ=",
        "EFFECTD_STORE": "postgresql://effectd:hunter2@db.internal/effectd",
    }
    result = await run_cli("config", "show", "--config", str(config), "--listen", "127.0.0.1:7003", env=env)
    assert result.rc == 0, result
    shown = json.loads(result.stdout)
    assert shown["listen"] == "127.0.0.1:7003"
    assert (shown["limits"]["max_id_bytes"], shown["limits"]["max_key_bytes"]) == (4096, 9000)
    assert shown["secrets"]["master_key"] == "<redacted>"
    assert "hunter2" not in result.stdout and "bm90LXByaW50ZWQ=" not in result.stdout
    config.write_text("[limits]\nmax_id_bytz = 1\n")
    bad = await run_cli("config", "show", "--config", str(config))
    assert bad.rc == 2 and "limits.max_id_bytz" in bad.stderr, bad


async def test_tokens_and_roles_from_the_command_line(spawn_server: SpawnServer, tmp_path: Path) -> None:
    tokens = str(tmp_path / "tokens.toml")
    added = await run_cli("tokens", "add", "--role", "runtime", "--name", "ci runtime", "--tokens-file", tokens)
    assert added.rc == 0 and "shown only now" in added.stderr, added
    runtime = added.stdout.strip()
    resolver = (await run_cli("tokens", "add", "--role", "resolver", "--tokens-file", tokens)).stdout.strip()
    assert runtime not in await asyncio.to_thread(Path(tokens).read_text)  # only hashes are kept
    port = free_port()
    master = tmp_path / "master.key"
    master.write_text((await run_cli("keys", "new-master-key")).stdout)
    server = await spawn_server(
        port=port,
        args=["serve", "--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "e.db"), "--tokens-file", tokens,
              "--master-key-file", str(master)],
    )  # fmt: skip
    assert "stored in the clear" not in server.log()
    target = ["--target", server.target]
    anonymous = await run_cli(*target, "key", "mint", "--scope", SCOPE, "--wait", _wait("a"))
    assert anonymous.rc == 1 and "unauthenticated" in anonymous.stderr, anonymous
    minted = await run_cli(*target, "--token", runtime, "key", "mint", "--scope", SCOPE, "--wait", _wait("a"))
    assert minted.rc == 0, minted
    from_env = await run_cli(
        *target, "key", "mint", "--scope", SCOPE, "--wait", _wait("b"), env={"EFFECTD_TOKEN": runtime}
    )
    assert from_env.rc == 0, from_env
    denied = await run_cli(*target, "--token", resolver, "keys", "list")
    assert denied.rc == 1 and "permission_denied" in denied.stderr, denied
    resolved = await run_cli(*target, "--token", resolver, "resolve", minted.stdout.strip(), "--ok", "1")
    assert resolved.rc == 0, resolved


async def test_a_non_loopback_listen_needs_insecure(spawn_server: SpawnServer, tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "--listen", f"0.0.0.0:{port}", "--db", str(tmp_path / "e.db")]
    refused = await asyncio.to_thread(
        subprocess.run, [EFFECTD, *args], env=clean_env(), capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 1 and "not a loopback address" in refused.stderr and "--insecure" in refused.stderr
    server = await spawn_server(port=port, args=[*args, "--insecure"])
    assert "INSECURE" in server.log() and "stored in the clear" in server.log()


async def test_mtls_with_the_global_tls_flags(tmp_path: Path) -> None:
    ca = trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    for name, leaf in (("server", ca.issue_cert("127.0.0.1")), ("client", ca.issue_cert("cli.example"))):
        (tmp_path / f"{name}.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        (tmp_path / f"{name}.key").write_bytes(leaf.private_key_pem.bytes())
    port = free_port()
    config = tmp_path / "effectd.toml"
    config.write_text(
        f'listen = "127.0.0.1:{port}"\n[store]\nurl = "{tmp_path / "e.db"}"\n'
        f'[tls]\ncert = "{tmp_path / "server.pem"}"\nkey = "{tmp_path / "server.key"}"\n'
        f'client_ca = "{tmp_path / "ca.pem"}"\n'
    )
    # Started by hand: the fixture's readiness check connects without TLS.
    server = ServerProcess(
        port, None, tmp_path / "server.log", tmp_path, clean_env(), ["serve", "--config", str(config)]
    )
    proc = server.launch()
    try:
        target = ["--target", f"127.0.0.1:{port}", "--connect-timeout", "2"]
        tls = ["--tls-ca", str(tmp_path / "ca.pem"), "--tls-cert", str(tmp_path / "client.pem"),
               "--tls-key", str(tmp_path / "client.key")]  # fmt: skip
        for _ in range(100):
            listed = await run_cli(*target, *tls, "keys", "list")
            if listed.rc == 0 or proc.poll() is not None:
                break
        assert listed.rc == 0 and len(json.loads(listed.stdout)) == 1, (listed, server.log())
        without_cert = await run_cli(*target, "--tls-ca", str(tmp_path / "ca.pem"), "keys", "list")
        assert without_cert.rc == 3, without_cert  # the handshake is refused: effectd unreachable
        plaintext = await run_cli(*target, "keys", "list")
        assert plaintext.rc == 3, plaintext
    finally:
        server.stop()


async def test_keys_rewrap_moves_the_keyring_to_a_new_master_key(spawn_server: SpawnServer, tmp_path: Path) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    for path in (old, new):
        path.write_text((await run_cli("keys", "new-master-key")).stdout)
    db = str(tmp_path / "e.db")
    port = free_port()
    serve = ["serve", "--listen", f"127.0.0.1:{port}", "--db", db]
    server = await spawn_server(port=port, args=[*serve, "--master-key-file", str(old)])
    minted = await run_cli("--target", server.target, "key", "mint", "--scope", SCOPE, "--wait", _wait("k"))
    assert minted.rc == 0, minted
    server.stop()
    without_old = await run_cli("keys", "rewrap", "--db", db, "--master-key-file", str(new))
    assert without_old.rc == 1 and "encrypted under master key" in without_old.stderr, without_old
    moved = await run_cli(
        "keys", "rewrap", "--db", db, "--master-key-file", str(new), "--old-master-key-file", str(old)
    )
    assert moved.rc == 0 and len(json.loads(moved.stdout)["rewrapped"]) == 1, moved
    server.args = [*serve, "--master-key-file", str(new)]
    await server.start()
    resolved = await run_cli("--target", server.target, "resolve", minted.stdout.strip(), "--ok", "1")
    assert resolved.rc == 0 and json.loads(resolved.stdout) == {"status": "accepted"}, resolved
