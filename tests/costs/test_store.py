"""The cost store: a load replaces its period exactly, attributes once, and the rollups add up to the bill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from access.models import Team
from costs.choices import RuleKind, SourceKind
from costs.focus import FocusReader, read_focus
from costs.models import AllocationShare, AttributionRule, CostLineItem, CostLoad, CostRollup, CostSource
from costs.store import InvalidFocusFile, load_focus, load_period
from regions.models import Cluster
from tests.costs.focus_files import focus_csv, focus_row
from tests.factories import ClusterFactory, TeamFactory, make_service

pytestmark = pytest.mark.django_db

NOVEMBER = date(2026, 11, 1)


def make_team(slug: str) -> Team:
    return Team.objects.get(pk=TeamFactory(slug=slug).pk)  # type: ignore[attr-defined]


def make_cluster(name: str) -> Cluster:
    return Cluster.objects.get(pk=ClusterFactory(name=name).pk)  # type: ignore[attr-defined]


def upload_source(name: str = "finance-upload") -> CostSource:
    return CostSource.objects.create(name=name, kind=SourceKind.UPLOAD)


def load(source: CostSource, rows: list[dict[str, str]], **options: object) -> CostLoad:
    parsed = read_focus(focus_csv(rows))
    assert parsed.ok, parsed.errors
    return load_period(source, NOVEMBER, parsed.rows, **options)  # type: ignore[arg-type]


def rollup_total(column: str = "effective_cost", **filters: object) -> Decimal:
    return CostRollup.objects.filter(**filters).aggregate(total=Sum(column))["total"] or Decimal(0)


def line_item_total(column: str = "effective_cost", **filters: object) -> Decimal:
    return CostLineItem.objects.filter(**filters).aggregate(total=Sum(column))["total"] or Decimal(0)


# A month of one account: usage, a one-year commitment bought up front and the usage it covers (amortised),
# a credit, a refund of an earlier overcharge (negative adjustment), tax, and a spot instance.
BILL = [
    focus_row("2026-11-01", "100.00"),
    focus_row(
        "2026-11-01",
        "1200.00",
        EffectiveCost="0",
        ChargeCategory="Purchase",
        ServiceName="Savings Plans for AWS Compute usage",
        PricingCategory="",
        CommitmentDiscountId="arn:aws:savingsplans::111111111111:savingsplan/sp-1",
        ChargePeriodEnd="2026-11-02T00:00:00Z",
    ),
    focus_row(
        "2026-11-02",
        "0",
        EffectiveCost="3.2876712329",
        ListCost="5.00",
        PricingCategory="Committed",
        CommitmentDiscountId="arn:aws:savingsplans::111111111111:savingsplan/sp-1",
        CommitmentDiscountStatus="Used",
    ),
    focus_row("2026-11-03", "-25.00", ChargeCategory="Credit", ServiceName="", ServiceCategory="", RegionId=""),
    focus_row("2026-11-04", "-7.50", ChargeCategory="Adjustment", ChargeClass="Correction"),
    focus_row("2026-11-05", "12.34", ChargeCategory="Tax", ServiceName="Tax", ResourceId=""),
    focus_row("2026-11-06", "3.10", PricingCategory="Dynamic", ListCost="9.30"),
]


def test_a_load_keeps_every_cent_and_rollups_equal_the_line_items() -> None:
    loaded = load(upload_source(), BILL)

    # The invoice (billed) counts the purchase, not the covered usage; effective cost counts the amortised
    # usage, not the purchase: summing either column never counts the commitment twice.
    assert loaded.totals == {
        "USD": {
            "billed": "1282.9400000000",
            "effective": "86.2276712329",
            "list": "1294.1400000000",
            "contracted": "1294.1400000000",
        }
    }
    for column in ("billed_cost", "effective_cost", "list_cost"):
        assert rollup_total(column) == line_item_total(column)
    assert rollup_total("billed_cost") == Decimal("1282.94")
    assert CostRollup.objects.aggregate(n=Sum("line_items"))["n"] == len(BILL)


def test_loading_a_period_again_replaces_it_exactly() -> None:
    source = upload_source()
    load(source, BILL)
    first = sorted(CostRollup.objects.values_list("day", "service_name", "billed_cost", "effective_cost"))

    again = load(source, BILL)

    assert again.loads == 2
    assert CostLineItem.objects.count() == len(BILL)
    assert sorted(CostRollup.objects.values_list("day", "service_name", "billed_cost", "effective_cost")) == first

    restated = load(source, [focus_row("2026-11-01", "90.00")])  # the provider restated the month
    assert restated.line_items == 1
    assert rollup_total("billed_cost") == Decimal("90.00")
    assert not CostRollup.objects.filter(day__gt=date(2026, 11, 1)).exists()


def test_currencies_are_kept_apart() -> None:
    loaded = load(upload_source(), [focus_row(cost="10"), focus_row(cost="7", BillingCurrency="eur")])

    assert set(loaded.totals) == {"EUR", "USD"}
    assert rollup_total(currency="EUR") == Decimal(7)
    assert rollup_total(currency="USD") == Decimal(10)


def test_rows_are_attributed_by_rules_then_the_portals_tags_then_accounts_else_unallocated() -> None:
    payments, search = make_team("payments"), make_team("search")
    checkout = make_service(slug="checkout", team=payments)
    AttributionRule.objects.create(kind=RuleKind.TAG, key="cost-center", value="cc-42", team=search)
    AttributionRule.objects.create(kind=RuleKind.ACCOUNT, value="333333333333", service=checkout)

    load(
        upload_source(),
        [
            focus_row(cost="1", Tags={"cost-center": "cc-42", "portal:team": "payments"}),  # the rule wins
            focus_row(cost="2", Tags={"portal:team": "payments"}),
            focus_row(cost="4", SubAccountId="333333333333"),  # the service, and so its team
            focus_row(cost="8", Tags={"portal:team": "nobody-has-this-slug"}),
            focus_row(cost="16"),
        ],
    )

    assert rollup_total(team=search) == Decimal(1)
    assert rollup_total(team=payments) == Decimal(6)
    assert rollup_total(service=checkout) == Decimal(4)
    assert rollup_total(allocation="unallocated") == Decimal(24)
    assert rollup_total(team__isnull=True) == Decimal(24)


def test_a_clusters_cost_is_split_over_namespaces_and_idle_to_the_last_digit() -> None:
    cluster = make_cluster("eks-shared")
    payments, search = make_team("payments"), make_team("search")
    day = date(2026, 11, 3)
    for namespace, weight, team in (("payments", "0.3333333333", payments), ("search", "0.3333333333", search)):
        AllocationShare.objects.create(cluster=cluster, day=day, namespace=namespace, weight=Decimal(weight), team=team)
    AllocationShare.objects.create(cluster=cluster, day=day, namespace="", weight=Decimal("0.3333333334"))

    load(
        upload_source(),
        [
            focus_row("2026-11-03", "100.00", Tags={"eks:cluster-name": "eks-shared"}),
            focus_row("2026-11-03", "0.07", Tags={"eks:cluster-name": "eks-shared"}, ResourceId="vol-1"),
            focus_row("2026-11-03", "5.00"),  # not the cluster's
        ],
    )

    shares = rollup_total(cluster=cluster, allocation="namespace")
    idle = rollup_total(cluster=cluster, allocation="idle")
    assert shares + idle == Decimal("100.07")
    # Each line item is split and rounded on its own: 100.00 * w + 0.07 * w, ten decimal places each.
    third = Decimal("33.3333333300") + Decimal("0.0233333333")
    assert rollup_total(team=payments) == rollup_total(team=search) == third
    assert idle == Decimal("100.07") - 2 * third
    assert rollup_total() == Decimal("105.07")
    assert rollup_total("line_items") == 3


def test_a_streamed_file_with_one_bad_row_loads_nothing_and_keeps_what_was_there() -> None:
    source = upload_source()
    load(source, [focus_row(cost="5")])
    text = focus_csv([focus_row(cost="1"), focus_row(cost="one euro"), focus_row(cost="2", ChargeCategory="Gift")])

    with pytest.raises(InvalidFocusFile) as refused:
        load_focus(source, NOVEMBER, FocusReader(text))

    assert [(error.line, error.column) for error in refused.value.errors] == [
        (3, "BilledCost"),
        (4, "ChargeCategory"),
    ]
    assert "'one euro' is not a number" in str(refused.value.errors[0])
    assert rollup_total() == Decimal(5)
    assert CostLoad.objects.get().loads == 1
