"""The composition root: builds the components (one per capability), serves them with health and
reflection, and shuts down gracefully."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from effectd._channel import server_options
from effectd.v1 import await_events_pb2, effect_controller_pb2, process_pb2, workers_pb2
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from effectd_server import await_events, journal, processes, workers
from effectd_server.component import Component, ComponentContext
from effectd_server.config import ServerConfig
from effectd_server.edge import InFlight, Streams, add_service
from effectd_server.store import Backend, open_backend

__all__ = ["COMPONENTS", "RunningServer", "serve"]

log = logging.getLogger("effectd.server")

_GC_GEN0_THRESHOLD = 50_000

COMPONENTS: list[Callable[[ComponentContext], Component]] = [
    await_events.build,
    journal.build,
    processes.build,
    workers.build,
]
"""Every capability, in start order. Adding one is one line here."""

_SERVICES: dict[str, ServiceDescriptor] = {
    service.full_name: service
    for module in (await_events_pb2, effect_controller_pb2, process_pb2, workers_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
}


@dataclass(slots=True)
class RunningServer:
    config: ServerConfig
    port: int
    grpc_server: grpc.aio.Server
    health: health.aio.HealthServicer
    backend: Backend
    streams: Streams
    in_flight: InFlight
    parts: dict[str, Any] = field(default_factory=dict)
    """Each capability's core by name ("await_events", "journal", "processes"), for tests and embedding."""

    @property
    def target(self) -> str:
        host = self.config.listen.rpartition(":")[0]
        return f"{host}:{self.port}"

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()

    async def drain(self, grace_s: float | None = None) -> bool:
        """Stop taking calls, then let the accepted ones finish. New calls are refused at once with
        UNAVAILABLE server_shutting_down (clients retry them: on another replica, or after the restart)
        and health goes NOT_SERVING; open streams end with UNAVAILABLE server_shutting_down (clients
        resume); calls already accepted get `grace_s` (default `shutdown_grace_s`) to finish and send
        their answers. True when every one did. gRPC keeps listening: the edge keeps refusing."""
        self.in_flight.refuse()
        await self.health.enter_graceful_shutdown()
        self.streams.close()
        grace = self.config.shutdown_grace_s if grace_s is None else grace_s
        return await self.in_flight.wait_idle(grace)

    async def shutdown(self, grace_s: float | None = None) -> None:
        """`drain`, then stop gRPC (see `stop_listening`)."""
        await self.drain(grace_s)
        await self.stop_listening()

    async def stop_listening(self) -> None:
        """Stop gRPC core. Its shutdown answers CANCELLED every call that no handler has taken yet and
        every call that reaches it before the client reads its GOAWAY (grpcio 1.85, grpc/grpc#41785),
        calls the edge would have refused after a drain. A process that exits instead (`effectd serve`)
        leaves the kernel to close the sockets, and clients see UNAVAILABLE for those calls."""
        # What is left after a drain are refusals being sent and health watches: end them now.
        await self.grpc_server.stop(0.2)


def _service_descriptor(name: str) -> ServiceDescriptor:
    try:
        return _SERVICES[name]
    except KeyError:
        from google.protobuf import descriptor_pool

        return descriptor_pool.Default().FindServiceByName(name)


@contextlib.asynccontextmanager
async def serve(config: ServerConfig, *, stop_listening: bool = True) -> AsyncIterator[RunningServer]:
    """Start a server; leaving the block drains it (`RunningServer.drain`), stops the components and
    closes the store, then stops gRPC. With `stop_listening=False` gRPC is left refusing calls: for a
    process that exits right after, so that no call is ever answered CANCELLED (`stop_listening`)."""
    backend = open_backend(
        config.store.url if config.store.is_postgres() else config.store.sqlite_path(),
        is_postgres=config.store.is_postgres(),
    )
    await backend.open()
    streams = Streams(
        max_per_connection=config.streams.max_streams_per_connection,
        min_heartbeat_s=config.streams.min_heartbeat_interval_s,
        default_heartbeat_s=config.streams.heartbeat_interval_s,
    )
    context = ComponentContext(config, backend, streams)
    components = [build(context) for build in COMPONENTS]
    started: list[Component] = []
    server: grpc.aio.Server | None = None
    in_flight = InFlight()
    drained = False
    try:
        for component in components:
            if component.start is not None:
                await component.start()
            started.append(component)
        server = grpc.aio.server(options=server_options(reuse_port=config.reuse_port))
        service_names: list[str] = []
        for component in components:
            for name, servicer in component.services:
                add_service(server, _service_descriptor(name), servicer, in_flight, streams)
                service_names.append(name)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        try:
            port = server.add_insecure_port(config.listen)
        except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
            raise OSError(f"cannot listen on {config.listen}: {exc}") from None
        if port == 0:
            raise OSError(f"cannot listen on {config.listen}")
        # What exists now lives as long as the server: keep the cyclic collector from walking it again
        # and again, and collect young objects less often (a server makes many short-lived ones).
        gc.collect()
        gc.freeze()
        gc.set_threshold(_GC_GEN0_THRESHOLD, 20, 20)
        await server.start()
        running = RunningServer(config, port, server, health_servicer, backend, streams, in_flight, context.parts)
        # Said before anything else can run: a caller that reached the server finds this line written.
        log.info("effectd listening on %s (store %s)", running.target, config.store.redacted())
        for name in ["", *service_names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        try:
            yield running
        finally:
            await running.drain()
            drained = True
    finally:
        # Calls that arrive from here on are refused by the edge before they reach a component.
        in_flight.refuse()
        streams.close()
        for component in reversed(started):
            if component.stop is not None:
                await component.stop()
        await backend.close()
        if server is not None and (stop_listening or not drained):
            await server.stop(0.2)
