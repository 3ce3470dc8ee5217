/**
 * The one place that reaches the server: the HTTP/2 connection (gRPC protocol, keepalive, message
 * limits, TLS), the bearer token, default deadlines, error mapping, and the pacing of streams that
 * reconnect.
 */
import type { SecureClientSessionOptions } from "node:http2";
import { createClient, type Client as ServiceClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { errorFromRpc, InvalidArgumentError, UnavailableError, type EffectdError } from "./errors.js";
import { AwaitEvents, Keyring } from "./gen/effectd/v1/await_events_pb.js";
import { EffectController } from "./gen/effectd/v1/effect_controller_pb.js";

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_HEARTBEAT_MS = 5_000;
const MAX_HEARTBEAT_MS = 3_600_000;
const SERVER_MIN_HEARTBEAT_MS = 1_000;
/** A stream that hears nothing for this many heartbeat intervals (plus a margin) is taken for dead. */
const STALL_HEARTBEATS = 2;
const STALL_MARGIN_MS = 1_000;
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** HTTP/2 keepalive as the Python SDK's: a ping after 30 s of silence, 10 s for its ack. */
const KEEPALIVE_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;

/** The metadata key of the bearer token ("Bearer <token>"), as the server reads it. */
export const AUTHORIZATION_KEY = "authorization";

/**
 * How the client speaks TLS to effectd. Contents of PEM files (not their paths), so that the caller
 * decides where they come from; a rotated client certificate is used once a new client is made.
 */
export interface TlsOptions {
  /** PEM certificates to trust for the server; without it, Node's default roots. */
  ca?: string | Buffer;
  /** PEM client certificate chain, for a server that requires client certificates (mTLS). */
  cert?: string | Buffer;
  /** PEM private key of `cert`. */
  key?: string | Buffer;
  /** The name to check the server certificate against, when it is not the target's host. */
  serverName?: string;
}

export interface ConnectOptions {
  /** Deadline of every unary call unless the call says otherwise (default 10 s). */
  timeoutMs?: number;
  /** Sent with every call and stream as `authorization: Bearer <token>` (`effectd tokens add`). */
  token?: string;
  /** Speak TLS (https://): the CA to trust, a client certificate and key for mTLS, the server's name. */
  tls?: TlsOptions;
}

/**
 * "127.0.0.1:50551", "http://127.0.0.1:50551" or "https://127.0.0.1:50551" → the base URL of the gRPC
 * transport: https with `tls`, or when the target says so.
 */
function baseUrl(target: string, tls: boolean): string {
  if (typeof target !== "string" || target.trim() === "") {
    throw new InvalidArgumentError("invalid_request", "a target is HOST:PORT, e.g. 127.0.0.1:50551");
  }
  if (tls && target.startsWith("http://")) {
    throw new InvalidArgumentError("invalid_request", `the target ${target} says http:// but tls options were given; use https:// or HOST:PORT`);
  }
  if (/^https?:\/\//.test(target)) return target;
  return `${tls ? "https" : "http"}://${target}`;
}

/** "a:1,b:2" or ["a:1", "b:2"] → one base URL per server. */
function baseUrls(targets: string | readonly string[], tls: boolean): string[] {
  const list = typeof targets === "string" ? targets.split(",") : [...targets];
  if (list.length === 0) throw new InvalidArgumentError("invalid_request", "at least one target is needed");
  return list.map((target) => baseUrl(typeof target === "string" ? target.trim() : target, tls));
}

/** Node's TLS options for the HTTP/2 session of an https:// URL. */
function tlsSessionOptions(tls: TlsOptions | undefined): SecureClientSessionOptions {
  if (tls === undefined) return {};
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new InvalidArgumentError("invalid_request", "tls.cert and tls.key go together (a client certificate and its key)");
  }
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
  };
}

/** An interceptor that adds `authorization: Bearer <token>` to every call, unary or stream. */
function bearerToken(token: string): Interceptor {
  if (typeof token !== "string" || token === "" || /\s/.test(token)) {
    throw new InvalidArgumentError("invalid_request", "a bearer token is a non-empty string without spaces");
  }
  const value = `Bearer ${token}`;
  return (next) => (request) => {
    request.header.set(AUTHORIZATION_KEY, value);
    return next(request);
  };
}

/**
 * The service clients of one connection. `reconnect()` replaces the connection (a dead link, or a
 * server that is unavailable): with several targets (replicas), the next one in turn.
 */
export class Rpc {
  readonly urls: readonly string[];
  private index = 0;
  readonly defaultTimeoutMs: number;
  private readonly tlsOptions: SecureClientSessionOptions;
  private readonly interceptors: Interceptor[];
  private session!: Http2SessionManager;
  events!: ServiceClient<typeof AwaitEvents>;
  keyring!: ServiceClient<typeof Keyring>;
  journal!: ServiceClient<typeof EffectController>;
  /** Counts connections; a stream notes it to tell whether its link was already replaced. */
  generation = 0;

  constructor(targets: string | readonly string[], options: ConnectOptions = {}) {
    this.urls = baseUrls(targets, options.tls !== undefined);
    this.defaultTimeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.tlsOptions = tlsSessionOptions(options.tls);
    this.interceptors = options.token !== undefined ? [bearerToken(options.token)] : [];
    this.open();
  }

  /** The server the current connection goes to. */
  get url(): string {
    return this.urls[this.index % this.urls.length]!;
  }

