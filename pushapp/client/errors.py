"""Why a client stopped, or refused a request. Close codes that end access reuse pushapp's own
exceptions (``AuthenticationFailed`` for 4001, ``TokenExpired`` for 4002 without a token callback,
``AccessRevoked`` for 4008); these are the client's own."""

from __future__ import annotations

from ..exceptions import PushappError


class ClientClosed(PushappError):
    """The client was closed (by :meth:`Client.close`, or by the server with 1000): nothing more to do."""


class ConnectionDestroyed(PushappError):
    """The server destroyed the connection (close code 4004, ``destroy_client``): do not reconnect."""


class ConnectionFailed(PushappError):
    """``Backoff.max_attempts`` connection attempts in a row failed; the last error is the ``__cause__``."""


class HandshakeRefused(PushappError):
    """The server answered the WebSocket handshake with an HTTP error (403: the ``Origin`` is not in the
    server's ``ALLOWED_HOSTS``; 404: not the push path): retrying would not help."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server refused the WebSocket handshake with HTTP {status}")
        self.status = status


class RefreshRefused(PushappError):
    """An in-band ``refresh`` was refused (``refresh_refused``): the connection lives as long as before."""
