from __future__ import annotations

from django.apps import AppConfig


class PushappConfig(AppConfig):
    name = "pushapp"
    verbose_name = "Push"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .auth import connect_revocation

        connect_revocation()
