"""The cluster driver's logic, written once over five storage primitives (get, create, patch, list, delete).

Both the sandbox and the Kubernetes driver subclass :class:`ManifestClusterDriver`:
the sandbox stores manifests in a JSON file, the Kubernetes driver sends them
through the official client. What each ensure-operation does (look, create if
missing, "already exists" counts as success, patch if different), how
workloads, rollbacks and usage are read from Kubernetes objects, how a
workload's pods, events and container logs are read on demand (bounded), and
the bounded retries live here, so the two cannot drift; the contract suite
runs against both.
"""

from __future__ import annotations

import contextlib
import re
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from providers.cluster import (
    EVENT_LIMIT,
    EVENT_OBJECTS_LIMIT,
    GPU_RESOURCE,
    LOG_LIMIT_BYTES,
    LOG_TAIL_LINES,
    NGINX,
    POD_LIMIT,
    WORKLOAD_KINDS,
    Applied,
    ClusterEvent,
    ContainerLog,
    CustomResource,
    IngressSpec,
    LimitRangeSpec,
    Manifest,
    NamespaceInfo,
    NamespaceSpec,
    NamespaceUsage,
    NetworkPolicySpec,
    NodeInfo,
    PodContainer,
    PodInfo,
    PodList,
    ResourceQuotaSpec,
    RoleBindingSpec,
    Workload,
    WorkloadKind,
    WorkloadRevision,
    differs,
    parse_quantity,
    render_ingress,
    render_limit_range,
    render_namespace,
    render_network_policy,
    render_resource_quota,
    render_role_binding,
)
from providers.errors import Busy, Conflict, InvalidRequest, NotFound
from providers.retry import RetryPolicy, call_with_retries

T = TypeVar("T")
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
# Labels that name a node's pool and say whether it is spot capacity: EKS, AKS, Karpenter, then our own.
POOL_LABELS = ("eks.amazonaws.com/nodegroup", "kubernetes.azure.com/agentpool", "karpenter.sh/nodepool", "agentpool")
SPOT_LABELS = {
    "eks.amazonaws.com/capacityType": "SPOT",
    "kubernetes.azure.com/scalesetpriority": "spot",
    "karpenter.sh/capacity-type": "spot",
}
# Annotations the portal owns on ingresses: ones it no longer wants are removed, others are left alone.
OWNED_ANNOTATION_PREFIXES = (f"{NGINX}/", "cert-manager.io/")
# How often a write computed from what was read is read and sent again when the object changed in between.
STALE_WRITE_ATTEMPTS = 5
# Fields the API server refuses to change once the object exists; the portal deletes and recreates instead.
# RBAC: "After you create a binding, you cannot change the Role or ClusterRole that it refers to. If you do
# want to change the roleRef for a binding, you need to remove the binding object and create a replacement."
RECREATE_ON_CHANGE: dict[str, tuple[str, ...]] = {"RoleBinding": ("roleRef",)}
# Events read about one object at most (a crash-looping pod's events are few: the API server counts repeats).
EVENTS_READ_PER_OBJECT = 100
# What a caller may ask of one log read at most, whatever it passes.
LOG_MAX_TAIL_LINES = 5000
LOG_MAX_BYTES = 1024 * 1024
# Terminal escape sequences (colours, cursor moves) in a log: noise on a page.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StaleObject(Conflict):
    """A write carried the ``resourceVersion`` it read, and the object has changed since: read it again."""


