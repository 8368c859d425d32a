"""Test-only: log the browser in as a staff user, for the dashboard's browser test. Never route it in a
real project."""

from __future__ import annotations

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache


@never_cache
def login_staff(request: HttpRequest, username: str) -> HttpResponse:
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect("/pushapp/dashboard/")
