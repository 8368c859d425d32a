"""One sync view that pushes, for workload e's "from a WSGI view" case (Django's test Client calls it)."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse
from django.urls import path

from bench.senders import Sender

#: Set by bench.synccost before the first request; the view adds the time spent inside the push call.
SENDER: list[Sender] = []
SPENT = [0.0]


def push_view(request: HttpRequest) -> HttpResponse:
    """Push to the uid in the query string, timing only the push call itself."""
    uid = request.GET.get("uid", "0")
    started = time.perf_counter()
    SENDER[0].to_uid(uid, '{"r":-1}')
    SPENT[0] += time.perf_counter() - started
    return HttpResponse(b"ok")


urlpatterns = [path("bench/push/", push_view)]
