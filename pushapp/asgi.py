"""Mount the push WebSocket beside Django: ``push_application(get_asgi_application())``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import URLPattern, path

from .conf import push_settings
from .consumer import PushConsumer


def websocket_urlpatterns() -> list[URLPattern]:
    """The push route, for projects that build their own ``URLRouter``."""
    return [path(push_settings.PATH, PushConsumer())]  # type: ignore[arg-type]  # an ASGI app, not a view


def push_application(django_app: Any, websocket_routes: Sequence[Any] = ()) -> ProtocolTypeRouter:
    """Django for HTTP; the push WebSocket (plus ``websocket_routes``) behind the allowed-hosts check."""
    return ProtocolTypeRouter(
        {
            "http": django_app,
            "websocket": AllowedHostsOriginValidator(
                URLRouter([*websocket_urlpatterns(), *websocket_routes])
            ),
        }
    )
