import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { awaitEventKeyId, EffectdError, keyFromToken, keyToken, type AwaitEventKey } from "../src/index.js";
import { REPO_ROOT } from "./support/server.js";

interface KeyIdVector {
  name: string;
  scope: AwaitEventKey["scope"];
  wait: AwaitEventKey["wait"];
  key_id: string;
}

// The repository's lash-json golden vectors (copied from SEED-SPEC, shared with the Python tests).
const golden = JSON.parse(readFileSync(join(REPO_ROOT, "tests", "unit", "golden", "lashjson.json"), "utf8")) as { key_ids: KeyIdVector[] };

test("key ids equal the golden vectors", () => {
  assert.ok(golden.key_ids.length >= 3);
  for (const vector of golden.key_ids) {
    assert.equal(awaitEventKeyId(vector.scope, vector.wait), vector.key_id, vector.name);
  }
});

// Written by the Python SDK (effectd._scope.key_token) for the same keys.
const PYTHON_TOKENS: Array<[AwaitEventKey, string]> = [
  [
    {
      scope: { type: "turn", session_id: "s1", turn_id: "t1" },
      wait: { type: "tool_completion", tool_call_id: "c1" },
      key_id: "60bae3c307d97aff318819e0df079bf5f2586a97b0be019b8a5eae1c32e4baa2",
      signature: "v1.k1.abc",
    },
    "ek1_W3sidHlwZSI6InR1cm4iLCJzZXNzaW9uX2lkIjoiczEiLCJ0dXJuX2lkIjoidDEifSx7InR5cGUiOiJ0b29sX2NvbXBsZXRpb24iLCJ0b29sX2NhbGxfaWQiOiJjMSJ9LCJ2MS5rMS5hYmMiXQ",
  ],
  [
    {
      scope: { type: "process", process_id: 'p\u00e9"1' },
      wait: { type: "process_signal", process_id: "p1", signal_name: "ready", ordinal: 2n ** 64n - 1n },
      key_id: "e13460a3b116e06fc37299fb5b258a4522d89c88c2acb7ba471897a0a4dce1f5",
      signature: "v1.k1.def",
    },
    "ek1_W3sidHlwZSI6InByb2Nlc3MiLCJwcm9jZXNzX2lkIjoicMOpXCIxIn0seyJ0eXBlIjoicHJvY2Vzc19zaWduYWwiLCJwcm9jZXNzX2lkIjoicDEiLCJzaWduYWxfbmFtZSI6InJlYWR5Iiwib3JkaW5hbCI6MTg0NDY3NDQwNzM3MDk1NTE2MTV9LCJ2MS5rMS5kZWYiXQ",
  ],
];

test("tokens are written and read exactly as the Python SDK writes them", () => {
  for (const [key, token] of PYTHON_TOKENS) {
    assert.equal(keyToken(key), token);
    assert.deepEqual(keyFromToken(token), key);
  }
});

test("a token with any character changed, padded or not canonical is refused", () => {
  const token = PYTHON_TOKENS[0]![1];
  const body = token.slice(4);
  const bad = [
    "",
    "ek1_",
    body,
    `ek2_${body}`,
    `${token}=`,
    `${token.slice(0, 10)}*${token.slice(11)}`,
    `ek1_${Buffer.from('[{"type":"turn","turn_id":"t1","session_id":"s1"},{"type":"tool_completion","tool_call_id":"c1"},"v1.k1.abc"]').toString("base64url")}`,
    `ek1_${Buffer.from('[{"type":"turn","session_id":"s1","turn_id":"t1"},{"type":"tool_completion","tool_call_id":"c1"},""]').toString("base64url")}`,
    `ek1_${Buffer.from([0xff, 0xfe, 0x5b]).toString("base64url")}`,
  ];
  for (const text of bad) {
    assert.throws(
      () => keyFromToken(text),
      (error: unknown) => error instanceof EffectdError && error.code === "invalid_await_event_key",
      text,
    );
  }
});

test("scopes and waits that are not lash's are refused with the seed's codes", () => {
  assert.throws(
    () => awaitEventKeyId({ type: "turn", session_id: "", turn_id: "t" }, { type: "custom", key: "k" }),
    (error: unknown) => error instanceof EffectdError && error.code === "missing_execution_scope_id",
  );
  assert.throws(
    () => awaitEventKeyId({ type: "turn", session_id: "s", turn_id: "t" }, { type: "process_signal", process_id: "p", signal_name: "n", ordinal: 0 }),
    (error: unknown) => error instanceof EffectdError && error.code === "invalid_await_event_wait_identity",
  );
});
