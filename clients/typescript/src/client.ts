/**
 * The await-events client: mint keys, resolve them, wait for them (one key, or many on one watch stream).
 *
 *     const client = Client.connect("127.0.0.1:50551");
 *     const { token } = await client.mintKey({ type: "turn", session_id: "s1", turn_id: "t1" },
 *                                            { type: "tool_completion", tool_call_id: "c1" });
 *     await client.resolve(token, { status: "ok", payload: { answer: 42 } });  // {status: "accepted"}
 *     const terminal = await client.awaitEvent(token, { timeoutMs: 60_000 });
 *     client.close();
 */
import { create } from "@bufbuild/protobuf";
import * as convert from "./convert.js";
import { errorFromRpc, InvalidArgumentError } from "./errors.js";
import * as pb from "./gen/effectd/v1/await_events_pb.js";
import { SigningKeyState } from "./gen/effectd/v1/await_events_pb.js";
import { heartbeatMs, Reconnect, Rpc, stallAfterMs, Watchdog, type ConnectOptions } from "./rpc.js";
import type * as types from "./types.js";
import { Watch, type WatchOptions } from "./watch.js";

const MAX_TIMEOUT_MS = 315_360_000_000;
const MAX_DEADLINE_UNIX_MS = 253_402_300_799_999;

export interface CallOptions {
  /** This call's deadline (default: the client's, 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface AwaitOptions {
  /** A durable server-side deadline this far ahead: when it passes, `timeout` is recorded. */
  timeoutMs?: number;
  /** The same as an absolute time (unix ms). */
  deadlineUnixMs?: number;
  /** How often the server sends a heartbeat (default 5 s, raised by the server to its 1 s minimum). */
  heartbeatIntervalMs?: number;
  /** Reopen a broken stream for up to this long of failures in a row (default 60 s). */
  reconnectForMs?: number;
  /** Stop waiting (the key stays pending; nothing is recorded). */
  signal?: AbortSignal;
}

const STATES: Record<SigningKeyState, types.SigningKey["state"]> = {
  [SigningKeyState.UNSPECIFIED]: "unspecified",
  [SigningKeyState.ACTIVE]: "active",
  [SigningKeyState.VERIFY_ONLY]: "verify_only",
  [SigningKeyState.RETIRED]: "retired",
};

function signingKey(info: pb.SigningKeyInfo | undefined): types.SigningKey {
  return {
    kid: info?.kid ?? "",
    state: STATES[info?.state ?? SigningKeyState.UNSPECIFIED],
    created_at_unix_ms: Number(info?.createdAtUnixMs ?? 0n),
  };
}

function deadlineOf(options: AwaitOptions): bigint | undefined {
  let deadline = options.deadlineUnixMs;
  if (options.timeoutMs !== undefined && deadline === undefined) {
    const timeout = options.timeoutMs;
    if (!Number.isFinite(timeout) || timeout < 0 || timeout > MAX_TIMEOUT_MS) {
      throw new InvalidArgumentError("value_out_of_range", `timeoutMs must be between 0 and ${MAX_TIMEOUT_MS}, got ${timeout}`);
    }
    // Fixed once, so that a reconnect waits for the same deadline.
    deadline = Date.now() + Math.ceil(timeout);
  }
  if (deadline === undefined) return undefined;
  if (!Number.isSafeInteger(deadline) || deadline < 1 || deadline > MAX_DEADLINE_UNIX_MS) {
    throw new InvalidArgumentError(
      "value_out_of_range",
      `deadlineUnixMs must be an integer between 1 and ${MAX_DEADLINE_UNIX_MS}, got ${deadline}`,
    );
  }
  return BigInt(deadline);
}

export class Client {
  private constructor(readonly rpc: Rpc) {}

  /**
   * A client of the server at `target` ("HOST:PORT"), or of several replicas ("a:1,b:2" or a list): calls
   * go to one at a time and move on to the next when it is unavailable. The connection opens with the
   * first call.
   */
  static connect(target: string | readonly string[], options: ConnectOptions = {}): Client {
    return new Client(new Rpc(target, options));
  }

