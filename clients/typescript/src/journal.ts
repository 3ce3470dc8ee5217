/**
 * The effect journal (lash's RuntimeEffectController over effectd):
 *
 *     const controller = new EffectController(client);
 *     const outcome = await controller.execute(scope, envelope, LocalExecutor.durableStep(createInvoice));
 *
 * The first execution of a (scope, replay key) runs: server-owned kinds (sleep, await_event) on the
 * server, the others here through the local executor, under a lease renewed every third of its TTL while
 * the executor runs, then recorded with Complete. Every later execution (from any language) returns the
 * recorded outcome, or throws the recorded executor error, without running anything.
 */
import { create } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import type { Client } from "./client.js";
import * as convert from "./convert.js";
import { EffectdError, errorFromRpc, ExecutorError, InvalidArgumentError, LeaseLostError, UnavailableError } from "./errors.js";
import * as pbEvents from "./gen/effectd/v1/await_events_pb.js";
import * as pb from "./gen/effectd/v1/effect_controller_pb.js";
import type { JsonValue } from "./json.js";
import { heartbeatMs, type Rpc } from "./rpc.js";
import type * as types from "./types.js";

/**
 * How the runtime itself runs an effect it was leased. It gets the envelope and an AbortSignal that
 * fires when the lease is lost (stop: nothing will be recorded). Throw `ExecutorError` to have an error
 * journaled; any other exception records nothing (the next caller runs the effect again).
 */
export type LocalExecutor = (
  envelope: types.RuntimeEffectEnvelope,
  signal: AbortSignal,
) => types.RuntimeEffectOutcome | Promise<types.RuntimeEffectOutcome>;

// Errors that mean "this executor cannot run that effect here": configuration, not an answer to journal.
const NOT_AN_ANSWER = new Set(["runtime_effect_local_executor_unavailable", "runtime_effect_local_executor_mismatch"]);

export const LocalExecutor = {
  /** No local executor: only server-owned kinds (sleep, await_event) and replays can be answered. */
  unavailable(): LocalExecutor {
    return (envelope) => {
      throw new ExecutorError(
        "runtime_effect_local_executor_unavailable",
        `no local executor is available for ${envelope.command.type}`,
      );
    };
  },

  /** Runs a durable_step command's input through `fn`; its return value is the recorded value. */
  durableStep(fn: (input: JsonValue, signal: AbortSignal) => JsonValue | Promise<JsonValue>): LocalExecutor {
    return async (envelope, signal) => {
      const command = envelope.command;
      if (command.type !== "durable_step") {
        throw new ExecutorError(
          "runtime_effect_local_executor_mismatch",
          `local durable step executor cannot execute ${command.type} command`,
        );
      }
      return { type: "durable_step", value: await fn(command.input, signal) };
    };
  },
};

export interface ControllerOptions {
  /** Who runs leased effects (default: a random "sdk-..." id). */
  ownerId?: string;
  /** Lease length of runtime-owned effects (default 30 s); renewed every third of it. */
  leaseTtlMs?: number;
  /** Heartbeats while a server-owned effect is pending (default: the server's). */
  heartbeatIntervalMs?: number;
}

export interface ExecuteOptions {
  /** A missing journal row is `effect_replay_missing` instead of a new execution. */
  strictReplay?: boolean;
  /** For await_event: a durable deadline (unix ms) recorded as `timeout` when it passes. */
  awaitDeadlineUnixMs?: number;
  /**
   * Stops a server-owned effect: a sleep stops waiting and records nothing (a replay waits only the
   * remainder); an await_event records `cancelled` on its key and answers the terminal that won.
   */
  signal?: AbortSignal;
}

