"""The web layer: the node's JSON API (and later the wallet and the back office).

Imports the node and the store's query methods, never SQL. Public API::

    create_app(node, settings=None) -> FastAPI     the API under /api/v1
    ApiSettings                                    its named bounds
    make_server(app, host, port) -> Server         uvicorn, ending event streams on shutdown
"""

from .api import ApiSettings, create_app
from .server import Server, make_server

__all__ = ["ApiSettings", "Server", "create_app", "make_server"]