  /** Mints the deterministic signed key for (scope, wait) and records it as pending. */
  async mintKey(
    scope: types.ExecutionScope,
    wait: types.AwaitEventWaitIdentity,
    options: CallOptions = {},
  ): Promise<types.MintedKey> {
    const request = create(pb.MintKeyRequestSchema, {
      scope: convert.scopeToProto(scope),
      wait: convert.waitToProto(wait),
    });
    const response = await this.rpc.unary((o) => this.rpc.events.mintKey(request, o), options.timeoutMs, options.signal);
    return { key: convert.keyFromProto(response.key), token: response.token };
  }

  /** First writer wins, durable before it answers. */
  async resolve(key: types.KeyRef, resolution: types.Resolution, options: CallOptions = {}): Promise<types.ResolveOutcome> {
    const request = create(pb.ResolveRequestSchema, {
      keyRef: convert.keyRef(key),
      resolution: convert.resolutionToProto(resolution),
    });
    const response = await this.rpc.unary((o) => this.rpc.events.resolve(request, o), options.timeoutMs, options.signal);
    return convert.resolveOutcomeFromProto(response.outcome);
  }

  /** A batch; each item is answered on its own, in order. */
  async resolveMany(
    items: ReadonlyArray<{ key: types.KeyRef; resolution: types.Resolution }>,
    options: CallOptions = {},
  ): Promise<types.ResolveManyResult[]> {
    const request = create(pb.ResolveManyRequestSchema, {
      items: items.map((item) => ({
        keyRef: convert.keyRef(item.key),
        resolution: convert.resolutionToProto(item.resolution),
      })),
    });
    const response = await this.rpc.unary((o) => this.rpc.events.resolveMany(request, o), options.timeoutMs, options.signal);
    return response.results.map((result): types.ResolveManyResult => {
      if (result.result.case === "error") {
        return { status: "error", code: result.result.value.code, message: result.result.value.message };
      }
      return convert.resolveOutcomeFromProto(result.result.value);
    });
  }

  /** The key's state without waiting. */
  async peek(key: types.KeyRef, options: CallOptions = {}): Promise<types.Resolution | types.KeyPending> {
    const request = create(pb.PeekRequestSchema, { keyRef: convert.keyRef(key) });
    const response = await this.rpc.unary((o) => this.rpc.events.peek(request, o), options.timeoutMs, options.signal);
    if (response.state.case === "terminal") return convert.resolutionFromProto(response.state.value);
    const pending: types.KeyPending = { status: "pending" };
    const deadline = response.state.value?.deadlineUnixMs;
    if (deadline !== undefined) pending.deadline_unix_ms = Number(deadline);
    return pending;
  }

  /**
   * Waits for the key's terminal. A broken stream is reopened (it resolves nothing); a stream silent for
   * two heartbeat intervals plus a second is taken for a dead link and reopened on a new connection.
   */
  async awaitEvent(key: types.KeyRef, options: AwaitOptions = {}): Promise<types.Resolution> {
    const deadline = deadlineOf(options);
    const heartbeat = heartbeatMs(options.heartbeatIntervalMs);
    const request = create(pb.AwaitRequestSchema, {
      keyRef: convert.keyRef(key),
      limit: deadline === undefined ? { case: undefined } : { case: "deadlineUnixMs", value: deadline },
      heartbeatIntervalMs: heartbeat,
    });
    const silence = stallAfterMs(heartbeat);
    const reconnect = new Reconnect(options.reconnectForMs ?? 60_000);
    for (;;) {
      const watchdog = new Watchdog(this.rpc, silence, options.signal);
      try {
        for await (const response of this.rpc.events.await(request, { signal: watchdog.signal })) {
          watchdog.heard();
          reconnect.succeeded();
          if (response.event.case === "terminal") return convert.resolutionFromProto(response.event.value);
        }
        // The server ended the stream without a terminal (it is shutting down): reopen.
      } catch (error) {
        if (options.signal?.aborted) throw errorFromRpc(error, true);
        if (watchdog.fired) reconnect.lost(watchdog.afterMs);
        else reconnect.failed(errorFromRpc(error), this.rpc, watchdog.generation);
      } finally {
        watchdog.stop();
      }
      await reconnect.wait(options.signal);
    }
  }

  /**
   * Watches many keys on one stream: `for await (const event of client.watch(tokens))` yields each key's
   * terminal (or rejection) once, reconnecting by itself and re-adding only the keys not yet answered.
   */
  watch(keys: Iterable<types.KeyRef> = [], options: WatchOptions = {}): Watch {
    return new Watch(this.rpc, keys, options);
  }

