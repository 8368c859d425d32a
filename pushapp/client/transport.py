"""Opening the WebSocket, with the ``websockets`` library (``pip install pushapp[client]``), imported
only here and only when a client connects: pushapp itself does not need it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection


def default_origin(url: str) -> str:
    """The ``Origin`` the server checks against its ``ALLOWED_HOSTS``: the URL's own host."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"{url!r} is not a ws:// or wss:// URL")
    return ("https://" if parts.scheme == "wss" else "http://") + parts.netloc


async def open_socket(url: str, origin: str, timeout: float, max_size: int | None) -> ClientConnection:
    """A connected WebSocket. Its own keepalive pings are off: pushapp's heartbeat is a frame
    (docs/protocol.md, section 4), and the server counts every control frame against the client's rate."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    return await connect(
        url,
        origin=Origin(origin),
        compression=None,
        open_timeout=timeout,
        ping_interval=None,
        max_size=max_size,
        close_timeout=timeout,
    )


def handshake_status(error: BaseException) -> int | None:
    """The HTTP status of a refused handshake, else None."""
    from websockets.exceptions import InvalidStatus

    return error.response.status_code if isinstance(error, InvalidStatus) else None
