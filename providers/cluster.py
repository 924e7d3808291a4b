"""The cluster driver interface: what the portal asks of a Kubernetes cluster, in plain typed values.

Specs (``*Spec``) say what should exist; :class:`Applied` says what does after an
ensure-operation. :class:`Workload`, :class:`WorkloadRevision`, :class:`NamespaceUsage`,
:class:`NodeInfo`, :class:`NamespaceInfo` and :class:`CustomResource` are what the portal
reads back; :class:`PodList`, :class:`ClusterEvent` and :class:`ContainerLog` what it reads
on demand about one workload (shown to a person, never stored). :class:`ClusterDriver`
is the protocol every implementation satisfies (the sandbox in
:mod:`providers.sandbox.cluster`, the real one in
:mod:`providers.kubernetes.driver`); one contract suite checks both.

The ``render_*`` functions turn specs into Kubernetes manifests (plain dicts)
so every driver creates exactly the same objects, with the label
``app.kubernetes.io/managed-by: platform-portal`` and the caller's labels.

CPU is counted in cores as :class:`~decimal.Decimal` (``"250m"`` is exactly
``Decimal("0.25")``; floats would drift when summed); memory in bytes as ``int``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

Manifest = dict[str, Any]
WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "CronJob"]
WORKLOAD_KINDS: tuple[WorkloadKind, ...] = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "platform-portal"
NGINX = "nginx.ingress.kubernetes.io"
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
GPU_RESOURCE = "nvidia.com/gpu"
# On-demand reads about one workload are bounded, whatever the namespace holds (a driver refuses more).
POD_LIMIT = 50  # pods of one workload listed at most
EVENT_LIMIT = 20  # events shown, newest first
EVENT_OBJECTS_LIMIT = 25  # objects whose events one call reads (each is one request on a real cluster)
LOG_TAIL_LINES = 100
LOG_LIMIT_BYTES = 64 * 1024


@dataclass(frozen=True)
class NamespaceSpec:
    """A namespace with the labels and annotations the portal wants on it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceQuotaSpec:
    """A ``ResourceQuota`` named ``name`` in ``namespace`` with ``hard`` limits (e.g. ``{"requests.cpu": "8"}``)."""

    namespace: str
    hard: Mapping[str, str]
    name: str = "portal-quota"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LimitRangeSpec:
    """A container ``LimitRange``: default limits, default requests and maxima per resource."""

    namespace: str
    default_limits: Mapping[str, str] = field(default_factory=dict)
    default_requests: Mapping[str, str] = field(default_factory=dict)
    max: Mapping[str, str] = field(default_factory=dict)
    name: str = "portal-limits"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """Who a role binding grants to: an SSO group or a single user."""

    kind: Literal["Group", "User"]
    name: str


