import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, InvalidArgumentError, UnavailableError, type ConnectOptions, type ExecutionScope } from "../src/index.js";
import { SecretsDir } from "./support/secrets.js";
import { EffectdServer } from "./support/server.js";

let secrets: SecretsDir;
const clients: Client[] = [];

before(async () => {
  secrets = new SecretsDir();
  await secrets.makeCertificates();
});

after(() => {
  for (const client of clients) client.close();
  secrets.remove();
});

function connect(target: string, options: ConnectOptions): Client {
  const client = Client.connect(target, { timeoutMs: 5_000, ...options });
  clients.push(client);
  return client;
}

const turn = (session: string): ExecutionScope => ({ type: "turn", session_id: session, turn_id: "t1" });
/** Any key token: calls that cannot connect fail before the server would look at it. */
const PEEKED = "ek1_never-read";

/** Mint, resolve, await and watch: the whole round trip works over this client. */
async function roundTrip(client: Client, session: string): Promise<void> {
  const { token } = await client.mintKey(turn(session), { type: "custom", key: "k1" });
  assert.deepEqual(await client.resolve(token, { status: "ok", payload: { session } }), { status: "accepted" });
  assert.deepEqual(await client.awaitEvent(token), { status: "ok", payload: { session } });
  const second = await client.mintKey(turn(session), { type: "custom", key: "k2" });
  const watch = client.watch([second.token]);
  await client.resolve(second.token, { status: "cancelled" });
  for await (const event of watch) assert.deepEqual(event.type === "terminal" ? event.terminal : event, { status: "cancelled" });
}

function isUnavailable(error: unknown): boolean {
  assert.ok(error instanceof UnavailableError, `expected UnavailableError, got ${String(error)}`);
  assert.equal(error.code, "unavailable");
  assert.equal(error.status, "UNAVAILABLE");
  return true;
}

describe("a server with a TLS certificate", () => {
  let server: EffectdServer;

  before(async () => {
    server = await EffectdServer.start(["--tls-cert", secrets.file("server.pem"), "--tls-key", secrets.file("server.key")]);
  });

  after(async () => {
    await server.stop();
  });

  test("a client trusting its CA connects and works, with or without https:// in the target", async () => {
    await roundTrip(connect(server.target, { tls: { ca: secrets.read("ca.pem") } }), "tls-1");
    await roundTrip(connect(`https://${server.target}`, { tls: { ca: secrets.read("ca.pem").toString("utf8") } }), "tls-2");
  });

  test("the server name checked can differ from the target's host", async () => {
    const ca = secrets.read("ca.pem");
    await roundTrip(connect(server.target, { tls: { ca, serverName: "localhost" } }), "tls-3");
    await assert.rejects(connect(server.target, { tls: { ca, serverName: "elsewhere.example" } }).peek(PEEKED), isUnavailable);
  });

  test("a client that does not trust its CA fails with unavailable", async () => {
    await assert.rejects(connect(server.target, { tls: {} }).mintKey(turn("tls-4"), { type: "custom", key: "k" }), isUnavailable);
    await assert.rejects(connect(`https://${server.target}`, {}).mintKey(turn("tls-4"), { type: "custom", key: "k" }), isUnavailable);
    await assert.rejects(
      connect(server.target, { tls: { ca: secrets.read("other-ca.pem") } }).mintKey(turn("tls-4"), { type: "custom", key: "k" }),
      isUnavailable,
    );
  });

  test("a client without TLS fails with unavailable", async () => {
    await assert.rejects(connect(server.target, {}).mintKey(turn("tls-5"), { type: "custom", key: "k" }), isUnavailable);
  });
});

describe("a server that requires client certificates (mTLS)", () => {
  let server: EffectdServer;

  before(async () => {
    server = await EffectdServer.start([
      ...["--tls-cert", secrets.file("server.pem"), "--tls-key", secrets.file("server.key")],
      ...["--tls-client-ca", secrets.file("ca.pem")],
    ]);
  });

  after(async () => {
    await server.stop();
  });

  test("a client with a certificate of its client CA works", async () => {
    const tls = { ca: secrets.read("ca.pem"), cert: secrets.read("client.pem"), key: secrets.read("client.key") };
    await roundTrip(connect(server.target, { tls }), "mtls-1");
  });

  test("a client without a client certificate fails", async () => {
    await assert.rejects(
      connect(server.target, { tls: { ca: secrets.read("ca.pem") } }).mintKey(turn("mtls-2"), { type: "custom", key: "k" }),
      isUnavailable,
    );
  });
});

test("TLS options that cannot work are refused before anything is sent", () => {
  const refused = (options: ConnectOptions, target = "127.0.0.1:1") => {
    assert.throws(() => Client.connect(target, options), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.code, "invalid_request");
      return true;
    });
  };
  refused({ tls: { cert: "a certificate without its key" } });
  refused({ tls: { key: "a key without its certificate" } });
  refused({ tls: {} }, "http://127.0.0.1:1");
});
