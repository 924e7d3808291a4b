"""The portal's one price table.

Environment estimates, region plans and the on-prem rate card all read
these rows. Prices are list prices, kept per provider,
optionally per region, with the date from which each applies, so a change is
a new row and old estimates can be explained.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from access.scoping import scoped
from costs.choices import (
    AUTHORITATIVE_SOURCES,
    SIZED_KINDS,
    UNITS_BY_KIND,
    AddonSize,
    Allocation,
    ChargeCategory,
    ChargeClass,
    CommitmentStatus,
    PriceUnit,
    PricingCategory,
    RecommendationAction,
    RecommendationKind,
    RecommendationStatus,
    RuleKind,
    SourceKind,
)
from portal import numbers
from regions import catalogue
from regions.choices import Provider, ResourceKind

currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 currency code such as USD or EUR.")
region_code = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$",
    "Use the provider's region code, e.g. eu-west-1 or westeurope (lower-case letters, digits and hyphens).",
)


@scoped("costs")
class PriceItem(models.Model):
    """One price: what a provider charges for a kind of resource, from a date on.

    ``region_code`` empty means "any region of this provider"; a row for a
    region wins over it (see :func:`costs.selectors.price_book`). Prices are
    Decimal money in ``currency``, never floats.
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    region_code = models.CharField(
        "region",
        max_length=64,
        blank=True,
        validators=[region_code],
        help_text="The provider's region code; leave empty for the price in every region of this provider.",
    )
    kind = models.CharField(max_length=16, choices=ResourceKind.choices)
    size = models.CharField(
        max_length=8,
        choices=AddonSize.choices,
        blank=True,
        help_text="Managed PostgreSQL and Redis are priced per size; other kinds have none.",
    )
    unit = models.CharField(max_length=16, choices=PriceUnit.choices)
    price = models.DecimalField(max_digits=14, decimal_places=6, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    effective_from = models.DateField(default=timezone.localdate, help_text="The first day this price applies.")
    note = models.CharField(max_length=200, blank=True, help_text="Where the price comes from, e.g. the list price.")

    class Meta:
        ordering = ["provider", "kind", "size", "region_code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "region_code", "kind", "size", "effective_from"],
                name="unique_price_per_start_date",
                violation_error_message="There is already a price for this provider, region, kind and size "
                "from that date; change that row or pick another date.",
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="price_not_negative", violation_error_message="A price is ≥ 0."
            ),
        ]

    def __str__(self) -> str:
        where = self.region_code or "any region"
        size = f" ({self.get_size_display().lower()})" if self.size else ""
        return f"{self.get_provider_display()} {where}: {self.get_kind_display()}{size}"

    @property
    def label(self) -> str:
        """The kind and size in words, e.g. "Managed PostgreSQL (medium)"."""
        return self.get_kind_display() + (f" ({self.get_size_display().lower()})" if self.size else "")

    @property
    def price_text(self) -> str:
        """The price without trailing zeros or exponent, grouped in the portal's locale (0.043, 100, 1,500)."""
        return numbers.number(self.price.normalize()) if self.price is not None else ""

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # clean() also runs after clean_fields() found an unknown choice, hence .get().
        units = UNITS_BY_KIND.get(self.kind)
        if units is not None and self.unit and self.unit not in units:
            allowed = " or ".join(sorted(PriceUnit(unit).label for unit in units))
            errors["unit"] = f"{self.get_kind_display()} is priced {allowed}."
        if self.kind in SIZED_KINDS and not self.size:
            errors["size"] = f"{self.get_kind_display()} is priced per size: choose small, medium or large."
        elif self.kind and self.kind not in SIZED_KINDS and self.size:
            errors["size"] = f"{self.get_kind_display()} has no sizes; leave the size empty."
        if (
            self.region_code
            and self.provider in (Provider.AWS, Provider.AZURE)
            and catalogue.residency_zone_of(self.provider, self.region_code) is None
        ):
            errors["region_code"] = (
                f"The portal knows no {self.get_provider_display()} region called {self.region_code!r}."
            )
        if errors:
            raise ValidationError(errors)


