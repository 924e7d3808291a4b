from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from access.api.fields import VisiblePrimaryKeyRelatedField
from portal.bounds import TEXT_MAX
from regions.models import (
    AccessCheckResult,
    CentreServer,
    CloudAccount,
    Cluster,
    FailoverRequest,
    Namespace,
    NodePool,
    Region,
    RegionHealth,
    RegionRequest,
)
from regions.services import REQUEST_FIELDS


class AccessCheckSerializer(serializers.ModelSerializer[AccessCheckResult]):
    """The last permissions pre-flight: when, whether it passed, how, and what is missing with the grant to add."""

    checked_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AccessCheckResult
        fields = [
            "ok",
            "checked_at",
            "checked_by",
            "method",
            "summary",
            "identity",
            "checked",
            "missing",
            "region_code",
        ]
        read_only_fields = fields


def _access_check(subject: CloudAccount | Cluster) -> dict[str, Any] | None:
    # A reverse one-to-one that is absent raises an AttributeError subclass: None before the first check.
    result = getattr(subject, "access_check", None)
    return dict(AccessCheckSerializer(result).data) if result is not None else None


class CloudAccountSerializer(serializers.ModelSerializer[CloudAccount]):
    # Whether a client secret is stored; the secret itself is write-only everywhere and never serialised.
    has_client_secret = serializers.BooleanField(read_only=True)
    access_check = serializers.SerializerMethodField()

    class Meta:
        model = CloudAccount
        fields = [
            "id", "name", "provider", "external_id", "tenant_id", "auth_method",
            "role_arn", "role_external_id", "client_id", "secret_reference", "has_client_secret", "description",
            "access_check",
        ]  # fmt: skip

    @extend_schema_field(AccessCheckSerializer(allow_null=True))
    def get_access_check(self, account: CloudAccount) -> dict[str, Any] | None:
        """The last permissions pre-flight, or null before the first."""
        return _access_check(account)


class RegionHealthSerializer(serializers.ModelSerializer[RegionHealth]):
    """The last status and DR readiness check: the rating, the worst finding, and every finding."""

    stale = serializers.BooleanField(source="is_stale", read_only=True)

    class Meta:
        model = RegionHealth
        fields = ["rating", "summary", "dr_ready", "checked_at", "stale", "checks"]
        read_only_fields = fields


class RegionSerializer(serializers.ModelSerializer[Region]):
    cluster_count = serializers.IntegerField(read_only=True)
    centre_server_count = serializers.IntegerField(read_only=True)
    namespace_count = serializers.IntegerField(read_only=True)
    health = serializers.SerializerMethodField()

    class Meta:
        model = Region
        fields = [
            "id", "provider", "code", "display_name", "residency_zone", "status", "account",
            "dr_partner", "cluster_count", "centre_server_count", "namespace_count", "health",
        ]  # fmt: skip

    @extend_schema_field(RegionHealthSerializer(allow_null=True))
    def get_health(self, region: Region) -> dict[str, Any] | None:
        """The last check, or null before the first."""
        health = getattr(region, "health", None)  # a missing one-to-one raises an AttributeError
        return RegionHealthSerializer(health).data if health is not None else None


class ClusterSerializer(serializers.ModelSerializer[Cluster]):
    node_pool_count = serializers.IntegerField(read_only=True)
    namespace_count = serializers.IntegerField(read_only=True)
    # Whether a kubeconfig is stored; the kubeconfig itself is write-only everywhere and never serialised.
    has_kubeconfig = serializers.BooleanField(read_only=True)
    access_check = serializers.SerializerMethodField()

    class Meta:
        model = Cluster
        fields = [
            "id", "name", "region", "kind", "kubernetes_version", "api_endpoint", "status", "access",
            "has_kubeconfig", "node_pool_count", "namespace_count", "access_check",
        ]  # fmt: skip

    @extend_schema_field(AccessCheckSerializer(allow_null=True))
    def get_access_check(self, cluster: Cluster) -> dict[str, Any] | None:
        """The last permissions pre-flight, or null before the first."""
        return _access_check(cluster)


