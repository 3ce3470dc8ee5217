"""effectd's server: one package per capability (core, servicer, store part) composed in `server.py`."""

from effectd_server.config import ServerConfig, StoreConfig, load_config
from effectd_server.server import RunningServer, serve

__all__ = ["RunningServer", "ServerConfig", "StoreConfig", "load_config", "serve"]
