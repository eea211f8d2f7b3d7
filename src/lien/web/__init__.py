"""The web layer: the node's JSON API, its HTML pages (later the wallet and the back office).

Imports the node and the store's record types, never SQL. Public API::

    create_app(node, settings=None) -> FastAPI     the API under /api/v1, the pages at /
    ApiSettings                                    its named bounds
    make_server(app, host, port) -> Server         uvicorn, ending event streams on shutdown
"""

from .api import create_app
from .context import ApiSettings
from .server import Server, make_server

__all__ = ["ApiSettings", "Server", "create_app", "make_server"]
