/**
 * Watch: many keys on one bidirectional stream, each key's terminal delivered once. After a reconnect
 * (UNAVAILABLE, a server shutting down, a reader too slow, or a dead link) it re-adds only the keys whose
 * terminal has not arrived, so nothing is missed and nothing is delivered twice.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import * as convert from "./convert.js";
import { errorFromRpc, type EffectdError } from "./errors.js";
import * as pb from "./gen/effectd/v1/await_events_pb.js";
import { keyIdOf } from "./keys.js";
import { AsyncQueue } from "./queue.js";
import { heartbeatMs, Reconnect, stallAfterMs, Watchdog, type Rpc } from "./rpc.js";
import type * as types from "./types.js";

/** Keys per WatchRequest, so that large key sets stay far below the message size limit. */
const CHUNK = 2000;

export interface WatchOptions {
  /** How often the server sends a heartbeat (default 5 s). */
  heartbeatIntervalMs?: number;
  /** End the iteration once every key is answered (default true). */
  untilDone?: boolean;
  /** Reopen a broken stream for up to this long of failures in a row (default: for ever). */
  reconnectForMs?: number;
}

type Request = MessageInitShape<typeof pb.WatchRequestSchema>;

function addRequests(refs: types.KeyRef[]): Request[] {
  const requests: Request[] = [];
  for (let start = 0; start < refs.length; start += CHUNK) {
    const chunk = refs.slice(start, start + CHUNK);
    requests.push({
      addKeys: chunk.filter((r): r is types.AwaitEventKey => typeof r !== "string").map(convert.keyToProto),
      addTokens: chunk.filter((r): r is string => typeof r === "string"),
    });
  }
  return requests;
}

/** What a key is known by while watched: its key_id, or the token itself when that does not decode. */
function watchId(ref: types.KeyRef): string {
  return keyIdOf(ref) ?? (ref as string);
}

export class Watch implements AsyncIterable<types.WatchEvent> {
  private readonly pendingKeys = new Map<string, types.KeyRef>();
  private readonly events = new AsyncQueue<types.WatchEvent | EffectdError>();
  private outbox: AsyncQueue<Request> | undefined;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;
  private readonly heartbeat: number;
  private readonly untilDone: boolean;
  /** The highest resolution cursor received so far. */
  cursor = 0n;

  constructor(
    private readonly rpc: Rpc,
    keys: Iterable<types.KeyRef>,
    private readonly options: WatchOptions,
  ) {
    this.heartbeat = heartbeatMs(options.heartbeatIntervalMs);
    this.untilDone = options.untilDone ?? true;
    for (const ref of keys) this.pendingKeys.set(watchId(ref), ref);
  }

  /** How many keys have no terminal yet. */
  get pending(): number {
    return this.pendingKeys.size;
  }

  /** Adds keys to the open stream (a key already watched is not added twice). */
  add(keys: Iterable<types.KeyRef>): void {
    const fresh: types.KeyRef[] = [];
    for (const ref of keys) {
      const id = watchId(ref);
      if (!this.pendingKeys.has(id)) {
        this.pendingKeys.set(id, ref);
        fresh.push(ref);
      }
    }
    if (this.outbox !== undefined) for (const request of addRequests(fresh)) this.outbox.push(request);
  }

  /** Stops watching keys (by key_id). */
  remove(keyIds: Iterable<string>): void {
    const ids = [...keyIds];
    for (const id of ids) this.pendingKeys.delete(id);
    this.outbox?.push({ removeKeyIds: ids });
  }

  /** Ends the stream; the iteration ends. */
  close(): void {
    this.stop.abort();
    this.events.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<types.WatchEvent> {
    this.running ??= this.run();
    try {
      for (;;) {
        if (this.untilDone && this.pendingKeys.size === 0 && this.events.size === 0) return;
        const event = await this.events.next();
        if (event === undefined) return;
        if (event instanceof Error) throw event;
        yield event;
      }
    } finally {
      this.close();
      await this.running;
    }
  }

  private deliver(id: string, event: types.WatchEvent): void {
    if (!this.pendingKeys.has(id)) return; // answered before a reconnect, or removed
    this.pendingKeys.delete(id);
    this.events.push(event);
  }

  private onResponse(response: pb.WatchResponse): void {
    const event = response.event;
    const terminals =
      event.case === "terminal" ? [event.value] : event.case === "terminals" ? event.value.terminals : [];
    for (const terminal of terminals) {
      if (terminal.cursor > this.cursor) this.cursor = terminal.cursor;
      const ref = this.pendingKeys.get(terminal.keyId);
      if (ref === undefined) continue;
      this.deliver(terminal.keyId, {
        type: "terminal",
        key_id: terminal.keyId,
        ref,
        terminal: convert.resolutionFromProto(terminal.terminal),
        cursor: terminal.cursor,
      });
    }
    if (event.case === "rejected") {
      const rejected = event.value;
      const id = rejected.keyId !== "" ? rejected.keyId : rejected.token;
      const ref = this.pendingKeys.get(id);
      if (ref === undefined) return;
      this.deliver(id, { type: "rejected", key_id: rejected.keyId, ref, code: rejected.code, message: rejected.message });
    }
  }

  private async run(): Promise<void> {
    const reconnect = new Reconnect(this.options.reconnectForMs);
    const silence = stallAfterMs(this.heartbeat);
    while (!this.stop.signal.aborted) {
      const outbox = new AsyncQueue<Request>();
      const requests = addRequests([...this.pendingKeys.values()]);
      const [first, ...rest] = requests.length > 0 ? requests : [{}];
      outbox.push(create(pb.WatchRequestSchema, { ...first, heartbeatIntervalMs: this.heartbeat }));
      for (const request of rest) outbox.push(create(pb.WatchRequestSchema, request));
      this.outbox = outbox;
      const watchdog = new Watchdog(this.rpc, silence, this.stop.signal);
      const messages = (async function* () {
        for await (const request of outbox) yield create(pb.WatchRequestSchema, request);
      })();
      try {
        for await (const response of this.rpc.events.watch(messages, { signal: watchdog.signal })) {
          watchdog.heard();
          reconnect.succeeded();
          this.onResponse(response);
          if (this.untilDone && this.pendingKeys.size === 0) return this.events.close();
        }
      } catch (error) {
        if (this.stop.signal.aborted) return;
        try {
          if (watchdog.fired) reconnect.lost(watchdog.afterMs);
          else reconnect.failed(errorFromRpc(error), this.rpc, watchdog.generation);
        } catch (final) {
          this.events.push(final as EffectdError);
          return this.events.close();
        }
      } finally {
        watchdog.stop();
        outbox.close();
        this.outbox = undefined;
      }
      try {
        await reconnect.wait(this.stop.signal);
      } catch {
        return;
      }
    }
  }
}
