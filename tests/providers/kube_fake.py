"""A stateful fake Kubernetes API server on loopback, for driving the official client in tests.

Covers: the REST paths of the core group (namespaces and, inside them,
resourcequotas, limitranges, pods), rbac.authorization.k8s.io/v1 rolebindings,
networking.k8s.io/v1 networkpolicies and ingresses, apps/v1 deployments,
statefulsets, daemonsets, replicasets and controllerrevisions, batch/v1
cronjobs, autoscaling/v2 horizontalpodautoscalers, authorization.k8s.io/v1 selfsubjectaccessreviews
(allowed unless a test :meth:`FakeKubeApi.deny` the verb), plus any group "installed"
with :meth:`FakeKubeApi.install` (CRDs such as argoproj.io/v1alpha1, and
metrics.k8s.io/v1beta1 pods). For each: GET of one object, of a namespace's
list and of the all-namespaces list (``<Kind>List`` with ``items``); POST
(``metadata.uid``, ``resourceVersion``, ``creationTimestamp``;
409 ``AlreadyExists`` and 404 for a missing namespace as ``Status`` bodies);
PATCH with ``application/merge-patch+json`` or
``application/strategic-merge-patch+json`` (both applied as a JSON merge
patch; a dict sent as ``application/json-patch+json`` is refused with 400, as a
real server would); DELETE (a namespace takes its objects with it at once).
:meth:`FakeKubeApi.fail_next` answers the next N requests with a status
(429 with ``Retry-After``, 403, 422, 503…). Every request's method, path and
``Authorization`` header is recorded, and ``on_request`` lets a test act
between two requests (e.g. create an object a driver just looked for).

Does not cover: label/field selectors, watches, pagination (``continue``),
server-side apply, strategic-merge list semantics, admission (quotas are
stored, never enforced), validation beyond names, finalizers and graceful
deletion, subresources (``/status``, ``/scale``), discovery endpoints and
controllers (nothing reconciles: ReplicaSets, pods and statuses exist only
when a test writes them with :meth:`FakeKubeApi.put`).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.factories import kubeconfig_for
from tests.outbound_servers import TestCA

BUILT_IN: dict[str, dict[str, str]] = {
    "v1": {
        "namespaces": "Namespace",
        "resourcequotas": "ResourceQuota",
        "limitranges": "LimitRange",
        "pods": "Pod",
        "nodes": "Node",
    },
    "rbac.authorization.k8s.io/v1": {"rolebindings": "RoleBinding"},
    "networking.k8s.io/v1": {"networkpolicies": "NetworkPolicy", "ingresses": "Ingress"},
    "apps/v1": {
        "deployments": "Deployment",
        "statefulsets": "StatefulSet",
        "daemonsets": "DaemonSet",
        "replicasets": "ReplicaSet",
        "controllerrevisions": "ControllerRevision",
    },
    "batch/v1": {"cronjobs": "CronJob"},
    "autoscaling/v2": {"horizontalpodautoscalers": "HorizontalPodAutoscaler"},
}


ACCESS_REVIEW_VERSION = "authorization.k8s.io/v1"
ACCESS_REVIEWS = f"/apis/{ACCESS_REVIEW_VERSION}/selfsubjectaccessreviews"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, written separately from the driver's so the fake does not share its bugs."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def status_body(code: int, reason: str, message: str, name: str = "", kind: str = "") -> dict[str, Any]:
    """A ``Status`` object, as the API server returns for errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "kind": kind},
        "code": code,
    }


