"""``{% load pushapp %}{% pushapp_script %}``: the pushapp.js tag, ready to connect as the session user."""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.template.context import Context
from django.utils.safestring import SafeString

from ..script import pushapp_script_html

register = template.Library()


@register.simple_tag(takes_context=True)
def pushapp_script(
    context: Context, *, lazy: bool = False, groups: str | Iterable[str] = (), nonce: str | None = None
) -> SafeString:
    """Render :func:`pushapp.script.pushapp_script_html` for the context's request.

    The CSP nonce is ``nonce``, else ``request.csp_nonce`` (django-csp), else ``csp_nonce`` from the context.
    """
    request = context.get("request")
    if request is None:
        raise ImproperlyConfigured(
            "{% pushapp_script %} needs the request in the template context: "
            "add 'django.template.context_processors.request' to the template context processors."
        )
    if nonce is None and getattr(request, "csp_nonce", None) is None:
        nonce = context.get("csp_nonce")
    return pushapp_script_html(request, lazy=lazy, groups=groups, nonce=nonce)
