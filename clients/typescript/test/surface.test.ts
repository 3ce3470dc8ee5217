import assert from "node:assert/strict";
import { test } from "node:test";
import * as effectd from "../src/index.js";
import { AwaitEvents, Keyring } from "../src/gen/effectd/v1/await_events_pb.js";
import { EffectController } from "../src/gen/effectd/v1/effect_controller_pb.js";

test("the public surface is pinned", () => {
  assert.deepEqual(Object.keys(effectd).sort(), [
    "AuthError",
    "CancelledError",
    "Client",
    "ConflictError",
    "DOMAIN",
    "DeadlineExceededError",
    "DurableSteps",
    "ERROR_CODES",
    "EffectController",
    "EffectdError",
    "ExecutorError",
    "InternalError",
    "InvalidArgumentError",
    "LeaseLostError",
    "LocalExecutor",
    "LosslessNumber",
    "NotFoundError",
    "PermissionDeniedError",
    "RawJson",
    "ResourceExhaustedError",
    "TOKEN_PREFIX",
    "UnauthenticatedError",
    "UnavailableError",
    "UnknownOrRevokedError",
    "Watch",
    "awaitEventKeyId",
    "errorFor",
    "keyFromToken",
    "keyToken",
    "parseJson",
    "rawJson",
    "scopeId",
    "stringifyJson",
    "validateEnvelope",
  ]);
});

// Every RPC of the services this client covers, and the method that makes it. Complete and RenewLease
// are made by EffectController.execute (a leased effect's outcome, and its renewals).
const METHODS: Record<string, [object, string]> = {
  "effectd.v1.AwaitEvents.MintKey": [effectd.Client.prototype, "mintKey"],
  "effectd.v1.AwaitEvents.Resolve": [effectd.Client.prototype, "resolve"],
  "effectd.v1.AwaitEvents.ResolveMany": [effectd.Client.prototype, "resolveMany"],
  "effectd.v1.AwaitEvents.Await": [effectd.Client.prototype, "awaitEvent"],
  "effectd.v1.AwaitEvents.Watch": [effectd.Client.prototype, "watch"],
  "effectd.v1.AwaitEvents.Peek": [effectd.Client.prototype, "peek"],
  "effectd.v1.AwaitEvents.Cancel": [effectd.Client.prototype, "cancel"],
  "effectd.v1.AwaitEvents.RevokeKey": [effectd.Client.prototype, "revokeKey"],
  "effectd.v1.AwaitEvents.RevokeSession": [effectd.Client.prototype, "revokeSession"],
  "effectd.v1.AwaitEvents.CancelSessionWaits": [effectd.Client.prototype, "cancelSessionWaits"],
  "effectd.v1.AwaitEvents.ListSessions": [effectd.Client.prototype, "listSessions"],
  "effectd.v1.AwaitEvents.ListPendingKeys": [effectd.Client.prototype, "listPendingKeys"],
  "effectd.v1.Keyring.ListSigningKeys": [effectd.Client.prototype, "listSigningKeys"],
  "effectd.v1.Keyring.RotateSigningKey": [effectd.Client.prototype, "rotateSigningKey"],
  "effectd.v1.Keyring.RetireSigningKey": [effectd.Client.prototype, "retireSigningKey"],
  "effectd.v1.EffectController.Describe": [effectd.EffectController.prototype, "describe"],
  "effectd.v1.EffectController.Execute": [effectd.EffectController.prototype, "execute"],
  "effectd.v1.EffectController.Complete": [effectd.EffectController.prototype, "execute"],
  "effectd.v1.EffectController.RenewLease": [effectd.EffectController.prototype, "execute"],
  "effectd.v1.EffectController.ListEffects": [effectd.EffectController.prototype, "listEffects"],
  "effectd.v1.EffectController.GetEffect": [effectd.EffectController.prototype, "getEffect"],
  "effectd.v1.EffectController.ListScopes": [effectd.EffectController.prototype, "listScopes"],
};

test("every RPC of AwaitEvents, Keyring and EffectController has its client method", () => {
  const rpcs = [AwaitEvents, Keyring, EffectController].flatMap((service) =>
    service.methods.map((method) => `${service.typeName}.${method.name}`),
  );
  assert.deepEqual(rpcs.sort(), Object.keys(METHODS).sort());
  for (const [rpc, [prototype, name]] of Object.entries(METHODS)) {
    assert.equal(typeof (prototype as Record<string, unknown>)[name], "function", rpc);
  }
});
