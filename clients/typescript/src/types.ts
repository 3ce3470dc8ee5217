/**
 * The plain JSON shapes of the contract, as lash (and the `effectd` CLI) write them: tagged objects with
 * snake_case fields. No protobuf type appears at this client's surface.
 */
import type { JsonValue } from "./json.js";

// -- scopes and waits ---------------------------------------------------------------------------

export type ExecutionScope =
  | { type: "turn"; session_id: string; turn_id: string }
  | { type: "process"; process_id: string }
  | { type: "queue_drain"; session_id: string; drain_id: string }
  | { type: "session_delete"; session_id: string }
  | { type: "runtime_operation"; operation_id: string };

export type AwaitEventWaitIdentity =
  | { type: "tool_completion"; tool_call_id: string }
  /** `ordinal`: 1..2^64-1 (a `bigint` past 2^53). */
  | { type: "process_signal"; process_id: string; signal_name: string; ordinal: number | bigint }
  | { type: "custom"; key: string };

/** A signed await-event key. `key_id = sha256(lash-json([scope, wait]))`. */
export interface AwaitEventKey {
  scope: ExecutionScope;
  wait: AwaitEventWaitIdentity;
  key_id: string;
  signature: string;
}

/** Where a method takes a key: its token (`"ek1_..."`) or the structured key. */
export type KeyRef = string | AwaitEventKey;

export interface MintedKey {
  key: AwaitEventKey;
  /** The key as one URL-safe string, accepted in place of the key everywhere. */
  token: string;
}

// -- resolutions --------------------------------------------------------------------------------

export interface ExternalCompletionError {
  code: string;
  message: string;
  raw?: JsonValue;
}

/** The terminal of an await event. */
export type Resolution =
  | { status: "ok"; payload: JsonValue }
  | { status: "err"; payload: ExternalCompletionError }
  | { status: "timeout" }
  | { status: "cancelled" };

/** The answer to a resolve or a cancel; `unknown_or_revoked` is an answer, not an error. */
export type ResolveOutcome =
  | { status: "accepted" }
  | { status: "already_resolved"; terminal: Resolution }
  | { status: "unknown_or_revoked" };

/** A pending key as `peek` sees it. */
export interface KeyPending {
  status: "pending";
  deadline_unix_ms?: number;
}

/** One item of `resolveMany`: the outcome, or the error of an invalid item. */
export type ResolveManyResult = ResolveOutcome | { status: "error"; code: string; message: string };

/** A watched key's terminal, delivered once. `ref` is the key or token as it was added. */
export interface WatchTerminal {
  type: "terminal";
  key_id: string;
  ref: KeyRef;
  terminal: Resolution;
  /** The store's resolution sequence (0..2^63-1). */
  cursor: bigint;
}

/** A watched key refused when added (invalid, unknown or revoked, or revoked while watched). */
export interface WatchRejected {
  type: "rejected";
  /** Empty when the key was added as a token that does not decode. */
  key_id: string;
  ref: KeyRef;
  code: string;
  message: string;
}

export type WatchEvent = WatchTerminal | WatchRejected;

/** A session that has keys, as `Client.listSessions` lists it (latest activity first). */
export interface SessionSummary {
  session_id: string;
  pending: number;
  resolved: number;
  revoked: boolean;
  last_activity_unix_ms: number;
}

/** A pending key of a session, as `Client.listPendingKeys` lists it (signed again by the active key). */
export interface PendingKey extends MintedKey {
  /** The earliest deadline a waiter set, if any. */
  deadline_unix_ms?: number;
  created_at_unix_ms: number;
}

/** A scope with journaled effects, as `EffectController.listScopes` lists it (latest update first). */
export interface ScopeSummary {
  scope: ExecutionScope;
  effects: number;
  updated_at_unix_ms: number;
}

export interface SigningKey {
  kid: string;
  state: "active" | "verify_only" | "retired" | "unspecified";
  created_at_unix_ms: number;
}

// -- effect envelopes (lash's RuntimeEffectEnvelope) ---------------------------------------------

