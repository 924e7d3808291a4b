from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # The approval and run receivers; and ``deployments.rollback``, registered in every process (only
        # <app>/workflows.py is autodiscovered, and the rollback's workflow lives in its own module).
        from deployments import receivers  # noqa: F401
        from deployments.models import RollbackRequest
        from deployments.rollbacks import services as rollback_services  # noqa: F401
        from workflows import subjects

        subjects.register("rollback", RollbackRequest)
