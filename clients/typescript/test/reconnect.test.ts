import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, type WatchEvent } from "../src/index.js";
import { PausableProxy } from "./support/proxy.js";
import { EffectdServer } from "./support/server.js";

let server: EffectdServer;

before(async () => {
  server = await EffectdServer.start();
});

after(async () => {
  await server.stop();
});

test("watch and await survive a server killed and restarted: nothing missed, nothing twice", async () => {
  const client = Client.connect(server.target);
  try {
    const scope = { type: "turn", session_id: "reconnect-1", turn_id: "t1" } as const;
    const minted = await Promise.all(["a", "b", "c"].map((k) => client.mintKey(scope, { type: "custom", key: k })));
    const waiter = await client.mintKey(scope, { type: "custom", key: "await" });
    await client.resolve(minted[0]!.token, { status: "ok", payload: "a" });
    const watch = client.watch(
      minted.map((m) => m.token),
      { heartbeatIntervalMs: 1_000 },
    );
    const waiting = client.awaitEvent(waiter.token, { heartbeatIntervalMs: 1_000 });
    const seen: WatchEvent[] = [];
    for await (const event of watch) {
      seen.push(event);
      if (seen.length === 1) {
        server = await server.restart();
        const other = Client.connect(server.target);
        try {
          // Resolved while the watch is reconnecting; the first key again must not come back.
          await other.resolve(minted[0]!.token, { status: "ok", payload: "again" });
          await other.resolve(minted[1]!.token, { status: "ok", payload: "b" });
          await other.resolve(minted[2]!.token, { status: "ok", payload: "c" });
          await other.resolve(waiter.token, { status: "ok", payload: "w" });
        } finally {
          other.close();
        }
      }
    }
    const terminals = new Map(seen.map((e) => [e.ref as string, e.type === "terminal" ? e.terminal : e]));
    assert.equal(seen.length, 3);
    assert.deepEqual(terminals.get(minted[0]!.token), { status: "ok", payload: "a" });
    assert.deepEqual(terminals.get(minted[1]!.token), { status: "ok", payload: "b" });
    assert.deepEqual(terminals.get(minted[2]!.token), { status: "ok", payload: "c" });
    assert.deepEqual(await waiting, { status: "ok", payload: "w" });
  } finally {
    client.close();
  }
});

test("a silent link (no reset) is noticed by the missing heartbeats; watch and await resume on a new one", async () => {
  const proxy = await PausableProxy.start(server.target);
  const behindProxy = Client.connect(proxy.target);
  const client = Client.connect(server.target);
  try {
    const scope = { type: "turn", session_id: "dead-link-1", turn_id: "t1" } as const;
    const watched = await client.mintKey(scope, { type: "custom", key: "watched" });
    const awaited = await client.mintKey(scope, { type: "custom", key: "awaited" });
    const watch = behindProxy.watch([watched.token], { heartbeatIntervalMs: 1_000 });
    const events = watch[Symbol.asyncIterator]();
    const next = events.next();
    const waiting = behindProxy.awaitEvent(awaited.token, { heartbeatIntervalMs: 1_000 });
    await behindProxy.peek(awaited.token); // both streams are open on the link before it goes silent
    proxy.pause();
    await client.resolve(watched.token, { status: "ok", payload: "watched" });
    await client.resolve(awaited.token, { status: "ok", payload: "awaited" });
    const first = await next;
    assert.equal(first.done, false);
    assert.deepEqual(first.value.type === "terminal" && first.value.terminal, { status: "ok", payload: "watched" });
    assert.deepEqual(await waiting, { status: "ok", payload: "awaited" });
    assert.equal((await events.next()).done, true);
    // The watchdog replaced the connection (HTTP/2 keepalive alone would have ended the calls instead).
    assert.ok(behindProxy.rpc.generation > 1);
  } finally {
    proxy.resume();
    behindProxy.close();
    client.close();
    await proxy.close();
  }
});
