"""What a workload's cluster says about it now: its pods, their recent events and their containers' last log lines.

Read through the cluster's driver when a person opens a workload's Kubernetes
panel, never on a schedule, and shown, not kept: nothing read here is written
to the database, and a log's text is never written to the portal's logs
either (logs may hold personal data). What is kept is that someone read a
log: one audit event (:data:`access.audit.services.WORKLOAD_LOGS_VIEWED`) naming the
pod and containers, never their text.

Every read is bounded by the driver (:data:`providers.cluster.POD_LIMIT` pods,
:data:`~providers.cluster.EVENT_LIMIT` events, the last
:data:`~providers.cluster.LOG_TAIL_LINES` lines and at most
:data:`~providers.cluster.LOG_LIMIT_BYTES` of each log). A driver error
becomes a sentence for the panel (:func:`problem`): the panel says what went
wrong and the rest of the page is untouched.

Who may look is the policy's: the panel takes ``deployments.view`` on the
workload (as its row on the deployment page does), its logs
``deployments.logs`` too. The views check both; this module reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from access.audit import services as audit
from access.models import User
from deployments.models import Workload
from providers.cluster import (
    EVENT_LIMIT,
    LOG_LIMIT_BYTES,
    LOG_TAIL_LINES,
    POD_LIMIT,
    ClusterDriver,
    ClusterEvent,
    ContainerLog,
    PodContainer,
    PodInfo,
    PodList,
    WorkloadKind,
)
from providers.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    Throttled,
    Unavailable,
)
from regions.drivers import cluster_driver_for

# Events are read for the workload, the objects that made its pods (ReplicaSets, Jobs) and this many pods,
# the least healthy first: each is one request on a real cluster.
EVENT_PODS = 10
EVENT_OWNERS = 4
# Containers of one pod whose logs one view reads at most.
LOG_CONTAINERS = 10
# The most lines of a log one may ask for (``tail``); each log is cut at LOG_LIMIT_BYTES whatever the lines.
MAX_TAIL_LINES = 1000
# Kubernetes names: a pod's is a DNS subdomain (253 characters), a container's a DNS label (63).
POD_NAME_LENGTH = 253
CONTAINER_NAME_LENGTH = 63

UNEXPECTED = (
    "Something went wrong while the portal read the cluster; the error is in the portal's log under this "
    "request's id. Try again, or tell the platform team."
)

logger = logging.getLogger(__name__)


@dataclass
class Panel:
    """What the panel shows of one workload; a ``*_problem`` says in words why a part could not be read."""

    workload: Workload
    pods: PodList | None = None
    events: list[ClusterEvent] = field(default_factory=list)
    events_read: bool = False
    problem: str = ""  # the cluster could not be asked at all
    pods_problem: str = ""
    events_problem: str = ""

    @property
    def worst_pod(self) -> PodInfo | None:
        """The pod whose logs open first: the least healthy one."""
        return self.pods.pods[0] if self.pods and self.pods.pods else None


@dataclass(frozen=True)
class LogEntry:
    """One container's box: its log, or why it could not be read."""

    container: PodContainer
    log: ContainerLog | None
    problem: str = ""


@dataclass
class LogRead:
    """The logs one view read of one pod, and what could not be read, container by container."""

    pod: PodInfo | None = None
    logs: list[ContainerLog] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # container -> why its log could not be read
    problem: str = ""  # the pod could not be read at all

    @property
    def entries(self) -> list[LogEntry]:
        """The containers read, in the pod's order, each with its log or its problem."""
        if self.pod is None:
            return []
        logs = {log.container: log for log in self.logs}
        return [
            LogEntry(container, logs.get(container.name), self.problems.get(container.name, ""))
            for container in self.pod.containers
            if container.name in logs or container.name in self.problems
        ]


def problem(error: ProviderError, workload: Workload, what: str) -> str:
    """A driver error as a sentence for the panel: what could not be read, and why, in the cluster's words."""
    cluster = workload.cluster.name
    place = f"namespace {workload.namespace} of cluster {cluster}"
    if isinstance(error, Unavailable):
        return f"The cluster {cluster} could not be reached to read {what}; try again in a minute. ({error.message})"
    if isinstance(error, Throttled):
        return f"The cluster {cluster} asked the portal to slow down; read {what} again in a moment."
    if isinstance(error, PermissionDenied):
        return (
            f"The cluster's access control (RBAC) does not let the portal read {what} in {place}: {error.message}. "
            "A platform admin can grant what the portal's ClusterRole lists (pods, pods/log and events)."
        )
    if isinstance(error, NotFound):
        return (
            f"{workload.kind} {workload.name} is not in {place} any more, or the namespace is gone "
            f"({error.message}); the next sync will mark it gone."
        )
    if isinstance(error, InvalidRequest):
        return f"The cluster {cluster} refused to give {what}: {error.message}"
    return f"The cluster {cluster} could not give {what}: {error.message}"


def _driver(workload: Workload) -> ClusterDriver:
    return cluster_driver_for(workload.cluster, interactive=True)


def _ordered(pods: PodList) -> PodList:
    """The pods the least healthy first (then the most restarted), else by name: where to look first."""
    ordered = sorted(pods.pods, key=lambda pod: (pod.healthy, -pod.restarts, pod.name))
    return PodList(selector=pods.selector, pods=tuple(ordered), truncated=pods.truncated)


