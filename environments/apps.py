from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "environments"
    verbose_name = "Environments"

    def ready(self) -> None:
        from environments import receivers  # noqa: F401 (connects the approval receiver)
        from environments.models import Environment
        from workflows import subjects

        subjects.register("environment", Environment)
