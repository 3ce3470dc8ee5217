import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  CancelledError,
  Client,
  EffectdError,
  InvalidArgumentError,
  keyFromToken,
  keyToken,
  rawJson,
  UnavailableError,
  UnknownOrRevokedError,
  type ExecutionScope,
  type WatchEvent,
} from "../src/index.js";
import { EffectdServer } from "./support/server.js";

let server: EffectdServer;
let client: Client;

before(async () => {
  server = await EffectdServer.start();
  client = Client.connect(server.target);
});

after(async () => {
  client.close();
  await server.stop();
});

const turn = (session: string, turnId = "t1"): ExecutionScope => ({ type: "turn", session_id: session, turn_id: turnId });

test("mint, resolve, peek and await: first writer wins and the loser gets the winner", async () => {
  const { key, token } = await client.mintKey(turn("client-1"), { type: "tool_completion", tool_call_id: "c1" });
  assert.ok(token.startsWith("ek1_"));
  assert.equal(keyToken(key), token);
  assert.deepEqual(keyFromToken(token), key);
  assert.deepEqual(await client.peek(token), { status: "pending" });

  const payload = { answer: 42, id: 2n ** 64n - 1n, nested: [1.5, "x", null] };
  assert.deepEqual(await client.resolve(token, { status: "ok", payload }), { status: "accepted" });
  assert.deepEqual(await client.resolve(key, { status: "err", payload: { code: "late", message: "too late" } }), {
    status: "already_resolved",
    terminal: { status: "ok", payload },
  });
  assert.deepEqual(await client.awaitEvent(token), { status: "ok", payload });
  assert.deepEqual(await client.peek(key), { status: "ok", payload });
});