# ---------------------------------------------------------------- the cost store
#
# Shaped after FinOps FOCUS 1.2. Line items are kept at daily grain; every page and API reads the daily rollups,
# which the load rebuilds for the days it touched. The big table has no foreign-key constraints (a load copies
# millions of rows; checking each against four tables would halve the rate) and no index but its load's.


def money() -> models.DecimalField[Decimal, Decimal]:
    """A FOCUS cost column: ten decimal places, more than any provider bills in."""
    return models.DecimalField(max_digits=24, decimal_places=10)


@scoped("costs")
class CostSource(models.Model):
    """Where cost line items come from: a FOCUS export, a month-to-date API, a cluster's allocation or uploads."""

    name = models.SlugField(max_length=63, unique=True, help_text="A short stable name, e.g. aws-payer-focus.")
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    account = models.ForeignKey(
        "regions.CloudAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cost_sources",
        help_text="The cloud account the export lives in or the API is asked through.",
    )
    cluster = models.ForeignKey(
        "regions.Cluster",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="cost_sources",
        help_text="For Kubernetes allocation: the cluster whose node cost is split.",
    )
    bucket = models.CharField(max_length=255, blank=True, help_text="FOCUS exports: the S3 bucket or Blob container.")
    prefix = models.CharField(max_length=500, blank=True, help_text="FOCUS exports: the export's path prefix.")
    enabled = models.BooleanField(default=True, help_text="Disabled sources are not imported on the schedule.")
    share_idle = models.BooleanField(
        default=False,
        help_text="Kubernetes allocation: share the cluster's idle capacity out over its namespaces in proportion "
        "to what each used, instead of showing it as idle.",
    )
    last_import_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def authoritative(self) -> bool:
        """Whether its figures are the bill (the fresh month-to-date APIs are not: the bill replaces them)."""
        return self.kind in AUTHORITATIVE_SOURCES

    def clean(self) -> None:
        errors: dict[str, str] = {}
        reads_a_cloud = self.kind in (SourceKind.FOCUS_EXPORT, SourceKind.COST_EXPLORER, SourceKind.AZURE_QUERY)
        if reads_a_cloud and self.account_id is None:
            errors["account"] = "This kind of source reads through a cloud account: choose one."
        if self.kind == SourceKind.FOCUS_EXPORT and not self.bucket:
            errors["bucket"] = "Name the bucket (or Blob container) the export is written to."
        if self.kind == SourceKind.KUBERNETES and self.cluster_id is None:
            errors["cluster"] = "Kubernetes allocation splits one cluster's cost: choose the cluster."
        if errors:
            raise ValidationError(errors)


@scoped("costs")
class CostLoad(models.Model):
    """One source's billing period as last loaded. Loading the period again replaces its line items exactly."""

    source = models.ForeignKey(CostSource, on_delete=models.CASCADE, related_name="loads")
    billing_period_start = models.DateField(help_text="The first day of the billing month.")
    final = models.BooleanField(default=False, help_text="The provider marked the period final; it is not re-loaded.")
    line_items = models.PositiveBigIntegerField(default=0)
    # {currency: {"billed": "…", "effective": "…", "list": "…"}} as decimal strings: what the load summed.
    totals = models.JSONField(default=dict)
    # {billing account id: [ISO days]}: the accounts and days the load holds rows for.
    coverage = models.JSONField(default=dict)
    # Rows the fresh sources dropped because the bill already covers their day and account.
    superseded = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0, help_text="API requests the load made.")
    request_cost = models.DecimalField(
        max_digits=12, decimal_places=4, default=Decimal(0), help_text="What the provider charges for those requests."
    )
    loaded_at = models.DateTimeField(default=timezone.now)
    loads = models.PositiveIntegerField(default=1, help_text="How many times the period was loaded.")
    # [{"digest": sha256, "rows": n, "applied_at": ISO time}]: correction files applied on top since the last full
    # load (which empties it: the full bill includes them). The digest recognises the same corrections sent again.
    corrections = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-billing_period_start", "source__name"]
        constraints = [
            models.UniqueConstraint(fields=["source", "billing_period_start"], name="one_load_per_source_period")
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.billing_period_start:%Y-%m}"


