"""Builds and runs the gRPC server: services, health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from effectd._channel import server_options
from effectd.v1 import await_events_pb2, effect_controller_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from effectd_server._edge import InFlight, add_service
from effectd_server.await_events import AwaitEventCore, Limits
from effectd_server.config import ServerConfig
from effectd_server.hub import Hub
from effectd_server.journal import Journal
from effectd_server.journal_servicer import EffectControllerServicer
from effectd_server.keyring import Keyring
from effectd_server.servicers import AwaitEventsServicer, KeyringServicer
from effectd_server.store import SqliteStore, Store, StoreEvent

__all__ = ["RunningServer", "serve"]

log = logging.getLogger("effectd.server")

_SERVICES = {
    **await_events_pb2.DESCRIPTOR.services_by_name,
    **effect_controller_pb2.DESCRIPTOR.services_by_name,
}


@dataclass(slots=True)
class RunningServer:
    config: ServerConfig
    port: int
    grpc_server: grpc.aio.Server
    health: health.aio.HealthServicer
    core: AwaitEventCore
    store: Store
    closing: asyncio.Event
    in_flight: InFlight

    @property
    def target(self) -> str:
        host = self.config.listen.rpartition(":")[0]
        return f"{host}:{self.port}"

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()

    async def shutdown(self, grace_s: float | None = None) -> None:
        """Health goes NOT_SERVING, open streams end with UNAVAILABLE server_shutting_down (clients
        reconnect), in-flight unary calls get `grace_s` to finish, then everything stops."""
        await self.health.enter_graceful_shutdown()
        self.closing.set()
        grace = self.config.shutdown_grace_s if grace_s is None else grace_s
        await self.in_flight.wait_idle(grace)
        # What is left are streams of other services (health watches): end them now.
        await self.grpc_server.stop(min(grace, 0.2))


def _open_store(config: ServerConfig) -> Store:
    if config.store.is_postgres():
        try:
            from effectd_server.store.postgres import PostgresStore
        except ImportError as exc:  # asyncpg is the [postgres] extra
            raise RuntimeError("a PostgreSQL store needs: pip install 'effectd[postgres]'") from exc
        return PostgresStore(config.store.url)
    return SqliteStore(config.store.sqlite_path())


@contextlib.asynccontextmanager
async def serve(config: ServerConfig) -> AsyncIterator[RunningServer]:
    """Start a server; leaving the block shuts it down gracefully."""
    store = _open_store(config)
    await store.open()
    keyring = Keyring(store)
    core = AwaitEventCore(
        store, keyring, Hub(), Limits(max_payload_bytes=config.max_payload_bytes, max_batch=config.max_batch)
    )
    journal = Journal(store, core)

    def on_store_event(event: StoreEvent) -> None:
        core.on_store_event(event)
        journal.on_store_event(event)

    store.set_listener(on_store_event)
    server: grpc.aio.Server | None = None
    closing = asyncio.Event()
    in_flight = InFlight()
    try:
        await keyring.load()
        await core.start()
        server = grpc.aio.server(options=server_options(reuse_port=config.reuse_port))
        add_service(
            server,
            _SERVICES["AwaitEvents"],
            AwaitEventsServicer(
                core,
                closing,
                heartbeat_interval_s=config.heartbeat_interval_s,
                max_watched_keys=config.max_watched_keys,
            ),
            in_flight,
        )
        add_service(server, _SERVICES["Keyring"], KeyringServicer(keyring), in_flight)
        add_service(
            server,
            _SERVICES["EffectController"],
            EffectControllerServicer(journal, closing, heartbeat_interval_s=config.heartbeat_interval_s),
            in_flight,
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        service_names = [s.full_name for s in _SERVICES.values()]
        reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        try:
            port = server.add_insecure_port(config.listen)
        except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
            raise OSError(f"cannot listen on {config.listen}: {exc}") from None
        if port == 0:
            raise OSError(f"cannot listen on {config.listen}")
        await server.start()
        for name in ["", *service_names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        running = RunningServer(config, port, server, health_servicer, core, store, closing, in_flight)
        log.info("effectd listening on %s (store %s)", running.target, config.store.url)
        try:
            yield running
        finally:
            await running.shutdown()
    finally:
        if server is not None:
            await server.stop(0)
        await core.stop()
        await store.close()
