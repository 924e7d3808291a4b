"""The team's budget is the team-wide budget of Costs -> Budgets; team limits keep the environments and the cap.

Each team's limits budget becomes a monthly team budget of the costs app,
unless the team already has a team-wide one (that one is what the cost pages
showed, so it wins), and the column goes.
"""

from django.db import migrations


def limits_budgets_to_costs_budgets(apps, schema_editor):  # type: ignore[no-untyped-def]
    TeamLimits = apps.get_model("environments", "TeamLimits")
    Budget = apps.get_model("costs", "Budget")
    for limits in TeamLimits.objects.select_related("team").filter(monthly_budget__gt=0):
        has_one = Budget.objects.filter(
            team_id=limits.team_id, environment__isnull=True, service__isnull=True, active=True
        ).exists()
        if not has_one:
            Budget.objects.create(
                name=f"{limits.team.name} monthly",
                team_id=limits.team_id,
                period="monthly",
                amount=limits.monthly_budget,
                currency=limits.currency,
                basis="effective",
            )


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0003_environment_expiry_warned_hours"),
        ("costs", "0005_budgets"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="teamlimits", name="team_budget_within_maximum"),
        migrations.RunPython(limits_budgets_to_costs_budgets, migrations.RunPython.noop),
        migrations.RemoveField(model_name="teamlimits", name="monthly_budget"),
    ]
