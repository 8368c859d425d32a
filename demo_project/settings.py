"""Settings of the demo project: one process, SQLite, DEBUG on. Not for production.

Set ``REDIS_URL`` (e.g. ``redis://localhost:6379/0``) to use Redis as the channel layer, so that other
processes (a shell, a Celery worker, a second server) can push too.
"""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-insecure-secret-key-do-not-use-in-production")
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "daphne",  # first, so that runserver serves the ASGI application, WebSockets included
    "pushapp",  # before the admin: its index then links the live dashboard (pushapp/templates/admin/)
    "django.contrib.admin",  # for the staff demo user (admin / demo)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "demo_project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pushapp.middleware.TokenPageMiddleware",  # pages with a push token: Cache-Control private, no-store
]

ROOT_URLCONF = "demo_project.urls"
ASGI_APPLICATION = "demo_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",  # {% pushapp_script %} needs it
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"]}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "demo:index"
LOGOUT_REDIRECT_URL = "login"

# Shared secret of the HTTP APIs that "another service" (curl, a payment or bike-lock provider) calls.
DEMO_API_KEY = os.environ.get("DEMO_API_KEY", "demo-key")

PUSHAPP = {
    # pushapp's HTTP API (POST /pushapp/api/): this key may push to users and ask who is online.
    "API_KEYS": {DEMO_API_KEY: ["send_to_uid", "is_uid_online"]},
    # A page that reloads or reconnects gets what was pushed to its user meanwhile. (Not the rooms: groups
    # a page subscribed to are recovered only while its connection lives, docs/recovery.md.)
    "HISTORY": {"uid": {"size": 100, "ttl": 600}},
    # Pages enter rooms with pushapp.subscribe(); this hook says who may (demo/push.py).
    "AUTHORIZE_SUBSCRIBE": "demo_project.demo.push.can_subscribe",
    # Rooms' members see who joins and leaves them (presence frames).
    "PRESENCE_FRAMES": ["room:*"],
}

# The demo's e-mail (a rider who had no page open when the bike locked, demo/signals.py) goes to the
# console. Django 6.1 configures e-mail with MAILERS (the EMAIL_* settings are deprecated).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
