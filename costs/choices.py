"""Enumerations of the price table: what is priced, in which unit, in which size."""

from __future__ import annotations

from django.db import models

from regions.choices import ResourceKind

# A month, for turning hourly prices into monthly estimates: 365 days times 24 hours over 12, as the clouds bill.
HOURS_PER_MONTH = 730


class PriceUnit(models.TextChoices):
    VCPU_HOUR = "vcpu_hour", "per vCPU-hour"
    GIB_HOUR = "gib_hour", "per GiB-hour"
    GPU_HOUR = "gpu_hour", "per GPU-hour"
    GIB_MONTH = "gib_month", "per GiB-month"
    HOUR = "hour", "per hour"
    MONTH = "month", "per month"


# Units billed by the hour; the others by the month.
HOURLY_UNITS = frozenset({PriceUnit.VCPU_HOUR, PriceUnit.GIB_HOUR, PriceUnit.GPU_HOUR, PriceUnit.HOUR})

# The units each kind may be priced in; the estimate converts hours to months.
UNITS_BY_KIND: dict[str, frozenset[str]] = {
    ResourceKind.CPU: frozenset({PriceUnit.VCPU_HOUR}),
    ResourceKind.MEMORY: frozenset({PriceUnit.GIB_HOUR}),
    ResourceKind.GPU: frozenset({PriceUnit.GPU_HOUR}),
    ResourceKind.STORAGE: frozenset({PriceUnit.GIB_MONTH}),
    ResourceKind.BUCKET: frozenset({PriceUnit.GIB_MONTH}),
    ResourceKind.POSTGRESQL: frozenset({PriceUnit.HOUR, PriceUnit.MONTH}),
    ResourceKind.REDIS: frozenset({PriceUnit.HOUR, PriceUnit.MONTH}),
    ResourceKind.LOAD_BALANCER: frozenset({PriceUnit.HOUR, PriceUnit.MONTH}),
    ResourceKind.NAT_GATEWAY: frozenset({PriceUnit.HOUR, PriceUnit.MONTH}),
}


class AddonSize(models.TextChoices):
    """Sizes of managed add-ons; each provider maps a size to its own instance class."""

    SMALL = "small", "Small"
    MEDIUM = "medium", "Medium"
    LARGE = "large", "Large"


# Kinds priced per size (a small and a large database cost different amounts); the others have no size.
SIZED_KINDS = frozenset({ResourceKind.POSTGRESQL, ResourceKind.REDIS})


# ---------------------------------------------------------------- the cost store (FinOps FOCUS 1.2)


class ChargeCategory(models.TextChoices):
    """FOCUS ChargeCategory: what kind of charge a line item is."""

    USAGE = "usage", "Usage"
    PURCHASE = "purchase", "Purchase"
    TAX = "tax", "Tax"
    CREDIT = "credit", "Credit"
    ADJUSTMENT = "adjustment", "Adjustment"


class ChargeClass(models.TextChoices):
    """FOCUS ChargeClass: empty for a regular charge, ``correction`` for one that corrects an earlier period."""

    REGULAR = "", "Regular"
    CORRECTION = "correction", "Correction"


class PricingCategory(models.TextChoices):
    """FOCUS PricingCategory: list price, spot (dynamic) or a commitment discount (committed)."""

    STANDARD = "standard", "Standard"
    DYNAMIC = "dynamic", "Dynamic (spot)"
    COMMITTED = "committed", "Committed"
    OTHER = "other", "Other"
    NONE = "", "Not priced"


class CommitmentStatus(models.TextChoices):
    """FOCUS CommitmentDiscountStatus: whether a commitment's hour was used or wasted."""

    NONE = "", "No commitment"
    USED = "used", "Used"
    UNUSED = "unused", "Unused"


class SourceKind(models.TextChoices):
    """Where cost line items come from."""

    FOCUS_EXPORT = "focus_export", "FOCUS export (S3 / Blob)"
    COST_EXPLORER = "cost_explorer", "AWS Cost Explorer (month to date)"
    AZURE_QUERY = "azure_query", "Azure Cost Management query (month to date)"
    KUBERNETES = "kubernetes", "Kubernetes allocation"
    UPLOAD = "upload", "FOCUS CSV upload"


# Sources whose figures are the bill. The fresh month-to-date APIs fill only the days the bill does not cover yet.
AUTHORITATIVE_SOURCES = frozenset({SourceKind.FOCUS_EXPORT, SourceKind.UPLOAD, SourceKind.KUBERNETES})


class CostBasis(models.TextChoices):
    """Which FOCUS cost column a figure sums: amortised (the default), cash, list or contracted.

    List minus effective is what every discount saved; contracted minus effective what commitment discounts
    (and spot) saved beyond the negotiated prices.
    """

    EFFECTIVE = "effective", "Effective (amortised)"
    BILLED = "billed", "Billed (cash)"
    LIST = "list", "List"
    CONTRACTED = "contracted", "Contracted"


class CostPeriod(models.TextChoices):
    """Which date a figure is read by: when the cost was incurred (the default) or the invoice that charged it."""

    CHARGE = "charge", "Charge period (when incurred)"
    BILLING = "billing", "Billing period (invoice)"


class ChargeFrequency(models.TextChoices):
    """FOCUS ChargeFrequency: read to place a charge's billed cost, not stored."""

    ONE_TIME = "one-time", "One-Time"
    RECURRING = "recurring", "Recurring"
    USAGE_BASED = "usage-based", "Usage-Based"


class Allocation(models.TextChoices):
    """How a rollup row's cost reached its owner."""

    DIRECT = "direct", "Attributed"
    NAMESPACE = "namespace", "Cluster share (namespace)"
    IDLE = "idle", "Cluster idle"
    UNALLOCATED = "unallocated", "Unallocated"


class RuleKind(models.TextChoices):
    """What an attribution rule matches, in the order they are tried."""

    TAG = "tag", "Tag"
    ACCOUNT = "account", "Account"
    NAMESPACE_LABEL = "namespace_label", "Namespace label"


class RecommendationKind(models.TextChoices):
    """What a savings recommendation is about, and the realised savings of expiry."""

    ENVIRONMENT_TTL = "environment_ttl", "Lifetime (TTL) for a non-production environment"
    SPOT = "spot", "Spot capacity for non-production workloads"
    OVER_REQUESTED = "over_requested", "Over-requested namespace"
    BUCKET_LIFECYCLE = "bucket_lifecycle", "Bucket without a lifecycle rule"
    DATABASE_SIZE = "database_size", "Over-sized database"
    TTL_REALISED = "ttl_realised", "Realised by a TTL teardown"


class RecommendationStatus(models.TextChoices):
    """Where a recommendation stands with the people it is shown to."""

    OPEN = "open", "Open"
    SNOOZED = "snoozed", "Snoozed"
    DISMISSED = "dismissed", "Dismissed"
    ACTED = "acted", "Acted on"


class RecommendationAction(models.TextChoices):
    """The safe action a recommendation offers, if any."""

    NONE = "", "None"
    SET_TTL = "set_ttl", "Set a lifetime"
