"""Mount the push WebSocket beside Django: ``push_application(get_asgi_application())``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import URLPattern, path, re_path

from .conf import push_settings
from .consumer import PushConsumer
from .servers import reject


async def not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any other WebSocket path: refused with HTTP 404 on daphne (403 elsewhere: ASGI can only deny),
    instead of an error in the router and a reset connection."""
    if (await receive())["type"] == "websocket.connect":
        await reject(send, 404)


def websocket_urlpatterns() -> list[URLPattern]:
    """The push route, for projects that build their own ``URLRouter``."""
    return [path(push_settings.PATH, PushConsumer())]  # type: ignore[arg-type]  # an ASGI app, not a view


def push_application(django_app: Any, websocket_routes: Sequence[Any] = ()) -> ProtocolTypeRouter:
    """Django for HTTP; the push WebSocket (plus ``websocket_routes``) behind the allowed-hosts check."""
    return ProtocolTypeRouter(
        {
            "http": django_app,
            "websocket": AllowedHostsOriginValidator(
                URLRouter([*websocket_urlpatterns(), *websocket_routes, re_path(r"", not_found)])  # type: ignore[arg-type]
            ),
        }
    )
