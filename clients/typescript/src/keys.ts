/**
 * Key tokens and key ids, computed here exactly as effectd (and lash) compute them.
 *
 * A token is "ek1_" then base64url without padding of the lash-json `[scope, wait, signature]`; the
 * key_id is not carried but recomputed: sha256 hex of the lash-json `[scope, wait]` (tag first, fields in
 * lash's declaration order, compact). Only the canonical spelling decodes, so a changed character is
 * refused here or fails signature verification on the server.
 */
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "./errors.js";
import { parseJson, type JsonValue } from "./json.js";
import type { AwaitEventKey, AwaitEventWaitIdentity, ExecutionScope, KeyRef } from "./types.js";

export const TOKEN_PREFIX = "ek1_";
const MAX_TOKEN_CHARS = 64 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const U64_MAX = 2n ** 64n - 1n;

// The fields of each variant in lash's declaration order (the tag "type" comes first).
const SCOPE_FIELDS: Record<ExecutionScope["type"], readonly string[]> = {
  turn: ["session_id", "turn_id"],
  process: ["process_id"],
  queue_drain: ["session_id", "drain_id"],
  session_delete: ["session_id"],
  runtime_operation: ["operation_id"],
};
const WAIT_FIELDS: Record<AwaitEventWaitIdentity["type"], readonly string[]> = {
  tool_completion: ["tool_call_id"],
  process_signal: ["process_id", "signal_name", "ordinal"],
  custom: ["key"],
};

function tagged(value: unknown, fields: Record<string, readonly string[]>, what: string, code: string): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(code, `${what} must be an object with a "type"`);
  }
  const record = value as Record<string, unknown>;
  const tag = record["type"];
  const names = typeof tag === "string" ? fields[tag] : undefined;
  if (names === undefined) {
    throw new InvalidArgumentError(code, `${what} "type" must be one of ${Object.keys(fields).join(", ")}`);
  }
  const extra = Object.keys(record).filter((k) => k !== "type" && !names.includes(k));
  if (extra.length > 0) throw new InvalidArgumentError(code, `${what} "${String(tag)}" has no field ${extra[0]}`);
  const parts = [`"type":${JSON.stringify(tag)}`];
  for (const name of names) {
    const item = record[name];
    if (name === "ordinal") {
      const ordinal = typeof item === "number" && Number.isSafeInteger(item) ? BigInt(item) : item;
      if (typeof ordinal !== "bigint" || ordinal < 1n || ordinal > U64_MAX) {
        throw new InvalidArgumentError(code, "process_signal ordinal must be an integer from 1 to 2^64-1");
      }
      parts.push(`"ordinal":${ordinal.toString()}`);
    } else {
      if (typeof item !== "string" || item.trim() === "") {
        throw new InvalidArgumentError(code, `${what} "${String(tag)}" requires a non-empty string ${name}`);
      }
      parts.push(`${JSON.stringify(name)}:${JSON.stringify(item)}`);
    }
  }
  return `{${parts.join(",")}}`;
}

/** The lash-json of an execution scope; `missing_execution_scope_id` when it is not one. */
export function scopeLashJson(scope: ExecutionScope): string {
  return tagged(scope, SCOPE_FIELDS, "an execution scope", "missing_execution_scope_id");
}

/** The lash-json of a wait identity; `invalid_await_event_wait_identity` when it is not one. */
export function waitLashJson(wait: AwaitEventWaitIdentity): string {
  return tagged(wait, WAIT_FIELDS, "an await-event wait identity", "invalid_await_event_wait_identity");
}

/** key_id = sha256 hex of lash-json([scope, wait]), as effectd and lash compute it. */
export function awaitEventKeyId(scope: ExecutionScope, wait: AwaitEventWaitIdentity): string {
  const text = `[${scopeLashJson(scope)},${waitLashJson(wait)}]`;
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The key's token ("ek1_..."). */
export function keyToken(key: AwaitEventKey): string {
  const text = `[${scopeLashJson(key.scope)},${waitLashJson(key.wait)},${JSON.stringify(key.signature)}]`;
  return TOKEN_PREFIX + Buffer.from(text, "utf8").toString("base64url");
}

/** The key a token holds; `InvalidArgumentError` (`invalid_await_event_key`) unless it is canonical. */
export function keyFromToken(token: string): AwaitEventKey {
  const refuse = (why: string): never => {
    throw new InvalidArgumentError("invalid_await_event_key", `not a key token: ${why}`);
  };
  if (typeof token !== "string" || !token.startsWith(TOKEN_PREFIX)) refuse(`a key token starts with ${TOKEN_PREFIX}`);
  if (token.length > MAX_TOKEN_CHARS) refuse("the key token is too long");
  const body = token.slice(TOKEN_PREFIX.length);
  if (!BASE64URL.test(body) || body.length % 4 === 1) refuse("a key token is base64url without padding");
  const bytes = Buffer.from(body, "base64url");
  if (bytes.toString("base64url") !== body) refuse("the key token is not canonically encoded");
  let text = "";
  let value: JsonValue;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    value = parseJson(text, "token");
  } catch {
    return refuse("the key token does not hold UTF-8 JSON");
  }
  if (!Array.isArray(value) || value.length !== 3 || typeof value[2] !== "string" || value[2] === "") {
    return refuse("a key token holds [scope, wait, signature]");
  }
  const scope = value[0] as unknown as ExecutionScope;
  const wait = value[1] as unknown as AwaitEventWaitIdentity;
  const key: AwaitEventKey = { scope, wait, key_id: "", signature: value[2] };
  try {
    key.key_id = awaitEventKeyId(scope, wait);
    if (keyToken(key) !== token) refuse("the key token is not canonically encoded");
  } catch (error) {
    if (error instanceof InvalidArgumentError && error.code === "invalid_await_event_key") throw error;
    refuse(`the key token does not hold a key: ${(error as Error).message}`);
  }
  return key;
}

/** The key_id of a key or token; undefined for a token that does not decode (the server answers it). */
export function keyIdOf(ref: KeyRef): string | undefined {
  if (typeof ref !== "string") return ref.key_id;
  try {
    return keyFromToken(ref).key_id;
  } catch {
    return undefined;
  }
}
