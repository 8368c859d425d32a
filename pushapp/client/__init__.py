"""A Python client of pushapp's protocol, for services and devices (docs/client.md).

Needs the ``websockets`` library: ``pip install "pushapp[client]"``. It is imported only when a client
connects, so importing this package (or pushapp) does not need it.
"""

from .backoff import Backoff
from .client import Client, TokenSource
from .errors import ClientClosed, ConnectionDestroyed, ConnectionFailed, HandshakeRefused, RefreshRefused
from .items import Missed, Position, Push
from .store import FilePositionStore, MemoryPositionStore, PositionStore

__all__ = [
    "Backoff",
    "Client",
    "ClientClosed",
    "ConnectionDestroyed",
    "ConnectionFailed",
    "FilePositionStore",
    "HandshakeRefused",
    "MemoryPositionStore",
    "Missed",
    "Position",
    "PositionStore",
    "Push",
    "RefreshRefused",
    "TokenSource",
]