@scoped("costs")
class CostUpload(models.Model):
    """A FOCUS file that was loaded (from the upload page or the API), with what the load answered.

    An API upload sent with an ``Idempotency-Key`` is known again by (who sent
    it, the key): the same key answers this record instead of loading again,
    and the same key with another file (``sha256`` differs) is refused.
    """

    source = models.ForeignKey(CostSource, on_delete=models.CASCADE, related_name="uploads")
    uploaded_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, help_text="The file's SHA-256 as sent (compressed or not).")
    file_name = models.CharField(max_length=255, blank=True)
    lines = models.PositiveBigIntegerField(default=0, help_text="Data rows the file held.")
    # [{"billing_period_start": ISO day, "line_items": n, "totals": {...}}]: the periods loaded, as first answered.
    periods = models.JSONField(default=list)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["uploaded_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="one_cost_upload_per_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} upload {self.uploaded_at:%Y-%m-%d %H:%M}"


class CostLineItem(models.Model):
    """One FOCUS row at daily grain, attributed once at load to a team, environment and service (or none)."""

    id = models.BigAutoField(primary_key=True)
    # No foreign key in the database (Django deletes a load's line items with it): a bulk load copies millions of
    # rows, and a key would check each against its load.
    load = models.ForeignKey(CostLoad, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    charge_date = models.DateField(help_text="The day this part of the charge is dated (costs.focus places it).")
    billing_period_start = models.DateField()
    charge_category = models.CharField(max_length=16, choices=ChargeCategory.choices)
    charge_class = models.CharField(max_length=16, choices=ChargeClass.choices, blank=True)
    provider = models.CharField(max_length=64, help_text="aws, azure, on_prem, or the provider's own name.")
    service_name = models.CharField(max_length=200, blank=True)
    service_category = models.CharField(max_length=64, blank=True)
    region_code = models.CharField(max_length=64, blank=True)
    billing_account_id = models.CharField(max_length=100, blank=True)
    sub_account_id = models.CharField(max_length=100, blank=True)
    resource_id = models.TextField(blank=True)
    pricing_category = models.CharField(max_length=16, choices=PricingCategory.choices, blank=True)
    commitment_discount_id = models.TextField(blank=True)
    commitment_discount_status = models.CharField(max_length=8, choices=CommitmentStatus.choices, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    billed_cost = money()
    effective_cost = money()
    list_cost = money()
    contracted_cost = money()
    currency = models.CharField(max_length=3)
    # Who the cost belongs to, resolved at load. Pages read the rollups, never line items by owner: no index.
    team = models.ForeignKey(
        "access.Team", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )
    environment = models.ForeignKey(
        "environments.Environment",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    service = models.ForeignKey(
        "deployments.Service",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
    )
    cluster = models.ForeignKey(
        "regions.Cluster", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, null=True, related_name="+"
    )

    class Meta:
        # Line items are written a load at a time: a load's rows lie together, and so do the days of its billing
        # period. A block-range (BRIN) index finds them by load, by day or both, at a fraction of a B-tree's cost
        # to keep up while tens of millions of rows are copied in.
        indexes = [
            BrinIndex(fields=["load", "charge_date"], name="cost_line_item_load_day"),
            # The commitments' utilisation reads only the rows of a commitment, by day.
            models.Index(
                fields=["charge_date", "commitment_discount_id"],
                name="cost_line_item_commitment",
                condition=~models.Q(commitment_discount_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charge_date} {self.service_name or self.charge_category} {self.billed_cost} {self.currency}"


@scoped("costs")
class AttributionRule(models.Model):
    """Maps cost to a team, environment or service: tried in order (tags, then accounts, then namespace labels).

    Rules are resolved once, when a period is loaded; a changed rule reaches
    stored periods when they are re-loaded (or re-attributed from the rules page).
    """

    kind = models.CharField(max_length=16, choices=RuleKind.choices)
    key = models.CharField(
        max_length=200, blank=True, help_text="The tag or label key (not used for accounts), e.g. cost-center."
    )
    value = models.CharField(max_length=200, help_text="The tag or label value, or the account / sub-account id.")
    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first within its kind.")
    team = models.ForeignKey("access.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey(
        "deployments.Service", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["kind", "priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key", "value"],
                name="one_attribution_rule_per_match",
                violation_error_message="A rule already matches this key and value.",
            )
        ]

    def __str__(self) -> str:
        match = f"{self.key}={self.value}" if self.key else self.value
        return f"{self.get_kind_display()} {match}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind in (RuleKind.TAG, RuleKind.NAMESPACE_LABEL) and not self.key:
            errors["key"] = f"A {self.get_kind_display().lower()} rule needs the key to match."
        if self.kind == RuleKind.ACCOUNT and self.key:
            errors["key"] = "An account rule matches the account id alone; leave the key empty."
        if not (self.team_id or self.environment_id or self.service_id):
            errors["team"] = "Say where the cost goes: a team, an environment or a service."
        if errors:
            raise ValidationError(errors)


@scoped("costs", team="team")
class AllocationShare(models.Model):
    """A namespace's share of a cluster's cost on one day (the idle row has no namespace).

    The weights of one cluster and day add up to exactly 1; the rollup gives
    each namespace its weight of every line item of the cluster, rounded, and
    the idle row the rest, so shares plus idle equal the cluster's cost.
    """

    cluster = models.ForeignKey("regions.Cluster", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    namespace = models.CharField(max_length=63, blank=True, help_text="Empty for the cluster's idle capacity.")
    weight = models.DecimalField(max_digits=12, decimal_places=10)
    team = models.ForeignKey("access.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey(
        "deployments.Service", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What the weight came from, to explain it: max(request, usage) per resource, in core-hours, GiB-hours, GPU-hours.
    cpu_hours = models.DecimalField(max_digits=16, decimal_places=4, default=Decimal(0))
    memory_gib_hours = models.DecimalField(max_digits=16, decimal_places=4, default=Decimal(0))
    gpu_hours = models.DecimalField(max_digits=16, decimal_places=4, default=Decimal(0))

    class Meta:
        ordering = ["cluster", "day", "namespace"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "day", "namespace"], name="one_share_per_namespace_day")
        ]

    def __str__(self) -> str:
        return f"{self.cluster_id}/{self.namespace or '(idle)'} {self.day}: {self.weight}"

    @property
    def idle(self) -> bool:
        return not self.namespace


@scoped("costs", team="team", region="region", zone="region__residency_zone", tier="tier")
class CostRollup(models.Model):
    """Daily sums of line items by every dimension the pages break cost down by. Pages and the API read only these."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(help_text="The day the cost was incurred (its charge period).")
    billing_period_start = models.DateField(help_text="The first day of the invoice's billing period.")
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=64)
    region_code = models.CharField(max_length=64, blank=True)
    region = models.ForeignKey(
        "regions.Region", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    billing_account_id = models.CharField(max_length=100, blank=True)
    sub_account_id = models.CharField(max_length=100, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    service_category = models.CharField(max_length=64, blank=True)
    charge_category = models.CharField(max_length=16, choices=ChargeCategory.choices)
    charge_class = models.CharField(max_length=16, choices=ChargeClass.choices, blank=True)
    pricing_category = models.CharField(max_length=16, choices=PricingCategory.choices, blank=True)
    commitment_discount_status = models.CharField(max_length=8, choices=CommitmentStatus.choices, blank=True)
    team = models.ForeignKey(
        "access.Team", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    service = models.ForeignKey(
        "deployments.Service", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    cluster = models.ForeignKey(
        "regions.Cluster", on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+"
    )
    namespace = models.CharField(max_length=63, blank=True)
    tier = models.CharField(max_length=16, blank=True)
    allocation = models.CharField(max_length=16, choices=Allocation.choices)
    billed_cost = money()
    effective_cost = money()
    list_cost = money()
    contracted_cost = money()
    line_items = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="cost_rollup_day"),
            models.Index(fields=["team", "day"], name="cost_rollup_team_day"),
            models.Index(fields=["environment", "day"], name="cost_rollup_environment_day"),
            models.Index(fields=["service", "day"], name="cost_rollup_service_day"),
            models.Index(fields=["billing_period_start"], name="cost_rollup_billing_period"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.service_name or self.charge_category}: {self.effective_cost} {self.currency}"


class AllocationSample(models.Model):
    """What one namespace of a cluster asked for and used during one sample slot (an hour by default).

    The sampler writes one row per cluster, slot and namespace; sampling the
    same slot again replaces its rows, so a sampler that runs twice in an hour
    counts the hour once. CPU in cores, memory in bytes, as the driver reads
    them; usage is ``None`` where the cluster has no metrics-server.
    """

    cluster = models.ForeignKey("regions.Cluster", on_delete=models.CASCADE, related_name="+")
    slot = models.DateTimeField(help_text="The start of the sample slot (UTC).")
    hours = models.DecimalField(max_digits=6, decimal_places=4, help_text="How long the slot is, in hours.")
    namespace = models.CharField(max_length=63)
    labels = models.JSONField(default=dict, blank=True, help_text="The namespace's labels when it was sampled.")
    cpu_request = models.DecimalField(max_digits=14, decimal_places=4)
    cpu_usage = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    memory_request = models.BigIntegerField()
    memory_usage = models.BigIntegerField(null=True, blank=True)
    gpu_request = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["cluster", "slot", "namespace"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "slot", "namespace"], name="one_allocation_sample_per_slot")
        ]

    def __str__(self) -> str:
        return f"{self.cluster_id}/{self.namespace} {self.slot:%Y-%m-%d %H:%M}"


class CapacitySample(models.Model):
    """A cluster's allocatable capacity (its ready nodes summed) during one sample slot; one row per slot."""

    cluster = models.ForeignKey("regions.Cluster", on_delete=models.CASCADE, related_name="+")
    slot = models.DateTimeField(help_text="The start of the sample slot (UTC).")
    hours = models.DecimalField(max_digits=6, decimal_places=4, help_text="How long the slot is, in hours.")
    nodes = models.PositiveIntegerField()
    cpu = models.DecimalField(max_digits=14, decimal_places=4, help_text="Allocatable cores.")
    memory = models.BigIntegerField(help_text="Allocatable bytes.")
    gpu = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["cluster", "slot"]
        constraints = [models.UniqueConstraint(fields=["cluster", "slot"], name="one_capacity_sample_per_slot")]

    def __str__(self) -> str:
        return f"{self.cluster_id} {self.slot:%Y-%m-%d %H:%M}: {self.cpu} cores"


@scoped("costs", team="team", region="region", zone="region__residency_zone", tier="tier")
class Recommendation(models.Model):
    """A way to save money, or a saving already made, as the savings task last computed it (costs/savings/services.py).

    The task computes every recommendation from the rollups, the inventory and
    the drivers on a schedule and writes them here; the savings page reads only
    these rows and never calls a driver. ``key`` names what a recommendation is
    about (its kind, the object and the currency), so a recomputation updates the
    same row and a dismissal or snooze survives it. Rows the last computation no
    longer found are kept with ``current`` false, so a dismissal is remembered if
    the recommendation comes back. ``realised`` rows are savings already made (an
    environment torn down by its TTL), counted for the month of ``period_start``.
    """

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=24, choices=RecommendationKind.choices)
    realised = models.BooleanField(default=False)
    title = models.CharField(max_length=300)
    evidence = models.JSONField(default=list, help_text="Lines of text saying where the figure comes from.")
    monthly_saving = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, validators=[currency_code])
    team = models.ForeignKey("access.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    cluster = models.ForeignKey("regions.Cluster", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    region = models.ForeignKey("regions.Region", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    namespace = models.CharField(max_length=63, blank=True)
    resource = models.CharField(max_length=255, blank=True, help_text="A bucket's name, a database's size, ...")
    tier = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=16, choices=RecommendationAction.choices, blank=True)
    action_hours = models.PositiveIntegerField(null=True, blank=True, help_text="The lifetime the action sets.")
    status = models.CharField(max_length=16, choices=RecommendationStatus.choices, default=RecommendationStatus.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    current = models.BooleanField(default=True, help_text="Found by the last computation.")
    period_start = models.DateField(null=True, blank=True, help_text="Realised savings: the month they count in.")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-monthly_saving", "pk"]
        indexes = [models.Index(fields=["current", "realised", "status"], name="recommendation_listed")]

    def __str__(self) -> str:
        return self.title


# Budgets, their alerts and anomalies live in their own module; importing it registers them with this app.
from costs.budgets.models import Anomaly as Anomaly  # noqa: E402
from costs.budgets.models import Budget as Budget  # noqa: E402
from costs.budgets.models import BudgetAlert as BudgetAlert  # noqa: E402