  private open(): void {
    this.session = new Http2SessionManager(
      this.url,
      { pingIntervalMs: KEEPALIVE_MS, pingTimeoutMs: KEEPALIVE_TIMEOUT_MS },
      this.url.startsWith("https://") ? this.tlsOptions : {},
    );
    const transport = createGrpcTransport({
      baseUrl: this.url,
      sessionManager: this.session,
      interceptors: this.interceptors,
      readMaxBytes: MAX_MESSAGE_BYTES,
      writeMaxBytes: MAX_MESSAGE_BYTES,
    });
    this.events = createClient(AwaitEvents, transport);
    this.keyring = createClient(Keyring, transport);
    this.journal = createClient(EffectController, transport);
    this.generation += 1;
  }

  /** Drop the connection of `generation` for a new one (once, however many streams saw it die). */
  reconnect(generation: number): void {
    if (generation !== this.generation) return;
    this.session.abort();
    this.index += 1;
    this.open();
  }

  /** After an UNAVAILABLE: with several targets, move on to the next (one move per connection). */
  failedOver(generation: number): void {
    if (this.urls.length > 1) this.reconnect(generation);
  }

  /**
   * A unary call with the default deadline; a failure is thrown as its typed EffectdError. With several
   * targets, a call that fails with UNAVAILABLE is tried once on each other target (a retried resolve
   * may answer already_resolved with its own resolution).
   */
  async unary<T>(call: (options: { timeoutMs: number; signal?: AbortSignal }) => Promise<T>, timeoutMs?: number, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const generation = this.generation;
      try {
        return await call({ timeoutMs: timeoutMs ?? this.defaultTimeoutMs, ...(signal ? { signal } : {}) });
      } catch (raw) {
        const error = errorFromRpc(raw, signal?.aborted ?? false);
        if (error.status !== "UNAVAILABLE" || attempt >= this.urls.length) throw error;
        this.failedOver(generation);
      }
    }
  }

  close(): void {
    this.session.abort();
  }
}

/** The heartbeat_interval_ms a stream asks for (default 5 s, at most an hour). */
export function heartbeatMs(intervalMs: number | undefined): number {
  const value = intervalMs ?? DEFAULT_HEARTBEAT_MS;
  if (!Number.isFinite(value) || value <= 0 || value > MAX_HEARTBEAT_MS) {
    throw new InvalidArgumentError(
      "value_out_of_range",
      `heartbeatIntervalMs must be more than 0 and at most ${MAX_HEARTBEAT_MS}, got ${value}`,
    );
  }
  return Math.max(1, Math.round(value));
}

/** Milliseconds of silence after which a stream that asked for `heartbeat` ms is taken for dead. */
export function stallAfterMs(heartbeat: number): number {
  return STALL_HEARTBEATS * Math.max(heartbeat, SERVER_MIN_HEARTBEAT_MS) + STALL_MARGIN_MS;
}

/** Codes that end a stream which the client reopens and resumes (besides UNAVAILABLE). */
const RESUMABLE = new Set(["stream_too_slow", "too_many_streams", "server_shutting_down", "store_unavailable", "unavailable"]);

/** Exponential backoff from 50 ms to 2 s, jittered. */
export function backoffMs(attempt: number): number {
  return Math.min(2_000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Pacing for a stream that reopens: `failed(error)` rethrows unless the stream may be reopened (a
 * resumable code, and failing for at most `giveUpAfterMs` in a row); `succeeded()` on every message.
 */
export class Reconnect {
  private attempt = 0;
  private failingSince: number | undefined;

  constructor(private readonly giveUpAfterMs: number | undefined) {}

  succeeded(): void {
    this.attempt = 0;
    this.failingSince = undefined;
  }

  failed(error: EffectdError, rpc: Rpc, generation: number): void {
    if (!RESUMABLE.has(error.code) && error.status !== "UNAVAILABLE") throw error;
    if (this.givenUp()) throw error;
    rpc.failedOver(generation);
  }

  lost(silentMs: number): void {
    if (this.givenUp()) {
      throw new UnavailableError("unavailable", `effectd sent nothing for ${silentMs} ms on every attempt; the link looks dead`);
    }
  }

  private givenUp(): boolean {
    const now = Date.now();
    this.failingSince ??= now;
    return this.giveUpAfterMs !== undefined && now - this.failingSince > this.giveUpAfterMs;
  }

  async wait(signal?: AbortSignal): Promise<void> {
    await sleep(backoffMs(this.attempt), signal);
    this.attempt += 1;
  }
}

/**
 * Takes a stream for dead when nothing arrives for `afterMs`: a link a NAT dropped without a reset stays
 * open and silent. It aborts the attempt's controller; `fired` tells the reader why the call ended.
 */
export class Watchdog {
  readonly controller = new AbortController();
  fired = false;
  private timer: NodeJS.Timeout;
  readonly generation: number;
  private readonly detach: () => void = () => undefined;

  constructor(
    private readonly rpc: Rpc,
    readonly afterMs: number,
    outer?: AbortSignal,
  ) {
    this.generation = rpc.generation;
    this.timer = setTimeout(() => this.fire(), afterMs);
    if (outer !== undefined) {
      const forward = (): void => this.controller.abort(outer.reason);
      if (outer.aborted) forward();
      else {
        outer.addEventListener("abort", forward, { once: true });
        this.detach = () => outer.removeEventListener("abort", forward);
      }
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  heard(): void {
    this.timer.refresh();
  }

  private fire(): void {
    this.fired = true;
    this.rpc.reconnect(this.generation);
    this.controller.abort(new UnavailableError("unavailable", `effectd sent nothing for ${this.afterMs} ms`));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.detach();
  }
}
