"""What the demo's workloads run in the sandbox clusters: pods, recent events and what their containers logged.

:func:`live_objects` gives, for one workload row, the pods its controller
would have made (named and labelled as Kubernetes names and labels them, so
the workload's selector picks them), the events of the last hour about the
workload and its pods, and a few dozen lines of log per container, so a
workload's Kubernetes panel shows something plausible in ``make run``:

- healthy workloads: every pod running and ready, quiet events, request logs;
- a degraded one (the student portal in staging): one pod ready, two in
  ``CrashLoopBackOff`` with restarts, ``BackOff`` warnings, and the stack trace
  of the instance that crashed in their previous log;
- a progressing one (the API gateway's canary): a pod not ready yet, its
  readiness probe failing; the gateway's pods carry a service mesh sidecar,
  so they have two containers, and one upstream error quotes an HTML page;
- a CronJob: the pod of its last run, completed.

Deterministic (names and numbers come from a hash of the workload), so
seeding again rewrites the same objects. No real person's data: users are
opaque ids.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from deployments.choices import Health, WorkloadKind
from deployments.models import Workload
from regions.choices import ClusterKind

LogEntry = tuple[str, str, str, str, bool]  # namespace, pod, container, text, previous
MESH_SIDECAR = "linkerd-proxy"
SIDECAR_SERVICES = frozenset({"api-gateway"})
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the characters Kubernetes uses for generated name suffixes


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("/".join(str(part) for part in parts).encode()).digest()


def _suffix(*parts: object, length: int = 5) -> str:
    return "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in _digest(*parts)[:length])


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(workload: Workload, index: int) -> str:
    """A node name as each kind of cluster names its nodes."""
    number = _digest(workload.cluster.name, workload.namespace, workload.name, index)[0]
    kind = workload.cluster.kind
    if kind == ClusterKind.EKS:
        return f"ip-10-0-{number % 3 * 32 + 1}-{number}.{workload.cluster.region.code}.compute.internal"
    if kind == ClusterKind.AKS:
        return f"aks-general-{number * 7919 % 10**8:08d}-vmss{index % 3:06d}"
    return f"{workload.cluster.name}-worker-{index % 3 + 1}"


def _request_lines(workload: Workload, pod: str, start: datetime, count: int) -> list[str]:
    routes = ["/healthz", f"/api/{workload.name}/items", f"/api/{workload.name}/items/{{id}}", "/metrics"]
    lines = []
    for number in range(count):
        byte = _digest(pod, number)
        at = start + timedelta(seconds=7 * number + byte[0] % 7)
        route = routes[byte[1] % len(routes)].replace("{id}", str(1000 + byte[2]))
        status = 200 if byte[3] % 23 else 404
        lines.append(
            f"{_stamp(at)} INFO  http method=GET path={route} status={status} duration_ms={byte[4] % 90 + 3} "
            f"user=u-{byte[5] * 97 % 100000:05d}"
        )
    return lines


def _startup_lines(workload: Workload, start: datetime) -> list[str]:
    version = workload.version or "unknown"
    return [
        f"{_stamp(start)} INFO  starting {workload.name} version={version}",
        f"{_stamp(start)} INFO  config loaded from /etc/{workload.name}/config.yaml",
        f"{_stamp(start + timedelta(seconds=1))} INFO  listening on :8080",
    ]


def _crash_lines(workload: Workload, start: datetime) -> list[str]:
    at = _stamp(start + timedelta(seconds=2))
    return [
        *_startup_lines(workload, start),
        f"{at} INFO  connecting to courses-db.{workload.namespace}.svc:5432",
        f"{at} ERROR unhandled exception during startup",
        "Traceback (most recent call last):",
        '  File "/app/portal/main.py", line 42, in <module>',
        "    settings = load_settings()",
        '  File "/app/portal/settings.py", line 17, in load_settings',
        '    url = os.environ["COURSE_CATALOGUE_URL"]',
        "KeyError: 'COURSE_CATALOGUE_URL'",
    ]


def _sidecar_lines(start: datetime, failing_upstream: bool) -> list[str]:
    lines = [
        f"{_stamp(start)} INFO  linkerd2_proxy: release 2.14.10 by linkerd",
        f"{_stamp(start)} INFO  outbound: proxy listening on 127.0.0.1:4140",
        f"{_stamp(start + timedelta(seconds=1))} INFO  inbound: identity: certified",
    ]
    if failing_upstream:
        at = _stamp(start + timedelta(minutes=3))
        lines.append(
            f"{at} WARN  outbound: upstream identity.core-services:8080 answered 502: "
            "<html><head><title>502 Bad Gateway</title></head><body><script>retry()</script></body></html>"
        )
    return lines


def _container_status(
    name: str, image: str, *, ready: bool, restarts: int, state: dict[str, Any], last: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{_digest(image).hex()}",
        "ready": ready,
        "restartCount": restarts,
        "started": bool(state.get("running")),
        "state": state,
        "lastState": {"terminated": last} if last else {},
    }
    return status


def _event(
    workload: Workload,
    kind: str,
    name: str,
    reason: str,
    message: str,
    at: datetime,
    *,
    warning: bool = False,
    count: int = 1,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{name}.{_digest(kind, name, reason).hex()[:16]}",
            "namespace": workload.namespace,
            "creationTimestamp": _stamp(at - timedelta(minutes=5 * (count - 1))),
        },
        "involvedObject": {"apiVersion": "v1", "kind": kind, "name": name, "namespace": workload.namespace},
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "count": count,
        "firstTimestamp": _stamp(at - timedelta(minutes=5 * (count - 1))),
        "lastTimestamp": _stamp(at),
        "source": {"component": "kubelet" if kind == "Pod" else f"{kind.lower()}-controller"},
    }


def live_objects(workload: Workload, now: datetime) -> tuple[list[dict[str, Any]], list[LogEntry]]:
    """The pods and events of ``workload`` and its containers' logs, as its cluster would hold them ``now``."""
    image = workload.images[0] if workload.images else f"registry.example.com/lms/{workload.name}:{workload.version}"
    labels = {"app": workload.name, "app.kubernetes.io/version": image.rsplit(":", 1)[-1]}
    manifests: list[dict[str, Any]] = []
    logs: list[LogEntry] = []
    rolled_out = workload.rolled_out_at or now - timedelta(days=1)
    if workload.kind == WorkloadKind.CRON_JOB:
        return _cron_job(workload, image, labels, now)
    count = max(workload.replicas_desired, 1)
    revision = workload.revision or 1
    owner_kind, owner_name = {
        WorkloadKind.DEPLOYMENT: ("ReplicaSet", f"{workload.name}-r{revision}"),
        WorkloadKind.STATEFUL_SET: ("StatefulSet", workload.name),
        WorkloadKind.DAEMON_SET: ("DaemonSet", workload.name),
    }[WorkloadKind(workload.kind)]
    recently = max(rolled_out, now - timedelta(minutes=50))  # events last an hour: the rollout's, or one since
    if workload.kind == WorkloadKind.DEPLOYMENT:
        labels["pod-template-hash"] = f"r{revision}"
        message = f"Scaled up replica set {owner_name} to {count}"
        manifests.append(_event(workload, "Deployment", workload.name, "ScalingReplicaSet", message, recently))
    else:
        first = f"{workload.name}-{0 if workload.kind == WorkloadKind.STATEFUL_SET else _suffix(workload.pk, 0)}"
        message = f"create Pod {first} in {workload.kind} {workload.name} successful"
        manifests.append(_event(workload, workload.kind, workload.name, "SuccessfulCreate", message, recently))
    sidecar = workload.service is not None and workload.service.slug in SIDECAR_SERVICES
    for index in range(count):
        if workload.kind == WorkloadKind.STATEFUL_SET:
            name = f"{workload.name}-{index}"
        elif workload.kind == WorkloadKind.DAEMON_SET:
            name = f"{workload.name}-{_suffix(workload.pk, index)}"
        else:
            name = f"{owner_name}-{_suffix(workload.pk, index)}"
        crashing = workload.health == Health.DEGRADED and index >= workload.replicas_ready
        unready = workload.health == Health.PROGRESSING and index == count - 1
        started = now - timedelta(hours=2, minutes=index * 7) if (crashing or unready) else rolled_out
        containers = [{"name": workload.name, "image": image, "resources": _requests(workload)}]
        statuses = []
        if crashing:
            restarts = 6 + index
            statuses.append(
                _container_status(
                    workload.name,
                    image,
                    ready=False,
                    restarts=restarts,
                    state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed"}},
                    last={
                        "reason": "Error",
                        "exitCode": 1,
                        "startedAt": _stamp(now - timedelta(minutes=6)),
                        "finishedAt": _stamp(now - timedelta(minutes=6) + timedelta(seconds=3)),
                    },
                )
            )
            crash_start = now - timedelta(minutes=6)
            crashed = "\n".join(_crash_lines(workload, crash_start))
            logs.append((workload.namespace, name, workload.name, crashed, False))
            logs.append(
                (
                    workload.namespace,
                    name,
                    workload.name,
                    "\n".join(_crash_lines(workload, crash_start - timedelta(minutes=5))),
                    True,
                )
            )
            manifests += [
                _event(
                    workload,
                    "Pod",
                    name,
                    "BackOff",
                    f"Back-off restarting failed container {workload.name} in pod {name}_{workload.namespace}",
                    now - timedelta(minutes=1),
                    warning=True,
                    count=restarts * 4,
                ),
                _event(
                    workload,
                    "Pod",
                    name,
                    "Pulled",
                    f'Container image "{image}" already present on machine',
                    now - timedelta(minutes=6),
                    count=restarts,
                ),
            ]
        else:
            state = {"running": {"startedAt": _stamp(started)}}
            statuses.append(_container_status(workload.name, image, ready=not unready, restarts=0, state=state))
            lines = _startup_lines(workload, started) + _request_lines(workload, name, now - timedelta(minutes=8), 30)
            logs.append((workload.namespace, name, workload.name, "\n".join(lines), False))
            if unready:
                manifests.append(
                    _event(
                        workload,
                        "Pod",
                        name,
                        "Unhealthy",
                        "Readiness probe failed: HTTP probe failed with statuscode: 503",
                        now - timedelta(seconds=40),
                        warning=True,
                        count=38,
                    )
                )
        if sidecar:
            proxy = "cr.l5d.io/linkerd/proxy:stable-2.14.10"
            containers.append({"name": MESH_SIDECAR, "image": proxy})
            state = {"running": {"startedAt": _stamp(started)}}
            statuses.append(_container_status(MESH_SIDECAR, proxy, ready=True, restarts=0, state=state))
            logs.append((workload.namespace, name, MESH_SIDECAR, "\n".join(_sidecar_lines(started, unready)), False))
        ready = all(status["ready"] for status in statuses)
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": workload.namespace,
                    "labels": labels,
                    "creationTimestamp": _stamp(started),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": owner_kind,
                            "name": owner_name,
                            "uid": f"uid-{owner_name}",
                            "controller": True,
                        }
                    ],
                },
                "spec": {"nodeName": _node(workload, index), "containers": containers},
                "status": {
                    "phase": "Running",
                    "startTime": _stamp(started),
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": statuses,
                },
            }
        )
    return manifests, logs


