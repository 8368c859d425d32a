from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Staff only (log in as admin / demo); the staff dashboard, linked from every page: /pushapp/dashboard/
    path("admin/", admin.site.urls),
    path("pushapp/", include("pushapp.urls")),
    path("", include("demo_project.demo.urls")),
]

# Static files when served by daphne itself (runserver serves them already); DEBUG only, as in the demo.
urlpatterns += staticfiles_urlpatterns()
