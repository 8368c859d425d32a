"""``path("pushapp/", include("pushapp.urls"))``: the endpoints pushapp.js and the script tag use."""

from __future__ import annotations

from django.urls import path

from . import metrics_view, views

app_name = "pushapp"

urlpatterns = [
    path("token/", views.token, name="token"),
    path("bind/", views.bind, name="bind"),
    path("metrics/", metrics_view.metrics, name="metrics"),
]
