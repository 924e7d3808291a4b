"""The Kubernetes permissions pre-flight: may the portal's cluster identity do what the shipped ClusterRole lists?

For each (API group, resource, verb) of ``providers/policies/kubernetes-portal-role.json``
the driver creates a ``SelfSubjectAccessReview`` (authorization.k8s.io/v1):
"SelfSubjectAccessReview checks whether or the current user can perform an
action"; the answer's ``status.allowed`` says whether it may, and
``status.reason`` why. A review without a namespace asks about every
namespace (cluster-wide), which is how the portal uses these verbs. Reviews
are answered by the API server's authorizers and change nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubernetes import client

from providers.access import AccessCheck, MissingGrant, kubernetes_grant, kubernetes_permissions
from providers.retry import call_with_retries

if TYPE_CHECKING:
    from providers.kubernetes.driver import KubernetesClusterDriver


def check_access(driver: KubernetesClusterDriver) -> AccessCheck:
    """One access review per needed verb; raises a ProviderError only when the cluster could not be asked."""
    api = client.AuthorizationV1Api(driver.api_client)
    needed = kubernetes_permissions()
    missing: list[MissingGrant] = []
    for permission in needed:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    group=permission.group, resource=permission.resource, verb=permission.verb
                )
            )
        )

        def ask(review: Any = review) -> Any:
            return driver._call(
                lambda: api.create_self_subject_access_review(review, _request_timeout=driver.timeout_seconds),
                "selfsubjectaccessreviews",
            )

        answer = call_with_retries(ask, driver.retry_policy, driver.sleep)
        if not (answer.status and answer.status.allowed):
            missing.append(MissingGrant(permission.label, kubernetes_grant(permission)))
    return AccessCheck(
        ok=not missing,
        method="access-reviews",
        checked=len(needed),
        missing=tuple(missing),
        summary=(
            f"Access reviews on the cluster: all {len(needed)} verbs the portal uses are allowed."
            if not missing
            else f"Access reviews on the cluster: {len(missing)} of {len(needed)} verbs the portal uses are not "
            "allowed."
        ),
    )
