"""Enumerations of the service catalogue, workloads, pipeline runs and deployments."""

from __future__ import annotations

from typing import Any

from django.db import models

# The Bootstrap colour of each health, deployment, run and stage status (the badges of the deployment pages).
TONES = {
    "healthy": "success",
    "progressing": "info",
    "degraded": "danger",
    "unknown": "secondary",
    "succeeded": "success",
    "passed": "success",
    "running": "info",
    "in_progress": "info",
    "queued": "secondary",
    "failed": "danger",
    "rolled_back": "warning",
    "cancelled": "secondary",
    "skipped": "light",
}


def tone_of(value: Any) -> str:
    """The Bootstrap colour of a health, deployment, run or stage status (grey for one it does not know)."""
    return TONES.get(str(value), "secondary")


class WorkloadKind(models.TextChoices):
    """The Kubernetes workload kinds the portal syncs (``providers.cluster.WORKLOAD_KINDS``)."""

    DEPLOYMENT = "Deployment", "Deployment"
    STATEFUL_SET = "StatefulSet", "StatefulSet"
    DAEMON_SET = "DaemonSet", "DaemonSet"
    CRON_JOB = "CronJob", "CronJob"


class Health(models.TextChoices):
    """A workload's or deployment's health as the pages colour it."""

    HEALTHY = "healthy", "Healthy"
    PROGRESSING = "progressing", "Progressing"
    DEGRADED = "degraded", "Degraded"
    UNKNOWN = "unknown", "Unknown"


class ServiceMatch(models.TextChoices):
    """How a workload came to belong to a service."""

    LABEL = "label", "By label"
    CLAIMED = "claimed", "Claimed by a person"


class CiProvider(models.TextChoices):
    """The CI/CD systems whose webhooks the portal reads."""

    GITHUB = "github", "GitHub Actions"
    GITLAB = "gitlab", "GitLab CI"
    AZURE_DEVOPS = "azure_devops", "Azure DevOps"


class RunStatus(models.TextChoices):
    """A pipeline run's or one of its stages' state."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class StageKind(models.TextChoices):
    """The pipeline stages of spec section 6."""

    BUILD = "build", "Build"
    SECURITY = "security", "Security"
    DEPLOY = "deploy", "Deploy"
    POST_DEPLOY = "post_deploy", "Post-deploy"
    OTHER = "other", "Other"


class DeploymentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"


class DeploymentSource(models.TextChoices):
    """Where the portal learnt of a deployment."""

    CLUSTER = "cluster", "Cluster sync"
    PIPELINE = "pipeline", "CI/CD pipeline"
    ARGO_CD = "argocd", "Argo CD"
    ROLLBACK = "rollback", "Portal rollback"


class Strategy(models.TextChoices):
    ROLLING = "rolling", "Rolling update"
    CANARY = "canary", "Canary"
    BLUE_GREEN = "blue_green", "Blue-green"


class SmokeTest(models.TextChoices):
    NOT_RUN = "", "Not run"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"


class RollbackStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    RUNNING = "running", "Rolling back"
    SUCCEEDED = "succeeded", "Rolled back"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
