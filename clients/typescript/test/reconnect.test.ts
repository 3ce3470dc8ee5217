import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, type WatchEvent } from "../src/index.js";
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
