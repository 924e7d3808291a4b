"""The Kubernetes cluster driver: the shared cluster logic sent through the official ``kubernetes`` client.

Build one per cluster with :meth:`KubernetesClusterDriver.from_kubeconfig`
(a path or a parsed dict; k3s writes one to ``/etc/rancher/k3s/k3s.yaml``),
:meth:`~KubernetesClusterDriver.in_cluster` (the pod's service account) or
:meth:`~KubernetesClusterDriver.from_token` (EKS/AKS: endpoint, CA data and a
callable that returns a bearer token, called again when it expires).

``ApiException`` statuses become :mod:`providers.errors` (404 NotFound,
409 Conflict, 403 PermissionDenied, 400/422 InvalidRequest, 429 Throttled with
its ``Retry-After``, 5xx Unavailable; connection failures Unavailable).
urllib3's own retries are switched off so :mod:`providers.retry` is the one
bounded retry layer. Updates are JSON merge patches (the client would
otherwise label a dict body ``application/json-patch+json``).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from providers.access import AccessCheck
from providers.cluster import Manifest
from providers.cluster_base import (
    ManifestClusterDriver,
    Resource,
    StaleObject,
    field_selector_text,
    label_selector_text,
)
from providers.errors import (
    Busy,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    Throttled,
    Unavailable,
)
from providers.outbound import GuardedPoolManager, OutboundPolicy, check_url, refusal_in
from providers.retry import RetryPolicy

T = TypeVar("T")
# A kubeconfig's server: public https addresses only, unless the caller opens private networks.
STRICT = OutboundPolicy()
MERGE_PATCH = "application/merge-patch+json"
# Lists are read in pages of this many items (the API server may return fewer; ``continue`` fetches the rest).
LIST_PAGE_SIZE = 500
# How often a paged list starts again from the first page after its continue token expired (410).
LIST_RESTARTS = 3
# A bounded read stops after this many pages even if the server keeps sending short ones with a continue token.
BOUNDED_MAX_PAGES = 20
# A log answer may run "slightly more" than limitBytes (API reference); more than this much over is not read.
LOG_READ_SLACK = 4096
API_CLASSES: dict[str, Callable[[client.ApiClient], Any]] = {
    "v1": client.CoreV1Api,
    "rbac.authorization.k8s.io/v1": client.RbacAuthorizationV1Api,
    "networking.k8s.io/v1": client.NetworkingV1Api,
    "apps/v1": client.AppsV1Api,
    "batch/v1": client.BatchV1Api,
    "autoscaling/v2": client.AutoscalingV2Api,
}
METHOD_NAMES = {
    "Namespace": "namespace",
    "ResourceQuota": "resource_quota",
    "LimitRange": "limit_range",
    "Pod": "pod",
    "Event": "event",
    "Node": "node",
    "RoleBinding": "role_binding",
    "NetworkPolicy": "network_policy",
    "Ingress": "ingress",
    "Deployment": "deployment",
    "StatefulSet": "stateful_set",
    "DaemonSet": "daemon_set",
    "ReplicaSet": "replica_set",
    "ControllerRevision": "controller_revision",
    "CronJob": "cron_job",
    "HorizontalPodAutoscaler": "horizontal_pod_autoscaler",
}


@dataclass(frozen=True)
class BearerToken:
    """A bearer token and when it stops working (``None``: refresh after the driver's default lifetime)."""

    token: str
    expires_at: datetime | None = None


TokenProvider = Callable[[], "str | BearerToken"]


class ContinueExpired(Unavailable):
    """A paged list's ``continue`` token is too old (410 ``Expired``): the list must start again."""


def translate(error: ApiException, resource: str = "") -> ProviderError:
    """The :mod:`providers.errors` error for a Kubernetes API error response."""
    status = int(error.status or 0)
    body = _status_body(error)
    message = f"Kubernetes API {status}: {body.get('message') or error.reason or 'no message'}"
    reason = str(body.get("reason") or "")
    causes = {str(cause.get("reason")) for cause in (body.get("details") or {}).get("causes") or []}
    if status == 404:
        return NotFound(message, resource=resource)
    if status == 409:
        if reason == "Conflict" and "the object has been modified" in message:
            return StaleObject(message, resource=resource)
        return Conflict(message, resource=resource)
    if status == 410:
        return ContinueExpired(message, resource=resource)
    if status == 403:
        # NamespaceLifecycle admission: "unable to create new content in namespace X because it is being
        # terminated" (cause NamespaceTerminating) lasts until the namespace is gone: wait, then create.
        if "NamespaceTerminating" in causes or "because it is being terminated" in message:
            return Busy(message, resource=resource)
        if "exceeded quota" in message:
            return QuotaExceeded(message, resource=resource)
        return PermissionDenied(message, resource=resource)
    if status == 401:
        return PermissionDenied(message, resource=resource)
    if status == 429:
        return Throttled(message, resource=resource, retry_after=_retry_after(error))
    if status >= 500 or status == 0:
        return Unavailable(message, resource=resource, retry_after=_retry_after(error))
    return InvalidRequest(message, resource=resource)


def _status_body(error: ApiException) -> dict[str, Any]:
    """The ``Status`` object of an error answer; ``{}`` for a plain-text one (kube-aggregator's 503)."""
    import json

    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(error: ApiException) -> float | None:
    value = (error.headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class KubernetesClusterDriver(ManifestClusterDriver):
    """A :class:`~providers.cluster.ClusterDriver` for one cluster, through the official client."""

    def __init__(
        self,
        configuration: client.Configuration,
        *,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout_seconds: float = 30.0,
        outbound_policy: OutboundPolicy | None = None,
        page_size: int = LIST_PAGE_SIZE,
    ) -> None:
        """``outbound_policy``: the API server is an address a user gave (a kubeconfig's server), held to it.

        Then every connection goes through :class:`~providers.outbound.GuardedPoolManager`
        (https only, the name resolved and checked on each connection, the
        socket pinned to the checked address). Endpoints the portal learns
        from a cloud or its own pod are trusted and connect as the client does.
        """
        super().__init__(retry_policy=retry_policy, sleep=sleep)
        # One retry layer (providers.retry), not urllib3's hidden one that would also sleep on Retry-After.
        configuration.retries = urllib3.Retry(total=0, redirect=0, respect_retry_after_header=False)
        self.api_client = client.ApiClient(configuration)
        if outbound_policy is not None:
            _guard(self.api_client, outbound_policy)
        self.timeout_seconds = timeout_seconds
        self.page_size = page_size
        self._custom = client.CustomObjectsApi(self.api_client)

    # --- construction -------------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: str | Mapping[str, Any],
        *,
        context: str | None = None,
        outbound_policy: OutboundPolicy = STRICT,
        **options: Any,
    ) -> KubernetesClusterDriver:
        """From a kubeconfig file path or its parsed contents (``context`` picks one, else the current).

        A kubeconfig's server is held to ``outbound_policy`` on every
        connection: by default a public https address only; the portal passes
        the private networks an administrator opened for clusters.
        """
        configuration = client.Configuration()
        if isinstance(kubeconfig, str):
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
            )
        else:
            config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                dict(kubeconfig), context=context, client_configuration=configuration, persist_config=False
            )
        return cls(configuration, outbound_policy=outbound_policy, **options)

    @classmethod
    def in_cluster(cls, **options: Any) -> KubernetesClusterDriver:
        """From the service account of the pod the portal runs in."""
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(configuration, **options)

    @classmethod
    def from_token(
        cls,
        endpoint: str,
        token_provider: TokenProvider,
        *,
        ca_data: str | bytes | None = None,
        verify_tls: bool = True,
        token_lifetime: timedelta = timedelta(minutes=10),
        **options: Any,
    ) -> KubernetesClusterDriver:
        """For EKS/AKS: the API endpoint, its CA (PEM or base64 PEM) and a callable returning a bearer token.

        The callable is called before the first request and again a minute
        before the token expires (after ``token_lifetime`` when it returns a
        plain string: EKS tokens last 15 minutes).
        """
        configuration = client.Configuration()
        configuration.host = endpoint
        configuration.verify_ssl = verify_tls
        if ca_data:
            pem = ca_data.encode() if isinstance(ca_data, str) else ca_data
            if not pem.lstrip().startswith(b"-----BEGIN"):
                pem = base64.b64decode(pem)
            configuration.ssl_ca_cert = _ca_file(pem)
        configuration.api_key = {"BearerToken": "pending"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        configuration.refresh_api_key_hook = _TokenRefresher(token_provider, token_lifetime)  # type: ignore[assignment]
        return cls(configuration, **options)

    # --- primitives ---------------------------------------------------------------------------------

    def _call(self, operation: Callable[[], T], resource: str = "") -> T:
        try:
            return operation()
        except ApiException as error:
            raise translate(error, resource) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            refusal = refusal_in(error)
            if refusal is not None:  # not transient: the outbound rules refuse the server's address
                raise InvalidRequest(f"The cluster's API server is refused: {refusal}.", resource=resource) from None
            raise Unavailable(f"Kubernetes API unreachable: {error}", resource=resource) from error

    def _api(self, resource: Resource) -> Any:
        return API_CLASSES[resource.api_version](self.api_client)

    def _plain(self, value: Any) -> Any:
        return self.api_client.sanitize_for_serialization(value)  # type: ignore[no-untyped-call]

    def _method(self, resource: Resource, verb: str, scope: str = "namespaced") -> Callable[..., Any]:
        name = METHOD_NAMES[resource.kind]
        if not resource.namespaced:
            return getattr(self._api(resource), f"{verb}_{name}")  # type: ignore[no-any-return]
        if scope == "all":
            return getattr(self._api(resource), f"{verb}_{name}_for_all_namespaces")  # type: ignore[no-any-return]
        return getattr(self._api(resource), f"{verb}_namespaced_{name}")  # type: ignore[no-any-return]

    def _scope_args(self, resource: Resource, namespace: str | None) -> dict[str, Any]:
        return {"namespace": namespace} if resource.namespaced else {}

    def _get(self, resource: Resource, namespace: str | None, name: str) -> Manifest | None:
        read = self._method(resource, "read")
        try:
            return self._call(  # type: ignore[no-any-return]
                lambda: self._plain(
                    read(name=name, **self._scope_args(resource, namespace), _request_timeout=self.timeout_seconds)
                ),
                name,
            )
        except NotFound:
            return None

    def _create(self, resource: Resource, namespace: str | None, manifest: Manifest) -> Manifest:
        create = self._method(resource, "create")
        return self._call(
            lambda: self._plain(
                create(body=manifest, **self._scope_args(resource, namespace), _request_timeout=self.timeout_seconds)
            ),
            manifest["metadata"]["name"],
        )

    def _patch(self, resource: Resource, namespace: str | None, name: str, patch: Manifest) -> Manifest:
        update = self._method(resource, "patch")
        return self._call(
            lambda: self._plain(
                update(
                    name=name,
                    body=patch,
                    **self._scope_args(resource, namespace),
                    _content_type=MERGE_PATCH,
                    _request_timeout=self.timeout_seconds,
                )
            ),
            name,
        )

    def _list(self, resource: Resource, namespace: str | None) -> list[Manifest]:
        if not resource.namespaced or namespace is None:
            listing = self._method(resource, "list", scope="all")
            arguments: dict[str, Any] = {}
        else:
            listing = self._method(resource, "list")
            arguments = {"namespace": namespace}
        return self._paged(lambda page: listing(**arguments, **page), resource.plural)

    def _paged(self, fetch: Callable[[dict[str, Any]], Any], what: str) -> list[Manifest]:
        """Every item of a list, read in pages of ``page_size`` following ``metadata.continue``.

        The API reference on ``limit``: "The server may return fewer than the
        requested amount of items (up to zero items) … clients should only use
        the presence of the continue field to determine whether more results
        are available." And on chunking: the server "return[s] a 410 Gone if
        more results cannot be returned. In this case, the client will need to
        start from the beginning", which this does, a few times.
        """
        return self._pages(fetch, what, None)[0]

    def _pages(
        self, fetch: Callable[[dict[str, Any]], Any], what: str, max_items: int | None
    ) -> tuple[list[Manifest], bool]:
        """The items of a list (at most ``max_items`` when given, asked for no more) and whether more remained."""
        for _ in range(LIST_RESTARTS):
            items: list[Manifest] = []
            token: str | None = None
            pages = 0
            try:
                while True:
                    size = self.page_size if max_items is None else min(self.page_size, max_items - len(items))
                    page: dict[str, Any] = {"limit": size, "_request_timeout": self.timeout_seconds}
                    if token:
                        page["_continue"] = token
                    result = self._call(lambda: self._plain(fetch(page)), what)  # noqa: B023 (called at once)
                    pages += 1
                    items.extend((result or {}).get("items") or [])
                    token = ((result or {}).get("metadata") or {}).get("continue")
                    if max_items is not None and (len(items) >= max_items or pages >= BOUNDED_MAX_PAGES):
                        return items[:max_items], bool(token) or len(items) > max_items
                    if not token:
                        return items, False
            except ContinueExpired:
                continue
        raise Unavailable(f"the list of {what} kept expiring while it was read; try again", resource=what)

    def _select(
        self,
        resource: Resource,
        namespace: str,
        selector: Mapping[str, Any] | None,
        fields: Mapping[str, str],
        limit: int,
    ) -> tuple[list[Manifest], bool]:
        """One namespace's objects picked by the API server itself (``labelSelector``, ``fieldSelector``), bounded.

        The selectors travel as query parameters, so only what matches crosses
        the wire, in pages of at most ``limit`` items, and no more than
        ``limit`` items are read whatever the namespace holds.
        """
        listing = self._method(resource, "list")
        arguments: dict[str, Any] = {"namespace": namespace}
        if selector is not None:
            arguments["label_selector"] = label_selector_text(selector)
        if fields:
            arguments["field_selector"] = field_selector_text(fields)
        return self._pages(lambda page: listing(**arguments, **page), resource.plural, limit)

    def _read_log(
        self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int, previous: bool
    ) -> bytes:
        """``GET /api/v1/namespaces/<ns>/pods/<pod>/log`` with ``container``, ``tailLines`` and ``limitBytes``.

        Read raw (``_preload_content=False``): the client would decode the
        answer as strict UTF-8, which fails on a character ``limitBytes`` cut in
        two, and the body is read only up to the limit (plus a little slack).
        """
        core = client.CoreV1Api(self.api_client)
        options: dict[str, Any] = {"container": container, "tail_lines": tail_lines, "limit_bytes": limit_bytes}
        if previous:
            options["previous"] = True

        def read() -> bytes:
            # Typed as str (the preloaded answer); unpreloaded it is urllib3's HTTPResponse.
            response: urllib3.HTTPResponse = core.read_namespaced_pod_log(  # type: ignore[assignment]
                pod, namespace, **options, _preload_content=False, _request_timeout=self.timeout_seconds
            )
            try:
                return bytes(response.read(limit_bytes + LOG_READ_SLACK))
            finally:
                response.close()
                response.release_conn()

        return self._call(read, f"{namespace}/{pod}")

    def _delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        delete = self._method(resource, "delete")
        self._call(
            lambda: delete(name=name, **self._scope_args(resource, namespace), _request_timeout=self.timeout_seconds),
            name,
        )

    def _list_custom(self, group: str, version: str, plural: str, namespace: str | None) -> list[Manifest] | None:
        def listing(page: dict[str, Any]) -> Any:
            if namespace is None:
                return self._custom.list_cluster_custom_object(group, version, plural, **page)
            return self._custom.list_namespaced_custom_object(group, version, namespace, plural, **page)

        # An aggregated API whose backend is down (metrics-server restarting) answers 503: that is Unavailable,
        # retried and then raised, never taken for "not installed".
        try:
            return self._paged(listing, f"{group}/{version}/{plural}")
        except NotFound:
            return None  # the CRD (or metrics-server) is not installed

    def _pod_metrics(self) -> list[Manifest] | None:
        return self._list_custom("metrics.k8s.io", "v1beta1", "pods", None)

    def check_access(self) -> AccessCheck:
        """The permissions pre-flight of the identity the driver signs in with (:mod:`providers.kubernetes.access`)."""
        from providers.kubernetes.access import check_access

        return check_access(self)


def _guard(api_client: client.ApiClient, policy: OutboundPolicy) -> None:
    """Send every request of ``api_client`` through a GuardedPoolManager with the client's own pool settings.

    A proxy from the environment (an operator's egress) is kept: the proxy
    connects, so only the server's name is checked here (statically, and by
    resolving it when it resolves).
    """
    rest = api_client.rest_client
    current = rest.pool_manager
    if isinstance(current, urllib3.ProxyManager) or not isinstance(current, urllib3.PoolManager):
        check_url(str(api_client.configuration.host), policy=policy, require_resolution=False)
        return
    rest.pool_manager = GuardedPoolManager(
        outbound_policy=policy, headers=current.headers, **current.connection_pool_kw
    )


_ca_directory: Path | None = None
_ca_lock = threading.Lock()


def _ca_file(pem: bytes) -> str:
    """A file holding ``pem`` (the client reads CAs only from files): one per distinct CA and process.

    Drivers are built per task run, so a file per driver would pile up; the
    directory is private to the process (``mkdtemp``: mode 0700), so no other
    local user can plant a CA of their own under a predictable name.
    """
    global _ca_directory
    with _ca_lock:
        if _ca_directory is None:
            _ca_directory = Path(tempfile.mkdtemp(prefix="portal-kube-ca-"))
        path = _ca_directory / f"{hashlib.sha256(pem).hexdigest()[:32]}.crt"
        if not path.exists():
            path.write_bytes(pem)
        return str(path)


class _TokenRefresher:
    """The client's ``refresh_api_key_hook``: fetches a new token when the current one is about to expire."""

    def __init__(self, provider: TokenProvider, lifetime: timedelta) -> None:
        self.provider = provider
        self.lifetime = lifetime
        self.expires_at: datetime | None = None
        self.lock = threading.Lock()

    def __call__(self, configuration: client.Configuration) -> None:
        with self.lock:
            now = datetime.now(UTC)
            if self.expires_at is not None and now < self.expires_at - timedelta(minutes=1):
                return
            fresh = self.provider()
            token = fresh if isinstance(fresh, BearerToken) else BearerToken(fresh)
            configuration.api_key["BearerToken"] = token.token
            self.expires_at = token.expires_at or now + self.lifetime
