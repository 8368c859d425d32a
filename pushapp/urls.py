"""``path("pushapp/", include("pushapp.urls"))``: the endpoints pushapp.js and the script tag use."""

from __future__ import annotations

from django.urls import path

from . import httpapi, views
from .observe import metrics_view
from .observe.dashboard import views as dashboard
from .sse.views import sse_ticket

app_name = "pushapp"

urlpatterns = [
    path("token/", views.token, name="token"),
    path("bind/", views.bind, name="bind"),
    path("sse-ticket/", sse_ticket, name="sse-ticket"),
    path("api/", httpapi.api, name="api"),
    path("metrics/", metrics_view.metrics, name="metrics"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/send/", dashboard.send, name="dashboard-send"),
    path("dashboard/disconnect/", dashboard.disconnect, name="dashboard-disconnect"),
]
