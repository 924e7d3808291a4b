"""A stateful fake Kubernetes API server on loopback, for driving the official client in tests.

Covers: the REST paths of the core group (namespaces and, inside them,
resourcequotas, limitranges, pods and their ``log`` subresource, events,
services), rbac.authorization.k8s.io/v1
rolebindings, networking.k8s.io/v1 networkpolicies and ingresses, apps/v1
deployments, statefulsets, daemonsets, replicasets and controllerrevisions,
batch/v1 cronjobs and jobs, autoscaling/v2 horizontalpodautoscalers,
authorization.k8s.io/v1 selfsubjectaccessreviews (allowed unless a test
:meth:`FakeKubeApi.deny` the verb, which the requests themselves then meet too), plus any
group "installed" with :meth:`FakeKubeApi.install` (CRDs such as
argoproj.io/v1alpha1, and metrics.k8s.io/v1beta1 pods). For each: GET of one
object, of a namespace's list and of the all-namespaces list (``<Kind>List``
with ``items``); POST (``metadata.uid``, ``resourceVersion``,
``creationTimestamp``; 409 ``AlreadyExists`` and 404 for a missing namespace
as ``Status`` bodies); PUT; PATCH with ``application/merge-patch+json`` or
``application/strategic-merge-patch+json`` (both applied as a JSON merge
patch; a dict sent as ``application/json-patch+json`` is refused with 400, as a
real server would); DELETE. Discovery documents (``/api``, ``/apis``,
``/apis/<group>/<version>``). Every request's method, path (with its query)
and ``Authorization`` header is recorded, and ``on_request`` lets a test act
between two requests (e.g. create an object a driver just looked for).

What it refuses, as the API server does (one handler per concern):

- Optimistic concurrency: every write gives the object a new
  ``resourceVersion``; a PUT or PATCH naming another one than the object's
  answers 409 ``Conflict`` ("the object has been modified…").
- Namespace lifecycle: a namespace gets the ``kubernetes`` finalizer and
  phase ``Active``; DELETE turns it ``Terminating`` (``deletionTimestamp``)
  and a namespace controller, run before each request, removes its content
  and then the namespace. Content with ``metadata.finalizers`` keeps it
  there until :meth:`FakeKubeApi.release_finalizers`. Meanwhile creating
  content in it answers 403 ``Forbidden`` ("unable to create new content in
  namespace X because it is being terminated", cause
  ``NamespaceTerminating``), creating it again 409 ``AlreadyExists``
  ("object is being deleted: …") and deleting it again 409 ``Conflict``.
- Immutable fields (:data:`IMMUTABLE_FIELDS`: a Service's ``clusterIP``, the
  selector of Deployments, ReplicaSets, DaemonSets and StatefulSets, a Job's
  selector and template, a RoleBinding's ``roleRef``…): 422 ``Invalid``; a
  write whose ``metadata.name`` differs from the URL's: 400.
- Paged lists: ``limit`` and ``continue`` are honoured (``max_page_size``
  makes pages smaller than asked, as a server may); a token issued before
  :meth:`FakeKubeApi.expire_continue_tokens` answers 410 ``Expired``.
- Aggregated APIs that are down: every path of an API version in
  ``unavailable`` (e.g. ``metrics.k8s.io/v1beta1``), discovery included,
  answers 503 with kube-aggregator's plain-text ``service unavailable``.
- Schema: every object written through the API must pass the strict OpenAPI
  schema (kubernetes-validate) of each minor version in ``schema_versions``
  (the oldest and the newest the locked package ships), else 422 ``Invalid``.
- Selectors on lists: ``labelSelector`` (equality- and set-based, ``!key``,
  ``key``, ``key>n``; a requirement it cannot parse answers 400) and
  ``fieldSelector`` (``=``, ``==``, ``!=``, comma-joined, with the API's
  escapes) on the fields the API serves for each kind (:data:`SELECTABLE_FIELDS`:
  ``metadata.name`` and ``metadata.namespace`` everywhere, pods' ``spec.nodeName``,
  ``status.phase``…, events' ``involvedObject.*``, ``reason``, ``type``…); any other
  field answers 400 ``field label not supported: <field>``. ``limit`` and
  ``continue`` page what the selectors picked.
- Container logs (``GET …/pods/<name>/log``, text/plain, what
  :meth:`FakeKubeApi.put_log` wrote): ``tailLines`` (the last lines) then
  ``limitBytes`` (the first bytes of those, which may cut a character);
  ``tailLines`` below 0 or ``limitBytes`` below 1 answer 422 (``PodLogOptions
  "<pod>" is invalid``); a missing pod 404; no ``container`` for a pod of several
  400 ``a container name must be specified for pod <pod>, choose one of: [a b]``,
  one the pod lacks 400 ``container <c> is not valid for pod <pod>``; as the
  kubelet: ``previous=true`` with no earlier instance 400 ``previous terminated
  container "<c>" in pod "<pod>" not found``, a container still waiting to start
  400 ``container "<c>" in pod "<pod>" is waiting to start: <reason>``; a pod on no
  node yet answers an empty log.
- RBAC: a verb a test :meth:`FakeKubeApi.deny` is refused on the request too,
  403 ``Forbidden`` in the API server's words (``pods "x" is forbidden: User
  "<FAKE_USER>" cannot get resource "pods/log" in API group "" in the namespace
  "ns"``).
- :meth:`FakeKubeApi.fail_next` answers the next N requests with a status
  (429 with ``Retry-After``, 403, 422, 503…).

Does not cover: set-based field selectors (the API has none either), watches, server-side apply,
strategic-merge list semantics, admission beyond namespace lifecycle (quotas
are stored, never enforced), validation beyond the schema and names (label
syntax, cross-field rules such as a selector matching its template),
graceful deletion of pods, subresources (``/status``, ``/scale``) and
controllers other than the namespace one (ReplicaSets, pods and statuses
exist only when a test writes them with :meth:`FakeKubeApi.put`, which
bypasses every check above).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor

from tests.factories import kubeconfig_for
from tests.outbound_servers import TestCA

BUILT_IN: dict[str, dict[str, str]] = {
    "v1": {
        "namespaces": "Namespace",
        "resourcequotas": "ResourceQuota",
        "limitranges": "LimitRange",
        "pods": "Pod",
        "events": "Event",
        "nodes": "Node",
        "services": "Service",
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
    "batch/v1": {"cronjobs": "CronJob", "jobs": "Job"},
    "autoscaling/v2": {"horizontalpodautoscalers": "HorizontalPodAutoscaler"},
}

CLUSTER_SCOPED = frozenset({"namespaces", "nodes"})
# The Kubernetes minor versions every written object is validated against: the oldest and the newest the
# locked kubernetes-validate ships OpenAPI schemas for (the portal sets no minimum cluster version, so the
# oldest schema available stands in for the oldest cluster it may meet).
SCHEMA_VERSIONS: tuple[str, ...] = tuple(dict.fromkeys(major_minor(v) for v in (all_versions()[0], all_versions()[-1])))
# Fields an update may not change: (path, rule). "immutable": ``field is immutable``; "roleRef": RBAC's
# ``cannot change roleRef``; "statefulset": the StatefulSet spec fields other than replicas, template,
# updateStrategy, ordinals, persistentVolumeClaimRetentionPolicy and minReadySeconds.
IMMUTABLE_FIELDS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Service": ((("spec", "clusterIP"), "immutable"),),
    "Deployment": ((("spec", "selector"), "immutable"),),
    "ReplicaSet": ((("spec", "selector"), "immutable"),),
    "DaemonSet": ((("spec", "selector"), "immutable"),),
    "StatefulSet": (
        (("spec", "selector"), "statefulset"),
        (("spec", "serviceName"), "statefulset"),
        (("spec", "volumeClaimTemplates"), "statefulset"),
        (("spec", "podManagementPolicy"), "statefulset"),
    ),
    "Job": ((("spec", "selector"), "immutable"), (("spec", "template"), "immutable")),
    "RoleBinding": ((("roleRef",), "roleRef"),),
}
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)
NAMESPACE_PURGING = (
    'Operation cannot be fulfilled on namespaces "{name}": The system is ensuring all content is removed from this '
    "namespace.  Upon completion, this namespace will automatically be purged by the system."
)
Answer = tuple[int, "dict[str, Any] | str | bytes", dict[str, str]]
# Who the fake's API server says the signed-in identity is, in RBAC refusals.
FAKE_USER = "system:serviceaccount:platform-portal:portal"
# The fields each kind serves to a fieldSelector besides metadata.name and metadata.namespace (the API server's
# field label conversions for core/v1 and the selectable fields of its registries).
SELECTABLE_FIELDS: dict[str, frozenset[str]] = {
    "Pod": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "Namespace": frozenset({"status.phase"}),
    "Node": frozenset({"spec.unschedulable"}),
    "ReplicaSet": frozenset({"status.replicas"}),
    "Job": frozenset({"status.successful"}),
}
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = rf"(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}"
_LABEL_VALUE = rf"(?:{_LABEL_NAME})?"


def schema_problem(manifest: dict[str, Any], version: str) -> str | None:
    """Why ``manifest`` fails the (strict) OpenAPI schema of Kubernetes ``version``, or ``None`` when it passes.

    Kinds the schemas do not know (CRDs, metrics.k8s.io) pass.
    """
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return f"{path or '(object)'}: {error.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return None
    return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(document: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def _encode_continue(epoch: int, start: list[str]) -> str:
    return base64.urlsafe_b64encode(
        json.dumps({"v": "meta.k8s.io/v1", "epoch": epoch, "start": start}).encode()
    ).decode()


def _decode_continue(token: str) -> tuple[int, list[str]] | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(decoded["epoch"]), [str(part) for part in decoded["start"]]
    except (ValueError, KeyError, TypeError):
        return None


class SelectorError(ValueError):
    """A selector the API server cannot parse (400 BadRequest)."""


def _top_level_terms(text: str) -> list[str]:
    """``a=b,c in (x,y)`` split on the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return terms