class FakeKubeApi:
    """The fake server's state and controls; :meth:`start` serves it on ``127.0.0.1`` in a thread."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, str]] = copy.deepcopy(BUILT_IN)
        # (group/version, plural) -> {(namespace, name): object}
        self.store: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self.resource_version = 0
        self.faults: list[tuple[int, float | None]] = []
        self.requests: list[tuple[str, str, str]] = []
        self.lock = threading.RLock()
        # Called with (method, path) before each request is answered: lets a test act between two requests.
        self.on_request: Callable[[str, str], None] | None = None
        # (apiGroup, resource, verb) the signed-in identity may not use; SelfSubjectAccessReviews answer from it.
        self.denied: set[tuple[str, str, str]] = set()
        self.server: ThreadingHTTPServer | None = None
        self.url = ""
        self.ca_pem = b""

    # --- controls -----------------------------------------------------------------------------------

    def start(self, *, tls: bool = False) -> str:
        """Serve on a free loopback port; returns the base URL for ``Configuration.host``.

        ``tls``: serve HTTPS with a certificate for 127.0.0.1 from a throwaway CA
        (``ca_pem``), as a real API server does; a kubeconfig's server must be https.
        """
        api = self

        class Handler(_Handler):
            fake = api

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:
            authority = TestCA()
            self.ca_pem = authority.pem
            self.server.socket = authority.server_context().wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def kubeconfig(self, *, token: str = "factory-token-opens-nothing") -> str:  # noqa: S107
        """A k3s-shaped kubeconfig for this server: its URL, its CA inline, and ``token``."""
        return kubeconfig_for(self.url, token=token, ca_pem=self.ca_pem)

    def stop(self) -> None:
        """Stop serving."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def install(self, api_version: str, plural: str, kind: str, items: Iterable[dict[str, Any]] = ()) -> None:
        """Make ``/apis/<api_version>/<plural>`` exist (a CRD, or metrics.k8s.io) holding ``items``."""
        with self.lock:
            self.kinds.setdefault(api_version, {})[plural] = kind
            for item in items:
                self.put({"apiVersion": api_version, "kind": kind, **item})

    def put(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write an object directly (as a controller would), replacing one with the same name."""
        with self.lock:
            api_version, kind = manifest["apiVersion"], manifest["kind"]
            plural = next(p for p, k in self.kinds[api_version].items() if k == kind)
            stored = self._stamp(copy.deepcopy(manifest))
            metadata = stored["metadata"]
            self.store.setdefault((api_version, plural), {})[(metadata.get("namespace", ""), metadata["name"])] = stored
            return stored

    def put_pod_metrics(
        self, namespace: str, name: str, usage: dict[str, dict[str, str]], window: str = "15.049s"
    ) -> dict[str, Any]:
        """Serve a pod's ``PodMetrics`` as metrics-server does (installing ``metrics.k8s.io/v1beta1`` if needed).

        ``usage`` maps container names to ``{"cpu": "…", "memory": "…"}``
        quantities; metrics-server writes CPU in nanocores (``"1234567n"``) and
        memory in KiB (``"53012Ki"``). The object carries the scrape's
        ``timestamp`` and ``window`` as the real API does.
        """
        with self.lock:
            if "pods" not in self.kinds.get("metrics.k8s.io/v1beta1", {}):
                self.install("metrics.k8s.io/v1beta1", "pods", "PodMetrics")
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return self.put(
                {
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "kind": "PodMetrics",
                    "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now},
                    "timestamp": now,
                    "window": window,
                    "containers": [{"name": container, "usage": dict(amounts)} for container, amounts in usage.items()],
                }
            )

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every stored object of ``kind`` (in ``namespace`` when given)."""
        with self.lock:
            return [
                copy.deepcopy(item)
                for (api_version, plural), objects in self.store.items()
                if self.kinds.get(api_version, {}).get(plural) == kind
                for (object_namespace, _), item in objects.items()
                if namespace is None or object_namespace == namespace
            ]

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and a ``Retry-After`` header when given)."""
        with self.lock:
            self.faults.extend([(status, retry_after)] * times)

    def _stamp(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.resource_version += 1
        metadata = manifest.setdefault("metadata", {})
        metadata["resourceVersion"] = str(self.resource_version)
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if manifest.get("kind") == "Namespace":
            metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
        return manifest

    # --- request handling ---------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, content_type: str, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one request: (status, JSON body, extra headers)."""
        with self.lock:
            if self.on_request:
                self.on_request(method, path)
            if self.faults:
                status, retry_after = self.faults.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                reasons = {403: "Forbidden", 422: "Invalid", 429: "TooManyRequests"}
                return status, status_body(status, reasons.get(status, "InternalError"), "injected fault"), headers
            if urlsplit(path).path.rstrip("/") == ACCESS_REVIEWS:
                return self._access_review(method, body)
            route = self._route(path)
            if route is None:
                return 404, status_body(404, "NotFound", "the server could not find the requested resource"), {}
            api_version, plural, namespace, name = route
            kind = self.kinds[api_version][plural]
            objects = self.store.setdefault((api_version, plural), {})
            cluster_scoped = plural in ("namespaces", "nodes")
            key = ("" if cluster_scoped else namespace or "", name or "")
            missing = status_body(404, "NotFound", f'{plural} "{name}" not found', name or "", plural)
            if method == "GET" and name is None:
                items = [
                    copy.deepcopy(item)
                    for (item_namespace, _), item in sorted(objects.items())
                    if namespace is None or cluster_scoped or item_namespace == namespace
                ]
                metadata = {"resourceVersion": str(self.resource_version)}
                listing = {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata, "items": items}
                return 200, listing, {}
            if method == "GET":
                return (200, copy.deepcopy(objects[key]), {}) if key in objects else (404, missing, {})
            if method == "POST" and name is None:
                manifest = json.loads(body or b"{}")
                new_name = manifest.get("metadata", {}).get("name")
                if not new_name:
                    return 422, status_body(422, "Invalid", "metadata.name: Required value", "", kind), {}
                if not cluster_scoped:
                    if ("", namespace) not in self.store.get(("v1", "namespaces"), {}):
                        message = f'namespaces "{namespace}" not found'
                        return 404, status_body(404, "NotFound", message, namespace or "", "namespaces"), {}
                    manifest.setdefault("metadata", {})["namespace"] = namespace
                new_key = ("" if cluster_scoped else namespace or "", new_name)
                if new_key in objects:
                    message = f'{plural} "{new_name}" already exists'
                    return 409, status_body(409, "AlreadyExists", message, new_name, plural), {}
                manifest.setdefault("apiVersion", api_version)
                manifest.setdefault("kind", kind)
                objects[new_key] = self._stamp(manifest)
                return 201, copy.deepcopy(objects[new_key]), {}
            if method == "PATCH" and name is not None:
                if key not in objects:
                    return 404, missing, {}
                patch = json.loads(body or b"{}")
                if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                    message = f"the body of the request was in an unknown format for {content_type}"
                    return 400 if isinstance(patch, dict) else 415, status_body(400, "BadRequest", message), {}
                objects[key] = self._stamp(merge_patch(objects[key], patch))
                return 200, copy.deepcopy(objects[key]), {}
            if method == "DELETE" and name is not None:
                if key not in objects:
                    return 404, missing, {}
                deleted = objects.pop(key)
                if cluster_scoped:
                    for others in self.store.values():
                        for other_key in [k for k in others if k[0] == name]:
                            del others[other_key]
                return 200, deleted, {}
            return 405, status_body(405, "MethodNotAllowed", f"{method} is not supported here"), {}

    def deny(self, verb: str, resource: str, group: str = "") -> None:
        """Refuse ``verb`` on ``resource`` of ``group`` to the signed-in identity (in its access reviews)."""
        with self.lock:
            self.denied.add((group, resource, verb))

    def _access_review(self, method: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """A ``SelfSubjectAccessReview``: the review back with ``status.allowed`` (and a reason when denied).

        As the API server: only POST (create) is served; a spec must name
        either ``resourceAttributes`` or ``nonResourceAttributes``, else 422.
        """
        if method != "POST":
            return 405, status_body(405, "MethodNotAllowed", f"{method} is not supported here"), {}
        review = json.loads(body or b"{}")
        spec = review.get("spec") or {}
        attributes = spec.get("resourceAttributes")
        if not attributes and not spec.get("nonResourceAttributes"):
            message = (
                "spec.resourceAttributes: Invalid value: "
                "exactly one of nonResourceAttributes or resourceAttributes must be specified"
            )
            return 422, status_body(422, "Invalid", message, "", "SelfSubjectAccessReview"), {}
        attributes = attributes or {}
        key = (attributes.get("group", ""), attributes.get("resource", ""), attributes.get("verb", ""))
        allowed = key not in self.denied
        status: dict[str, Any] = {"allowed": allowed}
        if not allowed:
            status["reason"] = "no RBAC rule allows it"
        answer = {"kind": "SelfSubjectAccessReview", "apiVersion": ACCESS_REVIEW_VERSION, "metadata": {}, "spec": spec}
        return 201, {**answer, "status": status}, {}

    def _route(self, path: str) -> tuple[str, str, str | None, str | None] | None:
        """(apiVersion, plural, namespace, name) for a resource path, or ``None`` when nothing serves it."""
        parts = [part for part in urlsplit(path).path.split("/") if part]
        if parts[:2] == ["api", "v1"]:
            api_version, rest = "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        if api_version not in self.kinds or not rest:
            return None
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2 or rest[0] not in self.kinds[api_version]:
            return None
        if rest[0] == "namespaces" and len(rest) == 2:
            return api_version, "namespaces", None, rest[1]
        return api_version, rest[0], namespace, rest[1] if len(rest) == 2 else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeKubeApi

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        with self.fake.lock:
            self.fake.requests.append((self.command, self.path, self.headers.get("Authorization") or ""))
        status, payload, headers = self.fake.handle(self.command, self.path, content_type, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for header, value in headers.items():
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
