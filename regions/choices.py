"""Enumerations of the platform inventory."""

from django.db import models


class Provider(models.TextChoices):
    AWS = "aws", "AWS"
    AZURE = "azure", "Azure"
    ON_PREM = "on_prem", "On-prem"


class ResidencyZone(models.TextChoices):
    """Where data may live (spec 10.3: EU data in EU regions, AU in AU, US in US)."""

    EU = "EU", "European Union"
    AU = "AU", "Australia"
    US = "US", "United States"


class AuthMethod(models.TextChoices):
    """How the portal's workers authenticate to a cloud account; never a stored plaintext secret."""

    AWS_ASSUME_ROLE = "aws_assume_role", "AWS: assume an IAM role"
    AZURE_WORKLOAD_IDENTITY = "azure_workload_identity", "Azure: workload identity federation"
    AZURE_MANAGED_IDENTITY = "azure_managed_identity", "Azure: managed identity"
    AZURE_CLIENT_SECRET = "azure_client_secret", "Azure: client secret held in a secret store"
    SANDBOX = "sandbox", "Sandbox (simulated cloud)"


# Keyed by the raw value, so a model with an unknown provider gets an empty set, not an error.
AUTH_METHODS_BY_PROVIDER: dict[str, set[str]] = {
    Provider.AWS: {AuthMethod.AWS_ASSUME_ROLE, AuthMethod.SANDBOX},
    Provider.AZURE: {
        AuthMethod.AZURE_WORKLOAD_IDENTITY,
        AuthMethod.AZURE_MANAGED_IDENTITY,
        AuthMethod.AZURE_CLIENT_SECRET,
        AuthMethod.SANDBOX,
    },
    Provider.ON_PREM: {AuthMethod.SANDBOX},
}


class RegionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    DEGRADED = "degraded", "Degraded"
    RETIRED = "retired", "Retired"


class ClusterKind(models.TextChoices):
    EKS = "eks", "Amazon EKS"
    AKS = "aks", "Azure AKS"
    K3S = "k3s", "k3s (on-prem)"


CLUSTER_KIND_BY_PROVIDER = {
    Provider.AWS: ClusterKind.EKS,
    Provider.AZURE: ClusterKind.AKS,
    Provider.ON_PREM: ClusterKind.K3S,
}


class ClusterAccess(models.TextChoices):
    """How the portal's workers authenticate to a cluster's API server (``providers.config.CLUSTER_ACCESS``)."""

    CLOUD_TOKEN = "cloud_token", "Cloud token (EKS/AKS: endpoint, CA and short-lived tokens from the cloud account)"
    KUBECONFIG = "kubeconfig", "Kubeconfig stored in the portal (encrypted)"
    IN_CLUSTER = "in_cluster", "In-cluster service account (the portal runs in this cluster)"


# The access a cluster gets when none is chosen.
DEFAULT_ACCESS_BY_KIND: dict[str, str] = {
    ClusterKind.EKS: ClusterAccess.CLOUD_TOKEN,
    ClusterKind.AKS: ClusterAccess.CLOUD_TOKEN,
    ClusterKind.K3S: ClusterAccess.KUBECONFIG,
}


class ClusterStatus(models.TextChoices):
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    DEGRADED = "degraded", "Degraded"
    UNREACHABLE = "unreachable", "Unreachable"


class WorkloadClass(models.TextChoices):
    """Node-group separation from spec 3.1: general, high-CPU and GPU workloads."""

    GENERAL = "general", "General"
    HIGH_CPU = "high_cpu", "High-CPU"
    GPU = "gpu", "GPU"


class CapacityType(models.TextChoices):
    ON_DEMAND = "on_demand", "On-demand"
    SPOT = "spot", "Spot"


class CentreServerStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class RegionPurpose(models.TextChoices):
    """What a new region is for: production regions need two approvals by different admins."""

    PRODUCTION = "production", "Production"
    NON_PRODUCTION = "non_production", "Non-production"


class RegionRequestStatus(models.TextChoices):
    """Where a region request is in its life: asked, decided, built (or rolled back)."""

    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"
    CANCELLED = "cancelled", "Cancelled"


class ResourceStatus(models.TextChoices):
    """The state of one resource a region build-out made, as the workflow last saw it."""

    CREATED = "created", "Created"
    PROMOTED = "promoted", "Promoted (a replica that became the primary in a failover)"
    DELETED = "deleted", "Deleted"


class Rating(models.TextChoices):
    """A red/amber/green judgement of a resource or a whole region; unknown until it has been checked."""

    GREEN = "green", "Green"
    AMBER = "amber", "Amber"
    RED = "red", "Red"
    UNKNOWN = "unknown", "Not checked"


class FailoverStatus(models.TextChoices):
    """Where a failover request is: asked, decided, carried out."""

    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    REJECTED = "rejected", "Rejected"
    RUNNING = "running", "Failing over"
    FAILED = "failed", "Failed"
    DONE = "done", "Failed over"
    CANCELLED = "cancelled", "Cancelled"


class ResourceKind(models.TextChoices):
    """What runs in a region that a price table prices. Compute kinds are bought per hour; storage per GiB and month."""

    CPU = "cpu", "CPU"
    MEMORY = "memory", "Memory"
    GPU = "gpu", "GPU"
    STORAGE = "storage", "Block storage"
    POSTGRESQL = "postgresql", "Managed PostgreSQL"
    REDIS = "redis", "Managed Redis"
    BUCKET = "bucket", "Object storage (bucket)"
    LOAD_BALANCER = "load_balancer", "Load balancer"
    NAT_GATEWAY = "nat_gateway", "NAT gateway"