/** The lash envelope checks (SEED-SPEC §1.3), so that nothing invalid is sent. */
export function validateEnvelope(envelope: types.RuntimeEffectEnvelope): void {
  const subject = envelope?.invocation?.subject;
  if (subject?.type !== "effect") {
    throw new InvalidArgumentError("runtime_effect_invocation_subject", "runtime effect envelope subject must be an effect");
  }
  if (typeof subject.effect_id !== "string" || subject.effect_id.trim() === "") {
    throw new InvalidArgumentError("runtime_effect_invocation_subject", "runtime effect envelope effect id must be non-empty");
  }
  if (subject.kind !== envelope.command?.type) {
    throw new InvalidArgumentError(
      "runtime_effect_invocation_kind",
      `runtime effect invocation kind ${subject.kind} does not match command kind ${String(envelope.command?.type)}`,
    );
  }
  if (!envelope.invocation.replay?.key) {
    throw new InvalidArgumentError("runtime_effect_replay_required", "runtime effect envelope requires replay.key");
  }
  const command = envelope.command;
  if (command.type === "durable_step" && (typeof command.step_id !== "string" || command.step_id.trim() === "")) {
    throw new InvalidArgumentError("runtime_effect_durable_step_id", "runtime effect durable step id must be non-empty");
  }
}

interface Lease {
  token: string;
}

export class EffectController {
  readonly ownerId: string;
  readonly leaseTtlMs: number;
  private readonly rpc: Rpc;
  private readonly heartbeat: number;

  constructor(client: Client, options: ControllerOptions = {}) {
    this.rpc = client.rpc;
    this.ownerId = options.ownerId ?? `sdk-${randomBytes(6).toString("hex")}`;
    this.leaseTtlMs = options.leaseTtlMs ?? 30_000;
    if (!Number.isInteger(this.leaseTtlMs) || this.leaseTtlMs < 1 || this.leaseTtlMs > 86_400_000) {
      throw new InvalidArgumentError("value_out_of_range", `leaseTtlMs must be an integer from 1 to 86400000, got ${this.leaseTtlMs}`);
    }
    this.heartbeat = options.heartbeatIntervalMs === undefined ? 0 : heartbeatMs(options.heartbeatIntervalMs);
  }

  /** The effect's outcome: recorded earlier, run on the server, or run here under a lease and recorded. */
  async execute(
    scope: types.ExecutionScope,
    envelope: types.RuntimeEffectEnvelope,
    executor: LocalExecutor = LocalExecutor.unavailable(),
    options: ExecuteOptions = {},
  ): Promise<types.RuntimeEffectOutcome> {
    validateEnvelope(envelope);
    const request = create(pb.ExecuteRequestSchema, {
      scope: convert.scopeToProto(scope),
      envelope: convert.envelopeToProto(envelope),
      strictReplay: options.strictReplay ?? false,
      ownerId: this.ownerId,
      leaseTtlMs: this.leaseTtlMs,
      heartbeatIntervalMs: this.heartbeat,
      awaitDeadlineUnixMs: options.awaitDeadlineUnixMs === undefined ? undefined : BigInt(options.awaitDeadlineUnixMs),
    });
    const command = envelope.command;
    let answer: { outcome: types.RuntimeEffectOutcome } | Lease;
    if (command.type === "await_event" && options.signal !== undefined) {
      // A cancelled wait records `cancelled` on the key; the stream then answers whichever terminal won.
      const signal = options.signal;
      const cancel = (): void => void this.cancelKey(command.key).catch(() => undefined);
      if (signal.aborted) cancel();
      else signal.addEventListener("abort", cancel, { once: true });
      try {
        answer = await this.executeCall(request, undefined);
      } finally {
        signal.removeEventListener("abort", cancel);
      }
    } else {
      answer = await this.executeCall(request, options.signal);
    }
    if ("outcome" in answer) return answer.outcome;
    return this.runLeased(scope, envelope, executor, answer);
  }

  private async executeCall(
    request: pb.ExecuteRequest,
    signal: AbortSignal | undefined,
  ): Promise<{ outcome: types.RuntimeEffectOutcome } | Lease> {
    try {
      for await (const response of this.rpc.journal.execute(request, signal ? { signal } : {})) {
        const event = response.event;
        switch (event.case) {
          case "lease":
            return { token: event.value.leaseToken };
          case "outcome":
            return { outcome: convert.outcomeFromProto(event.value.outcome) };
          case "executorError":
            throw new ExecutorError(event.value.error?.code ?? "", event.value.error?.message ?? "");
          default:
            continue; // a heartbeat
        }
      }
    } catch (error) {
      throw errorFromRpc(error, signal?.aborted ?? false);
    }
    throw new UnavailableError("unavailable", "the server ended the effect stream without an answer");
  }

