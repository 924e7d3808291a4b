"""Kubernetes objects as a running cluster's controllers would have written them, for seeding test clusters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Seed = Callable[[dict[str, Any]], Any]
# The images of a checkout Deployment with two revisions: 1.3.0, then 1.4.0 (running).
IMAGES = ["registry.example.com/checkout:1.3.0", "registry.example.com/checkout:1.4.0"]


def pod_template(image: str, app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": app, "image": image}]}}


def seed_deployment(
    seed: Seed,
    namespace: str,
    name: str,
    images: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    ready: int = 2,
    replicas: int = 2,
) -> None:
    """A Deployment now running the last of ``images``, with one ReplicaSet per earlier revision (1, 2, ...)."""
    seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    revision = len(images)
    seed(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app": name, **(labels or {})},
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": pod_template(images[-1], name),
            },
            "status": {
                "readyReplicas": ready,
                "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2026-11-26T10:00:00Z"}],
            },
        }
    )
    for number, image in enumerate(images, start=1):
        template = pod_template(image, name)
        template["metadata"]["labels"]["pod-template-hash"] = f"hash{number}"
        seed(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-hash{number}",
                    "namespace": namespace,
                    "annotations": {"deployment.kubernetes.io/revision": str(number)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": f"uid-{name}",
                            "controller": True,
                        }
                    ],
                },
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}}, "template": template},
            }
        )
