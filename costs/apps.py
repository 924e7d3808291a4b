from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs"

    def ready(self) -> None:
        from costs import receivers  # noqa: F401 (connects the import runs' receiver)
