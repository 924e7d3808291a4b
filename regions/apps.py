from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "regions"
    verbose_name = "Platform inventory"

    def ready(self) -> None:
        # The approval and run receivers; and ``regions.failover``, registered in every process (only
        # <app>/workflows.py is autodiscovered, and the failover's workflow lives in its own module).
        from regions import receivers  # noqa: F401
        from regions.failover import workflow as failover_workflow  # noqa: F401
        from regions.models import FailoverRequest, RegionRequest
        from workflows import subjects

        subjects.register("region-request", RegionRequest)
        subjects.register("failover", FailoverRequest)
