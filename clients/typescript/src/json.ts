/**
 * JSON payloads as the contract carries them: JSON text, read the way serde_json reads it.
 *
 * What this client chose (see README.md, "JSON payloads"):
 * - Reading: integers that fit a JavaScript number exactly (|n| <= 2^53 - 1) are `number`; larger
 *   integers within [-2^63, 2^64 - 1] (lash's i64/u64) are `bigint`, so ids and counters survive; every
 *   other number is a `number` (an f64, as in lash). A float written `1.0` reads as the number 1.
 * - Writing: `bigint` is written as its exact digits; a `number` as JavaScript writes it (so 1.0 is written
 *   `1`, an integer to lash); to send a float with an integral value, or any number text exactly, pass a
 *   `LosslessNumber` (`new LosslessNumber("1.0")`); `rawJson(text)` sends a whole value as written.
 *   NaN, Infinity, functions, symbols, bigints outside i64/u64 and nesting deeper than 128 are refused
 *   with `invalid_json`.
 */
import { isInteger, isSafeNumber, LosslessNumber, parse } from "lossless-json";
import { InvalidArgumentError } from "./errors.js";

export { LosslessNumber };

/** A JSON value as this client reads and writes it. */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | LosslessNumber
  | RawJson
  | JsonValue[]
  | { [key: string]: JsonValue };

/** serde_json's recursion limit, which the server applies: 128 nested arrays and objects. */
export const MAX_DEPTH = 128;
const I64_MIN = -(2n ** 63n);
const U64_MAX = 2n ** 64n - 1n;

/** JSON text sent as written (the server still checks it strictly). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Wraps JSON text so that it is sent verbatim, e.g. `rawJson('{"price":1.0}')`. */
export function rawJson(text: string): RawJson {
  return new RawJson(text);
}

function parseNumber(text: string): number | bigint {
  if (isInteger(text)) {
    if (isSafeNumber(text)) return Number(text);
    const value = BigInt(text);
    if (value >= I64_MIN && value <= U64_MAX) return value;
  }
  return Number(text);
}

/** Parses JSON text: big integers become `bigint` (see the module comment). */
export function parseJson(text: string, field = "json"): JsonValue {
  try {
    return parse(text, null, parseNumber) as JsonValue;
  } catch (error) {
    throw new InvalidArgumentError("invalid_json", `${field}: ${(error as Error).message}`);
  }
}

/** Writes a value as compact JSON text; `field` names it in the `invalid_json` error. */
export function stringifyJson(value: JsonValue, field = "json"): string {
  const out: string[] = [];
  write(value, out, field, 0);
  return out.join("");
}

function write(value: unknown, out: string[], field: string, depth: number): void {
  if (value === null) {
    out.push("null");
  } else if (typeof value === "string") {
    out.push(JSON.stringify(value));
  } else if (typeof value === "boolean") {
    out.push(value ? "true" : "false");
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) throw refused(field, `${value} is not a JSON number`);
    out.push(JSON.stringify(value));
  } else if (typeof value === "bigint") {
    if (value < I64_MIN || value > U64_MAX) throw refused(field, `${value} is outside [-2^63, 2^64-1]`);
    out.push(value.toString());
  } else if (value instanceof LosslessNumber) {
    out.push(value.value);
  } else if (value instanceof RawJson) {
    out.push(value.text);
  } else if (depth >= MAX_DEPTH && typeof value === "object") {
    throw refused(field, `nesting deeper than ${MAX_DEPTH} levels`);
  } else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, index) => {
      if (index > 0) out.push(",");
      write(item === undefined ? null : item, out, field, depth + 1);
    });
    out.push("]");
  } else if (typeof value === "object" && isPlainObject(value)) {
    out.push("{");
    let first = true;
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      if (!first) out.push(",");
      first = false;
      out.push(JSON.stringify(key), ":");
      write(item, out, field, depth + 1);
    }
    out.push("}");
  } else {
    throw refused(field, `a ${describe(value)} is not a JSON value`);
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}

function refused(field: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError("invalid_json", `${field}: ${why}`);
}