def parse_label_selector(text: str) -> list[tuple[str, str, list[str]]]:
    """A ``labelSelector`` as (key, operator, values) requirements, parsed on its own (not the driver's code).

    Operators: ``=`` (``==`` too), ``!=``, ``in``, ``notin``, ``exists``, ``!`` (does not exist), ``gt``, ``lt``.
    """
    requirements: list[tuple[str, str, list[str]]] = []
    if not text.strip():
        return requirements
    for term in _top_level_terms(text):
        term = term.strip()
        if match := re.fullmatch(rf"!\s*({_LABEL_KEY})", term):
            requirements.append((match.group(1), "!", []))
        elif match := re.fullmatch(rf"({_LABEL_KEY})\s+(in|notin)\s*\(([^()]*)\)", term):
            values = [value.strip() for value in match.group(3).split(",")]
            if not all(re.fullmatch(_LABEL_VALUE, value) for value in values):
                raise SelectorError(f"unable to parse requirement: invalid label value in {term!r}")
            requirements.append((match.group(1), match.group(2), values))
        elif match := re.fullmatch(rf"({_LABEL_KEY})\s*(==|=|!=)\s*(\S*)", term):
            if not re.fullmatch(_LABEL_VALUE, match.group(3)):
                raise SelectorError(f"unable to parse requirement: invalid label value: {match.group(3)!r}")
            operator = "=" if match.group(2) == "==" else match.group(2)
            requirements.append((match.group(1), operator, [match.group(3)]))
        elif match := re.fullmatch(rf"({_LABEL_KEY})\s*(>|<)\s*(-?[0-9]+)", term):
            requirements.append((match.group(1), "gt" if match.group(2) == ">" else "lt", [match.group(3)]))
        elif re.fullmatch(_LABEL_KEY, term):
            requirements.append((term, "exists", []))
        else:
            raise SelectorError(f"unable to parse requirement: {term!r}")
    return requirements


