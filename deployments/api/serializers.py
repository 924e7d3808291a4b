from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from access.api.fields import VisibleSlugRelatedField
from access.models import Team
from deployments.models import Deployment, PipelineRun, Service, Workload
from environments.choices import NamespaceGroup


class LinkSerializer(serializers.Serializer[dict[str, str]]):
    # A field named like Field.label: DRF's metaclass takes declared fields off the class, so it is one.
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    url = serializers.CharField(max_length=500, help_text="An http(s) URL.")


class ServiceSerializer(serializers.ModelSerializer[Service]):
    team: serializers.SlugRelatedField[Team] = VisibleSlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), help_text="The owner team's slug."
    )
    # A plain string (not an enum): the choice set is NamespaceGroup, named already by the templates' API.
    namespace_group = serializers.ChoiceField(choices=NamespaceGroup.choices)
    links = LinkSerializer(many=True, required=False)

    class Meta:
        model = Service
        fields = [
            "id",
            "slug",
            "name",
            "team",
            "description",
            "repository_url",
            "namespace_group",
            "links",
            "runbook_url",
            "oncall_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The catalogue checks the fields (and uniqueness) inside its transaction, with the model's rules.
        extra_kwargs: dict[str, Any] = {
            "slug": {"validators": []},
            "repository_url": {"validators": []},
            "runbook_url": {"validators": []},
            "oncall_url": {"validators": []},
        }


class WorkloadSerializer(serializers.ModelSerializer[Workload]):
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    cluster_name = serializers.CharField(source="cluster.name", read_only=True)
    region = serializers.CharField(source="cluster.region.code", read_only=True)
    tier = serializers.CharField(read_only=True, help_text="The environment's tier, if it is in one.")

    class Meta:
        model = Workload
        fields = [
            "id",
            "cluster",
            "cluster_name",
            "region",
            "namespace",
            "kind",
            "name",
            "service",
            "service_match",
            "environment",
            "team",
            "tier",
            "images",
            "version",
            "revision",
            "replicas_desired",
            "replicas_ready",
            "hpa_current",
            "hpa_desired",
            "health",
            "argocd_application",
            "rolled_out_at",
            "first_seen_at",
            "last_seen_at",
            "gone_at",
        ]


class DeploymentSerializer(serializers.ModelSerializer[Deployment]):
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    region = serializers.CharField(source="cluster.region.code", read_only=True, default="")
    tier = serializers.CharField(read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "service",
            "workload",
            "environment",
            "cluster",
            "region",
            "namespace",
            "team",
            "tier",
            "version",
            "previous_version",
            "images",
            "previous_images",
            "revision",
            "status",
            "source",
            "strategy",
            "progress",
            "smoke_test",
            "pipeline_run",
            "commit_sha",
            "commit_at",
            "triggered_by",
            "rolled_back_by",
            "started_at",
            "finished_at",
        ]


class PipelineRunSerializer(serializers.ModelSerializer[PipelineRun]):
    service: serializers.SlugRelatedField[Service] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tier = serializers.CharField(read_only=True)

    class Meta:
        model = PipelineRun
        fields = [
            "id",
            "provider",
            "external_id",
            "service",
            "environment",
            "cluster",
            "team",
            "tier",
            "name",
            "url",
            "status",
            "stages",
            "security",
            "commit_sha",
            "commit_at",
            "branch",
            "image_tag",
            "triggered_by",
            "started_at",
            "finished_at",
        ]


class MatrixColumnSerializer(serializers.Serializer[Any]):
    key = serializers.CharField(help_text="e<environment id> or c<cluster id> (workloads in no environment).")
    label = serializers.CharField()  # type: ignore[assignment]  # (see LinkSerializer)
    detail = serializers.CharField()
    tier = serializers.CharField()
    environment = serializers.IntegerField(source="environment_id", allow_null=True)
    cluster = serializers.IntegerField(source="cluster_id", allow_null=True)


class MatrixCellSerializer(serializers.Serializer[Any]):
    column = serializers.CharField()
    version = serializers.CharField()
    other_versions = serializers.ListField(child=serializers.CharField())
    health = serializers.CharField()
    rolled_out_at = serializers.DateTimeField(allow_null=True)
    workloads = serializers.IntegerField(source="count")
    drift = serializers.BooleanField()
    deployment = serializers.IntegerField(
        allow_null=True, help_text="The newest deployment that put this version here (null if none is recorded)."
    )
    workload = serializers.IntegerField(help_text="A workload here running this version.")


class MatrixRowSerializer(serializers.Serializer[Any]):
    service = serializers.CharField(source="service.slug")
    name = serializers.CharField(source="service.name")
    team = serializers.CharField(source="service.team.slug")
    reference_version = serializers.CharField(help_text="Production's version (else the most common one).")
    cells = serializers.SerializerMethodField()

    @extend_schema_field(MatrixCellSerializer(many=True))
    def get_cells(self, row: Any) -> list[dict[str, Any]]:
        cells = [
            {
                "column": key,
                "version": cell.version,
                "other_versions": cell.other_versions,
                "health": cell.health,
                "rolled_out_at": cell.rolled_out_at,
                "count": cell.count,
                "drift": cell.drift,
                "deployment": cell.deployment_id,
                "workload": cell.workload_id,
            }
            for key, cell in row.cells.items()
        ]
        return list(MatrixCellSerializer(cells, many=True).data)


class MatrixSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="Services matching the filters (over all pages).")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    columns = MatrixColumnSerializer(many=True)
    hidden_columns = serializers.IntegerField(
        help_text="Places where this page's services run beyond the columns shown (filter by environment or region)."
    )
    rows = MatrixRowSerializer(many=True)


