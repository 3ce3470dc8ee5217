"""`RemoteEffectHost`: the seed's `EffectHost` (scoped controllers and await-event methods) over effectd."""

from __future__ import annotations

import asyncio
import contextlib

from effectd._client import Client
from effectd._controller import RemoteEffectController, ScopedEffectController
from effectd._journal import DurabilityTier
from effectd._rpc import Rpc
from effectd._scope import (
    AwaitEventKey,
    AwaitEventWaitIdentity,
    ExecutionScope,
    Resolution,
    ResolveOutcome,
)

__all__ = ["RemoteEffectHost"]


class RemoteEffectHost:
    """Mirrors lash's `EffectHost` over effectd: `scoped(scope)` gives a journaled controller bound to one
    scope; the await-event methods mint, resolve, await and revoke keys.

    Built on a `Client` (or an `Rpc`); the controller shares its channel. Pass `controller=` to choose the
    controller's owner id, lease length or heartbeats.
    """

    def __init__(self, client: Client | Rpc, *, controller: RemoteEffectController | None = None) -> None:
        self.client = client if isinstance(client, Client) else Client(client)
        self.controller = controller if controller is not None else RemoteEffectController(self.client)
        if self.controller.rpc is not self.client.rpc:
            raise ValueError("the controller must share the host's Rpc")

    @property
    def durability_tier(self) -> DurabilityTier:
        return self.controller.durability_tier

    @property
    def supports_durable_effects(self) -> bool:
        return self.controller.supports_durable_effects

    @property
    def requires_durable_attachment_store(self) -> bool:
        return self.controller.requires_durable_attachment_store

    def scoped(self, scope: ExecutionScope) -> ScopedEffectController:
        """The controller bound to `scope` (validated: `missing_execution_scope_id` for a blank id)."""
        return self.controller.scoped(scope)

    async def await_event_key(self, scope: ExecutionScope, wait: AwaitEventWaitIdentity) -> AwaitEventKey:
        return await self.client.mint_key(scope, wait)

    async def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        return await self.client.resolve(key, resolution)

    async def await_await_event(
        self,
        key: AwaitEventKey,
        cancel: asyncio.Event | None = None,
        deadline: float | None = None,
    ) -> Resolution:
        """The key's terminal. Setting `cancel` records `cancelled`; `deadline` (a time.time() value)
        records `timeout` when it passes. Either way the answer is whichever terminal won."""
        deadline_ms = None if deadline is None else int(deadline * 1000)
        if cancel is not None and cancel.is_set():
            await self.client.cancel(key)
        waiting = asyncio.ensure_future(self.client.await_event(key, deadline_unix_ms=deadline_ms))
        if cancel is None or cancel.is_set():
            return await waiting
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            done, _ = await asyncio.wait({waiting, cancelled}, return_when=asyncio.FIRST_COMPLETED)
            if waiting in done:
                return waiting.result()
            await self.client.cancel(key)
            return await waiting
        finally:
            cancelled.cancel()
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting

    async def revoke_await_events_for_session(self, session_id: str) -> None:
        await self.client.revoke_session(session_id)
