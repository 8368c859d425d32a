"""The demo's ASGI application: Django for HTTP, pushapp's WebSocket at ``/ws/push/``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")

# Set Django up before pushapp.asgi imports anything that touches models.
django_app = get_asgi_application()

from pushapp.asgi import push_application  # noqa: E402

application = push_application(django_app)