def _requests(workload: Workload) -> dict[str, Any]:
    small = workload.kind == WorkloadKind.DAEMON_SET
    return {"requests": {"cpu": "50m" if small else "250m", "memory": "64Mi" if small else "256Mi"}}


def _cron_job(
    workload: Workload, image: str, labels: dict[str, str], now: datetime
) -> tuple[list[dict[str, Any]], list[LogEntry]]:
    """The pod of the CronJob's last run (made by its Job), completed, and what it logged."""
    ran = now.replace(minute=0, second=0) - timedelta(minutes=35)
    job = f"{workload.name}-{int(ran.timestamp()) // 60}"
    pod = f"{job}-{_suffix(workload.pk, job)}"
    finished = ran + timedelta(minutes=2, seconds=13)
    status = _container_status(
        workload.name,
        image,
        ready=False,
        restarts=0,
        state={"terminated": {"reason": "Completed", "exitCode": 0, "finishedAt": _stamp(finished)}},
    )
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "namespace": workload.namespace,
            "labels": {**labels, "batch.kubernetes.io/job-name": job},
            "creationTimestamp": _stamp(ran),
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": f"uid-{job}", "controller": True}
            ],
        },
        "spec": {
            "nodeName": _node(workload, 0),
            "restartPolicy": "OnFailure",
            "containers": [{"name": workload.name, "image": image, "resources": _requests(workload)}],
        },
        "status": {"phase": "Succeeded", "startTime": _stamp(ran), "containerStatuses": [status]},
    }
    lines = [
        f"{_stamp(ran)} INFO  {workload.name} run started",
        *(
            f"{_stamp(ran + timedelta(seconds=9 * step))} INFO  batch {step + 1}/12 done ({(step + 1) * 104} records)"
            for step in range(12)
        ),
        f"{_stamp(finished)} INFO  {workload.name} run finished in 133s",
    ]
    events = [
        _event(workload, "CronJob", workload.name, "SuccessfulCreate", f"Created job {job}", ran),
        _event(workload, "Job", job, "Completed", "Job completed", finished),
        _event(workload, "CronJob", workload.name, "SawCompletedJob", f"Saw completed job: {job}", finished),
    ]
    return [manifest, *events], [(workload.namespace, pod, workload.name, "\n".join(lines), False)]
