/** @effectd/client: the public surface. Plain JSON in and out; no protobuf type appears here. */
export { Client, type AwaitOptions, type CallOptions } from "./client.js";
export type { ConnectOptions, TlsOptions } from "./rpc.js";
export { Watch, type WatchOptions } from "./watch.js";
export {
  DurableSteps,
  EffectController,
  LocalExecutor,
  scopeId,
  validateEnvelope,
  type ControllerOptions,
  type ExecuteOptions,
} from "./journal.js";
export { awaitEventKeyId, keyFromToken, keyToken, TOKEN_PREFIX } from "./keys.js";
export { LosslessNumber, parseJson, RawJson, rawJson, stringifyJson, type JsonValue } from "./json.js";
export {
  AuthError,
  CancelledError,
  ConflictError,
  DeadlineExceededError,
  DOMAIN,
  EffectdError,
  ERROR_CODES,
  errorFor,
  ExecutorError,
  InternalError,
  InvalidArgumentError,
  LeaseLostError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  UnknownOrRevokedError,
  type ErrorCodeInfo,
} from "./errors.js";
export type * from "./types.js";
