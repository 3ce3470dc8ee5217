/**
 * Errors. Every failure has a stable snake_case `code`; on the wire it is a gRPC status plus
 * google.rpc.ErrorInfo{reason = code, domain = "effectd"} in grpc-status-details-bin, read here as the
 * Python SDK reads it. The code table (status, retryable) is read from the contract itself: the options
 * of `effectd.v1.ErrorReason` in proto/effectd/v1/errors.proto.
 *
 *     EffectdError                  .code, .message, .status, .retryable
 *     ├── InvalidArgumentError      INVALID_ARGUMENT (and OUT_OF_RANGE): the request is wrong
 *     ├── NotFoundError             NOT_FOUND
 *     │   └── UnknownOrRevokedError await_event_unknown_or_revoked
 *     ├── ConflictError             FAILED_PRECONDITION / ALREADY_EXISTS
 *     ├── LeaseLostError            ABORTED: effect_replay_lease_lost
 *     ├── ResourceExhaustedError    RESOURCE_EXHAUSTED
 *     ├── UnavailableError          UNAVAILABLE: server or store down; safe to retry
 *     ├── DeadlineExceededError     DEADLINE_EXCEEDED
 *     ├── AuthError                 UNAUTHENTICATED / PERMISSION_DENIED
 *     │   ├── UnauthenticatedError  unauthenticated: no bearer token, or one the server does not know
 *     │   └── PermissionDeniedError permission_denied: the token's role may not call that RPC
 *     ├── CancelledError            CANCELLED: the caller aborted the call (its AbortSignal)
 *     ├── ExecutorError             a local executor's answer, or a recorded one replayed
 *     └── InternalError             anything else (a bug: please report it)
 */
import { getOption } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReasonSchema, grpc_status, retryable } from "./gen/effectd/v1/errors_pb.js";
import { ErrorInfoSchema } from "./gen/google/rpc/error_info_pb.js";

export const DOMAIN = "effectd";

/** A gRPC status code name, as the contract spells it ("INVALID_ARGUMENT"). */
export type GrpcStatus = string;

export interface ErrorCodeInfo {
  readonly status: GrpcStatus;
  readonly retryable: boolean;
}

/** Every code the service answers with: its gRPC status and whether a retry can help. */
export const ERROR_CODES: ReadonlyMap<string, ErrorCodeInfo> = new Map(
  ErrorReasonSchema.values
    .filter((value) => value.number !== 0)
    .map((value) => [
      value.name.replace(/^ERROR_REASON_/, "").toLowerCase(),
      { status: getOption(value, grpc_status), retryable: getOption(value, retryable) },
    ]),
);

export class EffectdError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: GrpcStatus = ERROR_CODES.get(code)?.status ?? "INTERNAL",
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** Whether the same request, retried later, can succeed (from the contract's table). */
  get retryable(): boolean {
    return ERROR_CODES.get(this.code)?.retryable ?? (this.status === "UNAVAILABLE" || this.status === "DEADLINE_EXCEEDED");
  }

  override toString(): string {
    return `${this.name}: ${this.code}: ${this.message}`;
  }
}

export class InvalidArgumentError extends EffectdError {}
export class NotFoundError extends EffectdError {}
export class UnknownOrRevokedError extends NotFoundError {}
export class ConflictError extends EffectdError {}
export class LeaseLostError extends EffectdError {}
export class ResourceExhaustedError extends EffectdError {}
export class UnavailableError extends EffectdError {}
export class DeadlineExceededError extends EffectdError {}
export class AuthError extends EffectdError {}
export class UnauthenticatedError extends AuthError {}
export class PermissionDeniedError extends AuthError {}
export class CancelledError extends EffectdError {}
export class InternalError extends EffectdError {}

/**
 * The local executor's answer was an error, or a recorded executor error was replayed. Throw it from a
 * local executor (or a durable step) to have it journaled and replayed as this error.
 */
export class ExecutorError extends EffectdError {
  constructor(code: string, message: string) {
    super(code, message, "FAILED_PRECONDITION");
  }
}

type ErrorClass = new (code: string, message: string, status?: GrpcStatus) => EffectdError;

const STATUS_CLASS: Record<string, ErrorClass> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  OUT_OF_RANGE: InvalidArgumentError,
  NOT_FOUND: NotFoundError,
  FAILED_PRECONDITION: ConflictError,
  ALREADY_EXISTS: ConflictError,
  ABORTED: LeaseLostError,
  RESOURCE_EXHAUSTED: ResourceExhaustedError,
  UNAVAILABLE: UnavailableError,
  DEADLINE_EXCEEDED: DeadlineExceededError,
  UNAUTHENTICATED: UnauthenticatedError,
  PERMISSION_DENIED: PermissionDeniedError,
  CANCELLED: CancelledError,
};

/** The typed error for a code (its class from the code's status, or from `status` when given). */
export function errorFor(code: string, message: string, status?: GrpcStatus): EffectdError {
  const resolved = status ?? ERROR_CODES.get(code)?.status ?? "INTERNAL";
  if (code === "await_event_unknown_or_revoked") return new UnknownOrRevokedError(code, message, resolved);
  const cls = STATUS_CLASS[resolved] ?? InternalError;
  return new cls(code, message, resolved);
}

/** "DEADLINE_EXCEEDED" for Code.DeadlineExceeded; gRPC spells Canceled "CANCELLED". */
function statusName(code: Code): GrpcStatus {
  if (code === Code.Canceled) return "CANCELLED";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Node error codes of a connection that could not be made or was cut: TLS refused, or reset. */
const CONNECTION_FAILURE = /^(ERR_SSL_|ERR_TLS_|UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|ECONNRESET$|EPIPE$)/;

/** The Node error code (ECONNRESET, ERR_SSL_..., a certificate check's) somewhere in the cause chain. */
function connectionFailure(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let cause = error; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_FAILURE.test(code)) return code;
  }
  return undefined;
}

/**
 * The typed error of a failed call: the code from ErrorInfo when the server sent one. A call cancelled
 * without the caller asking (`callerAborted` false) lost its connection (a server killed mid-call resets
 * its HTTP/2 streams): that is `unavailable`, as gRPC's other clients report it, and a retry can help.
 * So is a connection whose TLS handshake failed (a server certificate not trusted, a client certificate
 * refused) or that was reset, which connect-node reports as INTERNAL or ABORTED.
 */
export function errorFromRpc(error: unknown, callerAborted = false): EffectdError {
  if (error instanceof EffectdError) return error;
  const connect = ConnectError.from(error);
  if (connect.code === Code.Canceled && !callerAborted) {
    return new UnavailableError("unavailable", `the connection to effectd was lost: ${connect.rawMessage}`, "UNAVAILABLE");
  }
  const status = statusName(connect.code);
  for (const info of connect.findDetails(ErrorInfoSchema)) {
    if (info.domain === DOMAIN) return errorFor(info.reason, connect.rawMessage, status);
  }
  const failure = connectionFailure(connect);
  if (failure !== undefined && connect.code !== Code.Unavailable) {
    return new UnavailableError("unavailable", `cannot reach effectd (${failure}): ${connect.rawMessage}`, "UNAVAILABLE");
  }
  return errorFor(status.toLowerCase(), connect.rawMessage || status, status);
}
