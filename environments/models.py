"""Environment templates and team limits.

A template is what a developer picks when asking for an environment: its tier,
the namespaces it gets, their quota and limit range, the network policy and
ingress, managed add-ons, where it may run, how long it lives, who must
approve it and the sizes it comes in. Requests, approvals and provisioning
build on it; this module only describes and validates.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from access.models import Team, Tier
from access.scoping import scoped
from costs.choices import AddonSize
from costs.models import currency_code
from environments.choices import (
    APPROVAL_STRENGTH,
    LIFETIME_TOO_LONG,
    LIVE,
    MAX_LIFETIME_HOURS,
    Approval,
    EnvironmentStatus,
    NamespaceGroup,
    Size,
)
from portal.bounds import bounded_text
from providers.cluster import parse_quantity
from regions.choices import Provider, ResidencyZone
from regions.models import Region, dns_label

GIB = Decimal(2**30)
CPU_QUANTITY = re.compile(r"^\d+(\.\d+)?m?$")
HOST_PLACEHOLDERS = ("{env}", "{team}")
# What the placeholders are replaced with to check that a host pattern gives a valid DNS name.
SAMPLE_HOST_VALUES = {"{env}": "preview-123", "{team}": "student-experience"}
DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = {"new"}

# Collects a validation error for a field: what the ``_clean_*`` helpers are given.
_Add = Callable[[str, str], None]

CPU_FIELDS = [
    "quota_requests_cpu",
    "quota_limits_cpu",
    "limit_default_request_cpu",
    "limit_default_cpu",
    "limit_max_cpu",
]
MEMORY_FIELDS = [
    "quota_requests_memory",
    "quota_limits_memory",
    "limit_default_request_memory",
    "limit_default_memory",
    "limit_max_memory",
]


def cpu_quantity(value: str) -> Decimal:
    """CPU cores from a Kubernetes quantity: whole or decimal cores ("2", "1.5") or millicores ("500m")."""
    if not CPU_QUANTITY.match(value.strip()):
        raise ValueError(f"{value!r} is not a CPU quantity: write cores such as 2 or 0.5, or millicores such as 500m.")
    return parse_quantity(value)


def memory_quantity(value: str) -> Decimal:
    """Bytes from a Kubernetes quantity ("512Mi", "4Gi", "1G")."""
    try:
        amount = parse_quantity(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a memory quantity: write it as 512Mi, 4Gi or 1G.") from None
    if amount < 2**20:
        raise ValueError(f"{value!r} is less than 1Mi; did you forget the unit (Mi or Gi)?")
    return amount


def format_cpu(cores: Decimal) -> str:
    """Cores as a Kubernetes quantity: whole cores when exact, else millicores (rounded up)."""
    if cores == cores.to_integral_value():
        return str(int(cores))
    return f"{math.ceil(cores * 1000)}m"


def format_memory(amount: Decimal) -> str:
    """Bytes as a Kubernetes quantity in Gi when exact, else in Mi (rounded up)."""
    if amount % GIB == 0:
        return f"{int(amount / GIB)}Gi"
    return f"{math.ceil(amount / 2**20)}Mi"


def cidr_errors(values: Iterable[str]) -> list[str]:
    """What is wrong with each entry of a CIDR list, in words."""
    errors: list[str] = []
    for value in values:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                errors.append(f"{value} is not a CIDR block such as 10.0.0.0/8 or 2001:db8::/32.")
            else:
                errors.append(f"{value} has host bits set; did you mean {network}?")
    return errors


def host_pattern_error(pattern: str) -> str | None:
    """Why a host pattern cannot give valid host names, or None when it can."""
    if "{env}" not in pattern:
        return "The host pattern must contain {env}, so that each environment gets its own host name."
    unknown = set(re.findall(r"\{[^}]*\}", pattern)) - set(HOST_PLACEHOLDERS)
    if unknown:
        return f"Unknown placeholders: {', '.join(sorted(unknown))}. Use {{env}} and {{team}}."
    sample = pattern
    for placeholder, value in SAMPLE_HOST_VALUES.items():
        sample = sample.replace(placeholder, value)
    if not DNS_NAME.match(sample):
        return (
            "The host pattern must give a DNS name in lower case, e.g. {env}.{team}.dev.example.com "
            f"(it gives {sample!r})."
        )
    return None


class EnvironmentTemplateQuerySet(models.QuerySet["EnvironmentTemplate"]):
    def active(self) -> EnvironmentTemplateQuerySet:
        return self.filter(active=True)


@scoped("templates", tier="tier")
class EnvironmentTemplate(models.Model):
    """What an environment is made of, where it may run, how long it lives and who approves it.

    Quantities are kept as Kubernetes quantity strings ("500m", "4Gi"), as
    they go to the cluster; the quota and limit range apply to each namespace
    the template creates. A size multiplies the quota (not the limit range,
    which is per container, nor the add-ons, which have their own sizes).
    Production templates never expire (no TTL) and always need approval.
    """

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=63, unique=True, help_text="Short stable key, e.g. preview.")
    description = bounded_text(blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices)

    namespaces = ArrayField(
        models.CharField(max_length=63, choices=NamespaceGroup.choices),
        help_text="The namespaces each environment gets.",
    )

    quota_requests_cpu = models.CharField("CPU requests", max_length=16, default="2")
    quota_limits_cpu = models.CharField("CPU limits", max_length=16, default="4")
    quota_requests_memory = models.CharField("memory requests", max_length=16, default="4Gi")
    quota_limits_memory = models.CharField("memory limits", max_length=16, default="8Gi")
    quota_pods = models.PositiveIntegerField("pods", default=20, validators=[MinValueValidator(1)])
    quota_gpus = models.PositiveIntegerField("GPUs", default=0)
    quota_storage = models.CharField(
        "persistent storage", max_length=16, blank=True, help_text="Total of persistent volume claims, e.g. 20Gi."
    )

    limit_default_request_cpu = models.CharField("default CPU request", max_length=16, default="100m")
    limit_default_request_memory = models.CharField("default memory request", max_length=16, default="128Mi")
    limit_default_cpu = models.CharField("default CPU limit", max_length=16, default="500m")
    limit_default_memory = models.CharField("default memory limit", max_length=16, default="512Mi")
    limit_max_cpu = models.CharField("maximum CPU per container", max_length=16, default="2")
    limit_max_memory = models.CharField("maximum memory per container", max_length=16, default="4Gi")

    network_default_deny = models.BooleanField(
        "default-deny network policy", default=True, help_text="Refuse traffic into the namespaces unless allowed."
    )
    network_allowed_namespaces = ArrayField(
        models.CharField(max_length=63, validators=[dns_label]),
        default=list,
        blank=True,
        verbose_name="namespaces allowed in",
        help_text="Namespaces that may still reach the environment (the ingress controller always may).",
    )

    ingress_host_pattern = models.CharField(
        "host pattern",
        max_length=253,
        default="{env}.{team}.dev.example.com",
        help_text="Host name of each environment; {env} is the environment's name, {team} its team's.",
    )
    ingress_tls = models.BooleanField("TLS", default=True, help_text="Terminate TLS with a cert-manager certificate.")
    ingress_rate_limit_rps = models.PositiveIntegerField(
        "rate limit (requests per second)", null=True, blank=True, validators=[MinValueValidator(1)]
    )
    ingress_allow_cidrs = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, verbose_name="allowed source ranges (CIDR)"
    )
    ingress_deny_cidrs = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, verbose_name="denied source ranges (CIDR)"
    )

    postgresql_size = models.CharField(
        "managed PostgreSQL", max_length=8, choices=AddonSize.choices, blank=True, help_text="Empty: no database."
    )
    redis_size = models.CharField(
        "managed Redis", max_length=8, choices=AddonSize.choices, blank=True, help_text="Empty: no Redis."
    )
    bucket_size_gb = models.PositiveIntegerField(
        "bucket (GiB)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Expected size of the object-storage bucket; empty: no bucket.",
    )

    allowed_providers = ArrayField(models.CharField(max_length=16, choices=Provider.choices))
    allowed_zones = ArrayField(
        models.CharField(max_length=2, choices=ResidencyZone.choices),
        default=list,
        blank=True,
        verbose_name="allowed residency zones",
        help_text="Empty: every zone.",
    )
    allowed_regions = models.ManyToManyField(
        Region, blank=True, related_name="environment_templates", help_text="Empty: every region of the zones."
    )

    default_ttl_hours = models.PositiveIntegerField(
        "default lifetime (hours)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LIFETIME_HOURS, LIFETIME_TOO_LONG)],
    )
    max_ttl_hours = models.PositiveIntegerField(
        "maximum lifetime (hours)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LIFETIME_HOURS, LIFETIME_TOO_LONG)],
    )
    approval = models.CharField(
        "approval needed",
        max_length=16,
        choices=Approval.choices,
        default=Approval.NONE,
        help_text="Requests over the team's budget always need at least a team lead's approval.",
    )

    size_small = models.DecimalField(
        "small (multiplier)",
        max_digits=5,
        decimal_places=2,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.1"))],
    )
    size_medium = models.DecimalField(
        "medium (multiplier)",
        max_digits=5,
        decimal_places=2,
        default=Decimal(2),
        validators=[MinValueValidator(Decimal("0.1"))],
    )
    size_large = models.DecimalField(
        "large (multiplier)",
        max_digits=5,
        decimal_places=2,
        default=Decimal(4),
        validators=[MinValueValidator(Decimal("0.1"))],
    )

    active = models.BooleanField(default=True, help_text="Inactive templates cannot be requested.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EnvironmentTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_ttl_hours__isnull=True, max_ttl_hours__isnull=True)
                | Q(
                    default_ttl_hours__isnull=False,
                    max_ttl_hours__isnull=False,
                    default_ttl_hours__lte=F("max_ttl_hours"),
                ),
                name="template_default_ttl_within_maximum",
                violation_error_message="The default lifetime cannot exceed the maximum, and both are set together.",
            ),
            models.CheckConstraint(
                condition=~Q(tier=Tier.PRODUCTION)
                | Q(
                    default_ttl_hours__isnull=True,
                    max_ttl_hours__isnull=True,
                    approval__in=["team_lead", "platform_admin"],
                ),
                name="template_production_never_expires_and_needs_approval",
                violation_error_message="Production templates have no lifetime and need approval.",
            ),
            models.CheckConstraint(
                condition=Q(tier=Tier.PRODUCTION) | Q(default_ttl_hours__isnull=False),
                name="template_non_production_expires",
                violation_error_message="Templates other than production need a lifetime.",
            ),
            models.CheckConstraint(
                condition=Q(size_small__gt=0)
                & Q(size_small__lte=F("size_medium"))
                & Q(size_medium__lte=F("size_large")),
                name="template_sizes_in_order",
                violation_error_message="Sizes must satisfy 0 < small ≤ medium ≤ large.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # --- derived values -------------------------------------------------------------

    def multiplier(self, size: str) -> Decimal:
        return {Size.SMALL: self.size_small, Size.MEDIUM: self.size_medium, Size.LARGE: self.size_large}[Size(size)]

    def quota_for(self, size: str) -> dict[str, str]:
        """The ResourceQuota ``hard`` limits of one namespace at ``size``, as Kubernetes quantities.

        CPU and memory scale by the size's multiplier (rounded up to a millicore
        or a mebibyte); pods and GPUs are whole numbers, rounded up.
        """
        factor = self.multiplier(size)
        hard = {
            "requests.cpu": format_cpu(cpu_quantity(self.quota_requests_cpu) * factor),
            "limits.cpu": format_cpu(cpu_quantity(self.quota_limits_cpu) * factor),
            "requests.memory": format_memory(memory_quantity(self.quota_requests_memory) * factor),
            "limits.memory": format_memory(memory_quantity(self.quota_limits_memory) * factor),
            "pods": str(math.ceil(self.quota_pods * factor)),
        }
        if self.quota_gpus:
            hard["requests.nvidia.com/gpu"] = str(self.gpus_for(size))
        if self.quota_storage:
            hard["requests.storage"] = format_memory(memory_quantity(self.quota_storage) * factor)
        return hard

    def gpus_for(self, size: str) -> int:
        return math.ceil(self.quota_gpus * self.multiplier(size))

    @property
    def expires(self) -> bool:
        return self.max_ttl_hours is not None

    def approval_for(self, *, over_budget: bool) -> Approval:
        """The approval a request needs: the template's, and at least a team lead's when over budget."""
        needed = Approval(self.approval)
        if over_budget and APPROVAL_STRENGTH[needed] < APPROVAL_STRENGTH[Approval.TEAM_LEAD]:
            return Approval.TEAM_LEAD
        return needed

    @property
    def allowed_provider_labels(self) -> str:
        return ", ".join(Provider(provider).label for provider in self.allowed_providers)

    @property
    def has_addons(self) -> bool:
        return bool(self.postgresql_size or self.redis_size or self.bucket_size_gb)

    # --- validation -------------------------------------------------------------------

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if self.slug in RESERVED_SLUGS:
            add("slug", f"{self.slug!r} is reserved; choose another slug.")
        if not self.namespaces:
            add("namespaces", "Choose at least one namespace.")
        elif len(set(self.namespaces)) != len(self.namespaces):
            add("namespaces", "Each namespace once.")

        self._clean_quantities(add)
        self._clean_network(add)
        self._clean_placement(add)
        self._clean_lifetime(add)
        sizes = (self.size_small, self.size_medium, self.size_large)
        if all(size is not None for size in sizes) and not sizes[0] <= sizes[1] <= sizes[2]:
            add("size_medium", "Sizes must grow: small ≤ medium ≤ large.")
        if errors:
            raise ValidationError(errors)

    def _clean_quantities(self, add: _Add) -> None:
        cores: dict[str, Decimal] = {}
        amounts: dict[str, Decimal] = {}
        for name in CPU_FIELDS:
            try:
                cores[name] = cpu_quantity(getattr(self, name))
            except ValueError as error:
                add(name, str(error))
            else:
                if cores[name] <= 0:
                    add(name, "Give more than zero.")
        for name in [*MEMORY_FIELDS, *(["quota_storage"] if self.quota_storage else [])]:
            try:
                amounts[name] = memory_quantity(getattr(self, name))
            except ValueError as error:
                add(name, str(error))

        def at_most(smaller: str, larger: str, message: str, values: dict[str, Decimal]) -> None:
            if smaller in values and larger in values and values[smaller] > values[larger]:
                add(smaller, message)

        at_most("quota_requests_cpu", "quota_limits_cpu", "CPU requests cannot exceed CPU limits.", cores)
        at_most("quota_requests_memory", "quota_limits_memory", "Memory requests cannot exceed memory limits.", amounts)
        at_most(
            "limit_default_request_cpu",
            "limit_default_cpu",
            "The default request cannot exceed the default limit.",
            cores,
        )
        at_most(
            "limit_default_request_memory",
            "limit_default_memory",
            "The default request cannot exceed the default limit.",
            amounts,
        )
        at_most("limit_default_cpu", "limit_max_cpu", "The default limit cannot exceed the maximum.", cores)
        at_most("limit_default_memory", "limit_max_memory", "The default limit cannot exceed the maximum.", amounts)
        at_most(
            "limit_max_cpu", "quota_limits_cpu", "One container cannot need more than the namespace's quota.", cores
        )
        at_most(
            "limit_max_memory",
            "quota_limits_memory",
            "One container cannot need more than the namespace's quota.",
            amounts,
        )

    def _clean_network(self, add: _Add) -> None:
        if self.ingress_host_pattern:
            problem = host_pattern_error(self.ingress_host_pattern)
            if problem:
                add("ingress_host_pattern", problem)
        for name in ("ingress_allow_cidrs", "ingress_deny_cidrs"):
            for problem in cidr_errors(getattr(self, name)):
                add(name, problem)
        both = sorted(set(self.ingress_allow_cidrs) & set(self.ingress_deny_cidrs))
        if both:
            add("ingress_deny_cidrs", f"Both allowed and denied: {', '.join(both)}.")
        if self.tier == Tier.PRODUCTION and not self.ingress_tls:
            add("ingress_tls", "Production environments are served over TLS only.")
        unknown = [name for name in self.network_allowed_namespaces if not DNS_LABEL.match(name)]
        if unknown:
            add("network_allowed_namespaces", f"Not namespace names: {', '.join(unknown)}.")

    def _clean_placement(self, add: _Add) -> None:
        if not self.allowed_providers:
            add("allowed_providers", "Choose at least one provider.")
        if Provider.ON_PREM in (self.allowed_providers or []) and self.has_addons:
            add(
                "allowed_providers",
                "On-prem centre servers have no managed PostgreSQL, Redis or buckets: remove on-prem or the add-ons.",
            )

    def _clean_lifetime(self, add: _Add) -> None:
        default, maximum = self.default_ttl_hours, self.max_ttl_hours
        if self.tier == Tier.PRODUCTION:
            if default is not None or maximum is not None:
                add("max_ttl_hours", "Production environments never expire: leave both lifetimes empty.")
            if self.approval == Approval.NONE:
                add("approval", "Production environments always need approval: a team lead's or a platform admin's.")
            return
        if self.tier:
            if default is None:
                add("default_ttl_hours", "Give a default lifetime; only production environments never expire.")
            if maximum is None:
                add("max_ttl_hours", "Give a maximum lifetime; only production environments never expire.")
        if default is not None and maximum is not None and default > maximum:
            add("default_ttl_hours", f"The default lifetime ({default} h) cannot exceed the maximum ({maximum} h).")

    def region_errors(self, regions: Iterable[Region]) -> list[str]:
        """Why some of ``regions`` cannot be allowed with the template's providers and zones."""
        problems = []
        for region in regions:
            if region.provider not in self.allowed_providers:
                problems.append(
                    f"{region.code} is a {region.get_provider_display()} region, not an allowed provider's."
                )
            elif self.allowed_zones and region.residency_zone not in self.allowed_zones:
                problems.append(f"{region.code} lies in the {region.residency_zone} zone, which is not allowed.")
        return problems


