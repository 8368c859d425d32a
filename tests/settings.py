"""Settings for the fast unit tests: one process, in-memory SQLite, in-memory channel layer."""

from pathlib import Path
from typing import Any

import django

SECRET_KEY = "pushapp-tests-not-a-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"  # Django exports it as TZ: the processes' logs then agree with each other
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
    "pushapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pushapp.middleware.TokenPageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # tests/ is not an installed app: its templates (the browser tests' page) need a DIRS entry.
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    # A second alias, for sends bound to a transaction of another database (on_commit=True, using=…).
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Fast hashing: tests create users, they don't need the hash to be expensive.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# tests.urls serves pushapp's static files itself (daphne serves none): the browser tests load pushapp.js.
STATIC_URL = "/static/"

ROOT_URLCONF = "tests.urls"
ASGI_APPLICATION = "tests.asgi.application"
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Django 6.1 configures e-mail with MAILERS (the EMAIL_* settings are deprecated); earlier releases
# ignore it and use their default backend.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