@dataclass(frozen=True)
class RoleBindingSpec:
    """A ``RoleBinding`` of a ``ClusterRole`` (e.g. ``edit``, ``view``) to subjects inside one namespace."""

    namespace: str
    name: str
    cluster_role: str
    subjects: tuple[Subject, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkPolicySpec:
    """Default-deny ingress for a namespace, plus the namespaces (and ingress controller) allowed in."""

    namespace: str
    allow_from_namespaces: tuple[str, ...] = ()
    allow_ingress_controller: bool = True
    name: str = "portal-default-deny"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IngressSpec:
    """An NGINX ingress for one service, with TLS from cert-manager, rate limit and source ranges."""

    namespace: str
    name: str
    host: str
    service: str
    port: int
    tls_secret: str | None = None
    rate_limit_rps: int | None = None
    allow_cidrs: tuple[str, ...] = ()
    deny_cidrs: tuple[str, ...] = ()
    cluster_issuer: str = "letsencrypt"
    ingress_class: str = "nginx"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    """The object an ensure-operation left in place; ``created``/``updated`` say what this call changed."""

    kind: str
    namespace: str | None
    name: str
    uid: str
    resource_version: str
    created: bool = False
    updated: bool = False


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet, DaemonSet or CronJob as the portal shows it."""

    kind: WorkloadKind
    namespace: str
    name: str
    images: tuple[str, ...]
    replicas_desired: int
    replicas_ready: int
    conditions: tuple[str, ...] = ()
    revision: int | None = None
    hpa_current: int | None = None
    hpa_desired: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None


@dataclass(frozen=True)
class WorkloadRevision:
    """One revision a workload can be rolled back to (a Deployment's ReplicaSet, a ControllerRevision)."""

    revision: int
    images: tuple[str, ...]
    created_at: datetime | None
    change_cause: str = ""
    current: bool = False


@dataclass(frozen=True)
class NodeInfo:
    """A node's allocatable capacity and where it comes from, for splitting its cost across namespaces.

    ``pool`` and ``capacity_type`` are read from the labels EKS, AKS and
    Karpenter set (``""`` and ``"on-demand"`` on a plain k3s node);
    ``capacity_type`` is ``"spot"`` or ``"on-demand"``.
    """

    name: str
    pool: str
    instance_type: str
    zone: str
    capacity_type: str
    cpu_allocatable: Decimal
    memory_allocatable: int
    gpu_allocatable: int
    ready: bool
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NamespaceUsage:
    """Requests summed from pod specs; usage from metrics.k8s.io, ``None`` when metrics-server is absent."""

    namespace: str
    cpu_request: Decimal
    cpu_usage: Decimal | None
    memory_request: int
    memory_usage: int | None
    gpu_request: int


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace and its labels (cost allocation maps namespaces to owners by their labels)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomResource:
    """An instance of a CRD (an Argo CD Application, an Argo Rollout…), spec and status as plain data."""

    group: str
    version: str
    kind: str
    namespace: str | None
    name: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]


@dataclass(frozen=True)
class PodContainer:
    """One container of a pod as its status reports it.

    ``state`` is ``running``, ``waiting`` or ``terminated`` (``""`` before the
    kubelet reported anything); ``reason`` the waiting or terminated reason
    (``CrashLoopBackOff``, ``ImagePullBackOff``, ``OOMKilled``…);
    ``last_terminated`` the reason the previous instance ended, when it was
    restarted, so its log (``previous=True``) may still be read.
    """

    name: str
    image: str
    ready: bool = False
    restarts: int = 0
    state: str = ""
    reason: str = ""
    last_terminated: str = ""

    @property
    def has_previous(self) -> bool:
        """Whether an earlier instance ended, so the kubelet may keep its log."""
        return bool(self.last_terminated) or self.restarts > 0


@dataclass(frozen=True)
class PodInfo:
    """A pod of a workload: where it runs, its phase and its containers (init containers left out)."""

    namespace: str
    name: str
    phase: str
    node: str
    created_at: datetime | None
    containers: tuple[PodContainer, ...] = ()
    reason: str = ""  # the pod's own status reason (Evicted, NodeLost…)
    deleting: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    # The object that made it (its controller owner reference): a Deployment's ReplicaSet, a CronJob's Job…
    owner_kind: str = ""
    owner_name: str = ""

    @property
    def ready_containers(self) -> int:
        return sum(1 for container in self.containers if container.ready)

    @property
    def restarts(self) -> int:
        return sum(container.restarts for container in self.containers)

    @property
    def status(self) -> str:
        """What ``kubectl get pods`` shows: Terminating, a container's reason, the pod's reason, else its phase."""
        if self.deleting:
            return "Terminating"
        for container in self.containers:
            if container.state in ("waiting", "terminated") and container.reason and container.reason != "Completed":
                return container.reason
        return self.reason or self.phase or "Unknown"

    @property
    def healthy(self) -> bool:
        """Running with every container ready, or finished well (a CronJob's pod)."""
        if self.phase == "Succeeded":
            return True
        return self.phase == "Running" and not self.deleting and self.ready_containers == len(self.containers)


@dataclass(frozen=True)
class PodList:
    """The pods a workload's label selector picks in its namespace, at most the limit asked for.

    ``selector`` is the label selector as sent (``""`` when the workload has
    none to select by, and then no pod was listed); ``truncated`` says more
    pods matched than were read.
    """

    selector: str
    pods: tuple[PodInfo, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class ClusterEvent:
    """A Kubernetes event about an object (``involved_kind``/``involved_name``), as ``kubectl get events`` shows it."""

    type: str  # Normal or Warning
    reason: str
    message: str
    count: int
    last_seen: datetime | None
    involved_kind: str
    involved_name: str

    @property
    def warning(self) -> bool:
        return self.type == "Warning"


@dataclass(frozen=True)
class ContainerLog:
    """The last lines of one container's log, as text (never stored, never logged).

    ``truncated`` says the answer reached ``limit_bytes``: its lines are
    the first of the tail asked for, cut there.
    """

    namespace: str
    pod: str
    container: str
    text: str
    previous: bool = False
    tail_lines: int = LOG_TAIL_LINES
    limit_bytes: int = LOG_LIMIT_BYTES
    truncated: bool = False


@runtime_checkable
class ClusterDriver(Protocol):
    """What the portal may ask of one cluster. Ensure-operations are idempotent; errors are ``providers.errors``."""

    def ensure_namespace(self, spec: NamespaceSpec) -> Applied:
        """Create the namespace or bring its labels/annotations in line; exactly one exists afterwards."""
        ...

    def ensure_resource_quota(self, spec: ResourceQuotaSpec) -> Applied:
        """Create or update the namespace's resource quota."""
        ...

    def ensure_limit_range(self, spec: LimitRangeSpec) -> Applied:
        """Create or update the namespace's container limit range."""
        ...

    def ensure_role_binding(self, spec: RoleBindingSpec) -> Applied:
        """Create or update a role binding to a cluster role."""
        ...

    def ensure_network_policy(self, spec: NetworkPolicySpec) -> Applied:
        """Create or update the namespace's default-deny ingress policy."""
        ...

    def ensure_ingress(self, spec: IngressSpec) -> Applied:
        """Create or update an NGINX ingress with its annotations."""
        ...

    def list_workloads(self, namespace: str | None = None) -> list[Workload]:
        """Deployments, StatefulSets, DaemonSets and CronJobs in one namespace or all, with HPA numbers."""
        ...

    def rollback_workload(
        self, kind: WorkloadKind, namespace: str, name: str, to_revision: int | None = None
    ) -> Workload:
        """Roll a workload back to the previous (or given) revision; CronJobs raise ``InvalidRequest``."""
        ...

    def workload_history(self, kind: WorkloadKind, namespace: str, name: str) -> list[WorkloadRevision]:
        """The revisions ``rollback_workload`` can go back to, newest first; a CronJob has none."""
        ...

    def namespace_usage(self) -> list[NamespaceUsage]:
        """Requests and (when metrics are installed) usage for every namespace with pods."""
        ...

    def list_nodes(self) -> list[NodeInfo]:
        """Every node with its allocatable CPU, memory and GPUs, its pool and whether it is spot capacity."""
        ...

    def list_namespaces(self) -> list[NamespaceInfo]:
        """Every namespace with its labels, by name."""
        ...

    def list_custom_resources(
        self, group: str, version: str, plural: str, namespace: str | None = None
    ) -> list[CustomResource]:
        """Instances of a CRD; an empty list when the CRD is not installed."""
        ...

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace; one that does not exist is fine."""
        ...

    def workload_pods(
        self, kind: WorkloadKind, namespace: str, name: str, *, limit: int = POD_LIMIT, only: str | None = None
    ) -> PodList:
        """The pods the workload's label selector picks in its namespace, at most ``limit`` (``only``: that pod).

        A workload with no selector lists none (an empty selector would pick
        every pod of the namespace); a missing workload is ``NotFound``.
        """
        ...

    def events(
        self, namespace: str, involved: Sequence[tuple[str, str]], *, limit: int = EVENT_LIMIT
    ) -> list[ClusterEvent]:
        """Events about the given (kind, name) objects of ``namespace``, newest first, at most ``limit``."""
        ...

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
        """The last ``tail_lines`` lines of one container's log (of its previous instance), at most ``limit_bytes``.

        The container is always named (``InvalidRequest`` otherwise): the API
        server refuses a pod of several containers without one.
        """
        ...


# --- manifests -----------------------------------------------------------------------------------


def managed_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The caller's labels plus the portal's ``managed-by`` label (which the caller cannot override)."""
    return {**labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE}


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": managed_labels(labels), **extra}
    if namespace is not None:
        metadata["namespace"] = namespace
    return metadata


def render_namespace(spec: NamespaceSpec) -> Manifest:
    """The ``Namespace`` manifest for ``spec``."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _metadata(spec.name, None, spec.labels, annotations=dict(spec.annotations)),
    }


def render_resource_quota(spec: ResourceQuotaSpec) -> Manifest:
    """The ``ResourceQuota`` manifest for ``spec``."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(spec.name, spec.namespace, spec.labels),
        "spec": {"hard": dict(spec.hard)},
    }


def render_limit_range(spec: LimitRangeSpec) -> Manifest:
    """The ``LimitRange`` manifest for ``spec`` (one ``Container`` limit)."""
    limit: dict[str, Any] = {"type": "Container"}
    if spec.default_limits:
        limit["default"] = dict(spec.default_limits)
    if spec.default_requests:
        limit["defaultRequest"] = dict(spec.default_requests)
    if spec.max:
        limit["max"] = dict(spec.max)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(spec.name, spec.namespace, spec.labels),
        "spec": {"limits": [limit]},
    }


