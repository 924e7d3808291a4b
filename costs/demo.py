"""Demo prices: roughly the providers' public list prices (USD, late 2025), and an on-prem rate card.

Generic rows per provider, plus regional rows where the clouds charge more
(Sydney, Australia East), so the demo shows a regional price winning.
Loading is idempotent: rows are keyed on provider, region, kind, size and
start date.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from costs.choices import AddonSize, PriceUnit
from costs.focus import FocusRow
from costs.models import PriceItem
from regions.choices import Provider, ResourceKind

EFFECTIVE_FROM = date(2026, 1, 1)

K, U, S = ResourceKind, PriceUnit, AddonSize

# provider, region ("" for any), kind, size, unit, price, note
PRICES: list[tuple[str, str, str, str, str, str, str]] = [
    (Provider.AWS, "", K.CPU, "", U.VCPU_HOUR, "0.0336", "EKS on m7i: per vCPU share"),
    (Provider.AWS, "", K.MEMORY, "", U.GIB_HOUR, "0.0042", "EKS on m7i: per GiB share"),
    (Provider.AWS, "", K.GPU, "", U.GPU_HOUR, "1.006", "g5.xlarge (NVIDIA A10G)"),
    (Provider.AWS, "", K.STORAGE, "", U.GIB_MONTH, "0.08", "EBS gp3"),
    (Provider.AWS, "", K.BUCKET, "", U.GIB_MONTH, "0.023", "S3 Standard"),
    (Provider.AWS, "", K.POSTGRESQL, S.SMALL, U.HOUR, "0.072", "RDS db.t4g.medium + 20 GiB"),
    (Provider.AWS, "", K.POSTGRESQL, S.MEDIUM, U.HOUR, "0.178", "RDS db.m7g.large + 100 GiB"),
    (Provider.AWS, "", K.POSTGRESQL, S.LARGE, U.HOUR, "0.712", "RDS db.m7g.xlarge Multi-AZ + 500 GiB"),
    (Provider.AWS, "", K.REDIS, S.SMALL, U.HOUR, "0.032", "ElastiCache cache.t4g.small"),
    (Provider.AWS, "", K.REDIS, S.MEDIUM, U.HOUR, "0.316", "ElastiCache cache.m7g.large, one replica"),
    (Provider.AWS, "", K.REDIS, S.LARGE, U.HOUR, "0.632", "ElastiCache cache.m7g.xlarge, one replica"),
    (Provider.AWS, "", K.LOAD_BALANCER, "", U.HOUR, "0.0225", "Application Load Balancer, before LCUs"),
    (Provider.AWS, "", K.NAT_GATEWAY, "", U.HOUR, "0.045", "NAT gateway, before data processed"),
    (Provider.AWS, "ap-southeast-2", K.CPU, "", U.VCPU_HOUR, "0.0420", "Sydney"),
    (Provider.AWS, "ap-southeast-2", K.MEMORY, "", U.GIB_HOUR, "0.0053", "Sydney"),
    (Provider.AZURE, "", K.CPU, "", U.VCPU_HOUR, "0.0350", "AKS on D4s v5: per vCPU share"),
    (Provider.AZURE, "", K.MEMORY, "", U.GIB_HOUR, "0.0044", "AKS on D4s v5: per GiB share"),
    (Provider.AZURE, "", K.GPU, "", U.GPU_HOUR, "0.526", "NC4as T4 v3 (NVIDIA T4)"),
    (Provider.AZURE, "", K.STORAGE, "", U.GIB_MONTH, "0.12", "Premium SSD v2, approximately"),
    (Provider.AZURE, "", K.BUCKET, "", U.GIB_MONTH, "0.0184", "Blob Storage hot LRS"),
    (Provider.AZURE, "", K.POSTGRESQL, S.SMALL, U.HOUR, "0.068", "Flexible Server B2s"),
    (Provider.AZURE, "", K.POSTGRESQL, S.MEDIUM, U.HOUR, "0.178", "Flexible Server D2ds v5"),
    (Provider.AZURE, "", K.POSTGRESQL, S.LARGE, U.HOUR, "0.712", "Flexible Server D4ds v5, zone-redundant HA"),
    (Provider.AZURE, "", K.REDIS, S.SMALL, U.HOUR, "0.055", "Azure Cache for Redis Basic C1"),
    (Provider.AZURE, "", K.REDIS, S.MEDIUM, U.HOUR, "0.202", "Azure Cache for Redis Standard C2"),
    (Provider.AZURE, "", K.REDIS, S.LARGE, U.HOUR, "0.555", "Azure Cache for Redis Premium P1"),
    (Provider.AZURE, "", K.LOAD_BALANCER, "", U.HOUR, "0.025", "Standard Load Balancer, first five rules"),
    (Provider.AZURE, "", K.NAT_GATEWAY, "", U.HOUR, "0.045", "NAT gateway, before data processed"),
    (Provider.AZURE, "australiaeast", K.CPU, "", U.VCPU_HOUR, "0.0430", "Australia East"),
    (Provider.AZURE, "australiaeast", K.MEMORY, "", U.GIB_HOUR, "0.0054", "Australia East"),
    (Provider.ON_PREM, "", K.CPU, "", U.VCPU_HOUR, "0.0150", "Centre server rate card: hardware over 4 years"),
    (Provider.ON_PREM, "", K.MEMORY, "", U.GIB_HOUR, "0.0020", "Centre server rate card"),
    (Provider.ON_PREM, "", K.GPU, "", U.GPU_HOUR, "0.300", "Centre server rate card"),
    (Provider.ON_PREM, "", K.STORAGE, "", U.GIB_MONTH, "0.03", "Centre server rate card: NVMe SSD"),
]


def load_demo_prices() -> None:
    for provider, region_code, kind, size, unit, price, note in PRICES:
        PriceItem.objects.update_or_create(
            provider=provider,
            region_code=region_code,
            kind=kind,
            size=size,
            effective_from=EFFECTIVE_FROM,
            defaults={"unit": unit, "price": Decimal(price), "currency": "USD", "note": note},
        )


# ---------------------------------------------------------------- demo spend
#
# About four months of FOCUS line items for the demo platform, loaded as two upload sources (one bill per
# cloud), so `make run` opens on real-looking spend: managed databases, caches and buckets tagged per service,
# the shared clusters' nodes split over their namespaces (with idle), the demo environments, untagged network
# cost that stays unallocated, tax, a credit, a Savings Plan bought up front and amortised, a spot pool, a
# slow growth and one anomaly (the reporting service's query engine three days ago).

DEMO_DAYS = 120
# A monthly Savings Plan bought on the 1st (billed then), and what the covered EC2 usage uses of it each day.
SAVINGS_PLAN = "arn:aws:savingsplans::111122223333:savingsplan/demo-compute-1"
SAVINGS_PLAN_MONTHLY = Decimal("2700")
SAVINGS_PLAN_USED = Decimal("80")
ANOMALY_DAYS_AGO = 3

# service slug -> (monthly USD of its managed add-ons, FOCUS service name, category)
SERVICE_SPEND = {
    "api-gateway": ("410", "Elastic Load Balancing", "Networking"),
    "identity": ("620", "Amazon Relational Database Service", "Databases"),
    "notifications": ("180", "Amazon Simple Queue Service", "Integration"),
    "student-portal": ("950", "Amazon CloudFront", "Networking"),
    "enrolment": ("540", "Amazon Relational Database Service", "Databases"),
    "assessments": ("730", "Amazon ElastiCache", "Databases"),
    "class-scheduler": ("380", "Azure Database for PostgreSQL", "Databases"),
    "tutor-dashboard": ("260", "Azure Cache for Redis", "Databases"),
    "admin-console": ("300", "Amazon Relational Database Service", "Databases"),
    "reporting": ("1150", "Amazon Athena", "Analytics"),
    "log-shipper": ("420", "Amazon Simple Storage Service", "Storage"),
}

# namespace -> its usual share of a shared cluster (the rest is idle)
NAMESPACE_SHARES = {
    "core-services": Decimal("0.22"),
    "student-services": Decimal("0.24"),
    "tutor-services": Decimal("0.12"),
    "admin-services": Decimal("0.08"),
    "analytics": Decimal("0.10"),
    "monitoring": Decimal("0.06"),
}


def load_demo_costs(today: date | None = None) -> int:
    """Load the demo spend up to yesterday (idempotent: each month's load replaces the last); return the rows."""
    from access.models import Team
    from costs.choices import SourceKind
    from costs.forecast import month_bounds
    from costs.models import AllocationShare, CostSource
    from costs.store import load_period, month_start
    from deployments.models import Service
    from environments.choices import EnvironmentStatus
    from environments.demo import PERSONAL_ENVIRONMENTS
    from environments.models import Environment
    from regions.models import Cluster, Namespace

    today = today or timezone.localdate()
    first = today - timedelta(days=DEMO_DAYS)
    services = {service.slug: service for service in Service.objects.filter(slug__in=SERVICE_SPEND)}
    clusters = list(Cluster.objects.filter(kind__in=("eks", "aks")).select_related("region"))
    if not services or not clusters:
        return 0  # not the demo platform
    # The shared environments since the demo's first day; the demo people's own since they asked for them.
    personal = Q()
    for demo in PERSONAL_ENVIRONMENTS:
        personal |= Q(name=demo.name, requested_by__username=demo.requester)
    environments = list(
        Environment.objects.live()
        .filter(Q(team__slug="core-platform") | personal)
        .exclude(status=EnvironmentStatus.PENDING_APPROVAL)
        .select_related("team")
        .order_by("name")
    )
    since = {
        env.pk: first if env.team.slug == "core-platform" else timezone.localdate(env.created_at)
        for env in environments
    }
    teams = dict(Team.objects.values_list("id", "slug"))
    owners = {
        (namespace.cluster_id, namespace.name): namespace.team_id
        for namespace in Namespace.objects.filter(cluster__in=clusters)
    }
    shares: list[AllocationShare] = []
    rows_by_source: dict[str, list[FocusRow]] = {"demo-aws-bill": [], "demo-azure-bill": []}
    day = first
    while day < today:
        growth = Decimal(1) + Decimal((day - first).days) / Decimal(DEMO_DAYS * 5)
        rng = random.Random(day.toordinal())  # noqa: S311 - made-up spend, not secrets
        aws, azure = rows_by_source["demo-aws-bill"], rows_by_source["demo-azure-bill"]
        for slug, (monthly, service_name, category) in SERVICE_SPEND.items():
            service = services.get(slug)
            if service is None:
                continue
            daily = Decimal(monthly) / 30 * growth * Decimal(rng.uniform(0.9, 1.1))
            if slug == "reporting" and (today - day).days == ANOMALY_DAYS_AGO:
                daily *= 6
            bill = azure if service_name.startswith("Azure") else aws
            region = "westeurope" if bill is azure else ("eu-west-1" if slug != "tutor-dashboard" else "ap-southeast-2")
            tags = {"portal:service": slug, "portal:team": teams.get(service.team_id, "")}
            bill.append(_row(day, daily, service_name, category, region, tags, azure=bill is azure))
        for cluster in clusters:
            on_azure = cluster.region.provider == "azure"
            bill = azure if on_azure else aws
            tag = "aks-managed-cluster-name" if on_azure else "eks:cluster-name"
            nodes = Decimal("38.40") * growth * Decimal(rng.uniform(0.95, 1.05))
            compute = "Virtual Machines" if on_azure else "Amazon Elastic Compute Cloud"
            bill.append(_row(day, nodes, compute, "Compute", cluster.region.code, {tag: cluster.name}, azure=on_azure))
            spot = Decimal("6.10") * growth
            bill.append(
                _row(
                    day,
                    spot,
                    compute,
                    "Compute",
                    cluster.region.code,
                    {tag: cluster.name},
                    azure=on_azure,
                    pricing="Dynamic",
                    list_cost=spot * 3,
                )
            )
            used = Decimal(0)
            for namespace, share in NAMESPACE_SHARES.items():
                weight = (share * Decimal(rng.uniform(0.85, 1.15))).quantize(Decimal("0.0000000001"))
                used += weight
                shares.append(
                    AllocationShare(
                        cluster=cluster,
                        day=day,
                        namespace=namespace,
                        weight=weight,
                        team_id=owners.get((cluster.pk, namespace)),
                    )
                )
            shares.append(AllocationShare(cluster=cluster, day=day, namespace="", weight=Decimal(1) - used))
        for environment in environments:
            if day < since[environment.pk]:
                continue
            daily = environment.monthly_estimate / 30 if environment.monthly_estimate else Decimal(10)
            tags = {"portal:environment-id": str(environment.pk)}
            aws.append(_row(day, daily, "Amazon Relational Database Service", "Databases", "eu-west-1", tags))
        aws.append(_row(day, Decimal("21.70") * growth, "AWS Data Transfer", "Networking", "eu-west-1", {}))
        azure.append(_row(day, Decimal("9.30") * growth, "Bandwidth", "Networking", "westeurope", {}, azure=True))
        if day.day == 1:
            aws.append(
                _row(
                    day,
                    SAVINGS_PLAN_MONTHLY,
                    "Savings Plans for AWS Compute usage",
                    "Compute",
                    "",
                    {},
                    charge="Purchase",
                    effective=Decimal(0),
                    commitment=(SAVINGS_PLAN, ""),
                )
            )
        if day.day == 3 and day - timedelta(days=20) >= first:
            # A refund in this month's invoice of an overcharge in last month's, an already invoiced period.
            aws.append(
                _row(
                    day - timedelta(days=20),
                    Decimal("-35"),
                    "AWS Data Transfer",
                    "Networking",
                    "eu-west-1",
                    {},
                    charge="Adjustment",
                    correction_in=day.replace(day=1),
                )
            )
        if day.day == 15:
            aws.append(_row(day, Decimal("-150"), "", "", "", {}, charge="Credit"))
        # The month's Savings Plan, amortised over its days: what the covered usage used, the rest unused.
        this_month, next_month = month_bounds(day)
        month_days = (next_month - this_month).days
        daily_commitment = (SAVINGS_PLAN_MONTHLY / month_days).quantize(Decimal("0.01"))
        aws.append(
            _row(
                day,
                SAVINGS_PLAN_USED,
                "Amazon Elastic Compute Cloud",
                "Compute",
                "eu-west-1",
                {},
                billed=Decimal(0),
                pricing="Committed",
                list_cost=Decimal(120),
                commitment=(SAVINGS_PLAN, "used"),
            )
        )
        aws.append(
            _row(
                day,
                daily_commitment - SAVINGS_PLAN_USED,
                "Amazon Elastic Compute Cloud",
                "Compute",
                "eu-west-1",
                {},
                billed=Decimal(0),
                pricing="Committed",
                list_cost=Decimal(0),
                commitment=(SAVINGS_PLAN, "unused"),
            )
        )
        day += timedelta(days=1)
    for bill in rows_by_source.values():
        totals: dict[date, Decimal] = {}
        for row in bill:
            if row.charge_category == "usage":
                totals[row.billing_period_start] = totals.get(row.billing_period_start, Decimal(0)) + row.billed_cost
        for period, usage in totals.items():
            tax_day = min(period + timedelta(days=27), today - timedelta(days=1))
            bill.append(_row(tax_day, usage * Decimal("0.05"), "Tax", "", "", {}, charge="Tax", azure=bill is azure))
    AllocationShare.objects.filter(cluster__in=clusters, day__gte=first, day__lt=today).delete()
    AllocationShare.objects.bulk_create(shares, batch_size=2000)
    loaded = 0
    for name, bill in rows_by_source.items():
        source, _ = CostSource.objects.get_or_create(name=name, defaults={"kind": SourceKind.UPLOAD})
        periods = sorted({row.billing_period_start for row in bill})
        for period in periods:
            rows = [row for row in bill if row.billing_period_start == period]
            load_period(source, month_start(period), rows, final=period < month_start(today))
            loaded += len(rows)
    _budgets_and_findings(today)
    return loaded


# team slug -> (budget name, period, amount as a multiple of last month's spend): one over, the others under.
# Each is its team's budget everywhere: on Costs -> Budgets and in the environment request form.
DEMO_BUDGETS = {
    "student-experience": ("Student Experience monthly", "monthly", Decimal("0.95")),
    "core-platform": ("Core Platform monthly", "monthly", Decimal("1.25")),
    "data-analytics": ("Data & Analytics quarterly", "quarterly", Decimal("3.6")),
    "tutor-tools": ("Tutor Tools monthly", "monthly", Decimal("1.5")),
    "admin-apps": ("Admin Apps monthly", "monthly", Decimal("1.5")),
}


def _budgets_and_findings(today: date) -> None:
    """Budgets sized from last month's spend, then what the scheduled tasks would find: alerts, the anomaly, savings."""
    from access.models import Team, User
    from costs.budgets.anomalies import anomalies_detect
    from costs.budgets.models import Budget
    from costs.budgets.services import budgets_evaluate
    from costs.forecast import month_bounds
    from costs.models import CostRollup
    from costs.savings.services import refresh_recommendations

    last_month = month_bounds(today.replace(day=1) - timedelta(days=1))
    admin = User.objects.filter(username="admin").first()
    for slug, (name, period, multiple) in DEMO_BUDGETS.items():
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            continue
        spent = CostRollup.objects.filter(team=team, day__gte=last_month[0], day__lt=last_month[1]).aggregate(
            total=Sum("effective_cost")
        )["total"] or Decimal(0)
        Budget.objects.update_or_create(
            team=team,
            name=name,
            defaults={
                "period": period,
                "amount": max((spent * multiple).quantize(Decimal(100)), Decimal(100)),
                "created_by": admin,
            },
        )
    budgets_evaluate(today=today)
    for days_ago in range(ANOMALY_DAYS_AGO + 1, 0, -1):
        anomalies_detect(today=today - timedelta(days=days_ago - 1))
    refresh_recommendations()


def _row(
    day: date,
    amount: Decimal,
    service: str,
    category: str,
    region: str,
    tags: dict[str, str],
    *,
    azure: bool = False,
    pricing: str = "Standard",
    list_cost: Decimal | None = None,
    billed: Decimal | None = None,
    effective: Decimal | None = None,
    charge: str = "Usage",
    commitment: tuple[str, str] = ("", ""),
    correction_in: date | None = None,
) -> FocusRow:
    """One day's charge; ``commitment``: the commitment discount's id and status; ``correction_in``: the billing
    period of the later invoice that corrects ``day`` (else the charge is in its own month's invoice)."""
    cost = amount.quantize(Decimal("0.01"))
    charge_category = charge.lower()
    return FocusRow(
        charge_date=day,
        billing_period_start=correction_in or day.replace(day=1),
        charge_class="correction" if correction_in else "",
        commitment_discount_id=commitment[0],
        commitment_discount_status=commitment[1],
        charge_category=charge_category,
        billed_cost=cost if billed is None else billed,
        effective_cost=cost if effective is None else effective,
        list_cost=cost if list_cost is None else list_cost.quantize(Decimal("0.01")),
        currency="USD",
        provider="azure" if azure else "aws",
        service_name=service,
        service_category=category,
        region_code=region,
        billing_account_id=DEMO_AZURE_BILLING if azure else DEMO_AWS_BILLING,
        sub_account_id="3f2b6a1e-8c4d-4e5f-9a0b-1c2d3e4f5a6b" if azure else "111122223333",
        pricing_category=pricing.lower() if charge_category == "usage" else "",
        tags=tags,
    )


DEMO_AWS_BILLING = "111122223333"
DEMO_AZURE_BILLING = "demo-enrollment-8675309"
