/**
 * Plain JSON (src/types.ts) to and from the generated protobuf messages, both directions side by side.
 * Protobuf stays inside this module and the client; Json fields carry JSON text (src/json.ts).
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "./errors.js";
import { parseJson, stringifyJson, type JsonValue } from "./json.js";
import * as env from "./gen/effectd/v1/envelope_pb.js";
import * as pb from "./gen/effectd/v1/scope_pb.js";
import type * as ctl from "./gen/effectd/v1/effect_controller_pb.js";
import type * as types from "./types.js";

type Init<T extends Parameters<typeof create>[0]> = MessageInitShape<T>;

function invalid(code: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(code, message);
}

function u64(value: number | bigint | undefined, field: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "bigint") return value;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalid("value_out_of_range", `${field} must be a non-negative integer, got ${value}`);
  }
  return BigInt(value);
}

/** A uint64 as a number when exact, else a bigint. */
function fromU64(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function ms(value: bigint): number {
  return Number(value);
}

export function json(value: JsonValue, field: string): Init<typeof pb.JsonSchema> {
  return { text: stringifyJson(value, field) };
}

export function fromJson(value: pb.Json | undefined, field: string): JsonValue {
  if (value === undefined) throw invalid("invalid_request", `${field} is missing in the server's answer`);
  return parseJson(value.text, field);
}

// -- scopes, waits, keys --------------------------------------------------------------------------

export function scopeToProto(scope: types.ExecutionScope): Init<typeof pb.ExecutionScopeSchema> {
  switch (scope?.type) {
    case "turn":
      return { scope: { case: "turn", value: { sessionId: scope.session_id, turnId: scope.turn_id } } };
    case "process":
      return { scope: { case: "process", value: { processId: scope.process_id } } };
    case "queue_drain":
      return { scope: { case: "queueDrain", value: { sessionId: scope.session_id, drainId: scope.drain_id } } };
    case "session_delete":
      return { scope: { case: "sessionDelete", value: { sessionId: scope.session_id } } };
    case "runtime_operation":
      return { scope: { case: "runtimeOperation", value: { operationId: scope.operation_id } } };
    default:
      throw invalid("missing_execution_scope_id", "an execution scope is an object with a known \"type\"");
  }
}

export function scopeFromProto(scope: pb.ExecutionScope | undefined): types.ExecutionScope {
  const s = scope?.scope;
  switch (s?.case) {
    case "turn":
      return { type: "turn", session_id: s.value.sessionId, turn_id: s.value.turnId };
    case "process":
      return { type: "process", process_id: s.value.processId };
    case "queueDrain":
      return { type: "queue_drain", session_id: s.value.sessionId, drain_id: s.value.drainId };
    case "sessionDelete":
      return { type: "session_delete", session_id: s.value.sessionId };
    case "runtimeOperation":
      return { type: "runtime_operation", operation_id: s.value.operationId };
    default:
      throw invalid("missing_execution_scope_id", "the server answered a scope without a variant");
  }
}

export function waitToProto(wait: types.AwaitEventWaitIdentity): Init<typeof pb.AwaitEventWaitIdentitySchema> {
  switch (wait?.type) {
    case "tool_completion":
      return { wait: { case: "toolCompletion", value: { toolCallId: wait.tool_call_id } } };
    case "process_signal":
      return {
        wait: {
          case: "processSignal",
          value: {
            processId: wait.process_id,
            signalName: wait.signal_name,
            ordinal: u64(wait.ordinal, "process_signal.ordinal"),
          },
        },
      };
    case "custom":
      return { wait: { case: "custom", value: { key: wait.key } } };
    default:
      throw invalid("invalid_await_event_wait_identity", "a wait identity is an object with a known \"type\"");
  }
}

export function waitFromProto(wait: pb.AwaitEventWaitIdentity | undefined): types.AwaitEventWaitIdentity {
  const w = wait?.wait;
  switch (w?.case) {
    case "toolCompletion":
      return { type: "tool_completion", tool_call_id: w.value.toolCallId };
    case "processSignal":
      return {
        type: "process_signal",
        process_id: w.value.processId,
        signal_name: w.value.signalName,
        ordinal: fromU64(w.value.ordinal),
      };
    case "custom":
      return { type: "custom", key: w.value.key };
    default:
      throw invalid("invalid_await_event_wait_identity", "the server answered a wait without a variant");
  }
}

export function keyToProto(key: types.AwaitEventKey): Init<typeof pb.AwaitEventKeySchema> {
  if (typeof key !== "object" || key === null) {
    throw invalid("invalid_await_event_key", "a key is a token string or an object {scope, wait, key_id, signature}");
  }
  return { scope: scopeToProto(key.scope), wait: waitToProto(key.wait), keyId: key.key_id, signature: key.signature };
}

export function keyFromProto(key: pb.AwaitEventKey | undefined): types.AwaitEventKey {
  if (key === undefined) throw invalid("invalid_await_event_key", "the server answered without a key");
  return { scope: scopeFromProto(key.scope), wait: waitFromProto(key.wait), key_id: key.keyId, signature: key.signature };
}

/** The `key_ref` oneof of a request: a token or a structured key. */
export function keyRef(ref: types.KeyRef): { case: "token"; value: string } | { case: "key"; value: Init<typeof pb.AwaitEventKeySchema> } {
  return typeof ref === "string" ? { case: "token", value: ref } : { case: "key", value: keyToProto(ref) };
}

// -- resolutions ----------------------------------------------------------------------------------

export function resolutionToProto(resolution: types.Resolution): Init<typeof pb.ResolutionSchema> {
  switch (resolution?.status) {
    case "ok":
      return { resolution: { case: "ok", value: json(resolution.payload, "resolution.ok") } };
    case "err": {
      const error = resolution.payload;
      if (typeof error?.code !== "string") throw invalid("invalid_resolution", "an err resolution needs a code");
      return {
        resolution: {
          case: "err",
          value: {
            code: error.code,
            message: error.message ?? "",
            raw: error.raw === undefined ? undefined : json(error.raw, "resolution.err.raw"),
          },
        },
      };
    }
    case "timeout":
      return { resolution: { case: "timeout", value: {} } };
    case "cancelled":
      return { resolution: { case: "cancelled", value: {} } };
    default:
      throw invalid("invalid_resolution", "a resolution's status is ok, err, timeout or cancelled");
  }
}

export function resolutionFromProto(resolution: pb.Resolution | undefined, field = "terminal"): types.Resolution {
  const r = resolution?.resolution;
  switch (r?.case) {
    case "ok":
      return { status: "ok", payload: parseJson(r.value.text, `${field}.ok`) };
    case "err": {
      const payload: types.ExternalCompletionError = { code: r.value.code, message: r.value.message };
      if (r.value.raw !== undefined) payload.raw = parseJson(r.value.raw.text, `${field}.err.raw`);
      return { status: "err", payload };
    }
    case "timeout":
      return { status: "timeout" };
    case "cancelled":
      return { status: "cancelled" };
    default:
      throw invalid("invalid_resolution", "the server answered a resolution without a variant");
  }
}

export function resolveOutcomeFromProto(outcome: pb.ResolveOutcome | undefined): types.ResolveOutcome {
  const o = outcome?.outcome;
  switch (o?.case) {
    case "accepted":
      return { status: "accepted" };
    case "alreadyResolved":
      return { status: "already_resolved", terminal: resolutionFromProto(o.value.terminal) };
    case "unknownOrRevoked":
      return { status: "unknown_or_revoked" };
    default:
      throw invalid("invalid_request", "the server answered a resolve without an outcome");
  }
}

// -- envelopes --------------------------------------------------------------------------------------

const KINDS: readonly types.RuntimeEffectKind[] = [
  "llm_call",
  "direct",
  "tool_call",
  "process",
  "exec_code",
  "checkpoint",
  "sync_execution_environment",
  "sleep",
  "await_event",
  "durable_step",
];

function kindToProto(kind: types.RuntimeEffectKind): env.RuntimeEffectKind {
  const index = KINDS.indexOf(kind);
  if (index < 0) throw invalid("runtime_effect_invocation_kind", `unknown effect kind ${String(kind)}`);
  return (index + 1) as env.RuntimeEffectKind;
}

function kindFromProto(kind: env.RuntimeEffectKind): types.RuntimeEffectKind {
  const name = KINDS[kind - 1];
  if (name === undefined) throw invalid("runtime_effect_invocation_kind", `unknown effect kind ${kind}`);
  return name;
}

function runtimeScopeToProto(scope: types.RuntimeScope): Init<typeof env.RuntimeScopeSchema> {
  return {
    sessionId: scope.session_id,
    turnId: scope.turn_id,
    turnIndex: u64(scope.turn_index, "scope.turn_index"),
    protocolIteration: u64(scope.protocol_iteration, "scope.protocol_iteration"),
  };
}

function runtimeScopeFromProto(scope: env.RuntimeScope | undefined): types.RuntimeScope {
  const out: types.RuntimeScope = { session_id: scope?.sessionId ?? "" };
  if (scope?.turnId !== undefined) out.turn_id = scope.turnId;
  if (scope?.turnIndex !== undefined) out.turn_index = fromU64(scope.turnIndex);
  if (scope?.protocolIteration !== undefined) out.protocol_iteration = fromU64(scope.protocolIteration);
  return out;
}

function subjectToProto(subject: types.RuntimeSubject): Init<typeof env.RuntimeSubjectSchema> {
  switch (subject?.type) {
    case "effect":
      return { subject: { case: "effect", value: { effectId: subject.effect_id, kind: kindToProto(subject.kind) } } };
    case "process":
      return { subject: { case: "process", value: { processId: subject.process_id } } };
    case "process_event":
      return {
        subject: {
          case: "processEvent",
          value: {
            processId: subject.process_id,
            sequence: u64(subject.sequence, "subject.sequence"),
            eventType: subject.event_type,
          },
        },
      };
    case "trigger_occurrence":
      return { subject: { case: "triggerOccurrence", value: { occurrenceId: subject.occurrence_id } } };
    case "session_node":
      return { subject: { case: "sessionNode", value: { nodeId: subject.node_id } } };
    default:
      throw invalid("runtime_effect_invocation_subject", "an invocation subject is an object with a known \"type\"");
  }
}

function subjectFromProto(subject: env.RuntimeSubject | undefined): types.RuntimeSubject {
  const s = subject?.subject;
  switch (s?.case) {
    case "effect":
      return { type: "effect", effect_id: s.value.effectId, kind: kindFromProto(s.value.kind) };
    case "process":
      return { type: "process", process_id: s.value.processId };
    case "processEvent":
      return {
        type: "process_event",
        process_id: s.value.processId,
        sequence: fromU64(s.value.sequence),
        event_type: s.value.eventType,
      };
    case "triggerOccurrence":
      return { type: "trigger_occurrence", occurrence_id: s.value.occurrenceId };
    case "sessionNode":
      return { type: "session_node", node_id: s.value.nodeId };
    default:
      throw invalid("runtime_effect_invocation_subject", "the server answered a subject without a variant");
  }
}

function causalRefToProto(ref: types.CausalRef): Init<typeof env.CausalRefSchema> {
  switch (ref?.type) {
    case "turn":
      return { ref: { case: "turn", value: { sessionId: ref.session_id, turnId: ref.turn_id } } };
    case "effect":
      return { ref: { case: "effect", value: { sessionId: ref.session_id, turnId: ref.turn_id, effectId: ref.effect_id } } };
    case "tool_call":
      return { ref: { case: "toolCall", value: { sessionId: ref.session_id, callId: ref.call_id } } };
    case "process":
      return { ref: { case: "process", value: { processId: ref.process_id } } };
    case "process_event":
      return {
        ref: { case: "processEvent", value: { processId: ref.process_id, sequence: u64(ref.sequence, "caused_by.sequence") } },
      };
    case "trigger_occurrence":
      return { ref: { case: "triggerOccurrence", value: { occurrenceId: ref.occurrence_id } } };
    case "session_node":
      return { ref: { case: "sessionNode", value: { sessionId: ref.session_id, nodeId: ref.node_id } } };
    default:
      throw invalid("invalid_request", "caused_by is an object with a known \"type\"");
  }
}

function causalRefFromProto(ref: env.CausalRef): types.CausalRef {
  const r = ref.ref;
  switch (r.case) {
    case "turn":
      return { type: "turn", session_id: r.value.sessionId, turn_id: r.value.turnId };
    case "effect": {
      const out: types.CausalRef = { type: "effect", session_id: r.value.sessionId, effect_id: r.value.effectId };
      if (r.value.turnId !== undefined) out.turn_id = r.value.turnId;
      return out;
    }
    case "toolCall":
      return { type: "tool_call", session_id: r.value.sessionId, call_id: r.value.callId };
    case "process":
      return { type: "process", process_id: r.value.processId };
    case "processEvent":
      return { type: "process_event", process_id: r.value.processId, sequence: fromU64(r.value.sequence) };
    case "triggerOccurrence":
      return { type: "trigger_occurrence", occurrence_id: r.value.occurrenceId };
    case "sessionNode":
      return { type: "session_node", session_id: r.value.sessionId, node_id: r.value.nodeId };
    default:
      throw invalid("invalid_request", "the server answered a causal ref without a variant");
  }
}

const CHECKPOINTS = ["after_work", "before_completion"] as const;

function commandToProto(command: types.RuntimeEffectCommand): Init<typeof env.RuntimeEffectCommandSchema> {
  switch (command?.type) {
    case "llm_call":
      return { command: { case: "llmCall", value: { request: json(command.request, "command.request") } } };
    case "direct":
      return {
        command: { case: "direct", value: { request: json(command.request, "command.request"), usageSource: command.usage_source } },
      };
    case "tool_call": {
      const call = command.call;
      return {
        command: {
          case: "toolCall",
          value: {
            call: {
              callId: call.call_id,
              toolName: call.tool_name,
              args: json(call.args, "call.args"),
              replay: call.replay === undefined ? undefined : json(call.replay, "call.replay"),
              preparedPayload:
                call.prepared_payload === undefined ? undefined : json(call.prepared_payload, "call.prepared_payload"),
            },
          },
        },
      };
    }
    case "exec_code":
      return { command: { case: "execCode", value: { code: command.code } } };
    case "checkpoint": {
      const index = CHECKPOINTS.indexOf(command.checkpoint);
      if (index < 0) throw invalid("invalid_request", "checkpoint is after_work or before_completion");
      return { command: { case: "checkpoint", value: { checkpoint: (index + 1) as env.CheckpointKind } } };
    }
    case "sync_execution_environment":
      return {
        command: { case: "syncExecutionEnvironment", value: { updateMachineConfig: command.update_machine_config } },
      };
    case "sleep":
      return { command: { case: "sleep", value: { durationMs: u64(command.duration_ms, "sleep.duration_ms") } } };
    case "await_event":
      return { command: { case: "awaitEvent", value: { key: keyToProto(command.key) } } };
    case "durable_step":
      return {
        command: { case: "durableStep", value: { stepId: command.step_id, input: json(command.input, "durable_step.input") } },
      };
    default:
      throw invalid(
        "runtime_effect_invocation_kind",
        `this client does not send ${String((command as { type?: unknown })?.type)} commands`,
      );
  }
}

function commandFromProto(command: env.RuntimeEffectCommand | undefined): types.RuntimeEffectCommand {
  const c = command?.command;
  switch (c?.case) {
    case "llmCall":
      return { type: "llm_call", request: fromJson(c.value.request, "command.request") };
    case "direct":
      return { type: "direct", request: fromJson(c.value.request, "command.request"), usage_source: c.value.usageSource };
    case "toolCall": {
      const call = c.value.call;
      const out: types.PreparedToolCall = {
        call_id: call?.callId ?? "",
        tool_name: call?.toolName ?? "",
        args: fromJson(call?.args, "call.args"),
      };
      if (call?.replay !== undefined) out.replay = fromJson(call.replay, "call.replay");
      if (call?.preparedPayload !== undefined) out.prepared_payload = fromJson(call.preparedPayload, "call.prepared_payload");
      return { type: "tool_call", call: out };
    }
    case "execCode":
      return { type: "exec_code", code: c.value.code };
    case "checkpoint":
      return { type: "checkpoint", checkpoint: CHECKPOINTS[c.value.checkpoint - 1] ?? "after_work" };
    case "syncExecutionEnvironment":
      return { type: "sync_execution_environment", update_machine_config: c.value.updateMachineConfig };
    case "sleep":
      return { type: "sleep", duration_ms: ms(c.value.durationMs) };
    case "awaitEvent":
      return { type: "await_event", key: keyFromProto(c.value.key) };
    case "durableStep":
      return { type: "durable_step", step_id: c.value.stepId, input: fromJson(c.value.input, "durable_step.input") };
    default:
      throw invalid("runtime_effect_invocation_kind", `this client does not read ${String(c?.case)} commands`);
  }
}

export function envelopeToProto(envelope: types.RuntimeEffectEnvelope): Init<typeof env.RuntimeEffectEnvelopeSchema> {
  const invocation = envelope?.invocation;
  if (invocation === undefined) throw invalid("runtime_effect_invocation_subject", "an envelope needs an invocation");
  return {
    invocation: {
      scope: runtimeScopeToProto(invocation.scope),
      subject: subjectToProto(invocation.subject),
      causedBy: invocation.caused_by === undefined ? undefined : causalRefToProto(invocation.caused_by),
      replay: invocation.replay === undefined ? undefined : { key: invocation.replay.key },
    },
    command: commandToProto(envelope.command),
  };
}

export function envelopeFromProto(envelope: env.RuntimeEffectEnvelope | undefined): types.RuntimeEffectEnvelope {
  const invocation = envelope?.invocation;
  const out: types.RuntimeInvocation = {
    scope: runtimeScopeFromProto(invocation?.scope),
    subject: subjectFromProto(invocation?.subject),
  };
  if (invocation?.causedBy !== undefined) out.caused_by = causalRefFromProto(invocation.causedBy);
  if (invocation?.replay !== undefined) out.replay = { key: invocation.replay.key };
  return { invocation: out, command: commandFromProto(envelope?.command) };
}

// -- outcomes ----------------------------------------------------------------------------------------

type JsonResult = { case: "ok"; value: Init<typeof pb.JsonSchema> } | { case: "err"; value: Init<typeof pb.JsonSchema> };

function jsonResult(result: types.Result<JsonValue, JsonValue>, field: string): JsonResult {
  if (result !== null && typeof result === "object" && "Ok" in result) return { case: "ok", value: json(result.Ok, `${field}.Ok`) };
  if (result !== null && typeof result === "object" && "Err" in result) return { case: "err", value: json(result.Err, `${field}.Err`) };
  throw invalid("invalid_request", `${field} is {"Ok": value} or {"Err": error}`);
}

function isOk<T, E>(result: types.Result<T, E>): result is { Ok: T } {
  return result !== null && typeof result === "object" && "Ok" in result;
}

function isErr<T, E>(result: types.Result<T, E>): result is { Err: E } {
  return result !== null && typeof result === "object" && "Err" in result;
}

function stringResult(result: types.Result<JsonValue, string>, field: string): { case: "ok"; value: Init<typeof pb.JsonSchema> } | { case: "err"; value: string } {
  if (isOk(result)) return { case: "ok", value: json(result.Ok, `${field}.Ok`) };
  if (isErr(result) && typeof result.Err === "string") return { case: "err", value: result.Err };
  throw invalid("invalid_request", `${field} is {"Ok": value} or {"Err": "message"}`);
}

export function outcomeToProto(outcome: types.RuntimeEffectOutcome): Init<typeof env.RuntimeEffectOutcomeSchema> {
  switch (outcome?.type) {
    case "llm_call":
      return {
        outcome: { case: "llmCall", value: { result: jsonResult(outcome.result, "result"), textStreamed: outcome.text_streamed } },
      };
    case "direct":
      return { outcome: { case: "direct", value: { result: jsonResult(outcome.result, "result") } } };
    case "tool_call": {
      const launch = outcome.launch;
      const value: Init<typeof env.ToolCallLaunchSchema> =
        launch?.status === "done"
          ? { launch: { case: "done", value: { result: json(launch.result, "launch.result") } } }
          : launch?.status === "pending"
            ? {
                launch: {
                  case: "pending",
                  value: {
                    key: keyToProto(launch.key),
                    pending: json(launch.pending, "launch.pending"),
                    durationMs: u64(launch.duration_ms, "launch.duration_ms"),
                  },
                },
              }
            : (() => {
                throw invalid("invalid_request", "a tool_call launch's status is done or pending");
              })();
      return {
        outcome: {
          case: "toolCall",
          value: { launch: value, triggers: (outcome.triggers ?? []).map((t, i) => json(t, `triggers[${i}]`)) },
        },
      };
    }
    case "exec_code":
      return { outcome: { case: "execCode", value: { result: stringResult(outcome.result, "result") } } };
    case "checkpoint": {
      const result = outcome.result;
      if (isOk(result)) return { outcome: { case: "checkpoint", value: { result: { case: "ok", value: json(result.Ok, "result.Ok") } } } };
      if (isErr(result)) {
        return {
          outcome: { case: "checkpoint", value: { result: { case: "err", value: { code: result.Err.code, message: result.Err.message } } } },
        };
      }
      throw invalid("invalid_request", "result is {\"Ok\": value} or {\"Err\": {code, message}}");
    }
    case "sync_execution_environment":
      return { outcome: { case: "syncExecutionEnvironment", value: { result: stringResult(outcome.result, "result") } } };
    case "sleep":
      return { outcome: { case: "sleep", value: {} } };
    case "await_event":
      return { outcome: { case: "awaitEvent", value: { resolution: resolutionToProto(outcome.resolution) } } };
    case "durable_step":
      return { outcome: { case: "durableStep", value: { value: json(outcome.value, "durable_step.value") } } };
    default:
      throw invalid("invalid_request", `this client does not send ${String((outcome as { type?: unknown })?.type)} outcomes`);
  }
}

function resultFromProto<E>(
  result: { case: "ok"; value: pb.Json } | { case: "err"; value: E } | { case: undefined; value?: undefined },
  err: (value: E) => unknown,
): types.Result<JsonValue, never> {
  if (result.case === "ok") return { Ok: parseJson(result.value.text, "result.Ok") };
  if (result.case === "err") return { Err: err(result.value) } as unknown as types.Result<JsonValue, never>;
  throw invalid("invalid_request", "the server answered a result without a variant");
}

export function outcomeFromProto(outcome: env.RuntimeEffectOutcome | undefined): types.RuntimeEffectOutcome {
  const o = outcome?.outcome;
  const fromJsonErr = (value: pb.Json): JsonValue => parseJson(value.text, "result.Err");
  const asIs = (value: string): string => value;
  switch (o?.case) {
    case "llmCall":
      return { type: "llm_call", result: resultFromProto(o.value.result, fromJsonErr), text_streamed: o.value.textStreamed };
    case "direct":
      return { type: "direct", result: resultFromProto(o.value.result, fromJsonErr) };
    case "toolCall": {
      const l = o.value.launch?.launch;
      let launch: types.ToolCallLaunch;
      if (l?.case === "done") launch = { status: "done", result: fromJson(l.value.result, "launch.result") };
      else if (l?.case === "pending") {
        launch = {
          status: "pending",
          key: keyFromProto(l.value.key),
          pending: fromJson(l.value.pending, "launch.pending"),
          duration_ms: ms(l.value.durationMs),
        };
      } else throw invalid("invalid_request", "the server answered a tool_call launch without a variant");
      const out: types.RuntimeEffectOutcome = { type: "tool_call", launch };
      if (o.value.triggers.length > 0) out.triggers = o.value.triggers.map((t, i) => parseJson(t.text, `triggers[${i}]`));
      return out;
    }
    case "execCode":
      return { type: "exec_code", result: resultFromProto(o.value.result, asIs) };
    case "checkpoint":
      return {
        type: "checkpoint",
        result: resultFromProto(o.value.result, (e: pb.ControllerError) => ({ code: e.code, message: e.message })),
      };
    case "syncExecutionEnvironment":
      return { type: "sync_execution_environment", result: resultFromProto(o.value.result, asIs) };
    case "sleep":
      return { type: "sleep" };
    case "awaitEvent":
      return { type: "await_event", resolution: resolutionFromProto(o.value.resolution, "resolution") };
    case "durableStep":
      return { type: "durable_step", value: fromJson(o.value.value, "durable_step.value") };
    default:
      throw invalid("invalid_request", `this client does not read ${String(o?.case)} outcomes`);
  }
}

// -- journal rows ---------------------------------------------------------------------------------------

const STATUSES: readonly types.EffectStatus[] = ["unspecified", "in_progress", "completed", "failed"];

export function effectRecordFromProto(record: ctl.EffectRecord | undefined): types.EffectRecord {
  if (record === undefined) throw invalid("effect_not_found", "the server answered without a record");
  const out: types.EffectRecord = {
    scope: scopeFromProto(record.scope),
    replay_key: record.replayKey,
    envelope_hash: record.envelopeHash,
    status: STATUSES[record.status] ?? "unspecified",
    envelope: envelopeFromProto(record.envelope),
    created_at_unix_ms: ms(record.createdAtUnixMs),
    updated_at_unix_ms: ms(record.updatedAtUnixMs),
  };
  if (record.outcome !== undefined) out.outcome = outcomeFromProto(record.outcome);
  if (record.executorError !== undefined) {
    out.executor_error = { code: record.executorError.code, message: record.executorError.message };
  }
  if (record.leaseOwnerId !== "") out.lease_owner_id = record.leaseOwnerId;
  if (record.leaseExpiresAtUnixMs !== 0n) out.lease_expires_at_unix_ms = ms(record.leaseExpiresAtUnixMs);
  if (record.dueAtUnixMs !== undefined) out.due_at_unix_ms = ms(record.dueAtUnixMs);
  return out;
}
