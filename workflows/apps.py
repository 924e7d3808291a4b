from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # Each app's workflow definitions register themselves when their ``workflows`` module is imported.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("workflows")