class NodePoolSerializer(serializers.ModelSerializer[NodePool]):
    class Meta:
        model = NodePool
        fields = [
            "id", "cluster", "name", "workload_class", "capacity_type", "instance_type",
            "min_nodes", "desired_nodes", "max_nodes",
        ]  # fmt: skip


class NamespaceSerializer(serializers.ModelSerializer[Namespace]):
    class Meta:
        model = Namespace
        fields = ["id", "cluster", "name", "team", "labels"]


class CentreServerSerializer(serializers.ModelSerializer[CentreServer]):
    class Meta:
        model = CentreServer
        fields = [
            "id", "name", "site", "region", "cluster", "status", "last_sync_at", "cpu_cores",
            "memory_gib", "storage", "redundant_nics", "os_image",
        ]  # fmt: skip


class RegionRequestSerializer(serializers.ModelSerializer[RegionRequest]):
    """A region request as the API shows it, with the status of its build-out."""

    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = RegionRequest
        fields = ["id", *REQUEST_FIELDS, "status", "requested_by", "region", "created_at", "updated_at"]
        read_only_fields = fields


class RegionRequestCreateSerializer(serializers.ModelSerializer[RegionRequest]):
    """What a caller gives to ask for a region; the service checks the rules (residency, DR partner, inventory)."""

    account = VisiblePrimaryKeyRelatedField(queryset=CloudAccount.objects.all())

    class Meta:
        model = RegionRequest
        fields = REQUEST_FIELDS
        # The model's rules run in the service, with the same messages as the form; none here twice.
        validators: list[object] = []


class FailoverRequestSerializer(serializers.ModelSerializer[FailoverRequest]):
    """A failover as the API shows it: the regions by code, the replica's lag when it was asked, its status."""

    region: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    partner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = FailoverRequest
        fields = [
            "id", "region", "partner", "database", "reason", "status", "replica_lag_seconds",
            "requested_by", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class FailoverRequestCreateSerializer(serializers.Serializer[Any]):
    """What a caller gives to ask for a failover: the region (its id) and why; the service checks the rest."""

    region = serializers.IntegerField()
    reason = serializers.CharField(allow_blank=True, trim_whitespace=True, max_length=TEXT_MAX)


class KubernetesVersionSerializer(serializers.Serializer[Any]):
    """A Kubernetes version the cloud creates clusters with: its support, and whether it is the cloud's default."""

    version = serializers.CharField()
    support = serializers.ChoiceField(choices=["standard", "extended", "preview"])
    default = serializers.BooleanField(help_text="The cloud's own default for a new cluster.")
    end_of_standard_support = serializers.DateField(allow_null=True)
    patch_versions = serializers.ListField(child=serializers.CharField())


class KubernetesVersionsSerializer(serializers.Serializer[Any]):
    """What a region request may name as its Kubernetes version, and what an empty one becomes."""

    account = serializers.IntegerField()
    code = serializers.CharField()
    default = serializers.CharField(
        allow_null=True, help_text="The newest version in standard support: what an empty version becomes."
    )
    versions = KubernetesVersionSerializer(many=True)


class ZoneEntrySerializer(serializers.Serializer[Any]):
    """A known cloud region and the residency zone it counts as ("" outside every zone)."""

    provider = serializers.CharField()
    code = serializers.CharField()
    name = serializers.CharField()
    default_zone = serializers.CharField(help_text="The catalogue's zone for it.")
    zone = serializers.CharField(help_text="The zone it counts as now.")
    overridden = serializers.BooleanField(help_text="Whether a platform admin changed it.")
    reason = serializers.CharField(max_length=TEXT_MAX)
    changed_by = serializers.CharField()
    changed_at = serializers.DateTimeField(allow_null=True)


class ZoneChangeSerializer(serializers.Serializer[Any]):
    """Move a known cloud region: ``zone`` is EU, AU, US, ``outside`` (every zone) or ``default`` (the
    catalogue's); ``reason`` is kept in the audit log; ``confirmed`` accepts the breaches the move makes."""

    provider = serializers.CharField()
    code = serializers.CharField()
    zone = serializers.CharField()
    reason = serializers.CharField(allow_blank=True, trim_whitespace=True, max_length=TEXT_MAX)
    confirmed = serializers.BooleanField(default=False)
