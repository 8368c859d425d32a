from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo_project.demo"
    label = "demo"
    verbose_name = "pushapp demo"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)