  private async runLeased(
    scope: types.ExecutionScope,
    envelope: types.RuntimeEffectEnvelope,
    executor: LocalExecutor,
    lease: Lease,
  ): Promise<types.RuntimeEffectOutcome> {
    const replayKey = envelope.invocation.replay?.key ?? "";
    const lost = new AbortController();
    let lostError: LeaseLostError | undefined;
    const renewer = setInterval(() => {
      this.renew(scope, replayKey, lease).catch((error: unknown) => {
        if (error instanceof LeaseLostError && lostError === undefined) {
          lostError = new LeaseLostError("effect_replay_lease_lost", `the lease on ${JSON.stringify(replayKey)} was lost while running`);
          lost.abort(lostError);
        }
        // Other errors are transient: the next renewal tries again before the lease runs out.
      });
    }, Math.max(50, Math.floor(this.leaseTtlMs / 3)));
    let outcome: types.RuntimeEffectOutcome;
    try {
      const leaseLost = new Promise<never>((_, reject) => {
        lost.signal.addEventListener("abort", () => reject(lost.signal.reason as Error), { once: true });
      });
      leaseLost.catch(() => undefined);
      outcome = await Promise.race([Promise.resolve().then(() => executor(envelope, lost.signal)), leaseLost]);
    } catch (error) {
      clearInterval(renewer);
      if (lostError !== undefined) throw lostError; // nothing to record: another caller owns the effect
      if (error instanceof ExecutorError && !NOT_AN_ANSWER.has(error.code)) {
        await this.complete(scope, replayKey, lease, { case: "executorError", value: { code: error.code, message: error.message } });
        throw error;
      }
      // Not an executor's answer (a bug, a crash, a misconfigured executor): release, record nothing.
      await this.complete(scope, replayKey, lease, { case: undefined }).catch(() => undefined);
      throw error;
    }
    clearInterval(renewer);
    if (lostError !== undefined) throw lostError;
    await this.complete(scope, replayKey, lease, { case: "outcome", value: convert.outcomeToProto(outcome) });
    return outcome;
  }

  private async cancelKey(key: types.AwaitEventKey): Promise<void> {
    const request = create(pbEvents.CancelRequestSchema, { keyRef: convert.keyRef(key) });
    await this.rpc.unary((o) => this.rpc.events.cancel(request, o));
  }

  private async renew(scope: types.ExecutionScope, replayKey: string, lease: Lease): Promise<number> {
    const request = create(pb.RenewLeaseRequestSchema, {
      scope: convert.scopeToProto(scope),
      replayKey,
      leaseToken: lease.token,
      leaseTtlMs: this.leaseTtlMs,
    });
    const response = await this.rpc.unary((o) => this.rpc.journal.renewLease(request, o));
    return Number(response.expiresAtUnixMs);
  }

  private async complete(
    scope: types.ExecutionScope,
    replayKey: string,
    lease: Lease,
    result: NonNullable<Parameters<typeof create<typeof pb.CompleteRequestSchema>>[1]>["result"],
  ): Promise<void> {
    const request = create(pb.CompleteRequestSchema, {
      scope: convert.scopeToProto(scope),
      replayKey,
      leaseToken: lease.token,
      result,
    });
    await this.rpc.unary((o) => this.rpc.journal.complete(request, o));
  }

  /** What kind of controller the server is (lash's tier and capability flags). */
  async describe(options: { timeoutMs?: number } = {}): Promise<types.ControllerDescription> {
    const response = await this.rpc.unary((o) => this.rpc.journal.describe(create(pb.DescribeRequestSchema, {}), o), options.timeoutMs);
    const tiers: Record<number, types.ControllerDescription["durability_tier"]> = {
      [pb.DurabilityTier.INLINE]: "inline",
      [pb.DurabilityTier.DURABLE]: "durable",
    };
    return {
      durability_tier: tiers[response.durabilityTier] ?? "unspecified",
      supports_durable_effects: response.supportsDurableEffects,
      requires_durable_attachment_store: response.requiresDurableAttachmentStore,
    };
  }

