import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0004_search_trigram_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="service",
            name="runbook_url",
            field=models.URLField(
                blank=True,
                help_text="Where whoever is woken at night reads how to run and fix it.",
                max_length=500,
                validators=[django.core.validators.URLValidator(schemes=["https", "http"])],
                verbose_name="runbook URL",
            ),
        ),
        migrations.AddField(
            model_name="service",
            name="oncall_url",
            field=models.URLField(
                blank=True,
                help_text="Who is on call for it now: a PagerDuty or Opsgenie schedule, a rota page.",
                max_length=500,
                validators=[django.core.validators.URLValidator(schemes=["https", "http"])],
                verbose_name="on-call URL",
            ),
        ),
    ]
