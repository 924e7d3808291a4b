from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "regions"
    verbose_name = "Platform inventory"

    def ready(self) -> None:
        from regions import receivers  # noqa: F401 (connects the approval receiver)
