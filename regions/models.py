"""The platform inventory: cloud accounts, regions, clusters, node pools,
namespaces and on-prem centre servers (spec sections 2-4 and 12)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from access.scoping import scoped
from portal.bounds import bounded_text
from providers.errors import InvalidRequest
from providers.kubeconfig import cluster_server_policy, parse_kubeconfig
from regions import catalogue
from regions.choices import (
    AUTH_METHODS_BY_PROVIDER,
    CLUSTER_KIND_BY_PROVIDER,
    DEFAULT_ACCESS_BY_KIND,
    AuthMethod,
    CapacityType,
    CentreServerStatus,
    ClusterAccess,
    ClusterKind,
    ClusterStatus,
    FailoverStatus,
    Provider,
    Rating,
    RegionPurpose,
    RegionRequestStatus,
    RegionStatus,
    ResidencyZone,
    ResourceStatus,
    WorkloadClass,
)
from regions.fields import EncryptedTextField

if TYPE_CHECKING:
    from access.models import User

AWS_ACCOUNT_ID = re.compile(r"^\d{12}$")
AZURE_SUBSCRIPTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
AWS_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")

dns_label = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "Use at most 63 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
)


@scoped("inventory")
class CloudAccount(models.Model):
    """An AWS account or Azure subscription the platform runs in.

    The portal stores how to authenticate (a role to assume, an identity to
    use, the name of a secret in a secret store). The one secret it may hold
    itself, an Azure client secret, is encrypted at rest (``client_secret``,
    see :mod:`portal.crypto`), write-only in the API and admin, and never
    part of ``str()`` or ``repr()``.
    """

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    external_id = models.CharField(
        "account or subscription id", max_length=64, help_text="AWS account id (12 digits) or Azure subscription id."
    )
    tenant_id = models.CharField("Azure tenant id", max_length=64, blank=True)
    auth_method = models.CharField(max_length=32, choices=AuthMethod.choices)
    role_arn = models.CharField("IAM role ARN to assume", max_length=2048, blank=True)
    role_external_id = models.CharField(
        "STS external id",
        max_length=1224,
        blank=True,
        help_text="The external id the role's trust policy requires when it is assumed, if any.",
    )
    client_id = models.CharField("Azure client id", max_length=64, blank=True)
    secret_reference = models.CharField(
        max_length=200,
        blank=True,
        help_text="Where the credential lives (e.g. a Key Vault or Kubernetes secret name); never the value.",
    )
    # Write-only: set through set_client_secret() (audited); never serialised, rendered or logged.
    client_secret = EncryptedTextField("Azure client secret", blank=True, editable=False)
    description = bounded_text(blank=True)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="unique_cloud_account_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def __repr__(self) -> str:
        return f"<CloudAccount: {self}>"

    @property
    def has_client_secret(self) -> bool:
        """Whether a client secret is stored (the value itself is never shown)."""
        return bool(self.client_secret)

    def set_client_secret(self, value: str, *, actor: User | None = None) -> None:
        """Store, replace or (with ``""``) remove the client secret, audited without its value."""
        had_secret = self.has_client_secret
        with transaction.atomic():
            self.client_secret = value
            self.save(update_fields=["client_secret"])
            self.record_client_secret_change(had_secret=had_secret, actor=actor)

    def record_client_secret_change(self, *, had_secret: bool, actor: User | None = None) -> None:
        """Audit that the client secret was set, replaced or removed; before/after never hold the value."""
        from access.audit import services as audit  # it imports access.models, which the inventory's apps load after

        audit.record(
            audit.CLOUD_SECRET_SET,
            self,
            actor=actor,
            before={"state": "set" if had_secret else "not set"},
            after={"state": "changed" if self.client_secret else "removed"},
        )

    @property
    def is_sandbox(self) -> bool:
        """Whether this account is simulated: its drivers never reach a real cloud."""
        return self.auth_method == AuthMethod.SANDBOX

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.provider == Provider.AWS and not AWS_ACCOUNT_ID.match(self.external_id):
            errors["external_id"] = "An AWS account id is exactly 12 digits."
        if self.provider == Provider.AZURE and not AZURE_SUBSCRIPTION_ID.match(self.external_id.lower()):
            errors["external_id"] = "An Azure subscription id is a UUID such as 00000000-0000-0000-0000-000000000000."
        # clean() also runs after clean_fields() found an unknown choice, hence .get().
        allowed = AUTH_METHODS_BY_PROVIDER.get(self.provider, set())
        if self.auth_method and self.auth_method not in allowed:
            method, provider = self.get_auth_method_display(), self.get_provider_display()
            errors["auth_method"] = f"{method} cannot be used for {provider}."
        if self.auth_method == AuthMethod.AWS_ASSUME_ROLE and not AWS_ROLE_ARN.match(self.role_arn):
            errors["role_arn"] = "Give the ARN of the role to assume, e.g. arn:aws:iam::123456789012:role/portal."
        if self.auth_method == AuthMethod.AZURE_CLIENT_SECRET and not (self.secret_reference or self.client_secret):
            errors["secret_reference"] = (
                "Name the secret-store entry that holds the client secret, or store the secret itself."  # noqa: S105
            )
        if self.client_secret and self.auth_method != AuthMethod.AZURE_CLIENT_SECRET:
            errors["auth_method"] = "Only the Azure client-secret method uses a stored client secret."
        if errors:
            raise ValidationError(errors)


@scoped("inventory", region="pk", zone="residency_zone")
class Region(models.Model):
    """A cloud region the platform operates in, with its data-residency zone.

    Each region can run independently (spec 2.3); its DR partner is the
    region that takes over on failover (spec 9.4, 10.2).
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    code = models.CharField(max_length=64, help_text="The provider's region code, e.g. eu-west-1 or westeurope.")
    display_name = models.CharField(max_length=100)
    residency_zone = models.CharField(max_length=2, choices=ResidencyZone.choices)
    status = models.CharField(max_length=16, choices=RegionStatus.choices, default=RegionStatus.PLANNED)
    account = models.ForeignKey(CloudAccount, on_delete=models.PROTECT, related_name="regions", null=True, blank=True)
    dr_partner = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        related_name="dr_partner_of",
        null=True,
        blank=True,
        verbose_name="DR partner",
    )

    class Meta:
        ordering = ["residency_zone", "provider", "code"]
        constraints = [models.UniqueConstraint(fields=["provider", "code"], name="unique_region_per_provider")]
        # Trigram indexes (pg_trgm) for the portal's search.
        indexes = [
            GinIndex(fields=["code"], opclasses=["gin_trgm_ops"], name="region_code_trgm"),
            GinIndex(fields=["display_name"], opclasses=["gin_trgm_ops"], name="region_display_name_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.code})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.provider in (Provider.AWS, Provider.AZURE):
            zone = catalogue.residency_zone_of(self.provider, self.code)
            if zone is None:
                errors["code"] = catalogue.unknown_region_message(self.provider, self.get_provider_display(), self.code)
            elif self.residency_zone and zone != self.residency_zone:
                errors["residency_zone"] = (
                    f"{self.code} lies in the {zone.label} ({zone}) zone, not {self.residency_zone}."
                )
            if self.account_id is None:
                errors["account"] = "A cloud region needs the cloud account it runs in."
        if self.account_id is not None and self.account is not None and self.account.provider != self.provider:
            errors["account"] = "The account belongs to another provider."
        if self.dr_partner_id is not None and self.dr_partner is not None:
            if self.pk is not None and self.dr_partner_id == self.pk:
                errors["dr_partner"] = "A region cannot be its own DR partner."
            elif self.dr_partner.residency_zone != self.residency_zone:
                errors["dr_partner"] = "The DR partner must be in the same residency zone, so data never leaves it."
        if errors:
            raise ValidationError(errors)


@scoped("inventory", region="region", zone="region__residency_zone")
class Cluster(models.Model):
    """A Kubernetes cluster: EKS, AKS, or k3s on an on-prem centre server.

    ``access`` is how the portal's workers reach its API server (see
    :class:`~regions.choices.ClusterAccess`); left empty it becomes the
    kind's default on save (a cloud token for EKS and AKS, a kubeconfig for
    k3s). A ``kubeconfig`` (for k3s, or any cluster no cloud token reaches) is
    encrypted at rest, write-only in the admin, set through
    :meth:`set_kubeconfig` (audited) and never part of ``str()`` or ``repr()``.
    """

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="clusters")
    name = models.CharField(max_length=63, validators=[dns_label])
    kind = models.CharField(max_length=8, choices=ClusterKind.choices)
    kubernetes_version = models.CharField(
        max_length=16, validators=[RegexValidator(r"^1\.\d{1,2}(\.\d{1,3})?$", "Write a version such as 1.31.")]
    )
    api_endpoint = models.URLField(max_length=500, help_text="The Kubernetes API server URL.")
    status = models.CharField(max_length=16, choices=ClusterStatus.choices, default=ClusterStatus.READY)
    access = models.CharField(
        max_length=16,
        choices=ClusterAccess.choices,
        blank=True,
        help_text="How the portal reaches the API server. Empty: a cloud token for EKS and AKS, a kubeconfig for k3s.",
    )
    # Write-only: set through set_kubeconfig() (audited); never serialised, rendered or logged.
    kubeconfig = EncryptedTextField(blank=True, editable=False)

    class Meta:
        ordering = ["region__code", "name"]
        constraints = [models.UniqueConstraint(fields=["region", "name"], name="unique_cluster_name_per_region")]
        indexes = [GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="cluster_name_trgm")]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Cluster: {self}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, choosing the kind's default access when none is set."""
        if not self.access and self.kind:
            self.access = self.effective_access
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "access"}
        super().save(*args, **kwargs)

    @property
    def effective_access(self) -> str:
        """The access chosen, or the kind's default when none is."""
        return self.access or DEFAULT_ACCESS_BY_KIND.get(self.kind, "")

    @property
    def has_kubeconfig(self) -> bool:
        """Whether a kubeconfig is stored (the value itself is never shown)."""
        return bool(self.kubeconfig)

    def set_kubeconfig(self, value: str, *, actor: User | None = None) -> None:
        """Store, replace or (with ``""``) remove the kubeconfig, audited without its content.

        The caller validates first (``full_clean()``, or the admin form), as for any model change.
        """
        had_kubeconfig = self.has_kubeconfig
        with transaction.atomic():
            self.kubeconfig = value
            self.save(update_fields=["kubeconfig"])
            self.record_kubeconfig_change(had_kubeconfig=had_kubeconfig, actor=actor)

    def record_kubeconfig_change(self, *, had_kubeconfig: bool, actor: User | None = None) -> None:
        """Audit that the kubeconfig was set, replaced or removed; before/after never hold the content."""
        from access.audit import services as audit  # it imports access.models, which the inventory's apps load after

        audit.record(
            audit.CLUSTER_CREDENTIALS_SET,
            self,
            actor=actor,
            before={"kubeconfig": "set" if had_kubeconfig else "not set"},
            after={"kubeconfig": "changed" if self.kubeconfig else "removed", "access": self.effective_access},
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # k3s runs on centre servers homed to any region; managed clusters must match their cloud.
        if self.kind and self.kind != ClusterKind.K3S and self.region_id is not None:
            expected = CLUSTER_KIND_BY_PROVIDER[Provider(self.region.provider)]
            if self.kind != expected:
                provider = self.region.get_provider_display()
                errors["kind"] = f"{provider} regions run {expected.label} clusters, not {self.get_kind_display()}."
        access = self.effective_access
        if access == ClusterAccess.CLOUD_TOKEN:
            if self.kind == ClusterKind.K3S:
                errors["access"] = "A k3s cluster has no cloud to issue tokens: give it a kubeconfig or use in-cluster."
            elif self.region_id is not None and self.region.account_id is None:
                errors["access"] = "A cloud token comes from the region's cloud account, and this region has none."
        if access == ClusterAccess.KUBECONFIG and not self.kubeconfig:
            errors["kubeconfig"] = (
                "Give the cluster's kubeconfig (k3s writes it to /etc/rancher/k3s/k3s.yaml), or choose another access."
            )
        elif self.kubeconfig and access != ClusterAccess.KUBECONFIG:
            errors["kubeconfig"] = "Only kubeconfig access uses a stored kubeconfig: remove it, or choose that access."
        elif self.kubeconfig:
            try:
                policy = cluster_server_policy(settings.CLUSTER_PRIVATE_NETWORKS)
                parse_kubeconfig(self.kubeconfig, server_policy=policy)
            except InvalidRequest as error:
                errors["kubeconfig"] = error.message
        if errors:
            raise ValidationError(errors)


@scoped("inventory", region="cluster__region", zone="cluster__region__residency_zone")
class NodePool(models.Model):
    """A group of like nodes in a cluster, separated by workload class (spec 3.1)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="node_pools")
    name = models.CharField(max_length=63, validators=[dns_label])
    workload_class = models.CharField(max_length=16, choices=WorkloadClass.choices, default=WorkloadClass.GENERAL)
    capacity_type = models.CharField(max_length=16, choices=CapacityType.choices, default=CapacityType.ON_DEMAND)
    instance_type = models.CharField(max_length=64)
    min_nodes = models.PositiveIntegerField(default=1)
    max_nodes = models.PositiveIntegerField(default=3, validators=[MinValueValidator(1)])
    desired_nodes = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "name"], name="unique_node_pool_name_per_cluster"),
            models.CheckConstraint(
                condition=models.Q(min_nodes__lte=models.F("desired_nodes"))
                & models.Q(desired_nodes__lte=models.F("max_nodes")),
                name="node_pool_size_within_bounds",
                violation_error_message="Node counts must satisfy minimum ≤ desired ≤ maximum.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.name}"


@scoped("inventory", region="region", zone="region__residency_zone")
class CentreServer(models.Model):
    """An on-prem centre server running k3s, for offline delivery (spec 12).

    It syncs with its home region when online; ``last_sync_at`` tells how
    stale its local copy may be.
    """

    name = models.CharField(max_length=100, unique=True)
    site = models.CharField(max_length=200, help_text="Where the server stands, e.g. the centre's name and city.")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="centre_servers")
    cluster = models.OneToOneField(
        Cluster, on_delete=models.SET_NULL, related_name="centre_server", null=True, blank=True
    )
    status = models.CharField(max_length=16, choices=CentreServerStatus.choices, default=CentreServerStatus.OFFLINE)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    cpu_cores = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    memory_gib = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    storage = models.CharField(max_length=100, help_text="e.g. 2 TB NVMe SSD")
    redundant_nics = models.BooleanField(default=True)
    os_image = models.CharField(max_length=100, default="Ubuntu Server 24.04 LTS")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.cluster_id is not None and self.cluster is not None and self.cluster.kind != ClusterKind.K3S:
            raise ValidationError({"cluster": "A centre server runs a k3s cluster."})


@scoped("inventory", team="team", region="cluster__region", zone="cluster__region__residency_zone")
class Namespace(models.Model):
    """A Kubernetes namespace in a cluster (spec 4.1), optionally owned by a team."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="namespaces")
    name = models.CharField(max_length=63, validators=[dns_label])
    team = models.ForeignKey("access.Team", on_delete=models.SET_NULL, related_name="namespaces", null=True, blank=True)
    labels = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["cluster__name", "name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="unique_namespace_per_cluster")]

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.name}"


# --- region provisioning: a request, what it plans, what the build-out made -------------------------------------

ADDON_SIZES = [("small", "Small"), ("medium", "Medium"), ("large", "Large")]
# A request in one of these holds its region: no second request for it until it is decided and done.
LIVE_REQUEST_STATUSES = (
    RegionRequestStatus.DRAFT,
    RegionRequestStatus.PENDING_APPROVAL,
    RegionRequestStatus.APPROVED,
    RegionRequestStatus.BUILDING,
    RegionRequestStatus.FAILED,
    RegionRequestStatus.ROLLING_BACK,
)
BUILDABLE_PROVIDERS = (Provider.AWS, Provider.AZURE)


def zone_refusal(provider: str, code: str, zone: str) -> str | None:
    """Why ``code`` cannot hold data of ``zone`` (it is unknown, or lies in another zone), or None when it can."""
    actual = catalogue.residency_zone_of(provider, code)
    label = Provider(provider).label if provider in Provider.values else provider
    if actual is None:
        return catalogue.unknown_region_message(provider, label, code)
    if zone and actual != zone:
        return f"{code} lies in the {actual.label} ({actual}) zone, not {zone}."
    return None


@scoped("inventory", zone="residency_zone")
class RegionRequest(models.Model):
    """A platform admin's request for a new cloud region, with its DR partner, capacity and managed services.

    Approved (two admins for production), it is built by the ``regions.build``
    workflow from the plan of :mod:`regions.plan`; the resources built are
    recorded as :class:`RegionResource` rows. The residency zone is checked
    against the region's real location (:mod:`regions.catalogue`), and the DR
    partner must lie in the same zone, so data never leaves it.
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    code = models.CharField("cloud region", max_length=64, help_text="The provider's region code, e.g. eu-west-2.")
    residency_zone = models.CharField(
        max_length=2, choices=ResidencyZone.choices, help_text="Where the region's data may live."
    )
    purpose = models.CharField(max_length=16, choices=RegionPurpose.choices, default=RegionPurpose.NON_PRODUCTION)
    dr_partner_code = models.CharField(
        "DR partner region",
        max_length=64,
        blank=True,
        help_text="Another region of the same provider and zone: it holds the database replica and the bucket copy.",
    )
    account = models.ForeignKey(CloudAccount, on_delete=models.PROTECT, related_name="region_requests")
    kubernetes_version = models.CharField(
        max_length=16,
        blank=True,
        validators=[RegexValidator(r"^1\.\d{1,2}$", "Write a version such as 1.34.")],
        help_text="Empty: the newest version the cloud offers in standard support. "
        "A version the cloud no longer offers is refused.",
    )
    # Capacity profile (spec 3.1): general, high-CPU and GPU node pools; spot for the non-critical ones.
    general_nodes = models.PositiveSmallIntegerField(
        "general nodes", default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    high_cpu_nodes = models.PositiveSmallIntegerField("high-CPU nodes", default=0, validators=[MaxValueValidator(100)])
    high_cpu_spot = models.BooleanField("high-CPU pool on spot capacity", default=True)
    gpu_nodes = models.PositiveSmallIntegerField("GPU nodes", default=0, validators=[MaxValueValidator(20)])
    gpu_spot = models.BooleanField("GPU pool on spot capacity", default=False)
    # Managed services.
    database = models.BooleanField("PostgreSQL", default=True)
    database_size = models.CharField("PostgreSQL size", max_length=8, choices=ADDON_SIZES, default="medium")
    database_replica = models.BooleanField("cross-region read replica in the DR partner", default=True)
    backup_retention_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(7), MaxValueValidator(35)],
        help_text="Daily backups with point-in-time recovery, kept this many days (7 to 35).",
    )
    cache = models.BooleanField("Redis", default=True)
    cache_size = models.CharField("Redis size", max_length=8, choices=ADDON_SIZES, default="small")
    bucket = models.BooleanField("object storage bucket", default=True)
    bucket_expected_gib = models.PositiveIntegerField(
        "expected bucket size (GiB)", default=100, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)]
    )
    cold_storage_after_days = models.PositiveSmallIntegerField(
        "move to cold storage after (days)", default=90, validators=[MinValueValidator(30), MaxValueValidator(3650)]
    )
    encryption_key = models.BooleanField("customer-managed encryption key", default=True)
    justification = bounded_text(
        help_text="Why the platform needs this region; the approvers read it (at most 2,000 characters).",
    )
    status = models.CharField(
        max_length=16, choices=RegionRequestStatus.choices, default=RegionRequestStatus.PENDING_APPROVAL
    )
    requested_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="region_requests")
    idempotency_key = models.CharField(max_length=200, blank=True)
    region = models.ForeignKey(
        Region,
        on_delete=models.SET_NULL,
        related_name="requests",
        null=True,
        blank=True,
        help_text="The inventory region, once the build-out registered it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "code"],
                condition=Q(status__in=LIVE_REQUEST_STATUSES),
                name="one_live_request_per_region",
                violation_error_message="This region already has a request under way.",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="one_region_request_per_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.code}"

    @property
    def is_production(self) -> bool:
        return self.purpose == RegionPurpose.PRODUCTION

    @property
    def required_approvals(self) -> int:
        """Production regions need two approvals by different platform admins; others one."""
        return 2 if self.is_production else 1

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.provider and self.provider not in BUILDABLE_PROVIDERS:
            errors["provider"] = "Only cloud regions are built here: choose AWS or Azure."
        elif self.provider and self.code:
            refusal = zone_refusal(self.provider, self.code, self.residency_zone)
            if refusal is not None:
                errors["residency_zone" if "zone, not" in refusal else "code"] = refusal
        if self.provider in BUILDABLE_PROVIDERS and self.dr_partner_code:
            partner_zone = catalogue.residency_zone_of(self.provider, self.dr_partner_code)
            if partner_zone is None:
                errors["dr_partner_code"] = catalogue.unknown_region_message(
                    self.provider, self.get_provider_display(), self.dr_partner_code
                )
            elif self.dr_partner_code == self.code:
                errors["dr_partner_code"] = "The DR partner must be another region, so one outage cannot take both."
            elif self.residency_zone and partner_zone != self.residency_zone:
                errors["dr_partner_code"] = (
                    f"{self.dr_partner_code} lies in the {partner_zone.label} ({partner_zone}) zone, not "
                    f"{self.residency_zone}: the DR partner must be in the same zone, so data never leaves it."
                )
        if not self.dr_partner_code:
            if self.is_production:
                errors["dr_partner_code"] = "A production region needs a DR partner region to fail over to."
            elif self.database and self.database_replica:
                errors["dr_partner_code"] = "A cross-region read replica needs a DR partner region to live in."
        if self.database_replica and not self.database:
            errors["database_replica"] = "A read replica needs the PostgreSQL database it copies."
        if self.account_id is not None and self.provider and self.account.provider != self.provider:
            errors["account"] = "The account belongs to another provider."
        if not errors.get("code") and self.provider and self.code:
            existing = Region.objects.filter(provider=self.provider, code=self.code).first()
            if existing is not None and existing.status != RegionStatus.PLANNED:
                errors["code"] = f"{self.code} is already in the inventory ({existing.get_status_display().lower()})."
            elif (
                RegionRequest.objects.filter(provider=self.provider, code=self.code, status__in=LIVE_REQUEST_STATUSES)
                .exclude(pk=self.pk)
                .exists()
            ):
                errors["code"] = f"{self.code} already has a request under way; follow that one."
        if errors:
            raise ValidationError(errors)


class RegionResource(models.Model):
    """One cloud or inventory resource a region build-out made: what, where, the cloud's id, its settings.

    Written by each step of the ``regions.build`` workflow as it succeeds and
    marked deleted by the rollback, so a status page can describe every
    resource of a region without asking the workflow's steps.
    """

    request = models.ForeignKey(
        RegionRequest,
        on_delete=models.CASCADE,
        related_name="resources",
        null=True,
        blank=True,
        help_text="The request whose build-out made it; empty for a resource registered for a region built elsewhere.",
    )
    region = models.ForeignKey(
        Region,
        on_delete=models.SET_NULL,
        related_name="built_resources",
        null=True,
        blank=True,
        help_text="The inventory region the resource belongs to, once the build registered it.",
    )
    position = models.PositiveSmallIntegerField(help_text="Its place in the build order.")
    kind = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    region_code = models.CharField(max_length=64)
    provider_id = models.CharField(
        "provider id", max_length=500, blank=True, help_text="The cloud's id or ARN (a name where it has none)."
    )
    settings = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ResourceStatus.choices, default=ResourceStatus.CREATED)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "kind", "name", "region_code"], name="one_resource_record_per_planned_resource"
            ),
            models.UniqueConstraint(
                fields=["region", "kind", "name", "region_code"],
                condition=Q(request__isnull=True),
                name="one_record_per_registered_resource",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.region_code})"

    @property
    def label(self) -> str:
        """What kind of resource it is, in words ("Read replica")."""
        from regions.plan import KIND_LABELS  # the plan names the kinds; it imports these models

        return KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())


class RegionHealth(models.Model):
    """A region's status and DR readiness as the last check found it: one row per region, rewritten by each check.

    The check (:mod:`regions.health`) asks the clouds about every resource of
    the region and judges each red, amber or green: the database's latest
    restorable time against the RPO, its backup retention, the replica's lag,
    whether the DR partner could take over. Pages read this row and never
    call a cloud themselves.
    """

    region = models.OneToOneField(Region, on_delete=models.CASCADE, related_name="health")
    rating = models.CharField(max_length=8, choices=Rating.choices, default=Rating.UNKNOWN)
    summary = models.CharField(max_length=300, blank=True, help_text="The worst finding, in words.")
    checks = models.JSONField(default=list, blank=True, help_text="One entry per resource and fact checked.")
    dr_ready = models.BooleanField("DR partner ready", default=False)
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.region.code}: {self.rating}"

    @property
    def is_stale(self) -> bool:
        """Whether the last check is older than three check intervals (then the workers are not checking)."""
        if self.checked_at is None:
            return True
        return timezone.now() - self.checked_at > timedelta(seconds=3 * settings.REGION_HEALTH_CHECK_SECONDS)


LIVE_FAILOVER_STATUSES = (FailoverStatus.PENDING_APPROVAL, FailoverStatus.RUNNING, FailoverStatus.FAILED)


@scoped("inventory", region="region", zone="region__residency_zone")
class FailoverRequest(models.Model):
    """A request to fail a region over to its DR partner: promote the database's replica there.

    Approved like a region request (two platform admins for a production
    region, never the requester) and carried out by a workflow. At most one
    is under way per region.
    """

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="failovers")
    partner = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="failovers_received", help_text="Where the replica is promoted."
    )
    database = models.CharField(max_length=200, help_text="The primary database whose replica is promoted.")
    reason = bounded_text(help_text="Why fail over; the approvers read it.")
    status = models.CharField(max_length=24, choices=FailoverStatus.choices, default=FailoverStatus.PENDING_APPROVAL)
    replica_lag_seconds = models.FloatField(
        null=True, blank=True, help_text="How far behind the replica was when asked: the data a failover may lose."
    )
    requested_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="failover_requests")
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["region"],
                condition=Q(status__in=LIVE_FAILOVER_STATUSES),
                name="one_live_failover_per_region",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="one_failover_per_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Failover of {self.region.code} to {self.partner.code}"


class AccessCheckResult(models.Model):
    """The last permissions pre-flight of a cloud account or a cluster (exactly one of the two).

    What the portal's identity was found to lack, each with the grant that
    adds it, as the account's or cluster's page shows it. A region build
    trusts a passing result of its account for ``PORTAL_ACCESS_CHECK_FRESH_MINUTES``
    and checks again after that (:mod:`regions.preflight.checks`).
    """

    account = models.OneToOneField(
        CloudAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="access_check"
    )
    cluster = models.OneToOneField(
        Cluster, on_delete=models.CASCADE, null=True, blank=True, related_name="access_check"
    )
    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    method = models.CharField(max_length=32, help_text="How it was checked: simulation, probes, permissions…")
    summary = models.TextField()
    identity = models.CharField(max_length=2048, blank=True, help_text="Who was checked (an ARN, a scope).")
    checked = models.PositiveIntegerField(default=0, help_text="How many permissions were asked about.")
    missing = models.JSONField(default=list, blank=True, help_text='[{"action": …, "grant": …}] the identity lacks.')
    region_code = models.CharField(max_length=64, blank=True, help_text="The region an account was checked from.")
    checked_by = models.ForeignKey(
        "access.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="access_checks"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(account__isnull=False, cluster__isnull=True)
                | Q(account__isnull=True, cluster__isnull=False),
                name="access_check_of_an_account_or_a_cluster",
            )
        ]

    def __str__(self) -> str:
        subject = self.account if self.account_id else self.cluster
        return f"Access check of {subject}: {'passed' if self.ok else 'failed'}"

    def is_fresh(self, now: datetime | None = None) -> bool:
        """Whether a passing result is recent enough for a build to trust it without checking again."""
        minutes = int(getattr(settings, "ACCESS_CHECK_FRESH_MINUTES", 60))
        return self.ok and (now or timezone.now()) - self.checked_at < timedelta(minutes=minutes)


@scoped("inventory")
class ZoneOverride(models.Model):
    """A platform admin's word on which residency zone a cloud region counts as, over the catalogue's default.

    ``zone`` empty: the region lies outside every zone (nothing zoned may be
    placed there). :mod:`regions.catalogue` reads these (cached) wherever it
    is asked for a region's zone; :func:`regions.services.region_zone_set`
    writes them, with the reason, audited. Removing the row restores the
    catalogue's default.
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    code = models.CharField("cloud region", max_length=64)
    zone = models.CharField(max_length=2, choices=ResidencyZone.choices, blank=True)
    reason = bounded_text()
    changed_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "code"]
        constraints = [models.UniqueConstraint(fields=["provider", "code"], name="one_zone_override_per_region")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.code} → {self.zone or 'outside every zone'}"
