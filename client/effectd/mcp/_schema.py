"""Tool arguments checked against the tool's input schema (JSON Schema, with `jsonschema`) before a call."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import jsonschema
import jsonschema.exceptions
from referencing import Registry

from effectd._lashjson import JsonValue
from effectd.mcp._errors import InvalidToolArgumentsError

__all__ = ["ArgumentsValidator"]

logger = logging.getLogger(__name__)


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


class ArgumentsValidator:
    """A tool's compiled input schema. A schema the server sent that is not valid JSON Schema checks
    nothing (the server validates its own input) and is logged once."""

    def __init__(self, tool: str, schema: dict[str, JsonValue]) -> None:
        self.tool = tool
        self._validator: Any = None
        cls: Any = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            logger.warning("tool %r has an invalid input schema; its arguments are not checked: %s", tool, exc.message)
            return
        # An empty registry: `$ref`s resolve inside the schema (and the metaschemas), never over the network.
        self._validator = cls(schema, registry=Registry())

    def check(self, arguments: JsonValue) -> None:
        """Raise InvalidToolArgumentsError (with the schema error) when `arguments` do not match."""
        if not isinstance(arguments, dict):
            raise InvalidToolArgumentsError(
                self.tool,
                {"message": "tool arguments must be a JSON object", "path": "", "schema_path": "", "validator": "type"},
            )
        if self._validator is None:
            return
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(arguments))
        if error is None:
            return
        raise InvalidToolArgumentsError(
            self.tool,
            {
                "message": error.message,
                "path": _pointer(error.absolute_path),
                "schema_path": _pointer(error.absolute_schema_path),
                "validator": str(error.validator),
            },
        )
