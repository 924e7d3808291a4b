"""Pages of the permissions pre-flight: a cloud account's page, "Check access" for accounts and clusters, and the
shipped least-privilege policies to download."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from access import policy
from portal.http import HttpRequest, signed_in
from providers.access import AWS_POLICY_FILE, AZURE_ROLE_FILE, KUBERNETES_ROLE_FILE, policy_text
from regions import selectors
from regions.models import AccessCheckResult, CloudAccount, Cluster
from regions.preflight import checks as preflight

# The file an administrator grants for each kind of subject.
POLICY_FOR_PROVIDER = {"aws": AWS_POLICY_FILE, "azure": AZURE_ROLE_FILE}


def access_context(
    request: HttpRequest, subject: CloudAccount | Cluster, check_url: str, policy_file: str
) -> dict[str, Any]:
    """What the access section shows: the last result, whether the viewer may check again, the policy to grant."""
    return {
        "access_check": preflight.last_result(subject),
        "access_check_url": check_url,
        "can_check_access": policy.can(request.user, policy.CHANGE, subject),
        "policy_file": policy_file,
    }


def cluster_access_context(request: HttpRequest, cluster: Cluster) -> dict[str, Any]:
    region = cluster.region
    url = reverse("regions:cluster_check_access", args=[region.provider, region.code, cluster.name])
    return access_context(request, cluster, url, KUBERNETES_ROLE_FILE)


@login_required
@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A cloud account: how the portal signs in, its regions, and its last permissions pre-flight."""
    account = get_object_or_404(selectors.cloud_account_list(user=request.user), pk=pk)
    regions = selectors.region_list(user=request.user).filter(account=account)
    url = reverse("regions:account_check_access", args=[account.pk])
    context = {
        "account": account,
        "regions": regions,
        **access_context(request, account, url, POLICY_FOR_PROVIDER.get(account.provider, "")),
    }
    return render(request, "regions/account_detail.html", context)


def _told(request: HttpRequest, result: AccessCheckResult, what: str) -> None:
    if result.ok:
        messages.success(request, f"{what}: every permission the portal needs is granted.")
    else:
        count = len(result.missing)
        missing = f"{count} permission{'s' if count != 1 else ''} missing" if count else "not verified"
        messages.warning(request, f"{what}: {missing}. The list below says what to grant.")


@login_required
@require_POST
def account_check_access(request: HttpRequest, pk: int) -> HttpResponse:
    """Check the account's permissions now; the page shows the answer."""
    result = preflight.account_access_check(actor=signed_in(request), account_id=pk)
    account = result.account
    assert account is not None  # noqa: S101 (an account's check)
    _told(request, result, f"Access of {account.name}")
    return redirect("regions:account", pk=account.pk)


@login_required
@require_POST
def cluster_check_access(request: HttpRequest, provider: str, code: str, name: str) -> HttpResponse:
    """Check the cluster's permissions now; the page shows the answer."""
    user = signed_in(request)
    cluster = selectors.cluster_get(user=user, provider=provider, code=code, name=name)
    result = preflight.cluster_access_check(actor=user, cluster_id=cluster.pk)
    _told(request, result, f"Access to {cluster.name}")
    return redirect("regions:cluster", provider=provider, code=code, name=name)


@login_required
@require_GET
def policy_file(request: HttpRequest, name: str) -> HttpResponse:
    """One of the shipped least-privilege policies, as a file to download."""
    try:
        text = policy_text(name)
    except KeyError:
        raise Http404("No such policy.") from None
    response = HttpResponse(text, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