def labels_match(requirements: list[tuple[str, str, list[str]]], labels: dict[str, str]) -> bool:
    """Whether ``labels`` meet every requirement (``!=`` and ``notin`` hold for a missing key, as in the API)."""
    for key, operator, values in requirements:
        present, value = key in labels, labels.get(key)
        if operator == "=" and value != values[0]:
            return False
        if operator == "!=" and value == values[0]:
            return False
        if operator == "in" and (not present or value not in values):
            return False
        if operator == "notin" and present and value in values:
            return False
        if operator == "exists" and not present:
            return False
        if operator == "!" and present:
            return False
        if operator in ("gt", "lt"):
            try:
                number = int(value or "")
            except ValueError:
                return False
            if (operator == "gt" and not number > int(values[0])) or (operator == "lt" and not number < int(values[0])):
                return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    """A ``fieldSelector`` as (field, operator, value) terms, unescaping ``\\,`` ``\\=`` ``\\\\`` as the API does."""
    terms: list[tuple[str, str, str]] = []
    if not text.strip():
        return terms
    raw, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            raw.append(current)
            current = ""
        else:
            current += char
    raw.append(current)
    for term in raw:
        match = re.fullmatch(r"([^=!\\]+)(==|=|!=)(.*)", term)
        if match is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        value = re.sub(r"\\(.)", r"\1", match.group(3))
        terms.append((match.group(1).strip(), "!=" if match.group(2) == "!=" else "=", value))
    return terms


