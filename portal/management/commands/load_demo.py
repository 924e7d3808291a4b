from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from costs.demo import load_demo_costs
from deployments.demo import seed_demo_clusters
from environments.demo import load_demo_personal_environments
from portal.demo import DEMO_PASSWORD, PERSONAS, load_demo
from regions.demo import load_demo_region_resources
from scorecards.services import scorecards_evaluate


class Command(BaseCommand):
    help = "Load the demo platform and demo users. Safe to run again: nothing is duplicated."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load even with DEBUG off. The demo users have a published password: never on a real portal.",
        )

    def handle(self, *args: Any, allow_production: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "Refusing to load demo users with a published password while DEBUG is off; "
                "pass --allow-production for a throwaway installation."
            )
        load_demo()
        seeded = seed_demo_clusters()
        load_demo_personal_environments()
        costs = load_demo_costs()
        checked = load_demo_region_resources()
        # Once the costs are in (the budget rule reads them): the scorecards as the schedule would find them.
        scored = scorecards_evaluate().services
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded ({seeded} workloads in the sandbox clusters, {costs} cost line items, "
                f"{checked} regions checked, {scored} services scored)."
            )
        )
        if options["verbosity"] > 1:
            for person in PERSONAS:
                self.stdout.write(f"  {person.username} / {DEMO_PASSWORD}: {person.title}")
