"""The gRPC edge: request parsing, error mapping, in-flight tracking, the stream loop, safe logging."""

from effectd_server.edge.errors import shutting_down, status_for_error
from effectd_server.edge.handlers import InFlight, add_service
from effectd_server.edge.logs import safe
from effectd_server.edge.streams import Streams

__all__ = ["InFlight", "Streams", "add_service", "safe", "shutting_down", "status_for_error"]
