"""`workers.proto` messages <-> the workers' dataclasses, both directions side by side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

from effectd._convert_scope import scope_from_proto, scope_to_proto
from effectd._lashjson import JsonValue
from effectd._lineage import RuntimeEffectKind
from effectd._scope import ExecutionScope
from effectd.v1 import envelope_pb2, scope_pb2, workers_pb2

__all__ = [
    "AssignmentRef",
    "ToolDescription",
    "WorkerCapability",
    "WorkerInfo",
    "assignment_from_proto",
    "assignment_to_proto",
    "capability_from_proto",
    "capability_to_proto",
    "kind_from_proto",
    "kind_to_proto",
    "tool_description_from_proto",
    "tool_description_to_proto",
    "worker_info_from_proto",
    "worker_info_to_proto",
]

_KIND_PREFIX = "RUNTIME_EFFECT_KIND_"


def kind_to_proto(kind: RuntimeEffectKind | str) -> envelope_pb2.RuntimeEffectKind:
    return cast(envelope_pb2.RuntimeEffectKind, envelope_pb2.RuntimeEffectKind.Value(_KIND_PREFIX + str(kind).upper()))


def kind_from_proto(number: int) -> str:
    """The kind's snake_case name ("" for unspecified or an unknown number)."""
    try:
        name = envelope_pb2.RuntimeEffectKind.Name(number)
    except ValueError:
        return ""
    return "" if number == 0 else name.removeprefix(_KIND_PREFIX).lower()


@dataclass(frozen=True, slots=True)
class ToolDescription:
    """What a runtime hands its LLM about a tool a worker offers."""

    input_schema_json: str = ""
    """The input's JSON Schema as JSON text (kept as sent); "" when the worker gave none."""
    description: str = ""
    server: str = ""
    """The MCP server the tool comes from; "" for a handler."""

    @property
    def input_schema(self) -> JsonValue:
        """The input schema parsed (None when there is none)."""
        return json.loads(self.input_schema_json) if self.input_schema_json else None

    def to_json(self) -> dict[str, JsonValue]:
        return {"server": self.server, "description": self.description, "input_schema": self.input_schema}


@dataclass(frozen=True, slots=True)
class WorkerCapability:
    """One thing a worker runs: an effect kind and, for tools, steps and models, a name (and version)."""

    kind: str
    name: str = ""
    version: str = ""
    slots: int = 0
    tool: ToolDescription | None = None
    """tool_call: the tool's description and input schema, when the worker gave them."""

    def to_json(self) -> dict[str, object]:
        value: dict[str, object] = {"kind": self.kind, "name": self.name, "version": self.version, "slots": self.slots}
        if self.tool is not None:
            value["tool"] = self.tool.to_json()
        return value


def tool_description_to_proto(value: ToolDescription) -> workers_pb2.ToolDescription:
    schema = scope_pb2.Json(text=value.input_schema_json) if value.input_schema_json else None
    return workers_pb2.ToolDescription(input_schema=schema, description=value.description, server=value.server)


def tool_description_from_proto(msg: workers_pb2.ToolDescription) -> ToolDescription:
    schema = msg.input_schema.text if msg.HasField("input_schema") else ""
    return ToolDescription(schema, msg.description, msg.server)


def capability_to_proto(value: WorkerCapability) -> workers_pb2.Capability:
    return workers_pb2.Capability(
        kind=kind_to_proto(value.kind),
        name=value.name,
        version=value.version,
        slots=value.slots,
        tool=tool_description_to_proto(value.tool) if value.tool is not None else None,
    )


def capability_from_proto(msg: workers_pb2.Capability) -> WorkerCapability:
    tool = tool_description_from_proto(msg.tool) if msg.HasField("tool") else None
    return WorkerCapability(kind_from_proto(msg.kind), msg.name, msg.version, msg.slots, tool)


@dataclass(frozen=True, slots=True)
class AssignmentRef:
    """One delivery of one effect."""

    scope: ExecutionScope
    replay_key: str
    fencing_token: int


def assignment_to_proto(value: AssignmentRef) -> workers_pb2.AssignmentRef:
    return workers_pb2.AssignmentRef(
        scope=scope_to_proto(value.scope), replay_key=value.replay_key, fencing_token=value.fencing_token
    )


def assignment_from_proto(msg: workers_pb2.AssignmentRef) -> AssignmentRef:
    return AssignmentRef(scope_from_proto(msg.scope), msg.replay_key, msg.fencing_token)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A connected worker as `ListWorkers` / `DescribeWorker` show it."""

    worker_id: str
    instance_id: str
    capabilities: tuple[WorkerCapability, ...]
    labels: dict[str, str]
    slots: int
    in_flight: tuple[AssignmentRef, ...]
    last_heartbeat_unix_ms: int
    draining: bool
    connected_at_unix_ms: int
    completed: int

    def to_json(self) -> dict[str, object]:
        return {
            "worker_id": self.worker_id,
            "instance_id": self.instance_id,
            "capabilities": [c.to_json() for c in self.capabilities],
            "labels": dict(sorted(self.labels.items())),
            "slots": self.slots,
            "in_flight": [{"replay_key": a.replay_key, "fencing_token": a.fencing_token} for a in self.in_flight],
            "last_heartbeat_unix_ms": self.last_heartbeat_unix_ms,
            "draining": self.draining,
            "connected_at_unix_ms": self.connected_at_unix_ms,
            "completed": self.completed,
        }


def worker_info_to_proto(value: WorkerInfo) -> workers_pb2.WorkerInfo:
    return workers_pb2.WorkerInfo(
        worker_id=value.worker_id,
        instance_id=value.instance_id,
        capabilities=[capability_to_proto(c) for c in value.capabilities],
        labels=value.labels,
        slots=value.slots,
        in_flight=[assignment_to_proto(a) for a in value.in_flight],
        last_heartbeat_unix_ms=value.last_heartbeat_unix_ms,
        draining=value.draining,
        connected_at_unix_ms=value.connected_at_unix_ms,
        completed=value.completed,
    )


def worker_info_from_proto(msg: workers_pb2.WorkerInfo) -> WorkerInfo:
    return WorkerInfo(
        worker_id=msg.worker_id,
        instance_id=msg.instance_id,
        capabilities=tuple(capability_from_proto(c) for c in msg.capabilities),
        labels=dict(msg.labels),
        slots=msg.slots,
        in_flight=tuple(assignment_from_proto(a) for a in msg.in_flight),
        last_heartbeat_unix_ms=msg.last_heartbeat_unix_ms,
        draining=msg.draining,
        connected_at_unix_ms=msg.connected_at_unix_ms,
        completed=msg.completed,
    )
