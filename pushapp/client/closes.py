"""What a close code means for the client (docs/protocol.md, section 7): reconnect, reconnect with a
fresh token, or stop with the exception the application gets."""

from __future__ import annotations

from ..codes import CloseCode
from ..exceptions import AccessRevoked, AuthenticationFailed, PushappError
from .errors import ClientClosed, ConnectionDestroyed


def stop_error(code: int | None, reason: str) -> PushappError | None:
    """The exception a close with ``code`` stops the client with; ``None``: reconnect."""
    detail = f"closed by the server with {code}" + (f": {reason}" if reason else "")
    if code == CloseCode.NORMAL:
        return ClientClosed(detail)
    if code == CloseCode.AUTH_FAILED:
        return AuthenticationFailed(detail)
    if code == CloseCode.DESTROYED:
        return ConnectionDestroyed(detail)
    if code == CloseCode.REVOKED:
        return AccessRevoked(detail)
    return None


def needs_new_token(code: int | None) -> bool:
    return code == CloseCode.TOKEN_EXPIRED
