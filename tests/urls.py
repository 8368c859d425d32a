"""URLconf of the test settings; test views get added here as the suite needs them."""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("pushapp/", include("pushapp.urls")),
]
