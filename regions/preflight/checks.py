"""The permissions pre-flight of cloud accounts and clusters: check, keep the last answer, refuse a build without it.

"Check access" (the account's or cluster's page, or ``POST
/api/cloud-accounts/<id>/check-access/`` and ``/api/clusters/<id>/check-access/``)
asks the driver whether the portal's identity holds every permission of the
shipped policy (``providers/policies/``; see :mod:`providers.access`) and
keeps the answer (:class:`~regions.models.AccessCheckResult`: when, ok, what
is missing with the grant to add), audited. Only read-only calls and dry
runs are made, so it runs in the request (a handful of calls, seconds at
most) rather than on a worker; a simulated (sandbox) account or cluster
passes without a call.

A region build starts only when its account passes (:func:`build_refusal`,
called where :mod:`regions.services` starts a build or retries one): a
passing result younger than ``PORTAL_ACCESS_CHECK_FRESH_MINUTES`` (60) is
trusted, so approving does not call the cloud on every click; otherwise the
account is checked there and then. A failing result is never trusted (the
grants may have been fixed since). IAM is global and an Azure principal's
permissions reach every resource group from the subscription, so a fresh
pass from any of the account's regions counts.
"""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import User
from providers.access import AccessCheck, check_access, sandbox_check
from providers.errors import ProviderError
from regions import selectors
from regions.drivers import cloud_driver_in, cluster_driver_for
from regions.models import AccessCheckResult, CloudAccount, Cluster
from regions.provider_config import account_config, cluster_config

# Where an account with no region yet is checked from (IAM and Azure RBAC answer the same from anywhere).
HOME_REGIONS = {"aws": "us-east-1", "azure": "westeurope"}
# How many missing actions a refusal names before "and N more".
NAMED_IN_REFUSAL = 8


def account_url(account: CloudAccount) -> str:
    return reverse("regions:account", kwargs={"pk": account.pk})


def last_result(subject: CloudAccount | Cluster) -> AccessCheckResult | None:
    """The last pre-flight of an account or cluster, or None before the first (selected with it by the selectors)."""
    # An absent reverse one-to-one raises RelatedObjectDoesNotExist, an AttributeError.
    result: AccessCheckResult | None = getattr(subject, "access_check", None)
    return result


def _home_region(account: CloudAccount, region_code: str = "") -> str:
    if region_code:
        return region_code
    first = account.regions.order_by("code").values_list("code", flat=True).first()
    return first or HOME_REGIONS.get(account.provider, "")


def check_account(account: CloudAccount, region_code: str) -> AccessCheck:
    """Ask the account's cloud (no database write); a cloud that cannot be asked is a failed check saying why."""
    if account_config(account, region_code).sandbox:
        return sandbox_check(f"The account {account.name}")
    try:
        return check_access(cloud_driver_in(account, region_code))
    except ProviderError as error:
        return AccessCheck(
            ok=False,
            method="unreachable",
            summary=f"The portal could not ask {account.get_provider_display()} about {account.name}: {error.message}",
        )


def check_cluster(cluster: Cluster) -> AccessCheck:
    """Ask the cluster's API server (no database write); a cluster that cannot be reached is a failed check."""
    if cluster_config(cluster).sandbox:
        return sandbox_check(f"The cluster {cluster.name}")
    try:
        return check_access(cluster_driver_for(cluster))
    except ProviderError as error:
        return AccessCheck(
            ok=False,
            method="unreachable",
            summary=f"The portal could not ask the cluster {cluster.name}: {error.message}",
        )


def _store(
    subject: CloudAccount | Cluster, answer: AccessCheck, *, actor: User | None, region_code: str = ""
) -> AccessCheckResult:
    """Keep ``answer`` as the subject's last result and audit it (inside the caller's transaction)."""
    fields = {
        "checked_at": timezone.now(),
        "ok": answer.ok,
        "method": answer.method,
        "summary": answer.summary,
        "identity": answer.identity[:2048],
        "checked": answer.checked,
        "missing": [item.as_json() for item in answer.missing],
        "region_code": region_code,
        "checked_by": actor,
    }
    lookup = {"account": subject} if isinstance(subject, CloudAccount) else {"cluster": subject}
    previous = AccessCheckResult.objects.filter(**lookup).first()
    result, _ = AccessCheckResult.objects.update_or_create(**lookup, defaults=fields)
    audit.record(
        audit.ACCESS_CHECKED,
        subject,
        actor=actor,
        actor_label=None if actor is not None else "system",
        before={"ok": previous.ok, "missing": len(previous.missing)} if previous is not None else None,
        after={"ok": answer.ok, "missing": len(answer.missing), "method": answer.method},
        missing=[item.action for item in answer.missing],
    )
    return result


def account_access_check(*, actor: User, account_id: int, region_code: str = "") -> AccessCheckResult:
    """Check the account's permissions now and keep the answer (``inventory.change`` on the account)."""
    account = get_object_or_404(selectors.cloud_account_list(user=actor), pk=account_id)
    policy.require(actor, policy.CHANGE, account)
    code = _home_region(account, region_code)
    answer = check_account(account, code)  # outside the transaction: cloud calls hold no lock
    with transaction.atomic():
        policy.get_for_update(CloudAccount.objects.all(), actor, policy.CHANGE, pk=account.pk)
        return _store(account, answer, actor=actor, region_code=code)


def cluster_access_check(*, actor: User, cluster_id: int) -> AccessCheckResult:
    """Check the cluster's permissions now and keep the answer (``inventory.change`` on the cluster)."""
    cluster = get_object_or_404(selectors.cluster_list(user=actor).select_related("region__account"), pk=cluster_id)
    policy.require(actor, policy.CHANGE, cluster)
    answer = check_cluster(cluster)
    with transaction.atomic():
        policy.get_for_update(Cluster.objects.all(), actor, policy.CHANGE, pk=cluster.pk)
        return _store(cluster, answer, actor=actor)


def build_refusal(account: CloudAccount, region_code: str, *, actor: User | None) -> str:
    """Why a build in ``region_code`` with ``account`` may not start, or ``""`` when it may.

    Trusts a fresh passing result; otherwise checks now and, when the check
    passes, keeps it (inside the caller's transaction). A failing check is
    not kept here: the caller refuses by raising, which undoes its
    transaction; the message carries everything the page needs.
    """
    previous = AccessCheckResult.objects.filter(account=account).first()
    if previous is not None and previous.is_fresh():
        return ""
    answer = check_account(account, region_code)
    if answer.ok:
        _store(account, answer, actor=actor, region_code=region_code)
        return ""
    named = [item.action for item in answer.missing[:NAMED_IN_REFUSAL]]
    more = len(answer.missing) - len(named)
    lacking = f" It lacks {', '.join(named)}{f' and {more} more' if more > 0 else ''}." if named else ""
    return (
        f"The build cannot start: the portal's access to the {account.get_provider_display()} account "
        f"{account.name} failed its check. {answer.summary}{lacking} Grant what is missing (the account's page, "
        f"{account_url(account)}, lists each grant and the policy to download), check access there, then try again."
    )
