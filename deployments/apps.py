from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from deployments import receivers, rollback  # noqa: F401 (the approval and run receivers; the rollback workflow)
        from deployments.models import RollbackRequest
        from workflows import subjects

        subjects.register("rollback", RollbackRequest)