@dataclass(frozen=True)
class Resource:
    """Where objects of one kind live in the Kubernetes API."""

    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES: dict[str, Resource] = {
    resource.kind: resource
    for resource in (
        Resource("Namespace", "", "v1", "namespaces", namespaced=False),
        Resource("ResourceQuota", "", "v1", "resourcequotas"),
        Resource("LimitRange", "", "v1", "limitranges"),
        Resource("Pod", "", "v1", "pods"),
        Resource("Event", "", "v1", "events"),
        Resource("Node", "", "v1", "nodes", namespaced=False),
        Resource("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings"),
        Resource("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies"),
        Resource("Ingress", "networking.k8s.io", "v1", "ingresses"),
        Resource("Deployment", "apps", "v1", "deployments"),
        Resource("StatefulSet", "apps", "v1", "statefulsets"),
        Resource("DaemonSet", "apps", "v1", "daemonsets"),
        Resource("ReplicaSet", "apps", "v1", "replicasets"),
        Resource("ControllerRevision", "apps", "v1", "controllerrevisions"),
        Resource("CronJob", "batch", "v1", "cronjobs"),
        Resource("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers"),
    )
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, ``None`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def replacement_patch(current: Any, target: Any) -> Any:
    """A merge patch that turns ``current`` into exactly ``target`` (keys only ``current`` has are set to null)."""
    if not (isinstance(current, dict) and isinstance(target, dict)):
        return target
    patch = {key: None for key in current if key not in target}
    for key, value in target.items():
        patch[key] = replacement_patch(current[key], value) if key in current else value
    return patch


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2026-11-27T05:00:00Z``) as an aware datetime."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _owned_by(item: Manifest, kind: str, name: str) -> bool:
    return any(
        owner.get("kind") == kind and owner.get("name") == name
        for owner in item.get("metadata", {}).get("ownerReferences") or []
    )


@dataclass(frozen=True)
class _Revision:
    """A revision's pod template and the metadata of the object that keeps it."""

    template: Manifest
    metadata: Manifest
    annotations: Manifest


def _node(item: Manifest) -> NodeInfo:
    metadata, status = item.get("metadata", {}), item.get("status") or {}
    labels = dict(metadata.get("labels") or {})
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    spot = any(labels.get(label, "").lower() == value.lower() for label, value in SPOT_LABELS.items())
    return NodeInfo(
        name=metadata["name"],
        pool=next((labels[label] for label in POOL_LABELS if labels.get(label)), ""),
        instance_type=labels.get("node.kubernetes.io/instance-type", ""),
        zone=labels.get("topology.kubernetes.io/zone", ""),
        capacity_type="spot" if spot else "on-demand",
        cpu_allocatable=parse_quantity(allocatable.get("cpu", 0)),
        memory_allocatable=int(parse_quantity(allocatable.get("memory", 0))),
        gpu_allocatable=int(parse_quantity(allocatable.get(GPU_RESOURCE, 0))),
        ready=conditions.get("Ready") == "True",
        labels=labels,
    )


def _strip_directives(value: Any) -> Any:
    """Drop strategic-merge directives (``$patch``…) so a revision's data can be sent as a merge patch."""
    if isinstance(value, dict):
        return {key: _strip_directives(item) for key, item in value.items() if not key.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(item) for item in value]
    return value


def _version_of(item: Manifest) -> str:
    return str(item.get("metadata", {}).get("resourceVersion", ""))


def _refuse_while_deleting(resource: Resource, current: Manifest) -> None:
    """A namespace (or object) being deleted cannot be brought in line: wait until it is gone, then create it."""
    metadata = current.get("metadata", {})
    if metadata.get("deletionTimestamp") or (current.get("status") or {}).get("phase") == "Terminating":
        name = metadata.get("name", "")
        raise Busy(f"{resource.kind} {name} is being deleted; it is created again once it is gone", resource=name)


def workload_selector(kind: WorkloadKind, item: Manifest) -> Manifest | None:
    """The label selector that picks a workload's pods; ``None`` when it has none to select by.

    Deployments, StatefulSets and DaemonSets carry ``spec.selector``; a
    CronJob's pods are its Jobs', labelled from its job template, so those
    labels select them.
    """
    spec = item.get("spec") or {}
    if kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        return {"matchLabels": dict(labels)} if labels else None
    selector = spec.get("selector") or {}
    if not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return None
    return dict(selector)


def label_selector_text(selector: Mapping[str, Any]) -> str:
    """A ``LabelSelector`` (``matchLabels``, ``matchExpressions``) as the ``labelSelector`` query parameter.

    ``{"matchLabels": {"app": "api"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a",
    "b"]}]}`` is ``app=api,tier in (a,b)``. An operator the API does not define is an ``InvalidRequest``.
    """
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(sorted(str(value) for value in expression.get("values") or []))
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise InvalidRequest(f"unknown label selector operator {operator!r}")
    return ",".join(parts)


def field_selector_text(fields: Mapping[str, str]) -> str:
    """``{"involvedObject.kind": "Pod", "involvedObject.name": "api-1"}`` as a ``fieldSelector`` (all must hold).

    Values are escaped as the API's field selector parser expects (``\\``, ``,`` and ``=``).
    """

    def escaped(value: str) -> str:
        return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

    return ",".join(f"{key}={escaped(value)}" for key, value in fields.items())


def _container(spec: Manifest, status: Manifest) -> PodContainer:
    state = status.get("state") or {}
    phase = next((name for name in ("running", "waiting", "terminated") if name in state), "")
    last = (status.get("lastState") or {}).get("terminated") or {}
    return PodContainer(
        name=str(spec.get("name", "")),
        image=str(spec.get("image", "")),
        ready=bool(status.get("ready")),
        restarts=int(status.get("restartCount") or 0),
        state=phase,
        reason=str((state.get(phase) or {}).get("reason") or "") if phase else "",
        last_terminated=str(last.get("reason") or "Terminated") if last else "",
    )


def pod_info(item: Manifest) -> PodInfo:
    """A pod object as :class:`~providers.cluster.PodInfo` (its containers in spec order, with their status)."""
    metadata, spec, status = item.get("metadata", {}), item.get("spec") or {}, item.get("status") or {}
    statuses = {str(entry.get("name")): entry for entry in status.get("containerStatuses") or []}
    owners = metadata.get("ownerReferences") or []
    owner = next((reference for reference in owners if reference.get("controller")), owners[0] if owners else {})
    return PodInfo(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata["name"]),
        phase=str(status.get("phase") or ""),
        node=str(spec.get("nodeName") or ""),
        created_at=parse_time(status.get("startTime")) or parse_time(metadata.get("creationTimestamp")),
        containers=tuple(
            _container(container, statuses.get(str(container.get("name")), {}))
            for container in spec.get("containers") or []
        ),
        reason=str(status.get("reason") or ""),
        deleting=bool(metadata.get("deletionTimestamp")),
        labels=dict(metadata.get("labels") or {}),
        owner_kind=str(owner.get("kind") or ""),
        owner_name=str(owner.get("name") or ""),
    )


def event_info(item: Manifest) -> ClusterEvent:
    """A core/v1 ``Event`` as :class:`~providers.cluster.ClusterEvent`.

    Events written through events.k8s.io/v1 leave ``lastTimestamp`` and
    ``count`` empty and keep them in ``series`` (or ``eventTime``); the
    creation time is the last resort.
    """
    series = item.get("series") or {}
    involved = item.get("involvedObject") or {}
    last_seen = (
        parse_time(item.get("lastTimestamp"))
        or parse_time(series.get("lastObservedTime"))
        or parse_time(item.get("eventTime"))
        or parse_time((item.get("metadata") or {}).get("creationTimestamp"))
    )
    return ClusterEvent(
        type=str(item.get("type") or "Normal"),
        reason=str(item.get("reason") or ""),
        message=str(item.get("message") or ""),
        count=int(item.get("count") or series.get("count") or 1),
        last_seen=last_seen,
        involved_kind=str(involved.get("kind", "")),
        involved_name=str(involved.get("name", "")),
    )


def log_text(data: bytes, limit_bytes: int) -> tuple[str, bool]:
    """A log's bytes as text for a page: cut at ``limit_bytes`` (a server may send a little more), invalid UTF-8
    replaced (the cut may split a character), terminal escape sequences removed; and whether it was cut."""
    truncated = len(data) >= limit_bytes
    text = data[:limit_bytes].decode("utf-8", errors="replace").replace("\r\n", "\n")
    return _ANSI.sub("", text), truncated


class ManifestClusterDriver(ABC):
    """A :class:`~providers.cluster.ClusterDriver` built on storage primitives that subclasses provide."""

    def __init__(self, *, retry_policy: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.retry_policy = retry_policy or RetryPolicy()
        self.sleep = sleep

    # --- primitives ---------------------------------------------------------------------------------

    @abstractmethod
    def _get(self, resource: Resource, namespace: str | None, name: str) -> Manifest | None:
        """The object, or ``None`` when it does not exist."""

    @abstractmethod
    def _create(self, resource: Resource, namespace: str | None, manifest: Manifest) -> Manifest:
        """Create the object; raise :class:`Conflict` when it already exists."""

    @abstractmethod
    def _patch(self, resource: Resource, namespace: str | None, name: str, patch: Manifest) -> Manifest:
        """Apply a JSON merge patch; raise :class:`NotFound` when the object is missing.

        A patch carrying ``metadata.resourceVersion`` applies only to that
        version: raise :class:`StaleObject` when the object has changed since.
        """

    @abstractmethod
    def _list(self, resource: Resource, namespace: str | None) -> list[Manifest]:
        """Objects of one kind in one namespace, or in all when ``namespace`` is ``None``."""

    @abstractmethod
    def _delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        """Delete the object; raise :class:`NotFound` when it is missing."""

    @abstractmethod
    def _list_custom(self, group: str, version: str, plural: str, namespace: str | None) -> list[Manifest] | None:
        """Instances of a custom resource, or ``None`` when the CRD is not installed."""

    @abstractmethod
    def _pod_metrics(self) -> list[Manifest] | None:
        """``PodMetrics`` from metrics.k8s.io, or ``None`` when metrics-server is not installed."""

    @abstractmethod
    def _select(
        self,
        resource: Resource,
        namespace: str,
        selector: Mapping[str, Any] | None,
        fields: Mapping[str, str],
        limit: int,
    ) -> tuple[list[Manifest], bool]:
        """At most ``limit`` objects of one kind in ``namespace`` that ``selector`` (a ``LabelSelector``) and every
        ``fields`` path (``metadata.name``, ``involvedObject.kind``…) pick, and whether more matched."""

    @abstractmethod
    def _read_log(
        self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int, previous: bool
    ) -> bytes:
        """The container's log as ``GET …/pods/<pod>/log`` answers: its last ``tail_lines`` lines, at most about
        ``limit_bytes``; ``NotFound`` for a missing pod, ``InvalidRequest`` for a container the pod lacks or a log
        there is none of (no previous instance, a container still waiting to start)."""

    def _before_attempt(self, operation: str) -> None:
        """Called before every try of a public operation (the sandbox injects latency and faults here)."""
        return

    def _retrying(self, operation: str, call: Callable[[], T]) -> T:
        def attempt() -> T:
            self._before_attempt(operation)
            return call()

        return call_with_retries(attempt, self.retry_policy, self.sleep)

    # --- ensure -------------------------------------------------------------------------------------

    def _ensure(self, manifest: Manifest, owned_annotation_prefixes: Iterable[str] = ()) -> Applied:
        resource = RESOURCES[manifest["kind"]]
        metadata = manifest["metadata"]
        namespace, name = metadata.get("namespace"), metadata["name"]
        prefixes = tuple(owned_annotation_prefixes)
        current = self._get(resource, namespace, name)
        created = updated = False
        for _ in range(STALE_WRITE_ATTEMPTS):
            if current is None:
                try:
                    current = self._create(resource, namespace, manifest)
                    created = True
                    break
                except Busy:
                    raise
                except Conflict:
                    # Someone (or our own earlier, interrupted try) created it between the look and the create.
                    current = self._get(resource, namespace, name)
                    if current is None:
                        raise
            _refuse_while_deleting(resource, current)
            if self._needs_recreating(resource, manifest, current):
                with contextlib.suppress(NotFound):  # someone else removed it first
                    self._delete(resource, namespace, name)
                current = None
                continue
            patch = self._patch_for(manifest, current, prefixes)
            if not differs(patch, current):
                break
            # The patch is computed from what was read: it applies only to that version of the object
            # (a stale metadata.resourceVersion answers 409 Conflict), else it is computed again.
            patch["metadata"] = {**patch.get("metadata", {}), "resourceVersion": _version_of(current)}
            try:
                current = self._patch(resource, namespace, name, patch)
                updated = True
                break
            except StaleObject:
                current = self._get(resource, namespace, name)
        else:
            raise Busy(f"{resource.kind} {name} kept changing while the portal updated it", resource=name)
        current_metadata = current.get("metadata", {})
        return Applied(
            kind=resource.kind,
            namespace=namespace,
            name=name,
            uid=str(current_metadata.get("uid", "")),
            resource_version=str(current_metadata.get("resourceVersion", "")),
            created=created,
            updated=updated,
        )

    @staticmethod
    def _patch_for(manifest: Manifest, current: Manifest, prefixes: tuple[str, ...]) -> Manifest:
        """The merge patch that brings ``current`` in line with ``manifest`` (owned annotations not wanted: null)."""
        metadata = manifest["metadata"]
        patch = {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
        if prefixes:
            wanted = metadata.get("annotations") or {}
            stale = {
                key: None
                for key in (current.get("metadata", {}).get("annotations") or {})
                if key.startswith(prefixes) and key not in wanted
            }
            patch["metadata"] = {**metadata, "annotations": {**wanted, **stale}}
        return patch

    @staticmethod
    def _needs_recreating(resource: Resource, manifest: Manifest, current: Manifest) -> bool:
        """Whether ``manifest`` changes a field the API server keeps as created (a role binding's ``roleRef``)."""
        return any(
            differs(manifest[field], current.get(field))
            for field in RECREATE_ON_CHANGE.get(resource.kind, ())
            if field in manifest
        )

    def ensure_namespace(self, spec: NamespaceSpec) -> Applied:
        """Create the namespace or bring its labels/annotations in line; exactly one exists afterwards."""
        return self._retrying("ensure_namespace", lambda: self._ensure(render_namespace(spec)))

    def ensure_resource_quota(self, spec: ResourceQuotaSpec) -> Applied:
        """Create or update the namespace's resource quota."""
        return self._retrying("ensure_resource_quota", lambda: self._ensure(render_resource_quota(spec)))

    def ensure_limit_range(self, spec: LimitRangeSpec) -> Applied:
        """Create or update the namespace's container limit range."""
        return self._retrying("ensure_limit_range", lambda: self._ensure(render_limit_range(spec)))

    def ensure_role_binding(self, spec: RoleBindingSpec) -> Applied:
        """Create or update a role binding to a cluster role."""
        return self._retrying("ensure_role_binding", lambda: self._ensure(render_role_binding(spec)))

    def ensure_network_policy(self, spec: NetworkPolicySpec) -> Applied:
        """Create or update the namespace's default-deny ingress policy."""
        return self._retrying("ensure_network_policy", lambda: self._ensure(render_network_policy(spec)))

    def ensure_ingress(self, spec: IngressSpec) -> Applied:
        """Create or update an NGINX ingress; portal-owned annotations it no longer wants are removed."""
        return self._retrying("ensure_ingress", lambda: self._ensure(render_ingress(spec), OWNED_ANNOTATION_PREFIXES))

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace; one that does not exist is fine."""

        def delete() -> None:
            resource = RESOURCES["Namespace"]
            try:
                self._delete(resource, None, name)
            except NotFound:
                return
            except Busy:
                raise
            except Conflict:
                # A second DELETE while the namespace terminates: "The system is ensuring all content is removed".
                raise Busy(f"namespace {name} is being deleted", resource=name) from None
            # A namespace has the "kubernetes" finalizer: it stays, Terminating, until its content is gone.
            if self._get(resource, None, name) is not None:
                raise Busy(f"namespace {name} is being deleted", resource=name)

        self._retrying("delete_namespace", delete)

    # --- workloads ----------------------------------------------------------------------------------

    def list_workloads(self, namespace: str | None = None) -> list[Workload]:
        """Deployments, StatefulSets, DaemonSets and CronJobs in one namespace or all, with HPA numbers."""
        return self._retrying("list_workloads", lambda: self._workloads(namespace))

    def _workloads(self, namespace: str | None, only: tuple[WorkloadKind, str] | None = None) -> list[Workload]:
        hpas: dict[tuple[str, str, str], Manifest] = {}
        for hpa in self._list(RESOURCES["HorizontalPodAutoscaler"], namespace):
            target = hpa.get("spec", {}).get("scaleTargetRef", {})
            hpas[(hpa["metadata"].get("namespace", ""), target.get("kind", ""), target.get("name", ""))] = hpa
        revisions: dict[tuple[str, str, str], int] = {}
        for revision in self._list(RESOURCES["ControllerRevision"], namespace):
            for owner in revision.get("metadata", {}).get("ownerReferences") or []:
                key = (revision["metadata"].get("namespace", ""), owner.get("kind", ""), owner.get("name", ""))
                revisions[key] = max(revisions.get(key, 0), int(revision.get("revision", 0)))
        workloads = []
        for kind in WORKLOAD_KINDS:
            if only and only[0] != kind:
                continue
            for item in self._list(RESOURCES[kind], namespace):
                if only and item["metadata"]["name"] != only[1]:
                    continue
                workloads.append(self._workload(kind, item, hpas, revisions))
        return sorted(workloads, key=lambda workload: (workload.namespace, workload.kind, workload.name))

    @staticmethod
    def _workload(
        kind: WorkloadKind,
        item: Manifest,
        hpas: dict[tuple[str, str, str], Manifest],
        revisions: dict[tuple[str, str, str], int],
    ) -> Workload:
        metadata, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status") or {}
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        if kind == "CronJob":
            template = spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
            desired = 0 if spec.get("suspend") else 1
            ready = len(status.get("active") or [])
        else:
            template = spec.get("template", {})
            if kind == "DaemonSet":
                desired, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
            else:
                desired, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
        conditions = status.get("conditions") or []
        revision: int | None = None
        if kind == "Deployment" and REVISION_ANNOTATION in (metadata.get("annotations") or {}):
            revision = int(metadata["annotations"][REVISION_ANNOTATION])
        elif (namespace, kind, name) in revisions:
            revision = revisions[(namespace, kind, name)]
        times = [parse_time(c.get("lastUpdateTime") or c.get("lastTransitionTime")) for c in conditions]
        times.append(parse_time(status.get("lastScheduleTime")))
        known = [moment for moment in times if moment]
        hpa_status = (hpas.get((namespace, kind, name)) or {}).get("status")
        return Workload(
            kind=kind,
            namespace=namespace,
            name=name,
            images=tuple(c.get("image", "") for c in template.get("spec", {}).get("containers") or []),
            replicas_desired=int(desired or 0),
            replicas_ready=int(ready or 0),
            conditions=tuple(f"{c.get('type')}={c.get('status')}" for c in conditions),
            revision=revision,
            hpa_current=None if hpa_status is None else int(hpa_status.get("currentReplicas", 0)),
            hpa_desired=None if hpa_status is None else int(hpa_status.get("desiredReplicas", 0)),
            labels=dict(metadata.get("labels") or {}),
            updated_at=max(known) if known else parse_time(metadata.get("creationTimestamp")),
        )

    def _revisions(self, kind: WorkloadKind, namespace: str, name: str) -> tuple[dict[int, _Revision], int]:
        """The workload's revisions by number, and the number of the one running now.

        Deployments keep revisions in their ReplicaSets; StatefulSets and
        DaemonSets in ControllerRevisions. CronJobs have none.
        """
        if kind not in WORKLOAD_KINDS:
            raise InvalidRequest(f"unknown workload kind {kind!r}")
        if kind == "CronJob":
            raise InvalidRequest("a CronJob has no revisions to roll back to", resource=f"{namespace}/{name}")
        current = self._get(RESOURCES[kind], namespace, name)
        if current is None:
            raise NotFound(f"{kind} {namespace}/{name} does not exist", resource=f"{namespace}/{name}")
        revisions: dict[int, _Revision] = {}
        if kind == "Deployment":
            for replica_set in self._list(RESOURCES["ReplicaSet"], namespace):
                metadata = replica_set.get("metadata", {})
                annotations = metadata.get("annotations") or {}
                if _owned_by(replica_set, kind, name) and REVISION_ANNOTATION in annotations:
                    template = dict(replica_set.get("spec", {}).get("template", {}))
                    labels = dict(template.get("metadata", {}).get("labels") or {})
                    labels.pop("pod-template-hash", None)
                    template["metadata"] = {**template.get("metadata", {}), "labels": labels}
                    revisions[int(annotations[REVISION_ANNOTATION])] = _Revision(template, metadata, annotations)
            revision_now = (current.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION)
            latest = int(revision_now) if revision_now else max(revisions, default=0)
        else:
            for revision in self._list(RESOURCES["ControllerRevision"], namespace):
                if _owned_by(revision, kind, name):
                    data = _strip_directives(revision.get("data") or {})
                    metadata = revision.get("metadata", {})
                    revisions[int(revision.get("revision", 0))] = _Revision(
                        data.get("spec", {}).get("template", {}), metadata, metadata.get("annotations") or {}
                    )
            latest = max(revisions, default=0)
        return revisions, latest

    def workload_history(self, kind: WorkloadKind, namespace: str, name: str) -> list[WorkloadRevision]:
        """The revisions ``rollback_workload`` can go back to, newest first; a CronJob is an ``InvalidRequest``."""

        def read() -> list[WorkloadRevision]:
            revisions, latest = self._revisions(kind, namespace, name)
            return [
                WorkloadRevision(
                    revision=number,
                    images=tuple(c.get("image", "") for c in revision.template.get("spec", {}).get("containers") or []),
                    created_at=parse_time(revision.metadata.get("creationTimestamp")),
                    change_cause=str(revision.annotations.get(CHANGE_CAUSE_ANNOTATION, "")),
                    current=number == latest,
                )
                for number, revision in sorted(revisions.items(), reverse=True)
            ]

        return self._retrying("workload_history", read)

    def rollback_workload(
        self, kind: WorkloadKind, namespace: str, name: str, to_revision: int | None = None
    ) -> Workload:
        """Put back the pod template of the previous (or given) revision, as ``kubectl rollout undo`` does."""

        def rollback() -> Workload:
            revisions, latest = self._revisions(kind, namespace, name)
            target = to_revision if to_revision is not None else max((r for r in revisions if r < latest), default=None)
            if target is None or target not in revisions:
                raise InvalidRequest(
                    f"{kind} {namespace}/{name} has no revision {to_revision or 'before ' + str(latest)}",
                    resource=f"{namespace}/{name}",
                )
            resource = RESOURCES[kind]
            for _ in range(STALE_WRITE_ATTEMPTS):
                current = self._get(resource, namespace, name)
                if current is None:
                    raise NotFound(f"{kind} {namespace}/{name} does not exist", resource=f"{namespace}/{name}")
                template_now = current.get("spec", {}).get("template", {})
                # Replace the template, not merge into it: a volume or annotation added since must go too.
                # The replacement is computed from the template read, so it applies to that version only.
                patch = {
                    "metadata": {"resourceVersion": _version_of(current)},
                    "spec": {"template": replacement_patch(template_now, revisions[target].template)},
                }
                try:
                    self._patch(resource, namespace, name, patch)
                    break
                except StaleObject:
                    continue
            else:
                raise Busy(f"{kind} {namespace}/{name} kept changing during the rollback", resource=name)
            return self._workloads(namespace, only=(kind, name))[0]

        return self._retrying("rollback_workload", rollback)

    # --- nodes --------------------------------------------------------------------------------------

    def list_nodes(self) -> list[NodeInfo]:
        """Every node with its allocatable CPU, memory and GPUs, its pool and whether it is spot capacity."""
        return self._retrying("list_nodes", lambda: [_node(item) for item in self._list(RESOURCES["Node"], None)])

    def list_namespaces(self) -> list[NamespaceInfo]:
        """Every namespace with its labels, by name."""

        def read() -> list[NamespaceInfo]:
            items = self._list(RESOURCES["Namespace"], None)
            namespaces = [
                NamespaceInfo(item["metadata"]["name"], dict(item["metadata"].get("labels") or {})) for item in items
            ]
            return sorted(namespaces, key=lambda namespace: namespace.name)

        return self._retrying("list_namespaces", read)

    # --- usage and custom resources -----------------------------------------------------------------

    def namespace_usage(self) -> list[NamespaceUsage]:
        """Requests summed over running and pending pods; usage from metrics.k8s.io when it is installed."""
        return self._retrying("namespace_usage", self._usage)

    def _usage(self) -> list[NamespaceUsage]:
        zero = Decimal(0)
        cpu_request: dict[str, Decimal] = defaultdict(lambda: zero)
        memory_request: dict[str, Decimal] = defaultdict(lambda: zero)
        gpu_request: dict[str, Decimal] = defaultdict(lambda: zero)
        for pod in self._list(RESOURCES["Pod"], None):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            namespace = pod["metadata"].get("namespace", "")
            cpu_request[namespace] += zero
            for container in pod.get("spec", {}).get("containers") or []:
                asked = (container.get("resources") or {}).get("requests") or {}
                cpu_request[namespace] += parse_quantity(asked.get("cpu", 0))
                memory_request[namespace] += parse_quantity(asked.get("memory", 0))
                gpu_request[namespace] += parse_quantity(asked.get(GPU_RESOURCE, 0))
        metrics = self._pod_metrics()
        cpu_usage: dict[str, Decimal] = defaultdict(lambda: zero)
        memory_usage: dict[str, Decimal] = defaultdict(lambda: zero)
        for pod_metrics in metrics or []:
            namespace = pod_metrics["metadata"].get("namespace", "")
            cpu_request[namespace] += zero
            for container in pod_metrics.get("containers") or []:
                usage = container.get("usage") or {}
                cpu_usage[namespace] += parse_quantity(usage.get("cpu", 0))
                memory_usage[namespace] += parse_quantity(usage.get("memory", 0))
        return [
            NamespaceUsage(
                namespace=namespace,
                cpu_request=cpu_request[namespace],
                cpu_usage=None if metrics is None else cpu_usage[namespace],
                memory_request=int(memory_request[namespace]),
                memory_usage=None if metrics is None else int(memory_usage[namespace]),
                gpu_request=int(gpu_request[namespace]),
            )
            for namespace in sorted(cpu_request)
        ]

    def list_custom_resources(
        self, group: str, version: str, plural: str, namespace: str | None = None
    ) -> list[CustomResource]:
        """Instances of a CRD; an empty list when the CRD is not installed."""

        def read() -> list[CustomResource]:
            items = self._list_custom(group, version, plural, namespace) or []
            return [
                CustomResource(
                    group=group,
                    version=version,
                    kind=str(item.get("kind", "")),
                    namespace=item.get("metadata", {}).get("namespace"),
                    name=item["metadata"]["name"],
                    labels=dict(item["metadata"].get("labels") or {}),
                    spec=dict(item.get("spec") or {}),
                    status=dict(item.get("status") or {}),
                )
                for item in items
            ]

        return self._retrying("list_custom_resources", read)

    # --- one workload, on demand: pods, events, logs -------------------------------------------------

    def workload_pods(
        self, kind: WorkloadKind, namespace: str, name: str, *, limit: int = POD_LIMIT, only: str | None = None
    ) -> PodList:
        """The pods the workload's label selector picks in its namespace, at most ``limit`` (``only``: that pod).

        The selector is read from the workload as the cluster has it now. A
        workload with none to select by lists no pod: an empty selector would
        pick every pod of the namespace. A missing workload is ``NotFound``.
        """
        if kind not in WORKLOAD_KINDS:
            raise InvalidRequest(f"unknown workload kind {kind!r}")
        if not 1 <= limit <= POD_LIMIT:
            raise InvalidRequest(f"at most {POD_LIMIT} pods are listed at once, not {limit}")

        def read() -> PodList:
            item = self._get(RESOURCES[kind], namespace, name)
            if item is None:
                raise NotFound(f"{kind} {namespace}/{name} does not exist", resource=f"{namespace}/{name}")
            selector = workload_selector(kind, item)
            text = label_selector_text(selector) if selector else ""
            if selector is None or not text:
                return PodList(selector="")
            fields = {"metadata.name": only} if only else {}
            items, truncated = self._select(RESOURCES["Pod"], namespace, selector, fields, 1 if only else limit)
            return PodList(selector=text, pods=tuple(pod_info(item) for item in items), truncated=truncated)

        return self._retrying("workload_pods", read)

    def events(
        self, namespace: str, involved: Sequence[tuple[str, str]], *, limit: int = EVENT_LIMIT
    ) -> list[ClusterEvent]:
        """Events about the given (kind, name) objects of ``namespace``, newest first, at most ``limit``.

        One bounded read per object, by the field selector the API serves for
        events (``involvedObject.kind`` and ``involvedObject.name``); at most
        :data:`~providers.cluster.EVENT_OBJECTS_LIMIT` objects per call.
        """
        wanted = list(dict.fromkeys((str(kind), str(name)) for kind, name in involved))
        if len(wanted) > EVENT_OBJECTS_LIMIT:
            raise InvalidRequest(f"events of at most {EVENT_OBJECTS_LIMIT} objects are read at once, not {len(wanted)}")
        if not 1 <= limit <= EVENTS_READ_PER_OBJECT:
            raise InvalidRequest(f"at most {EVENTS_READ_PER_OBJECT} events are shown at once, not {limit}")

        def read() -> list[ClusterEvent]:
            found: list[ClusterEvent] = []
            for kind, name in wanted:
                fields = {"involvedObject.kind": kind, "involvedObject.name": name}
                items, _ = self._select(RESOURCES["Event"], namespace, None, fields, EVENTS_READ_PER_OBJECT)
                found += [event_info(item) for item in items]
            found.sort(key=lambda event: event.last_seen or _EPOCH, reverse=True)
            return found[:limit]

        return self._retrying("events", read)

    def container_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int = LOG_TAIL_LINES,
        limit_bytes: int = LOG_LIMIT_BYTES,
        previous: bool = False,
    ) -> ContainerLog:
        """The last ``tail_lines`` lines of one container's log (its previous instance's), at most ``limit_bytes``.

        The container is always named: the API server refuses a pod of several
        containers without one ("a container name must be specified"), and a
        request that names it reads the same log whatever the pod holds.
        """
        if not container:
            raise InvalidRequest(f"name the container of pod {pod} whose log to read", resource=f"{namespace}/{pod}")
        if not 1 <= tail_lines <= LOG_MAX_TAIL_LINES:
            raise InvalidRequest(f"tail_lines must be between 1 and {LOG_MAX_TAIL_LINES}, not {tail_lines}")
        if not 1 <= limit_bytes <= LOG_MAX_BYTES:
            raise InvalidRequest(f"limit_bytes must be between 1 and {LOG_MAX_BYTES}, not {limit_bytes}")

        def read() -> ContainerLog:
            data = self._read_log(namespace, pod, container, tail_lines, limit_bytes, previous)
            text, truncated = log_text(data, limit_bytes)
            return ContainerLog(
                namespace=namespace,
                pod=pod,
                container=container,
                text=text,
                previous=previous,
                tail_lines=tail_lines,
                limit_bytes=limit_bytes,
                truncated=truncated,
            )

        return self._retrying("container_log", read)
