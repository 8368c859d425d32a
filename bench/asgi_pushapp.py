"""The pushapp server: Django for HTTP and the push WebSocket, exactly as docs/api.md wires it."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_pushapp")
django_app = get_asgi_application()

from pushapp.asgi import push_application  # noqa: E402

application = push_application(django_app)
