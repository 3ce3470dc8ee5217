"""The composition root: builds the components (one per capability), serves them with health and
reflection, and shuts down gracefully."""

from __future__ import annotations

import contextlib
import gc
import json
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

from effectd_server import await_events, journal, processes, retention, workers
from effectd_server.admin import AdminListener
from effectd_server.component import Component, ComponentContext
from effectd_server.config import ServerConfig, redacted_config
from effectd_server.console import console_app
from effectd_server.edge import InFlight, Streams, add_service
from effectd_server.edge.auth import Authorizer, exposure_problems
from effectd_server.edge.handlers import Observers
from effectd_server.edge.metrics import Metrics
from effectd_server.edge.tls import ReloadingCertificates
from effectd_server.edge.tracing import RpcTracer, Tracing, tracer_provider_for
from effectd_server.http import HttpListener, start_http_listener
from effectd_server.store import Backend, open_backend

__all__ = ["COMPONENTS", "RunningServer", "serve"]

log = logging.getLogger("effectd.server")

_GC_GEN0_THRESHOLD = 50_000

COMPONENTS: list[Callable[[ComponentContext], Component]] = [
    await_events.build,
    journal.build,
    processes.build,
    retention.build,
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
    """Each capability's core by name ("await_events", "journal", "processes", "retention"), for tests and
    embedding."""
    certificates: ReloadingCertificates | None = None
    """The TLS certificates in use (re-read when their files change); None without TLS."""
    metrics: Metrics = field(default_factory=Metrics)
    admin: AdminListener | None = None
    """The admin HTTP listener (/metrics) when `metrics.admin_listen` is set; its `port` is the bound one."""
    http: HttpListener | None = None
    """The HTTP resolve endpoint, when `config.http_listen` is set."""

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


def effective_config(config: ServerConfig, admin_port: int | None = None) -> dict[str, Any]:
    """The settings a server runs with, for its listening line: secrets (a database password, any
    setting named like a secret) redacted."""
    settings = redacted_config(config)
    if admin_port is not None and config.metrics.admin_listen is not None:
        settings["metrics"]["admin_listen"] = f"{config.metrics.admin_listen.rpartition(':')[0]}:{admin_port}"
    return settings


@contextlib.asynccontextmanager
async def serve(
    config: ServerConfig, *, stop_listening: bool = True, tracer_provider: Any | None = None
) -> AsyncIterator[RunningServer]:
    """Start a server; leaving the block drains it (`RunningServer.drain`), stops the components and
    closes the store, then stops gRPC. With `stop_listening=False` gRPC is left refusing calls: for a
    process that exits right after, so that no call is ever answered CANCELLED (`stop_listening`).

    Raises ValueError before anything starts when the configuration is unsafe or unusable: a non-loopback
    listen without TLS and tokens (unless `auth.insecure`), unreadable TLS or tokens files.

    Tracing is on with `tracer_provider` (an OpenTelemetry SDK provider) or, without one, when
    `config.tracing.otlp_endpoint` is set."""
    exposure = exposure_problems(config.listen, tls=config.tls.enabled, tokens=config.auth.tokens_file is not None)
    if exposure and not config.auth.insecure:
        raise ValueError(f"refusing to serve: {exposure[0]}; configure both, or pass --insecure to accept the risk")
    for problem in exposure:
        log.warning("INSECURE: %s: anyone who reaches it can call every RPC", problem)
    authorizer = (
        Authorizer(config.auth.tokens_file, on_reload_error=lambda error: log.warning("tokens file: %s", error))
        if config.auth.tokens_file is not None
        else None
    )
    certificates = ReloadingCertificates(config.tls) if config.tls.enabled else None
    own_provider = tracer_provider is None
    provider = tracer_provider_for(config.tracing) if own_provider else tracer_provider
    metrics = Metrics()
    tracing = Tracing(provider)
    backend = open_backend(
        config.store.url if config.store.is_postgres() else config.store.sqlite_path(),
        is_postgres=config.store.is_postgres(),
    )
    await backend.open()
    store_kind = backend.kind
    commit_seconds = metrics.store_commit.labels(store_kind)
    batch_size = metrics.store_batch.labels(store_kind)

    def observe_commit(seconds: float, writes: int) -> None:
        commit_seconds.observe(seconds)
        batch_size.observe(writes)

    backend.commit_observer = observe_commit
    streams = Streams(
        max_per_connection=config.streams.max_streams_per_connection,
        min_heartbeat_s=config.streams.min_heartbeat_interval_s,
        default_heartbeat_s=config.streams.heartbeat_interval_s,
    )
    metrics.gauge_function("effectd_open_streams", "Server streams open now.", lambda: streams.open_count)
    context = ComponentContext(config, backend, streams, metrics=metrics, tracing=tracing)
    components = [build(context) for build in COMPONENTS]
    observers = Observers(metrics.rpc, RpcTracer(tracing) if tracing.enabled else None)
    admin = (
        None
        if config.metrics.admin_listen is None
        else AdminListener(config.metrics.admin_listen, metrics, authorizer=authorizer)
    )
    started: list[Component] = []
    server: grpc.aio.Server | None = None
    in_flight = InFlight()
    drained = False
    http: HttpListener | None = None
    try:
        for component in components:
            if component.start is not None:
                await component.start()
            started.append(component)
        server = grpc.aio.server(
            options=server_options(reuse_port=config.reuse_port, max_message_bytes=config.limits.max_message_bytes)
        )
        service_names: list[str] = []
        for component in components:
            for name, servicer in component.services:
                add_service(
                    server, _service_descriptor(name), servicer, in_flight, streams, observers, authorizer=authorizer
                )
                service_names.append(name)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        try:
            if certificates is not None:
                port = server.add_secure_port(config.listen, certificates.credentials())
            else:
                port = server.add_insecure_port(config.listen)
        except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
            raise OSError(f"cannot listen on {config.listen}: {exc}") from None
        if port == 0:
            raise OSError(f"cannot listen on {config.listen}")
        if admin is not None:
            sweeper = context.parts["retention"]

            async def sweep_now(dry_run: bool) -> dict[str, Any]:
                report = await sweeper.sweep(dry_run=dry_run)
                return {"dry_run": report.dry_run, "deleted": report.deleted}

            admin.gc = sweep_now
            admin.mount("/console/", console_app(context.parts, authorizer=authorizer, metrics=metrics))
            await admin.start()
        # What exists now lives as long as the server: keep the cyclic collector from walking it again
        # and again, and collect young objects less often (a server makes many short-lived ones).
        gc.collect()
        gc.freeze()
        gc.set_threshold(_GC_GEN0_THRESHOLD, 20, 20)
        if config.http_listen is not None:
            http = await start_http_listener(
                config.http_listen,
                context.parts["await_events"],
                config.limits,
                checker=authorizer,
                shutdown_timeout_s=config.shutdown_grace_s,
            )
        await server.start()
        running = RunningServer(
            config,
            port,
            server,
            health_servicer,
            backend,
            streams,
            in_flight,
            context.parts,
            certificates,
            metrics,
            admin,
            http,
        )
        # Said before anything else can run: a caller that reached the server finds this line written.
        settings = effective_config(config, None if admin is None else admin.port)
        log.info(
            "effectd listening on %s (store %s, %s, %s) config %s",
            running.target,
            config.store.redacted(),
            ("mTLS" if config.tls.client_ca else "TLS") if certificates is not None else "plaintext",
            "bearer tokens" if authorizer is not None else "no tokens",
            json.dumps(settings, sort_keys=True),
            extra={"fields": {"event": "listening", "target": running.target, "config": settings}},
        )
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
        if http is not None:
            await http.stop()
        for component in reversed(started):
            if component.stop is not None:
                await component.stop()
        if admin is not None:
            await admin.stop()
        await backend.close()
        if own_provider and provider is not None:
            provider.shutdown()  # flushes the spans still batched for the exporter
        if server is not None and (stop_listening or not drained):
            await server.stop(0.2)