def render_role_binding(spec: RoleBindingSpec) -> Manifest:
    """The ``RoleBinding`` manifest for ``spec``."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(spec.name, spec.namespace, spec.labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": spec.cluster_role},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": subject.kind, "name": subject.name}
            for subject in spec.subjects
        ],
    }


def render_network_policy(spec: NetworkPolicySpec) -> Manifest:
    """Default-deny ingress (empty pod selector, ``Ingress`` policy type) plus one rule per allowed source."""
    sources: list[dict[str, Any]] = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
        for name in spec.allow_from_namespaces
    ]
    if spec.allow_ingress_controller:
        sources.append(
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": INGRESS_CONTROLLER_NAMESPACE}}}
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(spec.name, spec.namespace, spec.labels),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources}] if sources else [],
        },
    }


def ingress_annotations(spec: IngressSpec) -> dict[str, str]:
    """The NGINX ingress and cert-manager annotations the platform spec uses."""
    annotations: dict[str, str] = {}
    if spec.rate_limit_rps is not None:
        annotations[f"{NGINX}/limit-rps"] = str(spec.rate_limit_rps)
    if spec.allow_cidrs:
        annotations[f"{NGINX}/whitelist-source-range"] = ",".join(spec.allow_cidrs)
    if spec.deny_cidrs:
        annotations[f"{NGINX}/denylist-source-range"] = ",".join(spec.deny_cidrs)
    if spec.tls_secret:
        annotations["cert-manager.io/cluster-issuer"] = spec.cluster_issuer
        annotations[f"{NGINX}/ssl-redirect"] = "true"
    return annotations


def render_ingress(spec: IngressSpec) -> Manifest:
    """The ``Ingress`` manifest for ``spec``: one host, one path, TLS when a secret is named."""
    body: dict[str, Any] = {
        "ingressClassName": spec.ingress_class,
        "rules": [
            {
                "host": spec.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": spec.service, "port": {"number": spec.port}}},
                        }
                    ]
                },
            }
        ],
    }
    if spec.tls_secret:
        body["tls"] = [{"hosts": [spec.host], "secretName": spec.tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(spec.name, spec.namespace, spec.labels, annotations=ingress_annotations(spec)),
        "spec": body,
    }


# Maps whose values are quantities: the API server may write them back in canonical form ("1024Mi" as "1Gi").
QUANTITY_MAPS = frozenset({"hard", "default", "defaultRequest", "max", "min", "requests", "limits"})


def differs(desired: Any, actual: Any, *, quantities: bool = False) -> bool:
    """Whether ``actual`` lacks anything ``desired`` sets (extra server-side fields do not count).

    Values inside quantity maps (quota ``hard``, limit range ``default``…) are
    compared as amounts, so ``"1Gi"`` equals ``"1024Mi"``.
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return True
        return any(
            differs(value, actual.get(key), quantities=quantities or key in QUANTITY_MAPS)
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(desired) != len(actual):
            return True
        return any(differs(d, a) for d, a in zip(desired, actual, strict=True))
    if quantities and isinstance(desired, str) and isinstance(actual, str):
        try:
            return parse_quantity(desired) != parse_quantity(actual)
        except ValueError:
            pass
    return bool(desired != actual)


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
}


def parse_quantity(quantity: str | int | float) -> Decimal:
    """A Kubernetes quantity (``"250m"``, ``"1Gi"``, ``"2"``, ``"12345n"``) as an exact Decimal."""
    match = _QUANTITY.match(str(quantity).strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