export type RuntimeEffectKind =
  | "llm_call"
  | "direct"
  | "tool_call"
  | "process"
  | "exec_code"
  | "checkpoint"
  | "sync_execution_environment"
  | "sleep"
  | "await_event"
  | "durable_step";

export interface RuntimeScope {
  session_id: string;
  turn_id?: string;
  turn_index?: number | bigint;
  protocol_iteration?: number | bigint;
}

export type RuntimeSubject =
  | { type: "effect"; effect_id: string; kind: RuntimeEffectKind }
  | { type: "process"; process_id: string }
  | { type: "process_event"; process_id: string; sequence: number | bigint; event_type: string }
  | { type: "trigger_occurrence"; occurrence_id: string }
  | { type: "session_node"; node_id: string };

export type CausalRef =
  | { type: "turn"; session_id: string; turn_id: string }
  | { type: "effect"; session_id: string; turn_id?: string; effect_id: string }
  | { type: "tool_call"; session_id: string; call_id: string }
  | { type: "process"; process_id: string }
  | { type: "process_event"; process_id: string; sequence: number | bigint }
  | { type: "trigger_occurrence"; occurrence_id: string }
  | { type: "session_node"; session_id: string; node_id: string };

export interface RuntimeInvocation {
  scope: RuntimeScope;
  subject: RuntimeSubject;
  caused_by?: CausalRef;
  /** Required by the journal: the replay key names the effect within its execution scope. */
  replay?: { key: string };
}

export interface PreparedToolCall {
  call_id: string;
  tool_name: string;
  args: JsonValue;
  replay?: JsonValue;
  prepared_payload?: JsonValue;
}

/** Every command kind but `process` (process effects are not in this client yet). */
export type RuntimeEffectCommand =
  | { type: "llm_call"; request: JsonValue }
  | { type: "direct"; request: JsonValue; usage_source: string }
  | { type: "tool_call"; call: PreparedToolCall }
  | { type: "exec_code"; code: string }
  | { type: "checkpoint"; checkpoint: "after_work" | "before_completion" }
  | { type: "sync_execution_environment"; update_machine_config: boolean }
  | { type: "sleep"; duration_ms: number }
  | { type: "await_event"; key: AwaitEventKey }
  | { type: "durable_step"; step_id: string; input: JsonValue };

export interface RuntimeEffectEnvelope {
  invocation: RuntimeInvocation;
  command: RuntimeEffectCommand;
}

/** Rust's `Result`, as serde writes it. */
export type Result<T, E> = { Ok: T } | { Err: E };

export interface ControllerError {
  code: string;
  message: string;
}

export type ToolCallLaunch =
  | { status: "done"; result: JsonValue }
  | { status: "pending"; key: AwaitEventKey; pending: JsonValue; duration_ms: number };

export type RuntimeEffectOutcome =
  | { type: "llm_call"; result: Result<JsonValue, JsonValue>; text_streamed: boolean }
  | { type: "direct"; result: Result<JsonValue, JsonValue> }
  | { type: "tool_call"; launch: ToolCallLaunch; triggers?: JsonValue[] }
  | { type: "exec_code"; result: Result<JsonValue, string> }
  | { type: "checkpoint"; result: Result<JsonValue, ControllerError> }
  | { type: "sync_execution_environment"; result: Result<JsonValue, string> }
  | { type: "sleep" }
  | { type: "await_event"; resolution: Resolution }
  | { type: "durable_step"; value: JsonValue };

export type EffectStatus = "in_progress" | "completed" | "failed" | "unspecified";

/** One journal row. */
export interface EffectRecord {
  scope: ExecutionScope;
  replay_key: string;
  envelope_hash: string;
  status: EffectStatus;
  envelope: RuntimeEffectEnvelope;
  outcome?: RuntimeEffectOutcome;
  executor_error?: ControllerError;
  lease_owner_id?: string;
  lease_expires_at_unix_ms?: number;
  due_at_unix_ms?: number;
  created_at_unix_ms: number;
  updated_at_unix_ms: number;
}

/** What kind of controller the server is (lash's tier and capability flags). */
export interface ControllerDescription {
  durability_tier: "inline" | "durable" | "unspecified";
  supports_durable_effects: boolean;
  requires_durable_attachment_store: boolean;
}
