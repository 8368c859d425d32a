"""The ASGI application the daphne processes of the integration tests serve."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

# Set Django up (apps, settings) before anything imports models.
django_app = get_asgi_application()

from pushapp.asgi import push_application  # noqa: E402

application = push_application(django_app)
