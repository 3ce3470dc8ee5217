import assert from "node:assert/strict";
import { test } from "node:test";
import { EffectdError, LosslessNumber, parseJson, rawJson, stringifyJson } from "../src/index.js";

test("integers past 2^53 read as exact bigints within i64/u64; safe ones as numbers", () => {
  const value = parseJson('{"big":18446744073709551615,"neg":-9223372036854775808,"small":42,"edge":9007199254740993}');
  assert.deepEqual(value, { big: 18446744073709551615n, neg: -9223372036854775808n, small: 42, edge: 9007199254740993n });
});

test("floats stay numbers; integers beyond u64 become the nearest f64, as serde_json reads them", () => {
  assert.deepEqual(parseJson("[1.5,1e400,100000000000000000000000]".replace("1e400", "2e300")), [1.5, 2e300, 1e23]);
});

test("bigints are written as their exact digits and round-trip", () => {
  const text = stringifyJson({ id: 2n ** 63n + 5n, list: [1, -2n, "x"], nested: { ok: true, none: null } });
  assert.equal(text, '{"id":9223372036854775813,"list":[1,-2,"x"],"nested":{"ok":true,"none":null}}');
  assert.deepEqual(parseJson(text), { id: 9223372036854775813n, list: [1, -2, "x"], nested: { ok: true, none: null } });
});

test("a float with an integral value is sent exactly with LosslessNumber or rawJson", () => {
  assert.equal(stringifyJson({ price: new LosslessNumber("1.0") }), '{"price":1.0}');
  assert.equal(stringifyJson([rawJson('{"a":1.0}')]), '[{"a":1.0}]');
});

test("values JSON cannot hold are refused with invalid_json naming the field", () => {
  let deep: unknown = 1;
  for (let level = 0; level < 128; level++) deep = [deep];
  assert.equal(stringifyJson(deep as never).length, 128 * 2 + 1); // 128 levels pass; 129 are refused below
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 2n ** 64n, -(2n ** 63n) - 1n, () => 1, new Date(0), [deep]]) {
    assert.throws(
      () => stringifyJson({ x: bad } as never, "resolution.ok"),
      (error: unknown) => error instanceof EffectdError && error.code === "invalid_json" && error.message.startsWith("resolution.ok: "),
    );
  }
});

test("duplicate keys and malformed text are refused with invalid_json", () => {
  for (const bad of ['{"a":1,"a":2}', "", "[1,", "NaN"]) {
    assert.throws(() => parseJson(bad, "payload"), (error: unknown) => error instanceof EffectdError && error.code === "invalid_json");
  }
});