  /** Records `cancelled` as the key's terminal (first writer wins). */
  async cancel(key: types.KeyRef, options: CallOptions = {}): Promise<types.ResolveOutcome> {
    const request = create(pb.CancelRequestSchema, { keyRef: convert.keyRef(key) });
    const response = await this.rpc.unary((o) => this.rpc.events.cancel(request, o), options.timeoutMs, options.signal);
    return convert.resolveOutcomeFromProto(response.outcome);
  }

  async revokeKey(key: types.KeyRef, options: CallOptions = {}): Promise<void> {
    const request = create(pb.RevokeKeyRequestSchema, { keyRef: convert.keyRef(key) });
    await this.rpc.unary((o) => this.rpc.events.revokeKey(request, o), options.timeoutMs, options.signal);
  }

  /** A durable tombstone for every key of the session, present and future. */
  async revokeSession(sessionId: string, options: CallOptions = {}): Promise<void> {
    const request = create(pb.RevokeSessionRequestSchema, { sessionId });
    await this.rpc.unary((o) => this.rpc.events.revokeSession(request, o), options.timeoutMs, options.signal);
  }

  /** Resolves every pending key of the session as `cancelled`; returns how many. */
  async cancelSessionWaits(sessionId: string, options: CallOptions = {}): Promise<number> {
    const request = create(pb.CancelSessionWaitsRequestSchema, { sessionId });
    const response = await this.rpc.unary((o) => this.rpc.events.cancelSessionWaits(request, o), options.timeoutMs, options.signal);
    return Number(response.cancelled);
  }

  /** Sessions that have keys, latest activity first (an operator's listing; `limit` up to 1000). */
  async listSessions(options: CallOptions & { limit?: number } = {}): Promise<types.SessionSummary[]> {
    const request = create(pb.ListSessionsRequestSchema, { limit: options.limit ?? 0 });
    const response = await this.rpc.unary((o) => this.rpc.events.listSessions(request, o), options.timeoutMs, options.signal);
    return response.sessions.map((s) => ({
      session_id: s.sessionId,
      pending: Number(s.pending),
      resolved: Number(s.resolved),
      revoked: s.revoked,
      last_activity_unix_ms: Number(s.lastActivityUnixMs),
    }));
  }

  /** A session's pending keys, oldest first, each with a token that resolves it. */
  async listPendingKeys(sessionId: string, options: CallOptions & { limit?: number } = {}): Promise<types.PendingKey[]> {
    const request = create(pb.ListPendingKeysRequestSchema, { sessionId, limit: options.limit ?? 0 });
    const response = await this.rpc.unary((o) => this.rpc.events.listPendingKeys(request, o), options.timeoutMs, options.signal);
    return response.keys.map((k) => ({
      key: convert.keyFromProto(k.key),
      token: k.token,
      ...(k.deadlineUnixMs === undefined ? {} : { deadline_unix_ms: Number(k.deadlineUnixMs) }),
      created_at_unix_ms: Number(k.createdAtUnixMs),
    }));
  }

  async listSigningKeys(options: CallOptions = {}): Promise<types.SigningKey[]> {
    const request = create(pb.ListSigningKeysRequestSchema, {});
    const response = await this.rpc.unary((o) => this.rpc.keyring.listSigningKeys(request, o), options.timeoutMs, options.signal);
    return response.keys.map(signingKey);
  }

  async rotateSigningKey(options: CallOptions = {}): Promise<types.SigningKey> {
    const request = create(pb.RotateSigningKeyRequestSchema, {});
    const response = await this.rpc.unary((o) => this.rpc.keyring.rotateSigningKey(request, o), options.timeoutMs, options.signal);
    return signingKey(response.active);
  }

  async retireSigningKey(kid: string, options: CallOptions = {}): Promise<types.SigningKey> {
    const request = create(pb.RetireSigningKeyRequestSchema, { kid });
    const response = await this.rpc.unary((o) => this.rpc.keyring.retireSigningKey(request, o), options.timeoutMs, options.signal);
    return signingKey(response.key);
  }

  /** Closes the connection; open calls fail. */
  close(): void {
    this.rpc.close();
  }
}
