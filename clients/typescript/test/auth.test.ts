import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  AuthError,
  Client,
  EffectController,
  InvalidArgumentError,
  LocalExecutor,
  PermissionDeniedError,
  UnauthenticatedError,
  type EffectdError,
  type ExecutionScope,
} from "../src/index.js";
import { SecretsDir } from "./support/secrets.js";
import { EffectdServer } from "./support/server.js";

let secrets: SecretsDir;
let server: EffectdServer;
const tokens = { runtime: "", resolver: "", admin: "" };
const clients: Client[] = [];

before(async () => {
  secrets = new SecretsDir();
  for (const role of ["runtime", "resolver", "admin"] as const) tokens[role] = await secrets.addToken("tokens.toml", role);
  server = await EffectdServer.start(["--tokens-file", secrets.file("tokens.toml")]);
});

after(async () => {
  for (const client of clients) client.close();
  await server.stop();
  secrets.remove();
});

function connect(token?: string): Client {
  const client = Client.connect(server.target, token === undefined ? {} : { token });
  clients.push(client);
  return client;
}

const turn = (session: string): ExecutionScope => ({ type: "turn", session_id: session, turn_id: "t1" });

function isError(cls: new (...args: never[]) => EffectdError, code: string, status: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${String(error)}`);
    assert.ok(error instanceof AuthError);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    assert.equal(error.retryable, false);
    return true;
  };
}
const unauthenticated = isError(UnauthenticatedError, "unauthenticated", "UNAUTHENTICATED");
const permissionDenied = isError(PermissionDeniedError, "permission_denied", "PERMISSION_DENIED");

test("a call without a token, or with one the server does not know, is unauthenticated", async () => {
  await assert.rejects(connect().mintKey(turn("auth-1"), { type: "custom", key: "k" }), unauthenticated);
  await assert.rejects(connect("edt_not-a-known-token").mintKey(turn("auth-1"), { type: "custom", key: "k" }), unauthenticated);
  const { token } = await connect(tokens.runtime).mintKey(turn("auth-1"), { type: "custom", key: "k" });
  await assert.rejects(connect().peek(token), unauthenticated);
});

test("a runtime token mints, resolves and awaits; a resolver token resolves and peeks but may not mint", async () => {
  const runtime = connect(tokens.runtime);
  const resolver = connect(tokens.resolver);
  await assert.rejects(resolver.mintKey(turn("auth-2"), { type: "custom", key: "k" }), permissionDenied);
  const other = await runtime.mintKey(turn("auth-2"), { type: "custom", key: "other" });
  await assert.rejects(resolver.awaitEvent(other.token), permissionDenied);
  await assert.rejects(resolver.listSigningKeys(), permissionDenied);

  const first = await runtime.mintKey(turn("auth-2"), { type: "custom", key: "k1" });
  assert.deepEqual(await runtime.resolve(first.token, { status: "ok", payload: 1 }), { status: "accepted" });
  assert.deepEqual(await runtime.awaitEvent(first.token), { status: "ok", payload: 1 });

  const second = await runtime.mintKey(turn("auth-2"), { type: "custom", key: "k2" });
  const waiting = runtime.awaitEvent(second.token, { timeoutMs: 60_000 });
  assert.deepEqual(await resolver.resolve(second.token, { status: "ok", payload: { by: "resolver" } }), { status: "accepted" });
  assert.deepEqual(await waiting, { status: "ok", payload: { by: "resolver" } });
  assert.deepEqual(await resolver.peek(second.key), { status: "ok", payload: { by: "resolver" } });
  assert.equal((await connect(tokens.admin).listSigningKeys()).length > 0, true);
});

test("a watch stream carries the token; without one, or with a resolver's, it ends with the auth error", async () => {
  const runtime = connect(tokens.runtime);
  const { token } = await runtime.mintKey(turn("auth-3"), { type: "custom", key: "w" });
  const watch = runtime.watch([token]);
  const events = (async () => {
    const seen = [];
    for await (const event of watch) seen.push(event);
    return seen;
  })();
  await connect(tokens.resolver).resolve(token, { status: "ok", payload: "watched" });
  const [event, ...rest] = await events;
  assert.equal(rest.length, 0);
  assert.equal(event?.type, "terminal");
  assert.deepEqual(event.type === "terminal" ? event.terminal : undefined, { status: "ok", payload: "watched" });

  const drain = async (client: Client): Promise<void> => {
    for await (const _ of client.watch([token])) assert.fail("no event may come through");
  };
  await assert.rejects(drain(connect()), unauthenticated);
  await assert.rejects(drain(connect(tokens.resolver)), permissionDenied);
});

test("the journal's Execute stream and its Complete carry the runtime token", async () => {
  const envelope = {
    invocation: {
      scope: { session_id: "auth-4", turn_id: "t1", turn_index: 0, protocol_iteration: 0 },
      subject: { type: "effect", effect_id: "e1", kind: "durable_step" },
      replay: { key: "auth-4:t1:s1" },
    },
    command: { type: "durable_step", step_id: "s1", input: { n: 1 } },
  } as const;
  const executor = LocalExecutor.durableStep((input) => ({ ran: input }));
  await assert.rejects(new EffectController(connect(tokens.resolver)).execute(turn("auth-4"), envelope, executor), permissionDenied);
  const outcome = await new EffectController(connect(tokens.runtime)).execute(turn("auth-4"), envelope, executor);
  assert.deepEqual(outcome, { type: "durable_step", value: { ran: { n: 1 } } });
});

test("a token that is empty or has spaces is refused before anything is sent", () => {
  for (const token of ["", "edt_a b", " edt_a"]) {
    assert.throws(() => Client.connect(server.target, { token }), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.code, "invalid_request");
      return true;
    });
  }
});
