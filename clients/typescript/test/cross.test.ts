import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, DurableSteps, EffectController, ERROR_CODES, stringifyJson, type JsonValue } from "../src/index.js";
import { python } from "./support/peer.js";
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

// Integers past 2^53 (exact on both sides), a float and text that needs escaping.
const PAYLOAD: JsonValue = { id: 2n ** 64n - 1n, neg: -(2n ** 63n), price: 12.5, text: 'é "q"\n' };

test("a key minted in Python is resolved from TypeScript", async () => {
  const { token } = (await python("mint", server.target, "cross-py", "k1")) as { token: string };
  assert.deepEqual(await client.resolve(token, { status: "ok", payload: PAYLOAD }), { status: "accepted" });
  assert.deepEqual(await python("await", server.target, token), { status: "ok", payload: PAYLOAD });
});

test("a key minted in TypeScript is resolved from Python", async () => {
  const { token } = await client.mintKey({ type: "turn", session_id: "cross-ts", turn_id: "t1" }, { type: "custom", key: "k2" });
  const waiting = client.awaitEvent(token, { timeoutMs: 60_000 });
  assert.deepEqual(await python("resolve", server.target, token, stringifyJson(PAYLOAD)), { status: "accepted" });
  assert.deepEqual(await waiting, { status: "ok", payload: PAYLOAD });
});

test("a journal effect recorded in TypeScript is replayed in Python without running again", async () => {
  const scope = { type: "turn", session_id: "cross-journal", turn_id: "t1" } as const;
  const runtimeScope = { session_id: "cross-journal", turn_id: "t1", turn_index: 0, protocol_iteration: 0 };
  const steps = new DurableSteps(new EffectController(client), scope, runtimeScope, "call-1");
  const input: JsonValue = { amount: 12, account: 9007199254740993n };
  let runs = 0;
  const value = await steps.run("create-invoice", input, (given) => {
    runs += 1;
    return { invoice: "inv-1", input: given };
  });
  assert.equal(runs, 1);
  assert.deepEqual(value, { invoice: "inv-1", input });
  const replayed = await python("replay", server.target, "cross-journal", "t1", "call-1", "create-invoice", stringifyJson(input));
  assert.deepEqual(replayed, { value });
});

test("the error code table read from the contract equals the Python SDK's", async () => {
  const table = (await python("codes")) as Record<string, [string, boolean]>;
  const ours = Object.fromEntries([...ERROR_CODES].map(([code, info]) => [code, [info.status, info.retryable]]));
  assert.deepEqual(ours, table);
});
