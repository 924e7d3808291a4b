"""A simulated cluster: Kubernetes-shaped objects in one JSON document per cluster.

The document lives in a directory the caller gives (the portal passes a path
under its data dir), is rewritten atomically (temporary file + rename) under an
``fcntl`` lock, so web and worker processes see the same cluster. Latency and
faults are injectable: ``faults={"ensure_namespace": [Throttled("slow down")]}``
raises those errors, in order, on the next tries of that operation;
``fault_rate`` raises :class:`~providers.errors.Unavailable` at random.
:meth:`SandboxClusterDriver.seed` writes any object directly (workloads,
ReplicaSets, pods, events, metrics, custom resources) so deployments and
rollbacks can be demoed, and :meth:`~SandboxClusterDriver.seed_logs` what
containers have logged. No controller runs: objects change only when someone
writes them.

Reads answer as the API server does: label and field selectors pick objects,
a container's log is refused for a container the pod lacks, for a previous
instance that never ended, or while the container waits to start.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from providers.cluster import Manifest, parse_quantity
from providers.cluster_base import ManifestClusterDriver, Resource, StaleObject, merge_patch
from providers.errors import Conflict, InvalidRequest, NotFound, ProviderError, Unavailable
from providers.retry import RetryPolicy

State = dict[str, Any]
METRICS_KEY = "metrics.k8s.io/v1beta1/pods"


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace or ''}/{name}"


def _log_key(namespace: str, pod: str, container: str) -> str:
    return f"{namespace}/{pod}/{container}"


def _field(item: Manifest, path: str) -> str:
    """The value at a dotted field path (``involvedObject.name``), as a field selector compares it."""
    value: Any = item
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a ``LabelSelector``: every ``matchLabels`` pair and every expression."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = [str(value) for value in expression.get("values") or []]
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class SandboxClusterDriver(ManifestClusterDriver):
    """A :class:`~providers.cluster.ClusterDriver` over a JSON document at ``directory/<cluster>.json``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        cluster: str = "sandbox",
        *,
        latency_seconds: float = 0.0,
        faults: Mapping[str, Sequence[ProviderError]] | None = None,
        fault_rate: float = 0.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(retry_policy=retry_policy, sleep=sleep)
        self.path = Path(directory) / f"{cluster}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.latency_seconds = latency_seconds
        self.faults: dict[str, list[ProviderError]] = {op: list(errors) for op, errors in (faults or {}).items()}
        self.fault_rate = fault_rate

    # --- state --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self, write: bool = False) -> Iterator[State]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                state: State = json.loads(self.path.read_text()) if self.path.exists() else {}
                state.setdefault("objects", {})
                state.setdefault("installed", {})
                state.setdefault("resourceVersion", 0)
                state.setdefault("logs", {})
                yield state
                if write:
                    fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".cluster-", suffix=".json")
                    with os.fdopen(fd, "w") as handle:
                        # dumps, not dump: dump streams through the pure-Python encoder, several times
                        # slower, and this whole document is written again on every change.
                        handle.write(json.dumps(state, sort_keys=True))
                    os.replace(temporary, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _stamp(state: State, manifest: Manifest) -> Manifest:
        state["resourceVersion"] += 1
        metadata = manifest.setdefault("metadata", {})
        metadata["resourceVersion"] = str(state["resourceVersion"])
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if manifest.get("kind") == "Namespace":
            metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
        return manifest

    def seed(self, manifest: Manifest) -> Manifest:
        """Write any object as it is (replacing one of the same kind and name); for demos and tests."""
        manifest = copy.deepcopy(manifest)
        kind, metadata = manifest["kind"], manifest["metadata"]
        with self._state(write=True) as state:
            self._stamp(state, manifest)
            state["objects"].setdefault(kind, {})[_key(metadata.get("namespace"), metadata["name"])] = manifest
        return manifest

    def seed_many(self, manifests: Sequence[Manifest]) -> None:
        """Write many objects in one rewrite of the document (``seed`` rewrites it once per object)."""
        with self._state(write=True) as state:
            for manifest in manifests:
                manifest = self._stamp(state, copy.deepcopy(manifest))
                kind, metadata = manifest["kind"], manifest["metadata"]
                state["objects"].setdefault(kind, {})[_key(metadata.get("namespace"), metadata["name"])] = manifest

    def seed_logs(self, logs: Sequence[tuple[str, str, str, str, bool]]) -> None:
        """Write what containers logged: ``(namespace, pod, container, text, previous)`` each, in one rewrite.

        ``previous`` is the log of the container's instance before its last
        restart (what ``kubectl logs -p`` reads); the pod need not exist yet.
        """
        with self._state(write=True) as state:
            for namespace, pod, container, text, previous in logs:
                entry = state["logs"].setdefault(_log_key(namespace, pod, container), {})
                entry["previous" if previous else "current"] = text

    def install(self, group: str, version: str, plural: str, items: Sequence[Manifest] = ()) -> None:
        """Install a CRD (or metrics-server, as ``metrics.k8s.io``/``v1beta1``/``pods``) with these instances."""
        with self._state(write=True) as state:
            state["installed"][f"{group}/{version}/{plural}"] = [copy.deepcopy(item) for item in items]

    def objects(self, kind: str, namespace: str | None = None) -> list[Manifest]:
        """Every stored object of ``kind`` (in ``namespace`` when given), for inspection."""
        with self._state() as state:
            return [
                item
                for item in state["objects"].get(kind, {}).values()
                if namespace is None or item["metadata"].get("namespace") == namespace
            ]

    def simulate_metrics(self, at: datetime | None = None) -> int:
        """Play metrics-server: write a ``PodMetrics`` for every live pod, as ``metrics.k8s.io/v1beta1`` serves it.

        Each container's usage is its requests times a fraction fixed per pod
        (from a hash of its namespace and name, between 0.2 and 1.4), so some
        pods use less than they ask for and some more, the same on every call.
        Replaces what metrics were installed; returns how many pods it measured.
        """
        when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        measured: list[Manifest] = []
        for pod in self.objects("Pod"):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            metadata = pod["metadata"]
            digest = hashlib.sha256(f"{metadata.get('namespace')}/{metadata['name']}".encode()).digest()
            fraction = Decimal("0.2") + Decimal(int.from_bytes(digest[:2], "big") % 1201) / 1000
            containers = []
            for container in pod.get("spec", {}).get("containers") or []:
                asked = (container.get("resources") or {}).get("requests") or {}
                cpu = parse_quantity(asked.get("cpu", 0)) * fraction
                memory = int(parse_quantity(asked.get("memory", 0)) * fraction)
                usage = {"cpu": f"{int(cpu * 1_000_000_000)}n", "memory": f"{memory // 1024}Ki"}
                containers.append({"name": container.get("name", "main"), "usage": usage})
            measured.append(
                {
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "kind": "PodMetrics",
                    "metadata": {
                        "name": metadata["name"],
                        "namespace": metadata.get("namespace", ""),
                        "creationTimestamp": when,
                        "labels": dict(metadata.get("labels") or {}),
                    },
                    "timestamp": when,
                    "window": "30s",
                    "containers": containers,
                }
            )
        self.install("metrics.k8s.io", "v1beta1", "pods", measured)
        return len(measured)

    # --- latency and faults -------------------------------------------------------------------------

    def _before_attempt(self, operation: str) -> None:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        pending = self.faults.get(operation)
        if pending:
            raise pending.pop(0)
        if self.fault_rate and random.random() < self.fault_rate:  # noqa: S311 (simulation, not cryptography)
            raise Unavailable(f"sandbox: injected transient fault in {operation}")

    # --- primitives ---------------------------------------------------------------------------------

    def _get(self, resource: Resource, namespace: str | None, name: str) -> Manifest | None:
        with self._state() as state:
            found = state["objects"].get(resource.kind, {}).get(_key(namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def _create(self, resource: Resource, namespace: str | None, manifest: Manifest) -> Manifest:
        name = manifest["metadata"]["name"]
        with self._state(write=True) as state:
            kind_objects = state["objects"].setdefault(resource.kind, {})
            if resource.namespaced and _key(None, namespace or "") not in state["objects"].get("Namespace", {}):
                raise NotFound(f"namespace {namespace} does not exist", resource=namespace or "")
            if _key(namespace, name) in kind_objects:
                raise Conflict(f'{resource.plural} "{name}" already exists', resource=name)
            stored = self._stamp(state, copy.deepcopy(manifest))
            kind_objects[_key(namespace, name)] = stored
            return copy.deepcopy(stored)

    def _patch(self, resource: Resource, namespace: str | None, name: str, patch: Manifest) -> Manifest:
        with self._state(write=True) as state:
            kind_objects = state["objects"].get(resource.kind, {})
            if _key(namespace, name) not in kind_objects:
                raise NotFound(f'{resource.plural} "{name}" not found', resource=name)
            current = kind_objects[_key(namespace, name)]
            precondition = (patch.get("metadata") or {}).get("resourceVersion")
            if precondition is not None and str(precondition) != str(current["metadata"].get("resourceVersion")):
                raise StaleObject(f'{resource.plural} "{name}" has been modified since it was read', resource=name)
            patched = merge_patch(current, patch)
            if patched.get("metadata", {}).get("name") != name:
                raise InvalidRequest("a patch may not rename an object", resource=name)
            kind_objects[_key(namespace, name)] = self._stamp(state, patched)
            return copy.deepcopy(patched)

    def _list(self, resource: Resource, namespace: str | None) -> list[Manifest]:
        return [copy.deepcopy(item) for item in self.objects(resource.kind, namespace)]

    def _delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        with self._state(write=True) as state:
            kind_objects = state["objects"].get(resource.kind, {})
            if kind_objects.pop(_key(namespace, name), None) is None:
                raise NotFound(f'{resource.plural} "{name}" not found', resource=name)
            if resource.kind == "Namespace":
                # Deleting a namespace deletes everything in it (at once: the sandbox has no finalizers).
                for objects in state["objects"].values():
                    for key in [key for key, item in objects.items() if item["metadata"].get("namespace") == name]:
                        del objects[key]

    def _select(
        self,
        resource: Resource,
        namespace: str,
        selector: Mapping[str, Any] | None,
        fields: Mapping[str, str],
        limit: int,
    ) -> tuple[list[Manifest], bool]:
        picked = [
            item
            for item in self.objects(resource.kind, namespace)
            if (selector is None or selector_matches(selector, item["metadata"].get("labels") or {}))
            and all(_field(item, path) == value for path, value in fields.items())
        ]
        picked.sort(key=lambda item: str(item["metadata"]["name"]))
        return [copy.deepcopy(item) for item in picked[:limit]], len(picked) > limit

    def _read_log(
        self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int, previous: bool
    ) -> bytes:
        """As the API server and the kubelet answer ``GET …/pods/<pod>/log``: refusals in their words."""
        with self._state() as state:
            item = state["objects"].get("Pod", {}).get(_key(namespace, pod))
            logs = dict(state["logs"].get(_log_key(namespace, pod, container)) or {})
        if item is None:
            raise NotFound(f'pods "{pod}" not found', resource=f"{namespace}/{pod}")
        spec = item.get("spec") or {}
        names = [str(c.get("name")) for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]]
        if container not in names:
            raise InvalidRequest(f"container {container} is not valid for pod {pod}", resource=f"{namespace}/{pod}")
        if previous:
            text = logs.get("previous")
            if text is None:
                raise InvalidRequest(
                    f'previous terminated container "{container}" in pod "{pod}" not found',
                    resource=f"{namespace}/{pod}",
                )
        else:
            statuses = (item.get("status") or {}).get("containerStatuses") or []
            status: dict[str, Any] = next((entry for entry in statuses if entry.get("name") == container), {})
            waiting = (status.get("state") or {}).get("waiting")
            if waiting is not None and not status.get("lastState"):
                reason = waiting.get("reason") or "ContainerCreating"
                raise InvalidRequest(
                    f'container "{container}" in pod "{pod}" is waiting to start: {reason}',
                    resource=f"{namespace}/{pod}",
                )
            text = logs.get("current", "")
        lines = str(text).splitlines(keepends=True)
        return "".join(lines[-tail_lines:]).encode()[:limit_bytes]

    def _list_custom(self, group: str, version: str, plural: str, namespace: str | None) -> list[Manifest] | None:
        with self._state() as state:
            items = state["installed"].get(f"{group}/{version}/{plural}")
        if items is None:
            return None
        return [item for item in items if namespace is None or item["metadata"].get("namespace") == namespace]

    def _pod_metrics(self) -> list[Manifest] | None:
        return self._list_custom("metrics.k8s.io", "v1beta1", "pods", None)