def _involved(workload: Workload, pods: PodList | None) -> list[tuple[str, str]]:
    """The objects whose events the panel shows: the workload, its pods' makers, its least healthy pods."""
    involved = [(workload.kind, workload.name)]
    if pods is not None:
        owners = dict.fromkeys(
            (pod.owner_kind, pod.owner_name) for pod in pods.pods if pod.owner_kind and pod.owner_name
        )
        involved += list(owners)[:EVENT_OWNERS]
        involved += [("Pod", pod.name) for pod in pods.pods[:EVENT_PODS]]
    return list(dict.fromkeys(involved))


def workload_panel(workload: Workload) -> Panel:
    """Read the workload's pods and their events from its cluster (bounded; errors become words)."""
    panel = Panel(workload)
    try:
        driver = _driver(workload)
    except ProviderError as error:  # no way to the cluster: no kubeconfig stored, its cloud cannot say where it is…
        panel.problem = f"The portal cannot reach the cluster {workload.cluster.name}: {error.message}"
        return panel
    kind: WorkloadKind = workload.kind  # type: ignore[assignment]
    try:
        panel.pods = _ordered(driver.workload_pods(kind, workload.namespace, workload.name, limit=POD_LIMIT))
    except ProviderError as error:
        panel.pods_problem = problem(error, workload, "its pods")
        if isinstance(error, NotFound | Unavailable | Throttled):
            return panel  # the events would fail the same way
    try:
        panel.events = driver.events(workload.namespace, _involved(workload, panel.pods), limit=EVENT_LIMIT)
        panel.events_read = True
    except ProviderError as error:
        panel.events_problem = problem(error, workload, "its events")
    return panel


def workload_logs(
    workload: Workload,
    *,
    actor: User,
    pod: str,
    container: str = "",
    previous: bool = False,
    tail_lines: int = LOG_TAIL_LINES,
) -> LogRead:
    """The last lines of ``pod``'s containers' logs (of ``container`` only when given), for ``actor`` to read.

    The pod must be one the workload's selector picks now, so the view can
    never be pointed at another workload's pod. Every container is named in
    its request. One audit event records the read when any log was read.
    """
    read = LogRead()
    try:
        driver = _driver(workload)
    except ProviderError as error:
        read.problem = f"The portal cannot reach the cluster {workload.cluster.name}: {error.message}"
        return read
    try:
        kind: WorkloadKind = workload.kind  # type: ignore[assignment]
        found = driver.workload_pods(kind, workload.namespace, workload.name, only=pod)
    except ProviderError as error:
        read.problem = problem(error, workload, f"the pod {pod}")
        return read
    if not found.pods:
        read.problem = (
            f"{pod} is not a pod of {workload.kind} {workload.name} (any more): reload the panel for its pods now."
        )
        return read
    read.pod = found.pods[0]
    names = [entry.name for entry in read.pod.containers]
    if container and container not in names:
        read.problem = f"The pod {pod} has no container {container}; it has {', '.join(names) or 'none'}."
        return read
    for name in [container] if container else names[:LOG_CONTAINERS]:
        try:
            read.logs.append(
                driver.container_log(
                    workload.namespace,
                    pod,
                    name,
                    tail_lines=tail_lines,
                    limit_bytes=LOG_LIMIT_BYTES,
                    previous=previous,
                )
            )
        except NotFound:
            read.problems[name] = f"The pod {pod} is gone (replaced by a newer one?): refresh the panel for its pods."
        except ProviderError as error:
            what = f"the log of {'the previous instance of ' if previous else ''}container {name}"
            read.problems[name] = problem(error, workload, what)
    if read.logs:
        audit.record(
            audit.WORKLOAD_LOGS_VIEWED,
            workload,
            actor=actor,
            team=workload.team,
            cluster=workload.cluster.name,
            namespace=workload.namespace,
            pod=pod,
            containers=[log.container for log in read.logs],
            previous=previous,
            tail_lines=tail_lines,
        )
    return read


def log_request_problem(*, pod: str, container: str, previous: bool, tail_lines: int = LOG_TAIL_LINES) -> str:
    """Why a request for logs cannot be read as asked, in words (``""`` when it can): the page and the API ask."""
    if not pod:
        return "Name a pod of the workload (its pods are listed in the workload's Kubernetes view)."
    if len(pod) > POD_NAME_LENGTH:
        return f"A pod's name is at most {POD_NAME_LENGTH} characters."
    if len(container) > CONTAINER_NAME_LENGTH:
        return f"A container's name is at most {CONTAINER_NAME_LENGTH} characters."
    if previous and not container:
        return "Name the container whose previous instance's log to read."
    if not 1 <= tail_lines <= MAX_TAIL_LINES:
        return f"Ask for 1 to {MAX_TAIL_LINES} lines."
    return ""


def panel_read(workload: Workload) -> Panel:
    """:func:`workload_panel`, never failing: what went wrong unexpectedly is logged and said in the panel."""
    try:
        return workload_panel(workload)
    except Exception:  # never a 500 in the middle of a page or an API answer: the panel says so instead
        logger.exception("the Kubernetes panel of workload %s failed", workload.pk)
        return Panel(workload, problem=UNEXPECTED)


def logs_read(
    workload: Workload,
    *,
    actor: User,
    pod: str,
    container: str = "",
    previous: bool = False,
    tail_lines: int = LOG_TAIL_LINES,
) -> LogRead:
    """:func:`workload_logs`, never failing (the log's text is never in the portal's log: the driver's errors
    carry the API's words only)."""
    try:
        return workload_logs(
            workload, actor=actor, pod=pod, container=container, previous=previous, tail_lines=tail_lines
        )
    except Exception:
        logger.exception("reading the logs of workload %s failed", workload.pk)
        return LogRead(problem=UNEXPECTED)
