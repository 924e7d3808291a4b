"""Pods and events as a running cluster's controllers and kubelets write them, for seeding test clusters.

Shaped as the API serves them (the official client validates what it reads:
a container status needs its ``image`` and ``imageID``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(ns: str, name: str, selector: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Deployment whose selector (``matchLabels: {app: <name>}`` unless given) picks its pods."""
    chosen = dict(selector) if selector is not None else {"matchLabels": {"app": name}}
    labels = dict(chosen.get("matchLabels") or {"app": name})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": chosen,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": "img:1"}]}},
        },
        "status": {"readyReplicas": 1},
    }


def cron_job(ns: str, name: str, template_labels: Mapping[str, str]) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": name, "image": "j:1"}]}}
    if template_labels:
        template["metadata"] = {"labels": dict(template_labels)}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": template}}},
    }


def pod(
    ns: str,
    name: str,
    labels: Mapping[str, str],
    *,
    containers: Sequence[str] = ("api",),
    node: str = "node-1",
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    waiting: str = "",
    last_terminated: str = "",
    owner: tuple[str, str] | None = ("ReplicaSet", "api-5d8f"),
    started: datetime = NOW - timedelta(hours=3),
) -> dict[str, Any]:
    """A pod and its status: each container ready (or waiting with ``waiting`` as reason), with ``restarts``."""
    statuses = []
    for container in containers:
        state: dict[str, Any] = (
            {"waiting": {"reason": waiting, "message": "back-off restarting"}}
            if waiting
            else {"running": {"startedAt": stamp(started)}}
        )
        statuses.append(
            {
                "name": container,
                "image": f"registry.example.com/{container}:1",
                "imageID": f"registry.example.com/{container}@sha256:{'0' * 64}",
                "ready": ready and not waiting,
                "restartCount": restarts,
                "state": state,
                "lastState": {"terminated": {"reason": last_terminated, "exitCode": 1}} if last_terminated else {},
            }
        )
    metadata: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(labels)}
    if owner is not None:
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}
        ]
    spec: dict[str, Any] = {"containers": [{"name": c, "image": f"registry.example.com/{c}:1"} for c in containers]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": phase, "startTime": stamp(started), "containerStatuses": statuses},
    }


def event(
    ns: str,
    kind: str,
    name: str,
    reason: str,
    *,
    at: datetime = NOW,
    warning: bool = False,
    count: int = 1,
    message: str = "",
    suffix: str = "",
) -> dict[str, Any]:
    """A core/v1 Event about ``kind``/``name``, last seen ``at``."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{reason.lower()}{suffix}", "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": kind, "name": name, "namespace": ns},
        "reason": reason,
        "message": message or f"{reason} of {name}",
        "type": "Warning" if warning else "Normal",
        "count": count,
        "lastTimestamp": stamp(at),
        "source": {"component": "kubelet"},
    }