def field_value(item: dict[str, Any], field: str) -> str:
    """The value a field selector compares for ``field`` of an object (as the API's selectable fields give it)."""
    if field == "source":
        return str((item.get("source") or {}).get("component") or item.get("reportingComponent") or "")
    if field == "reportingComponent":
        return str(item.get("reportingComponent") or "")
    value: Any = item
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


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
        # Every object written through the API must pass the OpenAPI schema of each of these versions.
        self.schema_versions: tuple[str, ...] = SCHEMA_VERSIONS
        # A page holds at most this many items even when the client asks for more (None: as many as asked).
        self.max_page_size: int | None = None
        # Continue tokens issued before the last expire_continue_tokens() answer 410 Expired.
        self.continue_epoch = 0
        # Aggregated API versions (e.g. "metrics.k8s.io/v1beta1") whose backend is down: 503 on all their paths.
        self.unavailable: set[str] = set()
        self.requests: list[tuple[str, str, str]] = []
        self.lock = threading.RLock()
        # Called with (method, path) before each request is answered: lets a test act between two requests.
        self.on_request: Callable[[str, str], None] | None = None
        # (apiGroup, resource, verb) the signed-in identity may not use; SelfSubjectAccessReviews answer from it.
        self.denied: set[tuple[str, str, str]] = set()
        # (namespace, pod, container, previous) -> what the container logged (put_log).
        self.logs: dict[tuple[str, str, str, bool], str] = {}
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

    def put_log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None:
        """What a container logged (``previous``: its instance before the last restart), as the kubelet keeps it."""
        with self.lock:
            self.logs[(namespace, pod, container, previous)] = text

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

    def expire_continue_tokens(self) -> None:
        """Make every continue token issued so far too old (as etcd compaction does after about five minutes)."""
        with self.lock:
            self.continue_epoch += 1

    def release_finalizers(self, kind: str, namespace: str | None, name: str) -> None:
        """Empty an object's ``metadata.finalizers``, as the controller that owns them does when it is done."""
        with self.lock:
            for (api_version, plural), objects in self.store.items():
                if self.kinds.get(api_version, {}).get(plural) == kind and (namespace or "", name) in objects:
                    objects[(namespace or "", name)]["metadata"].pop("finalizers", None)

    def _stamp(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.resource_version += 1
        metadata = manifest.setdefault("metadata", {})
        metadata["resourceVersion"] = str(self.resource_version)
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        if manifest.get("kind") == "Namespace":
            metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
            # What the API server fills in on every namespace: the finalizer its controller removes once empty.
            manifest.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            manifest.setdefault("status", {}).setdefault("phase", "Active")
        return manifest

    # --- request handling ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, content_type: str, body: bytes) -> Answer:
        """Answer one request: (status, JSON body, plain text or bytes, extra headers).

        One handler per concern, in the order a real API server applies them:
        injected faults, aggregated APIs that are down, discovery, routing,
        then the verb's handler (which calls the admission and validation
        checks it needs); RBAC refusals come after routing, before the verb.
        """
        with self.lock:
            if self.on_request:
                self.on_request(method, path)
            self._finalize_namespaces()
            if self.faults:
                status, retry_after = self.faults.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                reasons = {403: "Forbidden", 422: "Invalid", 429: "TooManyRequests"}
                return status, status_body(status, reasons.get(status, "InternalError"), "injected fault"), headers
            unavailable = self._aggregated_unavailable(path)
            if unavailable is not None:
                return unavailable
            discovery = self._discovery(path)
            if discovery is not None:
                return discovery
            if urlsplit(path).path.rstrip("/") == ACCESS_REVIEWS:
                return self._access_review(method, body)
            log = self._log_route(path)
            if log is not None:
                namespace, pod = log
                forbidden = self._forbidden("get", "", "pods/log", namespace, pod)
                if forbidden is not None:
                    return forbidden
                if method != "GET":
                    return 405, status_body(405, "MethodNotAllowed", f"{method} is not supported here"), {}
                return self._pod_log(namespace, pod, parse_qs(urlsplit(path).query))
            route = self._route(path)
            if route is None:
                return 404, status_body(404, "NotFound", "the server could not find the requested resource"), {}
            request = _Request(self, method, path, content_type, body, *route)
            verb = {"GET": "get" if request.name else "list", "POST": "create", "PUT": "update", "PATCH": "patch"}
            verb["DELETE"] = "delete" if request.name else "deletecollection"
            group = request.api_version.split("/")[0] if "/" in request.api_version else ""
            forbidden = self._forbidden(
                verb.get(method, method.lower()), group, request.plural, request.namespace, request.name
            )
            if forbidden is not None:
                return forbidden
            if method == "GET" and request.name is None:
                return self._list(request)
            if method == "GET":
                return self._read(request)
            if method == "POST" and request.name is None:
                return self._create(request)
            if method == "PUT" and request.name is not None:
                return self._replace(request)
            if method == "PATCH" and request.name is not None:
                return self._patch(request)
            if method == "DELETE" and request.name is not None:
                return self._delete(request)
            return 405, status_body(405, "MethodNotAllowed", f"{method} is not supported here"), {}

    # --- one handler per verb -----------------------------------------------------------------------

    def _read(self, request: _Request) -> Answer:
        if request.key not in request.objects:
            return request.missing()
        return 200, copy.deepcopy(request.objects[request.key]), {}

    def _list(self, request: _Request) -> Answer:
        """A ``<Kind>List``, in pages when the client sends ``limit`` (and follows ``continue``).

        Selectors (``labelSelector``, ``fieldSelector``) pick the items first.
        As the API server does: a page holds at most ``limit`` items (fewer when
        ``max_page_size`` is lower: a server may return fewer than asked), and
        ``metadata.continue`` is set while more remain; a token older than the
        last :meth:`expire_continue_tokens` answers 410 ``Expired``.
        """
        query = parse_qs(urlsplit(request.path).query)
        keys = sorted(
            key
            for key in request.objects
            if request.namespace is None or request.cluster_scoped or key[0] == request.namespace
        )
        picked = self._selected(request, keys, query)
        if not isinstance(picked, list):
            return picked
        keys = picked
        start: list[str] | None = None
        token = (query.get("continue") or [""])[0]
        if token:
            decoded = _decode_continue(token)
            if decoded is None:
                return 400, status_body(400, "BadRequest", "continue key is not valid"), {}
            epoch, start = decoded
            if epoch < self.continue_epoch:
                return 410, status_body(410, "Expired", CONTINUE_EXPIRED), {}
        if start is not None:
            keys = [key for key in keys if list(key) > start]
        limit = int((query.get("limit") or ["0"])[0] or 0)
        if limit and self.max_page_size:
            limit = min(limit, self.max_page_size)
        metadata: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if limit and len(keys) > limit:
            keys = keys[:limit]
            metadata["continue"] = _encode_continue(self.continue_epoch, list(keys[-1]))
        items = [copy.deepcopy(request.objects[key]) for key in keys]
        return (
            200,
            {"kind": f"{request.kind}List", "apiVersion": request.api_version, "metadata": metadata, "items": items},
            {},
        )

    def _selected(
        self, request: _Request, keys: list[tuple[str, str]], query: dict[str, list[str]]
    ) -> list[tuple[str, str]] | Answer:
        """The keys whose objects the query's ``labelSelector`` and ``fieldSelector`` pick, or a 400 answer."""
        try:
            labels = parse_label_selector((query.get("labelSelector") or [""])[0])
            fields = parse_field_selector((query.get("fieldSelector") or [""])[0])
        except SelectorError as error:
            return 400, status_body(400, "BadRequest", str(error)), {}
        selectable = {"metadata.name", "metadata.namespace"} | SELECTABLE_FIELDS.get(request.kind, frozenset())
        for field, _, _ in fields:
            if field not in selectable:
                return 400, status_body(400, "BadRequest", f"field label not supported: {field}"), {}
        picked: list[tuple[str, str]] = []
        for key in keys:
            item = request.objects[key]
            if not labels_match(labels, item.get("metadata", {}).get("labels") or {}):
                continue
            if all((field_value(item, field) == value) == (operator == "=") for field, operator, value in fields):
                picked.append(key)
        return picked

    def _forbidden(
        self, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> Answer | None:
        """RBAC: a verb the test denied is refused, 403 in the API server's words."""
        if (group, resource, verb) not in self.denied:
            return None
        subject = f'{resource.split("/")[0]} "{name}"' if name else resource.split("/")[0]
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{FAKE_USER}" cannot {verb} resource "{resource}" in API group '
            f'"{group}" {where}'
        )
        return 403, status_body(403, "Forbidden", message, name or "", resource.split("/")[0]), {}

    @staticmethod
    def _log_route(path: str) -> tuple[str, str] | None:
        """(namespace, pod) for ``/api/v1/namespaces/<namespace>/pods/<pod>/log``."""
        parts = [part for part in urlsplit(path).path.split("/") if part]
        if len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods" and parts[6] == "log":
            return parts[3], parts[5]
        return None

    def _pod_log(self, namespace: str, name: str, query: dict[str, list[str]]) -> Answer:
        """``GET …/pods/<name>/log``: the options' validation, the pod and container (API server), then the kubelet."""
        options: dict[str, int] = {}
        for parameter in ("tailLines", "limitBytes", "sinceSeconds"):
            if parameter in query:
                try:
                    options[parameter] = int(query[parameter][0])
                except ValueError:
                    message = f'invalid value for {parameter}: "{query[parameter][0]}" is not an integer'
                    return 400, status_body(400, "BadRequest", message), {}
        problems = []
        if options.get("tailLines", 0) < 0:
            problems.append(f"tailLines: Invalid value: {options['tailLines']}: must be greater than or equal to 0")
        if "limitBytes" in options and options["limitBytes"] < 1:
            problems.append(f"limitBytes: Invalid value: {options['limitBytes']}: must be greater than 0")
        if "sinceSeconds" in options and options["sinceSeconds"] < 1:
            problems.append(f"sinceSeconds: Invalid value: {options['sinceSeconds']}: must be greater than 0")
        if problems:
            detail = problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]"
            message = f'PodLogOptions "{name}" is invalid: {detail}'
            return 422, status_body(422, "Invalid", message, name, "PodLogOptions"), {}
        pod = self.store.get(("v1", "pods"), {}).get((namespace, name))
        if pod is None:
            return 404, status_body(404, "NotFound", f'pods "{name}" not found', name, "pods"), {}
        spec = pod.get("spec") or {}
        containers = [str(c.get("name")) for c in spec.get("containers") or []]
        init = [str(c.get("name")) for c in spec.get("initContainers") or []]
        container = (query.get("container") or [""])[0]
        if not container:
            if len(containers) == 1:
                container = containers[0]
            elif not containers:
                message = f"a container name must be specified for pod {name}"
                return 400, status_body(400, "BadRequest", message), {}
            else:
                message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
                if init:
                    message += f" or one of the init containers: [{' '.join(init)}]"
                return 400, status_body(400, "BadRequest", message), {}
        elif container not in containers + init:
            return 400, status_body(400, "BadRequest", f"container {container} is not valid for pod {name}"), {}
        if not spec.get("nodeName"):
            return 200, b"", {}  # not scheduled yet: the API server has no kubelet to ask, and answers nothing
        previous = (query.get("previous") or ["false"])[0] == "true"
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        status: dict[str, Any] = next((entry for entry in statuses if entry.get("name") == container), {})
        text = self.logs.get((namespace, name, container, previous))
        if previous and text is None:
            message = f'previous terminated container "{container}" in pod "{name}" not found'
            return 400, status_body(400, "BadRequest", message), {}
        waiting = (status.get("state") or {}).get("waiting")
        if not previous and waiting is not None and not status.get("lastState"):
            message = (
                f'container "{container}" in pod "{name}" is waiting to start: '
                f"{waiting.get('reason') or 'ContainerCreating'}"
            )
            return 400, status_body(400, "BadRequest", message), {}
        lines = (text or "").splitlines(keepends=True)
        if "tailLines" in options:
            lines = lines[len(lines) - options["tailLines"] :] if options["tailLines"] else []
        data = "".join(lines).encode()
        if "limitBytes" in options:
            data = data[: options["limitBytes"]]
        return 200, data, {}

    def _create(self, request: _Request) -> Answer:
        manifest = json.loads(request.body or b"{}")
        new_name = manifest.get("metadata", {}).get("name")
        if not new_name:
            return 422, status_body(422, "Invalid", "metadata.name: Required value", "", request.kind), {}
        namespace = request.namespace or ""
        if not request.cluster_scoped:
            if ("", namespace) not in self.store.get(("v1", "namespaces"), {}):
                message = f'namespaces "{namespace}" not found'
                return 404, status_body(404, "NotFound", message, namespace, "namespaces"), {}
            refusal = self._namespace_lifecycle(request, new_name)
            if refusal is not None:
                return refusal
            manifest.setdefault("metadata", {})["namespace"] = namespace
        new_key = ("" if request.cluster_scoped else namespace, new_name)
        if new_key in request.objects:
            message = f'{request.plural} "{new_name}" already exists'
            if request.objects[new_key]["metadata"].get("deletionTimestamp"):
                # The registry's wording for a name whose object is still being deleted.
                message = f"object is being deleted: {message}"
            return 409, status_body(409, "AlreadyExists", message, new_name, request.plural), {}
        manifest.setdefault("apiVersion", request.api_version)
        manifest.setdefault("kind", request.kind)
        invalid = self._validate(request, manifest)
        if invalid is not None:
            return invalid
        request.objects[new_key] = self._stamp(manifest)
        return 201, copy.deepcopy(request.objects[new_key]), {}

    def _replace(self, request: _Request) -> Answer:
        """PUT: the body replaces the object; its ``metadata.resourceVersion``, when given, must be the current one."""
        if request.key not in request.objects:
            return request.missing()
        manifest = json.loads(request.body or b"{}")
        return self._update(request, manifest, manifest.get("metadata", {}).get("resourceVersion"))

    def _patch(self, request: _Request) -> Answer:
        if request.key not in request.objects:
            return request.missing()
        patch = json.loads(request.body or b"{}")
        if request.content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            message = f"the body of the request was in an unknown format for {request.content_type}"
            return 400 if isinstance(patch, dict) else 415, status_body(400, "BadRequest", message), {}
        precondition = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
        return self._update(request, merge_patch(request.objects[request.key], patch), precondition)

    def _update(self, request: _Request, updated: dict[str, Any], precondition: str | None) -> Answer:
        """The checks every update goes through, then the write."""
        current = request.objects[request.key]
        if updated.get("metadata", {}).get("name") != request.name:
            message = (
                f"the name of the object ({updated.get('metadata', {}).get('name')}) "
                f"does not match the name on the URL ({request.name})"
            )
            return 400, status_body(400, "BadRequest", message), {}
        stale = self._stale(request, current, precondition)
        if stale is not None:
            return stale
        immutable = self._immutable(request, current, updated)
        if immutable is not None:
            return immutable
        updated.setdefault("apiVersion", request.api_version)
        updated.setdefault("kind", request.kind)
        invalid = self._validate(request, updated)
        if invalid is not None:
            return invalid
        request.objects[request.key] = self._stamp(updated)
        return 200, copy.deepcopy(request.objects[request.key]), {}

    def _delete(self, request: _Request) -> Answer:
        """DELETE. An object with finalizers only gets a ``deletionTimestamp``; a namespace starts terminating.

        A namespace always has the ``kubernetes`` finalizer: the first DELETE
        answers 200 with it in phase ``Terminating``; it stays visible until the
        namespace controller (:meth:`_finalize_namespaces`, before each request)
        has removed its content; a DELETE meanwhile answers 409 ``Conflict``.
        """
        if request.key not in request.objects:
            return request.missing()
        current = request.objects[request.key]
        metadata = current["metadata"]
        if request.plural == "namespaces":
            if metadata.get("deletionTimestamp"):
                return (
                    409,
                    status_body(
                        409, "Conflict", NAMESPACE_PURGING.format(name=request.name), request.name or "", "namespaces"
                    ),
                    {},
                )
            metadata["deletionTimestamp"] = _now()
            current.setdefault("status", {})["phase"] = "Terminating"
            return 200, copy.deepcopy(self._stamp(current)), {}
        if metadata.get("finalizers"):
            metadata.setdefault("deletionTimestamp", _now())
            return 200, copy.deepcopy(self._stamp(current)), {}
        return 200, request.objects.pop(request.key), {}

    # --- one check per concern ----------------------------------------------------------------------

    def _stale(self, request: _Request, current: dict[str, Any], precondition: str | None) -> Answer | None:
        """Optimistic concurrency: a write naming a ``resourceVersion`` that is no longer the object's is 409."""
        if precondition is None or str(precondition) == current["metadata"].get("resourceVersion"):
            return None
        group = request.api_version.split("/")[0] if "/" in request.api_version else ""
        resource = f"{request.plural}.{group}" if group else request.plural
        message = (
            f'Operation cannot be fulfilled on {resource} "{request.name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        return 409, status_body(409, "Conflict", message, request.name or "", request.plural), {}

    def _immutable(self, request: _Request, current: dict[str, Any], updated: dict[str, Any]) -> Answer | None:
        """422 ``Invalid`` for an update that changes a field the API server keeps as it was created."""
        for path, rule in IMMUTABLE_FIELDS.get(request.kind, ()):
            before, after = _at(current, path), _at(updated, path)
            if before is None or before == after:
                continue
            field_path = ".".join(path)
            detail = "cannot change roleRef" if rule == "roleRef" else "field is immutable"
            if rule == "statefulset":
                detail = (
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                )
                field_path = "spec"
            group = request.api_version.split("/")[0] if "/" in request.api_version else ""
            qualified = f"{request.kind}.{group}" if group else request.kind
            message = (
                f'{qualified} "{request.name}" is invalid: {field_path}: Invalid value: {json.dumps(after)}: {detail}'
            )
            body = status_body(422, "Invalid", message, request.name or "", request.kind)
            body["details"]["causes"] = [{"reason": "FieldValueInvalid", "message": detail, "field": field_path}]
            return 422, body, {}
        return None

    def _validate(self, request: _Request, manifest: dict[str, Any]) -> Answer | None:
        """422 ``Invalid`` for an object failing the OpenAPI schema of any version in ``schema_versions``."""
        for version in self.schema_versions:
            problem = schema_problem(manifest, version)
            if problem is not None:
                name = manifest.get("metadata", {}).get("name", "")
                message = f'{request.kind} "{name}" is invalid: {problem} (Kubernetes {version} schema)'
                return 422, status_body(422, "Invalid", message, name, request.kind), {}
        return None

    def _namespace_lifecycle(self, request: _Request, name: str) -> Answer | None:
        """The NamespaceLifecycle admission plugin: nothing new goes into a namespace being terminated."""
        namespace = self.store.get(("v1", "namespaces"), {}).get(("", request.namespace or ""))
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return None
        reason = f"unable to create new content in namespace {request.namespace} because it is being terminated"
        body = status_body(403, "Forbidden", f'{request.plural} "{name}" is forbidden: {reason}', name, request.plural)
        body["details"]["causes"] = [
            {"reason": "NamespaceTerminating", "message": reason, "field": "metadata.namespace"}
        ]
        return 403, body, {}

    def _finalize_namespaces(self) -> None:
        """The namespace controller: empties terminating namespaces, then purges them once nothing is left.

        Content without finalizers goes; content with finalizers gets a
        ``deletionTimestamp`` and stays until :meth:`release_finalizers`.
        Objects being deleted whose finalizers are gone are purged.
        """
        namespaces = self.store.get(("v1", "namespaces"), {})
        terminating = {key[1] for key, item in namespaces.items() if item["metadata"].get("deletionTimestamp")}
        for (_, plural), objects in self.store.items():
            if plural == "namespaces":
                continue
            for key in list(objects):
                metadata = objects[key]["metadata"]
                if key[0] in terminating and not metadata.get("deletionTimestamp"):
                    metadata["deletionTimestamp"] = _now()
                if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
                    del objects[key]
        for name in terminating:
            if not any(
                key[0] == name
                for (_, plural), objects in self.store.items()
                if plural != "namespaces"
                for key in objects
            ):
                namespaces.pop(("", name), None)

    def _aggregated_unavailable(self, path: str) -> Answer | None:
        """What kube-aggregator answers for an APIService whose backend is down: 503 ``service unavailable``."""
        parts = [part for part in urlsplit(path).path.split("/") if part]
        if len(parts) >= 3 and parts[0] == "apis" and f"{parts[1]}/{parts[2]}" in self.unavailable:
            return 503, "service unavailable\n", {}
        return None

    def _discovery(self, path: str) -> Answer | None:
        """``/api``, ``/apis`` and ``/apis/<group>/<version>`` discovery documents for the served kinds."""
        parts = [part for part in urlsplit(path).path.split("/") if part]
        if parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}, {}
        if parts == ["apis"]:
            groups: dict[str, list[str]] = {}
            for api_version in self.kinds:
                if "/" in api_version:
                    group, version = api_version.split("/")
                    groups.setdefault(group, []).append(version)
            listed = [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                    "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
                }
                for group, versions in sorted(groups.items())
            ]
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}, {}
        served: str | None = None
        if parts == ["api", "v1"]:
            served = "v1"
        elif len(parts) == 3 and parts[0] == "apis":
            served = f"{parts[1]}/{parts[2]}"
        if served is None or served not in self.kinds:
            return None
        api_version = served
        resources = [
            {"name": plural, "kind": kind, "namespaced": plural not in CLUSTER_SCOPED, "verbs": ["get", "list"]}
            for plural, kind in sorted(self.kinds[api_version].items())
        ]
        return (
            200,
            {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources},
            {},
        )

    def deny(self, verb: str, resource: str, group: str = "") -> None:
        """Refuse ``verb`` on ``resource`` (``pods/log`` for a subresource) of ``group`` to the signed-in identity:
        in its access reviews, and on the requests themselves (403 ``Forbidden``)."""
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


