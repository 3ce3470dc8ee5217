"""effectd's server: gRPC servicers over a core that knows nothing of gRPC, over a `Store`."""

from effectd_server.config import ServerConfig, StoreConfig, load_config
from effectd_server.server import RunningServer, serve

__all__ = ["RunningServer", "ServerConfig", "StoreConfig", "load_config", "serve"]
