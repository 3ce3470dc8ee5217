import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Client,
  ConflictError,
  EffectController,
  ExecutorError,
  InvalidArgumentError,
  LeaseLostError,
  LocalExecutor,
  NotFoundError,
  type RuntimeEffectEnvelope,
} from "../src/index.js";
import { PausableProxy } from "./support/proxy.js";
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

const scopeOf = (session: string) => ({ type: "turn", session_id: session, turn_id: "t1" }) as const;

function step(session: string, stepId: string, input: unknown): RuntimeEffectEnvelope {
  return {
    invocation: {
      scope: { session_id: session, turn_id: "t1", turn_index: 0, protocol_iteration: 0 },
      subject: { type: "effect", effect_id: `e-${stepId}`, kind: "durable_step" },
      replay: { key: `${session}:t1:${stepId}` },
    },
    command: { type: "durable_step", step_id: stepId, input: input as never },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("describe answers the durable tier", async () => {
  assert.deepEqual(await new EffectController(client).describe(), {
    durability_tier: "durable",
    supports_durable_effects: true,
    requires_durable_attachment_store: false,
  });
});

test("a leased effect runs once; every later execution replays the recorded outcome", async () => {
  const controller = new EffectController(client);
  const envelope = step("journal-1", "s1", { n: 1 });
  let runs = 0;
  const executor = LocalExecutor.durableStep((input) => {
    runs += 1;
    return { doubled: 2, input };
  });
  const first = await controller.execute(scopeOf("journal-1"), envelope, executor);
  const second = await new EffectController(client).execute(scopeOf("journal-1"), envelope, executor);
  assert.equal(runs, 1);
  assert.deepEqual(first, { type: "durable_step", value: { doubled: 2, input: { n: 1 } } });
  assert.deepEqual(second, first);
  const record = await controller.getEffect(scopeOf("journal-1"), "journal-1:t1:s1");
  assert.equal(record.status, "completed");
  assert.deepEqual(record.envelope, envelope);
  assert.deepEqual(record.outcome, first);
  assert.equal((await controller.listEffects(scopeOf("journal-1"))).length, 1);
  const scopes = await controller.listScopes({ limit: 1000 });
  const listed = scopes.find((s) => JSON.stringify(s.scope) === JSON.stringify(scopeOf("journal-1")));
  assert.ok(listed);
  assert.equal(listed.effects, 1);
  assert.ok(listed.updated_at_unix_ms > 0);
});

test("an executor error is recorded and replayed as the same ExecutorError; a crash records nothing", async () => {
  const controller = new EffectController(client);
  const envelope = step("journal-2", "s1", null);
  const failing = LocalExecutor.durableStep(() => {
    throw new ExecutorError("card_declined", "the card was declined");
  });
  for (let attempt = 0; attempt < 2; attempt++) {
    await assert.rejects(controller.execute(scopeOf("journal-2"), envelope, failing), (error: unknown) => {
      return error instanceof ExecutorError && error.code === "card_declined" && error.message === "the card was declined";
    });
  }
  const crashing = step("journal-2", "s2", null);
  await assert.rejects(
    controller.execute(scopeOf("journal-2"), crashing, LocalExecutor.durableStep(() => {
      throw new Error("boom");
    })),
    /boom/,
  );
  const retried = await controller.execute(scopeOf("journal-2"), crashing, LocalExecutor.durableStep(() => "ran"));
  assert.deepEqual(retried, { type: "durable_step", value: "ran" });
});

test("the lease is renewed while a long executor runs, so a second caller waits for its outcome", async () => {
  const owner = new EffectController(client, { leaseTtlMs: 1_000 });
  const other = new EffectController(client, { leaseTtlMs: 1_000 });
  const envelope = step("journal-3", "slow", {});
  let otherRan = false;
  const running = owner.execute(
    scopeOf("journal-3"),
    envelope,
    LocalExecutor.durableStep(async () => {
      await sleep(3_500); // well past the first lease's expiry: only renewals keep it
      return "owner";
    }),
  );
  await sleep(1_500);
  const second = await other.execute(
    scopeOf("journal-3"),
    envelope,
    LocalExecutor.durableStep(() => {
      otherRan = true;
      return "other";
    }),
  );
  assert.deepEqual(await running, { type: "durable_step", value: "owner" });
  assert.deepEqual(second, { type: "durable_step", value: "owner" });
  assert.equal(otherRan, false);
});

test("server-owned kinds run on the server; strict replay and hash conflicts are typed errors", async () => {
  const controller = new EffectController(client);
  const sleepEnvelope: RuntimeEffectEnvelope = {
    invocation: {
      scope: { session_id: "journal-4" },
      subject: { type: "effect", effect_id: "nap", kind: "sleep" },
      replay: { key: "journal-4:nap" },
    },
    command: { type: "sleep", duration_ms: 10 },
  };
  assert.deepEqual(await controller.execute(scopeOf("journal-4"), sleepEnvelope), { type: "sleep" });
  await assert.rejects(
    controller.execute(scopeOf("journal-4"), step("journal-4", "missing", 1), undefined, { strictReplay: true }),
    (error: unknown) => error instanceof NotFoundError && error.code === "effect_replay_missing",
  );
  await controller.execute(scopeOf("journal-4"), step("journal-4", "s1", 1), LocalExecutor.durableStep(() => 1));
  await assert.rejects(
    controller.execute(scopeOf("journal-4"), step("journal-4", "s1", 2), LocalExecutor.durableStep(() => 2)),
    (error: unknown) => error instanceof ConflictError && error.code === "effect_replay_hash_conflict",
  );
  await assert.rejects(
    controller.execute(scopeOf("journal-4"), { ...step("journal-4", "s2", 1), invocation: { ...step("journal-4", "s2", 1).invocation, replay: undefined } }),
    (error: unknown) => error instanceof InvalidArgumentError && error.code === "runtime_effect_replay_required",
  );
});

test("a lease taken over while its renewals could not get through: the first owner gets LeaseLostError", async () => {
  const proxy = await PausableProxy.start(server.target);
  const behindProxy = Client.connect(proxy.target);
  try {
    const owner = new EffectController(behindProxy, { leaseTtlMs: 1_000 });
    const other = new EffectController(client, { leaseTtlMs: 1_000 });
    const envelope = step("journal-5", "taken", {});
    let leased!: () => void;
    const started = new Promise<void>((resolve) => (leased = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let ownerSignal: AbortSignal | undefined;
    const first = owner.execute(
      scopeOf("journal-5"),
      envelope,
      LocalExecutor.durableStep(async (_, signal) => {
        ownerSignal = signal;
        leased();
        await released;
        return "owner";
      }),
    );
    await started;
    proxy.pause(); // the owner's renewals wait in the proxy; its lease runs out
    const second = await other.execute(scopeOf("journal-5"), envelope, LocalExecutor.durableStep(() => "other"));
    assert.deepEqual(second, { type: "durable_step", value: "other" });
    proxy.resume();
    await assert.rejects(first, (error: unknown) => error instanceof LeaseLostError && error.code === "effect_replay_lease_lost");
    release();
    assert.equal(ownerSignal?.aborted, true);
    assert.deepEqual((await other.getEffect(scopeOf("journal-5"), "journal-5:t1:taken")).outcome, second);
  } finally {
    behindProxy.close();
    await proxy.close();
  }
});

test("an await_event effect runs on the server; cancelling it records cancelled, and a replay answers it", async () => {
  const controller = new EffectController(client);
  const { key } = await client.mintKey(scopeOf("journal-6"), { type: "custom", key: "approval" });
  const envelope: RuntimeEffectEnvelope = {
    invocation: {
      scope: { session_id: "journal-6", turn_id: "t1" },
      subject: { type: "effect", effect_id: "wait-1", kind: "await_event" },
      replay: { key: "journal-6:wait-1" },
    },
    command: { type: "await_event", key },
  };
  const abort = new AbortController();
  const waiting = controller.execute(scopeOf("journal-6"), envelope, undefined, { signal: abort.signal });
  setTimeout(() => abort.abort(), 200);
  const cancelled = { type: "await_event", resolution: { status: "cancelled" } };
  assert.deepEqual(await waiting, cancelled);
  assert.deepEqual(await client.peek(key), { status: "cancelled" });
  assert.deepEqual(await controller.execute(scopeOf("journal-6"), envelope), cancelled);
});