class _Request:
    """One resource request, routed: what it names and the store it reads and writes."""

    def __init__(
        self,
        fake: FakeKubeApi,
        method: str,
        path: str,
        content_type: str,
        body: bytes,
        api_version: str,
        plural: str,
        namespace: str | None,
        name: str | None,
    ) -> None:
        self.method, self.path, self.content_type, self.body = method, path, content_type, body
        self.api_version, self.plural, self.namespace, self.name = api_version, plural, namespace, name
        self.kind = fake.kinds[api_version][plural]
        self.objects = fake.store.setdefault((api_version, plural), {})
        self.cluster_scoped = plural in CLUSTER_SCOPED
        self.key = ("" if self.cluster_scoped else namespace or "", name or "")

    def missing(self) -> Answer:
        message = f'{self.plural} "{self.name}" not found'
        return 404, status_body(404, "NotFound", message, self.name or "", self.plural), {}


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
        # kube-aggregator answers for a backend that is down in plain text (Go's http.Error), not a Status;
        # a container's log is plain bytes (cut by limitBytes wherever it falls).
        if isinstance(payload, bytes):
            data = payload
        else:
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/json" if isinstance(payload, dict) else "text/plain; charset=utf-8"
        )
        self.send_header("Content-Length", str(len(data)))
        for header, value in headers.items():
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
