import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { test } from "node:test";
import * as convert from "../src/convert.js";
import { RuntimeEffectEnvelopeSchema, RuntimeEffectOutcomeSchema } from "../src/gen/effectd/v1/envelope_pb.js";
import type { AwaitEventKey, RuntimeEffectCommand, RuntimeEffectEnvelope, RuntimeEffectOutcome } from "../src/index.js";

const KEY: AwaitEventKey = {
  scope: { type: "queue_drain", session_id: "s1", drain_id: "d1" },
  wait: { type: "process_signal", process_id: "p1", signal_name: "go", ordinal: 2n ** 60n },
  key_id: "k",
  signature: "v1.k1.00",
};

const COMMANDS: RuntimeEffectCommand[] = [
  { type: "llm_call", request: { model: "m", messages: [{ role: "user", content: "hi" }] } },
  { type: "direct", request: { prompt: "x" }, usage_source: "agent" },
  { type: "tool_call", call: { call_id: "c1", tool_name: "search", args: { q: "x" }, replay: { item_id: "i" }, prepared_payload: null } },
  { type: "tool_call", call: { call_id: "c2", tool_name: "search", args: [] } },
  { type: "exec_code", code: "print(1)" },
  { type: "checkpoint", checkpoint: "before_completion" },
  { type: "sync_execution_environment", update_machine_config: true },
  { type: "sleep", duration_ms: 1500 },
  { type: "await_event", key: KEY },
  { type: "durable_step", step_id: "s", input: { big: 2n ** 63n } },
];

const OUTCOMES: RuntimeEffectOutcome[] = [
  { type: "llm_call", result: { Ok: { text: "hello" } }, text_streamed: true },
  { type: "llm_call", result: { Err: { kind: "rate_limited" } }, text_streamed: false },
  { type: "direct", result: { Ok: 1 } },
  { type: "tool_call", launch: { status: "done", result: { output: "x" } }, triggers: [{ t: 1 }] },
  { type: "tool_call", launch: { status: "pending", key: KEY, pending: { why: "approval" }, duration_ms: 60_000 } },
  { type: "exec_code", result: { Ok: { stdout: "" } } },
  { type: "exec_code", result: { Err: "syntax error" } },
  { type: "checkpoint", result: { Err: { code: "c", message: "m" } } },
  { type: "checkpoint", result: { Ok: { delivered: true } } },
  { type: "sync_execution_environment", result: { Ok: null } },
  { type: "sleep" },
  { type: "await_event", resolution: { status: "err", payload: { code: "x", message: "y", raw: [1] } } },
  { type: "durable_step", value: "v" },
];

test("every command kind survives plain JSON -> protobuf bytes -> plain JSON", () => {
  for (const command of COMMANDS) {
    const envelope: RuntimeEffectEnvelope = {
      invocation: {
        scope: { session_id: "s1", turn_id: "t1", turn_index: 3, protocol_iteration: 2n ** 62n },
        subject: { type: "effect", effect_id: "e1", kind: command.type },
        caused_by: { type: "effect", session_id: "s1", effect_id: "e0" },
        replay: { key: "r1" },
      },
      command,
    };
    const bytes = toBinary(RuntimeEffectEnvelopeSchema, create(RuntimeEffectEnvelopeSchema, convert.envelopeToProto(envelope)));
    assert.deepEqual(convert.envelopeFromProto(fromBinary(RuntimeEffectEnvelopeSchema, bytes)), envelope, command.type);
  }
});

test("every outcome kind survives plain JSON -> protobuf bytes -> plain JSON", () => {
  for (const outcome of OUTCOMES) {
    const bytes = toBinary(RuntimeEffectOutcomeSchema, create(RuntimeEffectOutcomeSchema, convert.outcomeToProto(outcome)));
    assert.deepEqual(convert.outcomeFromProto(fromBinary(RuntimeEffectOutcomeSchema, bytes)), outcome, outcome.type);
  }
});

test("shapes that are not the contract's are refused with a code before anything is sent", () => {
  assert.throws(() => convert.envelopeToProto({ invocation: undefined } as never), { code: "runtime_effect_invocation_subject" });
  assert.throws(() => convert.resolutionToProto({ status: "maybe" } as never), { code: "invalid_resolution" });
  assert.throws(() => convert.scopeToProto({ type: "galaxy" } as never), { code: "missing_execution_scope_id" });
  assert.throws(() => convert.waitToProto(null as never), { code: "invalid_await_event_wait_identity" });
  assert.throws(() => convert.outcomeToProto({ type: "exec_code", result: { Err: 3 } } as never), { code: "invalid_request" });
});