@scoped("costs", team="team")
class TeamLimits(models.Model):
    """How much a team may run: its number of environments and its total monthly estimate (refused above).

    The team's budget is not here: it is the team-wide :class:`costs.budgets.models.Budget` that
    Costs -> Budgets tracks; a request whose estimate is more than what is left of it needs a team
    lead's approval. A team without limits is not capped. Limits are money, so they sit in the ``costs``
    policy domain: the team's members see them, ``costs.change`` holders (managers, platform admins) set
    them.
    """

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="limits")
    max_environments = models.PositiveIntegerField("maximum environments", validators=[MinValueValidator(1)])
    max_monthly_estimate = models.DecimalField(
        "maximum total monthly estimate", max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="USD", validators=[currency_code])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__name"]
        verbose_name = "team limits"
        verbose_name_plural = "team limits"

    def __str__(self) -> str:
        return f"Limits of {self.team}" if self.team_id else "Team limits"


class EnvironmentQuerySet(models.QuerySet["Environment"]):
    def live(self) -> EnvironmentQuerySet:
        """Environments that hold resources or may soon: they count against their team's limits."""
        return self.filter(status__in=LIVE)


@scoped(
    "environments",
    team="team",
    region="cluster__region",
    zone="cluster__region__residency_zone",
    tier="tier",
)
class Environment(models.Model):
    """A team's environment: a template's namespaces and add-ons on one cluster, for a while.

    The tier is copied from the template when requested (so a grant limited to
    tiers keeps meaning the same thing if the template changes), as are the
    monthly estimate and its currency (what the team was told it would cost).
    ``expires_at`` is None for production, which never expires. Status changes
    go through :mod:`environments.services`, which audits them.
    """

    name = models.CharField(max_length=40, validators=[dns_label], help_text="A DNS label, e.g. checkout-preview.")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="environments")
    template = models.ForeignKey(EnvironmentTemplate, on_delete=models.PROTECT, related_name="environments")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    size = models.CharField(max_length=1, choices=Size.choices, default=Size.SMALL)
    cluster = models.ForeignKey("regions.Cluster", on_delete=models.PROTECT, related_name="environments")
    requested_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="requested_environments")
    status = models.CharField(
        max_length=16, choices=EnvironmentStatus.choices, default=EnvironmentStatus.PENDING_APPROVAL
    )
    monthly_estimate = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, validators=[currency_code])
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires (production).")
    expiry_warned_hours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The last expiry warning sent, in hours before expires_at; cleared when the expiry moves.",
    )
    approver = models.CharField(
        max_length=16,
        choices=[("team_lead", "Team lead"), ("platform_admin", "Platform admin")],
        blank=True,
        help_text="Who must approve the request, as the policy decided; empty: none.",
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(status__in=LIVE),
                name="environment_name_unique_per_team_while_live",
                violation_error_message="The team already has a live environment of that name.",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="environment_idempotency_key_unique_per_requester",
            ),
        ]
        indexes = [
            # The list's order (Meta.ordering, environments.selectors.environment_list): its first page is read
            # from this index in order instead of sorting every environment ever requested.
            models.Index(fields=["-created_at", "-id"], name="environment_newest"),
            models.Index(fields=["team", "status"], name="environment_team_status"),
            models.Index(fields=["status", "expires_at"], name="environment_status_expiry"),
            # A trigram index (pg_trgm) for the portal's search.
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="environment_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.status in LIVE
