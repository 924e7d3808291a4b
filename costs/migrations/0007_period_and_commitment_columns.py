"""Rollups carry the invoice's billing period, ChargeClass and CommitmentDiscountStatus; line items and rollups
carry ContractedCost.

Stored rows get their contracted cost from their list cost (what the reader takes when a file has no
ContractedCost) and their rollups the billing period of their day's month; loading a period again, or the next
rebuild of its days, puts the billing period of each line item into its rollups.
"""

from django.db import migrations, models

ROLLUP = "costs_costrollup"
LINE_ITEM = "costs_costlineitem"


def money() -> models.DecimalField:
    return models.DecimalField(max_digits=24, decimal_places=10, default=0)


class Migration(migrations.Migration):
    dependencies = [("costs", "0006_load_corrections_and_commitment_index")]

    operations = [
        migrations.AddField(model_name="costlineitem", name="contracted_cost", field=money(), preserve_default=False),
        migrations.AddField(model_name="costrollup", name="contracted_cost", field=money(), preserve_default=False),
        migrations.RunSQL(
            [f"UPDATE {LINE_ITEM} SET contracted_cost = list_cost", f"UPDATE {ROLLUP} SET contracted_cost = list_cost"],
            migrations.RunSQL.noop,
        ),
        migrations.AddField(
            model_name="costrollup",
            name="billing_period_start",
            field=models.DateField(null=True, help_text="The first day of the invoice's billing period."),
        ),
        migrations.RunSQL(
            f"UPDATE {ROLLUP} SET billing_period_start = date_trunc('month', day)::date", migrations.RunSQL.noop
        ),
        migrations.AlterField(
            model_name="costrollup",
            name="billing_period_start",
            field=models.DateField(help_text="The first day of the invoice's billing period."),
        ),
        migrations.AddField(
            model_name="costrollup",
            name="charge_class",
            field=models.CharField(
                blank=True, choices=[("", "Regular"), ("correction", "Correction")], default="", max_length=16
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="costrollup",
            name="commitment_discount_status",
            field=models.CharField(
                blank=True,
                choices=[("", "No commitment"), ("used", "Used"), ("unused", "Unused")],
                default="",
                max_length=8,
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="costrollup",
            name="day",
            field=models.DateField(help_text="The day the cost was incurred (its charge period)."),
        ),
        migrations.AlterField(
            model_name="costlineitem",
            name="charge_date",
            field=models.DateField(help_text="The day this part of the charge is dated (costs.focus places it)."),
        ),
        migrations.AddIndex(
            model_name="costrollup",
            index=models.Index(fields=["billing_period_start"], name="cost_rollup_billing_period"),
        ),
    ]