test("a waiter is woken by a resolve that comes after it started waiting", async () => {
  const { token } = await client.mintKey(turn("client-2"), { type: "custom", key: "wake" });
  const waiting = client.awaitEvent(token, { timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const err = { status: "err" as const, payload: { code: "tool_failed", message: "it broke", raw: { exit: 3 } } };
  assert.deepEqual(await client.resolve(token, err), { status: "accepted" });
  assert.deepEqual(await waiting, err);
});

test("a durable deadline records timeout; cancel records cancelled", async () => {
  const first = await client.mintKey(turn("client-3"), { type: "custom", key: "deadline" });
  assert.deepEqual(await client.awaitEvent(first.token, { timeoutMs: 50 }), { status: "timeout" });
  const second = await client.mintKey(turn("client-3"), { type: "custom", key: "cancel" });
  assert.deepEqual(await client.cancel(second.token), { status: "accepted" });
  assert.deepEqual(await client.awaitEvent(second.key), { status: "cancelled" });
});

test("revoked and tampered keys: resolve answers unknown_or_revoked, await throws UnknownOrRevokedError", async () => {
  const { token } = await client.mintKey(turn("client-4"), { type: "custom", key: "revoked" });
  const tampered = keyToken({ ...keyFromToken(token), signature: "v1.nope.00" });
  assert.deepEqual(await client.resolve(tampered, { status: "cancelled" }), { status: "unknown_or_revoked" });
  await client.revokeSession("client-4");
  assert.deepEqual(await client.resolve(token, { status: "cancelled" }), { status: "unknown_or_revoked" });
  await assert.rejects(client.awaitEvent(token), (error: unknown) => {
    assert.ok(error instanceof UnknownOrRevokedError);
    assert.equal(error.code, "await_event_unknown_or_revoked");
    assert.equal(error.status, "NOT_FOUND");
    assert.equal(error.retryable, false);
    return true;
  });
});

test("server errors are typed and carry the code from ErrorInfo", async () => {
  await assert.rejects(
    client.resolve(
      (await client.mintKey(turn("client-5"), { type: "custom", key: "bad-err" })).token,
      { status: "err", payload: { code: "", message: "no code" } },
    ),
    (error: unknown) => error instanceof InvalidArgumentError && error.code === "invalid_resolution" && error.status === "INVALID_ARGUMENT",
  );
  await assert.rejects(
    client.resolve(
      (await client.mintKey(turn("client-5"), { type: "custom", key: "bad-json" })).token,
      { status: "ok", payload: rawJson('{"a":1,"a":2}') },
    ),
    (error: unknown) =>
      error instanceof InvalidArgumentError && error.code === "invalid_json" && error.message.includes("duplicate"),
  );
  await assert.rejects(
    client.retireSigningKey("no-such-kid"),
    (error: unknown) => error instanceof EffectdError && error.code === "signing_key_not_found" && error.status === "NOT_FOUND",
  );
  await assert.rejects(
    client.mintKey({ type: "turn", session_id: " ", turn_id: "t" }, { type: "custom", key: "k" }),
    (error: unknown) => error instanceof InvalidArgumentError && error.code === "missing_execution_scope_id",
  );
});

test("an unreachable server is UnavailableError with code unavailable", async () => {
  const nowhere = Client.connect("127.0.0.1:1", { timeoutMs: 2_000 });
  try {
    await assert.rejects(
      nowhere.peek("ek1_x"),
      (error: unknown) => error instanceof UnavailableError && error.code === "unavailable" && error.retryable,
    );
  } finally {
    nowhere.close();
  }
});

test("resolveMany answers each item on its own", async () => {
  const { token } = await client.mintKey(turn("client-6"), { type: "custom", key: "many" });
  const results = await client.resolveMany([
    { key: token, resolution: { status: "ok", payload: 1 } },
    { key: token, resolution: { status: "ok", payload: 2 } },
    { key: token, resolution: { status: "err", payload: { code: "", message: "" } } },
  ]);
  assert.deepEqual(results.slice(0, 2), [
    { status: "accepted" },
    { status: "already_resolved", terminal: { status: "ok", payload: 1 } },
  ]);
  assert.equal(results[2]?.status, "error");
});

test("cancelSessionWaits cancels every pending key of the session", async () => {
  const keys = await Promise.all(["a", "b"].map((k) => client.mintKey(turn("client-7"), { type: "custom", key: k })));
  assert.equal(await client.cancelSessionWaits("client-7"), 2);
  for (const { token } of keys) assert.deepEqual(await client.peek(token), { status: "cancelled" });
});

test("watch delivers each key's terminal once, keys added while open, rejections for bad tokens", async () => {
  const minted = await Promise.all(
    ["w1", "w2", "w3"].map((k) => client.mintKey(turn("client-8"), { type: "custom", key: k })),
  );
  await client.resolve(minted[0]!.token, { status: "ok", payload: "early" });
  const watch = client.watch([minted[0]!.token, minted[1]!.key, "ek1_notatoken"], { heartbeatIntervalMs: 1_000 });
  const seen: WatchEvent[] = [];
  for await (const event of watch) {
    seen.push(event);
    if (seen.length === 1) {
      watch.add([minted[2]!.token, minted[0]!.token]);
      await client.resolve(minted[1]!.token, { status: "ok", payload: 2 });
      await client.resolve(minted[2]!.token, { status: "cancelled" });
    }
  }
  const byRef = new Map(seen.map((e) => [typeof e.ref === "string" ? e.ref : e.ref.key_id, e]));
  assert.equal(seen.length, 4);
  assert.deepEqual((byRef.get(minted[0]!.token) as { terminal: unknown }).terminal, { status: "ok", payload: "early" });
  assert.deepEqual((byRef.get(minted[1]!.key.key_id) as { terminal: unknown }).terminal, { status: "ok", payload: 2 });
  assert.deepEqual((byRef.get(minted[2]!.token) as { terminal: unknown }).terminal, { status: "cancelled" });
  const rejected = byRef.get("ek1_notatoken");
  assert.equal(rejected?.type, "rejected");
  assert.equal(rejected.code, "await_event_unknown_or_revoked");
  assert.ok(watch.cursor > 0n);
});

test("an aborted await stops waiting with code cancelled and records nothing", async () => {
  const { token } = await client.mintKey(turn("client-9"), { type: "custom", key: "abort" });
  const controller = new AbortController();
  const waiting = client.awaitEvent(token, { signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(waiting, (error: unknown) => error instanceof CancelledError && error.code === "cancelled");
  assert.deepEqual(await client.peek(token), { status: "pending" });
});

test("with several targets, calls and streams move on from one that is unavailable", async () => {
  const { token } = await client.mintKey(turn("client-10"), { type: "custom", key: "replicas" });
  for (const targets of [["127.0.0.1:1", server.target], `127.0.0.1:1, ${server.target}`]) {
    const replicas = Client.connect(targets, { timeoutMs: 5_000 });
    try {
      assert.deepEqual(await replicas.peek(token), { status: "pending" });
    } finally {
      replicas.close();
    }
  }
  const streams = Client.connect(["127.0.0.1:1", server.target]);
  try {
    const waiting = streams.awaitEvent(token);
    const watch = streams.watch([token]);
    await client.resolve(token, { status: "ok", payload: "replica" });
    assert.deepEqual(await waiting, { status: "ok", payload: "replica" });
    const events: WatchEvent[] = [];
    for await (const event of watch) events.push(event);
    assert.deepEqual(events.map((e) => e.type === "terminal" && e.terminal), [{ status: "ok", payload: "replica" }]);
  } finally {
    streams.close();
  }
});

test("listings: sessions by latest activity, a session's pending keys with tokens that resolve them", async () => {
  const first = await client.mintKey(turn("listing-a"), { type: "custom", key: "one" });
  await client.mintKey(turn("listing-a"), { type: "custom", key: "two" });
  await client.resolve(first.token, { status: "ok", payload: 1 });
  await client.mintKey(turn("listing-b"), { type: "custom", key: "three" });
  const sessions = await client.listSessions({ limit: 1000 });
  const a = sessions.find((s) => s.session_id === "listing-a");
  assert.ok(a);
  assert.equal(a.pending, 1);
  assert.equal(a.resolved, 1);
  assert.equal(a.revoked, false);
  const pending = await client.listPendingKeys("listing-a");
  assert.equal(pending.length, 1);
  assert.deepEqual(pending[0].key.wait, { type: "custom", key: "two" });
  assert.deepEqual(await client.resolve(pending[0].token, { status: "ok", payload: 2 }), { status: "accepted" });
  assert.deepEqual(await client.listPendingKeys("listing-a"), []);
});
