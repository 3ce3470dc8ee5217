"""The tools live workers offer, gathered from their capabilities: what a runtime hands its LLM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from effectd._convert_workers import ToolDescription, WorkerInfo
from effectd._lashjson import JsonValue

__all__ = ["ToolInfo", "tools_of"]


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A tool that live workers offer, as a runtime hands it to its LLM (`list_tools()`)."""

    name: str
    """What a `tool_call` envelope names to reach it."""
    server: str
    """The MCP server it comes from ("" for a worker's own handler)."""
    version: str
    workers: tuple[str, ...]
    """The ids of the live workers offering it, sorted."""
    input_schema: JsonValue
    """Its input's JSON Schema (None when the workers gave none)."""
    description: str

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "name": self.name,
            "server": self.server,
            "version": self.version,
            "workers": list(self.workers),
            "input_schema": self.input_schema,
            "description": self.description,
        }


def tools_of(workers: Sequence[WorkerInfo]) -> list[ToolInfo]:
    """Every tool the live (not draining) workers offer, one entry per name, server and version, by name."""
    found: dict[tuple[str, str, str], tuple[ToolDescription | None, set[str]]] = {}
    for worker in workers:
        if worker.draining:
            continue
        for capability in worker.capabilities:
            if capability.kind != "tool_call" or not capability.name:
                continue
            server = capability.tool.server if capability.tool is not None else ""
            description, offering = found.setdefault((capability.name, server, capability.version), (None, set()))
            if description is None and capability.tool is not None:
                found[(capability.name, server, capability.version)] = (capability.tool, offering)
            offering.add(worker.worker_id)
    tools = []
    for (name, server, version), (description, offering) in sorted(found.items()):
        schema = description.input_schema if description is not None else None
        text = description.description if description is not None else ""
        tools.append(ToolInfo(name, server, version, tuple(sorted(offering)), schema, text))
    return tools
