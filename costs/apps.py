from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs"

    def ready(self) -> None:
        from costs import receivers  # noqa: F401 (connects the import runs' receiver)
        from costs.selectors import price_region_parts
        from regions import pricing

        pricing.register(price_region_parts)  # region plans are priced from the price table
