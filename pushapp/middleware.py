"""Pages that embed a connection token must not be cached: a shared cache would hand one user's token,
and so their pushes, to the next visitor; a browser's back-forward cache would resurrect it after logout.

``"pushapp.middleware.TokenPageMiddleware"`` in ``MIDDLEWARE`` marks every response whose page rendered
``{% pushapp_script %}`` ``Cache-Control: private, no-store``; other responses are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control

#: Set on the request by the template tag when it embeds a token.
EMBEDDED = "_pushapp_token_embedded"


class TokenPageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if getattr(request, EMBEDDED, False):
            patch_cache_control(response, private=True, no_store=True)
        return response