  /** Every journal row of a scope, oldest first. */
  /** Scopes with journaled effects, latest update first (`limit` up to 1000). */
  async listScopes(options: { limit?: number; timeoutMs?: number } = {}): Promise<types.ScopeSummary[]> {
    const request = create(pb.ListScopesRequestSchema, { limit: options.limit ?? 0 });
    const response = await this.rpc.unary((o) => this.rpc.journal.listScopes(request, o), options.timeoutMs);
    return response.scopes.map((s) => ({
      scope: convert.scopeFromProto(s.scope),
      effects: Number(s.effects),
      updated_at_unix_ms: Number(s.updatedAtUnixMs),
    }));
  }

  async listEffects(scope: types.ExecutionScope, options: { pageSize?: number; timeoutMs?: number } = {}): Promise<types.EffectRecord[]> {
    const records: types.EffectRecord[] = [];
    let pageToken = "";
    for (;;) {
      const request = create(pb.ListEffectsRequestSchema, {
        scope: convert.scopeToProto(scope),
        pageSize: options.pageSize ?? 100,
        pageToken,
      });
      const response = await this.rpc.unary((o) => this.rpc.journal.listEffects(request, o), options.timeoutMs);
      records.push(...response.effects.map(convert.effectRecordFromProto));
      pageToken = response.nextPageToken;
      if (pageToken === "") return records;
    }
  }

  /** One journal row; NotFoundError (`effect_not_found`) when it never ran. */
  async getEffect(scope: types.ExecutionScope, replayKey: string, options: { timeoutMs?: number } = {}): Promise<types.EffectRecord> {
    const request = create(pb.GetEffectRequestSchema, { scope: convert.scopeToProto(scope), replayKey });
    const response = await this.rpc.unary((o) => this.rpc.journal.getEffect(request, o), options.timeoutMs);
    return convert.effectRecordFromProto(response.effect);
  }
}

/** The identity of a scope as lash's `scope.id()`: the turn, process, drain, ... id. */
export function scopeId(scope: types.ExecutionScope): string {
  switch (scope.type) {
    case "turn":
      return scope.turn_id;
    case "process":
      return scope.process_id;
    case "queue_drain":
      return scope.drain_id;
    case "session_delete":
      return scope.session_id;
    case "runtime_operation":
      return scope.operation_id;
  }
}

/**
 * lash's durable tool steps: `run(stepId, input, fn)` runs `fn(input)` once per tool call and step id,
 * ever; replays return the recorded value (or throw the recorded ExecutorError).
 */
export class DurableSteps {
  private readonly used = new Set<string>();

  constructor(
    readonly controller: EffectController,
    readonly scope: types.ExecutionScope,
    readonly runtimeScope: types.RuntimeScope,
    readonly toolCallId: string,
  ) {
    if (typeof toolCallId !== "string" || toolCallId.trim() === "") {
      throw new InvalidArgumentError("durable_effects_missing_call_id", "durable effects require a tool call id");
    }
  }

  /** The durable_step envelope lash builds for a tool's step (SEED-SPEC §1.11). */
  envelope(stepId: string, input: JsonValue): types.RuntimeEffectEnvelope {
    return {
      invocation: {
        scope: this.runtimeScope,
        subject: { type: "effect", effect_id: `${this.toolCallId}:durable-step:${stepId}`, kind: "durable_step" },
        replay: { key: `${scopeId(this.scope)}:tool:${this.toolCallId}:durable-step:${stepId}` },
      },
      command: { type: "durable_step", step_id: stepId, input },
    };
  }

  async run(stepId: string, input: JsonValue, fn: (input: JsonValue, signal: AbortSignal) => JsonValue | Promise<JsonValue>): Promise<JsonValue> {
    if (typeof stepId !== "string" || stepId.trim() === "") {
      throw new InvalidArgumentError("durable_effect_empty_step_id", "durable effect step id must be non-empty");
    }
    if (this.used.has(stepId)) {
      throw new InvalidArgumentError("durable_effect_duplicate_step_id", `durable effect step id \`${stepId}\` was already used`);
    }
    this.used.add(stepId);
    const outcome = await this.controller.execute(this.scope, this.envelope(stepId, input), LocalExecutor.durableStep(fn));
    if (outcome.type !== "durable_step") {
      throw new EffectdError("runtime_effect_wrong_outcome", `expected a durable_step outcome, got ${outcome.type}`);
    }
    return outcome.value;
  }
}
