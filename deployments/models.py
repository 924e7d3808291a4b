"""What runs where: the service catalogue, workloads synced from clusters, Argo CD applications, pipeline
runs from CI/CD webhooks, the deployments seen through any of them, and deploy freeze windows.

Workloads, Argo CD applications, pipeline runs and deployments carry a copy
of the team (the owning service's, else the environment's) and of the tier
(the environment's), set when they are written, so that the policy scopes
the big lists with one join-free filter. Writes go through
:mod:`deployments.services`.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q

from access.models import Tier
from access.scoping import scoped
from deployments.choices import (
    CiProvider,
    DeploymentSource,
    DeploymentStatus,
    Health,
    RollbackStatus,
    RunStatus,
    ServiceMatch,
    SmokeTest,
    Strategy,
    WorkloadKind,
)
from environments.choices import NamespaceGroup
from portal.bounds import bounded_text
from regions.fields import EncryptedTextField


@scoped("deployments", team="team")
class Service(models.Model):
    """A service in the catalogue: who owns it, where its code is, which namespace group it runs in.

    Workloads are matched to a service when one of their labels
    ``app.kubernetes.io/part-of``, ``app.kubernetes.io/name`` or
    ``platform-portal/service`` equals its slug; ``links`` are dashboards
    and the like, each ``{"label": ..., "url": ...}``. The runbook and the
    on-call schedule have fields of their own, which scorecards check.
    """

    slug = models.SlugField(max_length=63, unique=True, help_text="Matches the workloads' labels, e.g. checkout.")
    name = models.CharField(max_length=200)
    team = models.ForeignKey("access.Team", on_delete=models.PROTECT, related_name="services")
    description = bounded_text(blank=True)
    repository_url = models.URLField(max_length=500, blank=True, validators=[URLValidator(schemes=["https", "ssh"])])
    namespace_group = models.CharField(max_length=63, choices=NamespaceGroup.choices)
    links = models.JSONField(default=list, blank=True)
    runbook_url = models.URLField(
        "runbook URL",
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="Where whoever is woken at night reads how to run and fix it.",
    )
    oncall_url = models.URLField(
        "on-call URL",
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="Who is on call for it now: a PagerDuty or Opsgenie schedule, a rota page.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # Trigram indexes (pg_trgm) for the portal's search.
        indexes = [
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="service_name_trgm"),
            GinIndex(fields=["slug"], opclasses=["gin_trgm_ops"], name="service_slug_trgm"),
        ]

    def __str__(self) -> str:
        return self.name


_PLACED = {
    "team": "team",
    "region": "cluster__region",
    "zone": "cluster__region__residency_zone",
    "tier": "tier",
}


@scoped("deployments", **_PLACED)
class Workload(models.Model):
    """A Deployment, StatefulSet, DaemonSet or CronJob as the last sync saw it.

    One row per (cluster, namespace, kind, name), upserted by every sync; a
    workload the sync no longer finds gets ``gone_at`` and is kept (with its
    deployments). ``version`` is the ``app.kubernetes.io/version`` label, else
    the first image's tag.
    """

    cluster = models.ForeignKey("regions.Cluster", on_delete=models.CASCADE, related_name="workloads")
    namespace = models.CharField(max_length=63)
    kind = models.CharField(max_length=16, choices=WorkloadKind.choices)
    name = models.CharField(max_length=253)
    service = models.ForeignKey(Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="workloads")
    service_match = models.CharField(max_length=8, choices=ServiceMatch.choices, blank=True)
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.SET_NULL, null=True, blank=True, related_name="workloads"
    )
    team = models.ForeignKey("access.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tier = models.CharField(max_length=16, choices=Tier.choices, blank=True)
    images = models.JSONField(default=list)
    version = models.CharField(max_length=128, blank=True)
    revision = models.PositiveIntegerField(null=True, blank=True)
    replicas_desired = models.PositiveIntegerField(default=0)
    replicas_ready = models.PositiveIntegerField(default=0)
    hpa_current = models.PositiveIntegerField(null=True, blank=True)
    hpa_desired = models.PositiveIntegerField(null=True, blank=True)
    conditions = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    argocd_application = models.CharField(
        max_length=253, blank=True, help_text="The Argo CD application that manages it, when one does."
    )
    rolled_out_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    gone_at = models.DateTimeField(null=True, blank=True, help_text="When a sync stopped finding it.")

    class Meta:
        ordering = ["cluster", "namespace", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "namespace", "kind", "name"], name="workload_unique_in_cluster")
        ]
        indexes = [
            models.Index(fields=["service", "environment"], name="workload_service_environment"),
            models.Index(fields=["cluster", "gone_at"], name="workload_cluster_gone"),
            models.Index(fields=["team", "health"], name="workload_team_health"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def is_gone(self) -> bool:
        return self.gone_at is not None


@scoped("deployments", **_PLACED)
class ArgoApplication(models.Model):
    """An Argo CD ``Application`` read from a cluster where Argo CD is installed."""

    cluster = models.ForeignKey("regions.Cluster", on_delete=models.CASCADE, related_name="argo_applications")
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    project = models.CharField(max_length=253, blank=True)
    repo_url = models.CharField(max_length=500, blank=True)
    path = models.CharField(max_length=500, blank=True)
    target_revision = models.CharField(max_length=253, blank=True)
    destination_namespace = models.CharField(max_length=63, blank=True)
    sync_status = models.CharField(max_length=32, blank=True, help_text="Synced, OutOfSync or Unknown.")
    health_status = models.CharField(max_length=32, blank=True, help_text="Healthy, Progressing, Degraded…")
    revision = models.CharField(max_length=253, blank=True, help_text="The revision last synced.")
    auto_sync = models.BooleanField(default=False)
    service = models.ForeignKey(Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey("access.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tier = models.CharField(max_length=16, choices=Tier.choices, blank=True)
    last_seen_at = models.DateTimeField()
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cluster", "namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["cluster", "namespace", "name"], name="argo_application_unique_in_cluster")
        ]

    def __str__(self) -> str:
        return self.name


@scoped("deployments", team="team")
class WebhookSource(models.Model):
    """A CI/CD system allowed to post pipeline events, with the secret that authenticates it.

    GitHub signs with HMAC-SHA256 (``X-Hub-Signature-256``), GitLab sends the
    secret token (``X-Gitlab-Token``), Azure DevOps uses basic authentication
    with the secret as password. Events name their service by repository;
    ``service`` here is the default for events of a repository outside the
    catalogue.

    Whoever holds the secret speaks for the source, so what a delivery may
    touch is bounded: runs and deployments attach only to the services of the
    source's team, or, when ``services`` is set, to exactly those services
    (a list set by someone who may change each of them, e.g. a platform admin
    for a CI system shared by several teams). A delivery naming a repository
    of any other service is kept as an unmatched run of the source.
    """

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=16, choices=CiProvider.choices)
    secret = EncryptedTextField(editable=False)
    team = models.ForeignKey("access.Team", on_delete=models.PROTECT, related_name="webhook_sources")
    service = models.ForeignKey(Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    services = models.ManyToManyField(
        Service,
        blank=True,
        related_name="webhook_sources",
        help_text="When set, the only services the source's deliveries may attach to (else its team's services).",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """A delivery already accepted, so that a replay of it is recognised and ignored."""

    source = models.ForeignKey(WebhookSource, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "delivery_id"], name="webhook_delivery_once_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.source} delivery {self.delivery_id}"


@scoped("deployments", **_PLACED)
class PipelineRun(models.Model):
    """One CI/CD pipeline run and its stages, as its webhooks reported it (the latest report wins).

    ``stages`` is a list of ``{"name", "kind", "status", "started_at",
    "finished_at"}`` in pipeline order; ``security`` counts findings by
    severity (``{"critical": 0, "high": 2, ...}``).
    """

    source = models.ForeignKey(WebhookSource, on_delete=models.PROTECT, related_name="runs")
    provider = models.CharField(max_length=16, choices=CiProvider.choices)
    external_id = models.CharField(max_length=200, help_text="The CI system's run id (with the attempt).")
    service = models.ForeignKey(Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="pipeline_runs")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.SET_NULL, null=True, blank=True, related_name="pipeline_runs"
    )
    cluster = models.ForeignKey("regions.Cluster", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    team = models.ForeignKey("access.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tier = models.CharField(max_length=16, choices=Tier.choices, blank=True)
    name = models.CharField(max_length=200, blank=True)
    url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    stages = models.JSONField(default=list, blank=True)
    security = models.JSONField(default=dict, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    commit_at = models.DateTimeField(null=True, blank=True)
    branch = models.CharField(max_length=253, blank=True)
    image_tag = models.CharField(max_length=128, blank=True)
    triggered_by = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="pipeline_run_unique_per_source")]
        indexes = [models.Index(fields=["service", "-started_at"], name="pipeline_run_service_started")]

    def __str__(self) -> str:
        return f"{self.name or self.provider} #{self.external_id}"


@scoped("deployments", **_PLACED)
class Deployment(models.Model):
    """A version put in place for a service in one environment (or cluster namespace), from any source.

    ``previous_version``/``previous_images`` are what ran before, for the
    diff; ``commit_at`` feeds lead time; a deployment later undone is
    ``rolled_back`` (``rolled_back_by`` is the rollback), which with
    ``failed`` counts towards the change failure rate.
    """

    service = models.ForeignKey(Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments")
    workload = models.ForeignKey(Workload, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    cluster = models.ForeignKey("regions.Cluster", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    namespace = models.CharField(max_length=63, blank=True)
    team = models.ForeignKey("access.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tier = models.CharField(max_length=16, choices=Tier.choices, blank=True)
    version = models.CharField(max_length=128)
    previous_version = models.CharField(max_length=128, blank=True)
    images = models.JSONField(default=list)
    previous_images = models.JSONField(default=list, blank=True)
    revision = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.IN_PROGRESS)
    source = models.CharField(max_length=16, choices=DeploymentSource.choices)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.ROLLING)
    progress = models.JSONField(
        default=dict, blank=True, help_text='Canary or blue-green progress, e.g. {"step": 2, "steps": 4, "weight": 25}.'
    )
    smoke_test = models.CharField(max_length=8, choices=SmokeTest.choices, blank=True, default=SmokeTest.NOT_RUN)
    pipeline_run = models.ForeignKey(
        PipelineRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="deployments"
    )
    commit_sha = models.CharField(max_length=64, blank=True)
    commit_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.CharField(max_length=200, blank=True)
    rolled_back_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rolls_back"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            # The list's order (Meta.ordering, deployments.selectors.deployment_list, /api/deployments/): its first
            # page is read from this index in order instead of sorting the whole history.
            models.Index(fields=["-started_at", "-id"], name="deployment_newest"),
            models.Index(fields=["service", "-started_at"], name="deployment_service_started"),
            models.Index(fields=["workload", "-started_at"], name="deployment_workload_started"),
            models.Index(fields=["team", "tier", "started_at"], name="deployment_team_tier_started"),
            # A trigram index (pg_trgm) for the portal's search by version, a prefix match ("4.6" finds 4.6.0).
            GinIndex(fields=["version"], opclasses=["gin_trgm_ops"], name="deployment_version_trgm"),
        ]

    def __str__(self) -> str:
        return f"{self.service or self.workload} {self.version}"


@scoped(
    "deployments",
    team="environment__team",
    region="environment__cluster__region",
    zone="environment__cluster__region__residency_zone",
    tier="environment__tier",
)
class FreezeWindow(models.Model):
    """A time when nothing may be deployed to or rolled back in an environment (the UI and API respect it)."""

    environment = models.ForeignKey("environments.Environment", on_delete=models.CASCADE, related_name="freeze_windows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500)
    created_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="freeze_window_ends_after_it_starts",
                violation_error_message="A freeze window must end after it starts.",
            )
        ]

    def __str__(self) -> str:
        return f"Freeze of {self.environment} from {self.starts_at:%Y-%m-%d %H:%M}"


@scoped(
    "deployments",
    team="workload__team",
    region="workload__cluster__region",
    zone="workload__cluster__region__residency_zone",
    tier="workload__tier",
)
class RollbackRequest(models.Model):
    """A person's request to roll a workload back to an earlier revision, and how it went.

    What to go back to is fixed when asked (``to_revision`` and its
    ``to_images``), so a retried step cannot roll back one revision too far.
    Production rollbacks wait for an approval when the portal is set to ask.
    """

    workload = models.ForeignKey(Workload, on_delete=models.PROTECT, related_name="rollbacks")
    to_revision = models.PositiveIntegerField()
    to_images = models.JSONField(default=list)
    to_version = models.CharField(max_length=128, blank=True)
    from_version = models.CharField(max_length=128, blank=True)
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey("access.User", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=RollbackStatus.choices)
    deployment = models.OneToOneField(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="rollback_request"
    )
    error = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="rollback_idempotency_key_unique_per_requester",
            ),
            models.UniqueConstraint(
                fields=["workload"],
                condition=Q(status__in=[RollbackStatus.PENDING_APPROVAL, RollbackStatus.RUNNING]),
                name="one_open_rollback_per_workload",
                violation_error_message="A rollback of this workload is already waiting or under way.",
            ),
        ]

    def __str__(self) -> str:
        return f"Rollback of {self.workload} to revision {self.to_revision}"
