"""URLconf of the test settings; test views get added here as the suite needs them."""

from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve

from tests import browser_views, dashboard_views, push_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("pushapp/", include("pushapp.urls")),
    path("push/<str:uid>/", push_views.push),
    path("apush/<str:uid>/", push_views.apush),
    # For the browser tests (tests/test_browser.py), served by the daphne processes: daphne serves no static
    # files, so pushapp.js comes from django.views.static.serve, straight from the working tree.
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": browser_views.STATIC_ROOT}),
    path("browser/login/<str:username>/", browser_views.login_as, name="browser-login"),
    path("browser/page/", browser_views.page, name="browser-page"),
    path("browser/esm/", browser_views.esm_page, name="browser-esm"),
    path("browser/staff/<str:username>/", dashboard_views.login_staff),
]
