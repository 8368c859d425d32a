"""Mount the push WebSocket beside Django: ``push_application(get_asgi_application())``."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Sequence
from typing import Any
from urllib.parse import urlparse

from asgiref.sync import markcoroutinefunction
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.urls import URLPattern, path, re_path

from .conf import push_settings
from .consumer import PushConsumer
from .server.sockets import reject
from .sse.app import SseApplication


async def not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any other WebSocket path: refused with HTTP 404 on daphne (403 elsewhere: ASGI can only deny),
    instead of an error in the router and a reset connection."""
    if (await receive())["type"] == "websocket.connect":
        await reject(scope, send, 404)


def websocket_urlpatterns() -> list[URLPattern]:
    """The push route, for projects that build their own ``URLRouter``."""
    return [path(push_settings.PATH, PushConsumer())]  # type: ignore[arg-type]  # an ASGI app, not a view


def _origin(scope: dict[str, Any]) -> Any:
    """The Origin header parsed as channels' OriginValidator parses it (None when absent or not text)."""
    parsed = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            with contextlib.suppress(UnicodeDecodeError):
                parsed = urlparse(value.decode("latin1"))
    return parsed


class PushApplication:
    """Django for HTTP; the push WebSocket (plus ``websocket_routes``) behind the allowed-hosts check; its
    SSE twin under ``<PATH>sse/`` (:mod:`pushapp.sse`).

    The push path is matched here, before Channels' routers: every connection takes this path, and the
    routers cost each one a resolver match, a copy of its scope and two coroutine frames for as long as it
    stays open (about 1.7 KB and a tenth of the accept's CPU). The origin check is Channels' own
    (``AllowedHostsOriginValidator.valid_origin``); any other WebSocket path goes through the routers.
    """

    def __init__(self, django_app: Any, websocket_routes: Sequence[Any] = ()) -> None:
        self.http = django_app
        self.push = PushConsumer()
        self.push_path = "/" + push_settings.PATH
        self.sse = SseApplication(self.push, self.push_path + "sse/")
        self.websocket = AllowedHostsOriginValidator(
            URLRouter([*websocket_urlpatterns(), *websocket_routes, re_path(r"", not_found)])  # type: ignore[arg-type]
        )

    @markcoroutinefunction  # an ASGI 3 application to every server, without a frame of its own
    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        """The application that serves ``scope``, called: its coroutine is awaited by the server, so no
        frame of this router stays on the stack of a connection for as long as it is open."""
        kind = scope["type"]
        if kind == "http":
            if scope["path"].startswith(self.sse.base):
                return self.sse(scope, receive, send)
            return self.http(scope, receive, send)  # type: ignore[no-any-return]
        if kind != "websocket":
            raise ValueError(f"No application configured for scope type {kind!r}")
        if scope["path"] != self.push_path or "url_route" in scope:
            return self.websocket(scope, receive, send)  # type: ignore[no-any-return]
        if self.websocket.valid_origin(_origin(scope)):
            return self.push(scope, receive, send)
        return WebsocketDenier()(scope, receive, send)  # type: ignore[no-any-return]


def push_application(django_app: Any, websocket_routes: Sequence[Any] = ()) -> PushApplication:
    """Django for HTTP; the push WebSocket (plus ``websocket_routes``) behind the allowed-hosts check."""
    return PushApplication(django_app, websocket_routes)
