from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "environments"
    verbose_name = "Environments"

    def ready(self) -> None:
        from environments import receivers  # noqa: F401 (connects the approval and run receivers)
        from environments import residency as environment_residency
        from environments.models import Environment
        from regions.residency import report as residency
        from workflows import subjects

        residency.register(
            placed_outside=environment_residency.environments_outside,
            breaches=environment_residency.environment_breaches,
        )
        subjects.register("environment", Environment)