class ClaimSerializer(serializers.Serializer[Any]):
    service: serializers.SlugRelatedField[Service] = VisibleSlugRelatedField(
        slug_field="slug",
        queryset=Service.objects.all(),
        help_text="The slug of the service the workload belongs to (one whose team you may change services of).",
    )


class PodContainerSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    image = serializers.CharField()
    ready = serializers.BooleanField()
    restarts = serializers.IntegerField()
    state = serializers.CharField(help_text='running, waiting or terminated ("" before the kubelet said).')
    reason = serializers.CharField(help_text="Why it waits or ended (CrashLoopBackOff, OOMKilled…), if it does.")
    last_terminated = serializers.CharField(help_text="Why its previous instance ended, when it was restarted.")
    has_previous = serializers.BooleanField(help_text="A previous instance's log may be read (previous=true).")


class PodSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    status = serializers.CharField(help_text="As kubectl shows it: Running, CrashLoopBackOff, Terminating…")
    phase = serializers.CharField()
    node = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    ready_containers = serializers.IntegerField()
    restarts = serializers.IntegerField()
    healthy = serializers.BooleanField()
    owner_kind = serializers.CharField()
    owner_name = serializers.CharField()
    containers = PodContainerSerializer(many=True)


class ClusterEventSerializer(serializers.Serializer[Any]):
    type = serializers.CharField(help_text="Normal or Warning.")
    reason = serializers.CharField()
    message = serializers.CharField()
    count = serializers.IntegerField()
    last_seen = serializers.DateTimeField(allow_null=True)
    involved_kind = serializers.CharField()
    involved_name = serializers.CharField()


class KubernetesViewSerializer(serializers.Serializer[Any]):
    """What the workload's cluster says now; a ``*problem`` says in words why a part could not be read."""

    workload = serializers.IntegerField()
    selector = serializers.CharField(help_text='The label selector that picks its pods ("" when it has none).')
    pods = PodSerializer(many=True, help_text="The least healthy first.")
    pods_truncated = serializers.BooleanField(help_text="More pods matched than the portal reads.")
    events = ClusterEventSerializer(many=True, help_text="Of the workload and its pods, newest first.")
    events_read = serializers.BooleanField()
    problem = serializers.CharField(help_text="Why the cluster could not be asked at all, if so.")
    pods_problem = serializers.CharField()
    events_problem = serializers.CharField()
    can_read_logs = serializers.BooleanField(help_text="Whether you may read its pods' logs (/logs/).")
    pod_limit = serializers.IntegerField()
    event_limit = serializers.IntegerField()


class LogQuerySerializer(serializers.Serializer[Any]):
    pod = serializers.CharField(
        max_length=253,
        help_text="A pod of the workload (from /kubernetes/).",
        error_messages={
            "required": "Name a pod of the workload (its pods are listed at /kubernetes/).",
            "blank": "Name a pod of the workload (its pods are listed at /kubernetes/).",
            "max_length": "A pod's name is at most 253 characters.",
        },
    )
    container = serializers.CharField(
        max_length=63,
        required=False,
        default="",
        allow_blank=True,
        help_text="One container only (default: each of the pod's containers).",
        error_messages={"max_length": "A container's name is at most 63 characters."},
    )
    previous = serializers.BooleanField(
        required=False, default=False, help_text="The log of the container's previous instance (name the container)."
    )
    tail = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        default=100,
        help_text="How many of the last lines (each log is also cut at 64 KiB).",
        error_messages={
            "invalid": "Give the number of lines as a whole number, 1 to 1000.",
            "min_value": "Ask for 1 to 1000 lines.",
            "max_value": "Ask for 1 to 1000 lines.",
        },
    )


class ContainerLogSerializer(serializers.Serializer[Any]):
    container = serializers.CharField()
    text = serializers.CharField(allow_null=True, help_text="The log's last lines (null when it could not be read).")
    previous = serializers.BooleanField()
    truncated = serializers.BooleanField(help_text="The log reached the byte limit and was cut.")
    problem = serializers.CharField(help_text="Why its log could not be read, if so.")


class LogsSerializer(serializers.Serializer[Any]):
    workload = serializers.IntegerField()
    pod = serializers.CharField()
    tail_lines = serializers.IntegerField()
    limit_bytes = serializers.IntegerField()
    containers = ContainerLogSerializer(many=True)
    problem = serializers.CharField(help_text="Why the pod's logs could not be read at all, if so.")
