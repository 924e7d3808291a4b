"""Each check kind passes and fails for the right reason, and says so in words a service's team can act on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from access.models import Membership, Tier
from costs.models import Budget
from deployments.choices import DeploymentSource, DeploymentStatus, RunStatus, SmokeTest
from deployments.dora import change_failures_by_service, dora
from deployments.models import Deployment
from providers import errors
from providers.cloud import KubernetesVersionInfo
from providers.sandbox.cloud import SandboxCloudDriver
from regions import versions
from regions.choices import ClusterKind
from regions.drivers import cloud_driver_for
from regions.models import Cluster, Region
from scorecards.choices import CheckKind, ResultStatus
from tests.costs.budget_helpers import Ledger, days
from tests.factories import ClusterFactory, OnPremRegionFactory, RegionFactory, make_user
from tests.scorecards.helpers import NOW, deploy, judge, pipeline_run, runs_on, service, team

pytestmark = pytest.mark.django_db

PASSED, FAILED, UNKNOWN = ResultStatus.PASSED, ResultStatus.FAILED, ResultStatus.UNKNOWN


# --- owner, runbook, on call ---------------------------------------------------------------------------------


def test_a_service_whose_team_has_members_has_an_owner() -> None:
    owner = team("payments")
    Membership.objects.create(team=owner, user=make_user(username="pat"))
    Membership.objects.create(team=owner, user=make_user(username="sam"))

    outcome = judge(service(owner=owner), CheckKind.OWNER)

    assert (outcome.status, outcome.reason) == (PASSED, "Owned by Payments (2 members).")


def test_a_service_whose_team_has_nobody_in_it_has_no_owner() -> None:
    outcome = judge(service(owner=team("ghosts")), CheckKind.OWNER)

    assert (outcome.status, outcome.reason) == (
        FAILED,
        "Owned by Ghosts, which has no members: nobody would answer for it.",
    )


def test_the_runbook_and_on_call_links_pass_when_set() -> None:
    checkout = service(
        runbook_url="https://wiki.example.com/runbooks/checkout", oncall_url="https://example.pagerduty.com/s/checkout"
    )

    runbook = judge(checkout, CheckKind.RUNBOOK)
    oncall = judge(checkout, CheckKind.ONCALL)

    assert (runbook.status, runbook.reason) == (PASSED, "Runbook: https://wiki.example.com/runbooks/checkout")
    assert (oncall.status, oncall.reason) == (PASSED, "On call: https://example.pagerduty.com/s/checkout")


def test_the_runbook_and_on_call_links_fail_when_missing_and_say_where_to_add_them() -> None:
    checkout = service()

    runbook = judge(checkout, CheckKind.RUNBOOK)
    oncall = judge(checkout, CheckKind.ONCALL)

    assert (runbook.status, runbook.reason) == (FAILED, "No runbook link is set. Add it on the service's Edit page.")
    assert (oncall.status, oncall.reason) == (FAILED, "No on-call link is set. Add it on the service's Edit page.")


# --- security findings ---------------------------------------------------------------------------------------


def test_no_critical_finding_in_the_last_run_passes_and_names_the_others() -> None:
    checkout = service()
    pipeline_run(checkout, 11, days_ago=5, security={"critical": 4})
    pipeline_run(checkout, 12, days_ago=2, security={"critical": 0, "high": 2, "medium": 0, "low": 7})

    outcome = judge(checkout, CheckKind.NO_CRITICAL_FINDINGS)

    assert outcome.status == PASSED
    assert outcome.reason == (
        "The last pipeline run (checkout release #12, 1 day ago) reported no critical security finding (2 high, 7 low)."
    )


def test_critical_findings_in_the_last_run_fail_even_when_an_older_run_was_clean() -> None:
    checkout = service()
    pipeline_run(checkout, 11, days_ago=5)
    pipeline_run(checkout, 12, days_ago=2, security={"critical": 3, "high": 1})
    pipeline_run(checkout, 13, days_ago=0.1, status=RunStatus.RUNNING, security={})  # not finished: not counted

    outcome = judge(checkout, CheckKind.NO_CRITICAL_FINDINGS)

    assert outcome.status == FAILED
    assert outcome.reason == (
        "The last pipeline run (checkout release #12, 1 day ago) reported 3 critical security findings (1 high)."
    )


def test_without_a_finished_run_or_a_scan_nothing_shows_the_findings() -> None:
    checkout, billing = service("checkout"), service("billing")
    pipeline_run(billing, 21, days_ago=1, security={})

    never = judge(checkout, CheckKind.NO_CRITICAL_FINDINGS)
    unscanned = judge(billing, CheckKind.NO_CRITICAL_FINDINGS)

    assert never.status == FAILED
    assert never.reason.startswith("No finished pipeline run of this service has been reported")
    assert unscanned.status == FAILED
    assert unscanned.reason == (
        "The last pipeline run (billing release #21, less than a day ago) reported no security scan results."
    )


# --- deployed to production within N days -----------------------------------------------------------------


def test_a_production_deployment_older_than_the_rule_allows_fails_saying_how_old() -> None:
    checkout = service()
    deploy(checkout, days_ago=41)
    deploy(checkout, days_ago=2, tier=Tier.STAGING)  # not production
    deploy(checkout, days_ago=3, status=DeploymentStatus.FAILED)  # not shipped
    deploy(checkout, days_ago=1, source=DeploymentSource.ROLLBACK)  # undoes a change, ships none

    outcome = judge(checkout, CheckKind.DEPLOYED_WITHIN, days=14)

    assert (outcome.status, outcome.reason) == (
        FAILED,
        "Last deployed to production 41 days ago (rule: within 14 days).",
    )


def test_a_recent_production_deployment_passes() -> None:
    checkout = service()
    deploy(checkout, days_ago=41)
    deploy(checkout, days_ago=3.5)

    outcome = judge(checkout, CheckKind.DEPLOYED_WITHIN, days=14)

    assert (outcome.status, outcome.reason) == (
        PASSED,
        "Last deployed to production 3 days ago (rule: within 14 days).",
    )


def test_a_service_never_deployed_to_production_fails() -> None:
    outcome = judge(service(), CheckKind.DEPLOYED_WITHIN, days=1)

    assert (outcome.status, outcome.reason) == (FAILED, "Never deployed to production (rule: within 1 day).")


# --- change failure rate -----------------------------------------------------------------------------------


def ten_deployments_with(failures: int, slug: str = "checkout") -> Any:
    checkout = service(slug)
    for number in range(10):
        deploy(checkout, days_ago=number + 1, status=DeploymentStatus.FAILED if number < failures else "succeeded")
    deploy(checkout, days_ago=45, status=DeploymentStatus.FAILED)  # before the last 30 days: not counted
    return checkout


def test_a_change_failure_rate_under_the_limit_passes() -> None:
    outcome = judge(ten_deployments_with(1), CheckKind.CHANGE_FAILURE_RATE, percent=Decimal(20))

    assert (outcome.status, outcome.reason) == (
        PASSED,
        "Change failure rate 10 % over the last 30 days: 1 of 10 production deployments failed (rule: under 20 %).",
    )


def test_a_change_failure_rate_at_or_over_the_limit_fails() -> None:
    at_limit = judge(ten_deployments_with(2), CheckKind.CHANGE_FAILURE_RATE, percent=Decimal(20))
    over = judge(ten_deployments_with(3, "billing"), CheckKind.CHANGE_FAILURE_RATE, percent=Decimal("12.5"))

    assert at_limit.status == FAILED
    assert "2 of 10 production deployments failed (rule: under 20 %)" in at_limit.reason
    assert (over.status, over.reason) == (
        FAILED,
        "Change failure rate 30 % over the last 30 days: 3 of 10 production deployments failed (rule: under 12.5 %).",
    )


def test_without_production_deployments_no_change_failed() -> None:
    outcome = judge(service(), CheckKind.CHANGE_FAILURE_RATE, percent=Decimal(15))

    assert (outcome.status, outcome.reason) == (
        PASSED,
        "No production deployment in the last 30 days, so none failed (rule: under 15 %).",
    )


def test_the_rate_per_service_is_the_one_the_dora_page_shows_for_that_service() -> None:
    checkout, billing = service("checkout"), service("billing")
    deploy(checkout, days_ago=1)
    deploy(checkout, days_ago=2, status=DeploymentStatus.ROLLED_BACK)
    deploy(checkout, days_ago=3, smoke_test=SmokeTest.FAILED)
    deploy(checkout, days_ago=4, status=DeploymentStatus.IN_PROGRESS)
    deploy(billing, days_ago=2)
    deploy(billing, days_ago=5, status=DeploymentStatus.FAILED)
    start, end = date(2026, 10, 22), date(2026, 11, 21)

    by_service = change_failures_by_service(Deployment.objects.all(), start=start, end=end)

    for each in (checkout, billing):
        expected = dora(Deployment.objects.filter(service=each), start=start, end=end)
        assert by_service[each.pk].rate == expected.change_failure_rate
        assert by_service[each.pk].failures == expected.failures
    assert by_service[checkout.pk].rate == pytest.approx(2 / 3)


# --- Kubernetes versions ----------------------------------------------------------------------------------


@pytest.fixture
def sandbox(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # a sandbox cloud of this test's own
    return tmp_path


def cluster(name: str, version: str, **fields: Any) -> Cluster:
    return Cluster.objects.select_related("region__account").get(
        pk=ClusterFactory(name=name, kubernetes_version=version, **fields).pk  # type: ignore[attr-defined]
    )


def test_clusters_on_versions_the_cloud_supports_pass(sandbox: Path) -> None:
    checkout = service()
    runs_on(checkout, cluster("eks-a", "1.34.2"))
    runs_on(checkout, cluster("eks-b", "1.33"))

    outcome = judge(checkout, CheckKind.SUPPORTED_KUBERNETES, extended_support=True)

    assert (outcome.status, outcome.reason) == (
        PASSED,
        "Runs on eks-a (Kubernetes 1.34.2, standard support) and eks-b (Kubernetes 1.33, extended support): "
        "each version is supported.",
    )


def test_a_cluster_the_cloud_no_longer_supports_fails_naming_it_and_what_the_cloud_offers(sandbox: Path) -> None:
    checkout = service()
    old = cluster("eks-old", "1.31")
    runs_on(checkout, old)
    runs_on(checkout, cluster("eks-new", "1.35"))
    runs_on(checkout, cluster("eks-gone", "1.20"), gone_at=NOW)  # no longer there: not counted

    outcome = judge(checkout, CheckKind.SUPPORTED_KUBERNETES, extended_support=True)

    assert outcome.status == FAILED
    assert outcome.reason == (
        f"eks-old runs Kubernetes 1.31, which AWS no longer supports in {old.region.code} "
        "(it offers 1.35, 1.34 (standard support); 1.33, 1.32 (extended support))."
    )


def test_extended_support_fails_a_rule_that_asks_for_standard_support(sandbox: Path) -> None:
    checkout = service()
    extended = cluster("eks-ext", "1.32")
    runs_on(checkout, extended)

    outcome = judge(checkout, CheckKind.SUPPORTED_KUBERNETES, extended_support=False)

    assert (outcome.status, outcome.reason) == (
        FAILED,
        f"eks-ext runs Kubernetes 1.32, which AWS supports in {extended.region.code} only in extended support "
        "(rule: standard support only).",
    )


def test_what_the_cloud_offers_in_the_region_decides(sandbox: Path) -> None:
    checkout = service()
    region = Region.objects.get(pk=RegionFactory().pk)  # type: ignore[attr-defined]
    driver = cloud_driver_for(region)
    assert isinstance(driver, SandboxCloudDriver)
    driver.offer_kubernetes_versions(
        [KubernetesVersionInfo("1.36", "preview"), KubernetesVersionInfo("1.35", "standard")]
    )
    runs_on(checkout, cluster("eks-preview", "1.36", region=region))

    outcome = judge(checkout, CheckKind.SUPPORTED_KUBERNETES, extended_support=True)

    assert (outcome.status, outcome.reason) == (
        FAILED,
        f"eks-preview runs Kubernetes 1.36, only a preview on AWS in {region.code}.",
    )


def test_an_on_prem_k3s_cluster_follows_the_releases_the_clouds_support(sandbox: Path) -> None:
    RegionFactory()  # a cloud account to ask
    site = OnPremRegionFactory()
    checkout, billing = service("checkout"), service("billing")
    runs_on(checkout, cluster("k3s-old", "1.31", region=site, kind=ClusterKind.K3S))
    runs_on(billing, cluster("k3s-new", "1.34", region=site, kind=ClusterKind.K3S))

    old = judge(checkout, CheckKind.SUPPORTED_KUBERNETES, extended_support=True)
    new = judge(billing, CheckKind.SUPPORTED_KUBERNETES, extended_support=True)

    assert (old.status, old.reason) == (
        FAILED,
        "k3s-old runs Kubernetes 1.31, a release upstream Kubernetes no longer supports "
        "(it supports 1.35, 1.34, as the clouds offer them in standard support).",
    )
    assert (new.status, new.reason) == (PASSED, "Runs on k3s-new (Kubernetes 1.34): each version is supported.")


def test_a_cloud_that_cannot_be_asked_leaves_the_rule_not_checked_never_passed(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Unreachable:
        def kubernetes_versions(self) -> list[KubernetesVersionInfo]:
            raise errors.Unavailable("Could not connect to the endpoint URL.")

    monkeypatch.setattr(versions, "_driver", lambda account, code: Unreachable())
    checkout = service()
    runs_on(checkout, cluster("eks-a", "1.34"))

    outcome = judge(checkout, CheckKind.SUPPORTED_KUBERNETES, extended_support=True)

    assert outcome.status == UNKNOWN
    assert outcome.reason.startswith("Could not be checked: eks-a (Kubernetes 1.34): The portal could not ask AWS")


def test_a_service_that_runs_nowhere_fails() -> None:
    outcome = judge(service(), CheckKind.SUPPORTED_KUBERNETES, extended_support=True)

    assert outcome.status == FAILED
    assert outcome.reason.startswith("Runs on no cluster the portal syncs")


# --- budget ----------------------------------------------------------------------------------------------


def budget_of(owner: Any, amount: str, **fields: Any) -> Budget:
    values: dict[str, Any] = {"name": f"{owner} monthly", "team": owner, "amount": Decimal(amount), "currency": "USD"}
    values.update(fields)
    return Budget.objects.create(**values)


def test_a_team_within_its_budget_passes_with_its_spend_in_words() -> None:
    owner = team("payments")
    Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 19)), "50", team=owner)
    budget_of(owner, "2000")

    outcome = judge(service(owner=owner), CheckKind.WITHIN_BUDGET)

    assert (outcome.status, outcome.reason) == (
        PASSED,
        "Payments has spent 950.00 USD of its 2,000.00 USD budget this month (47.5 %).",
    )


def test_a_team_over_its_budget_fails_saying_by_how_much() -> None:
    owner = team("payments")
    Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 19)), "50", team=owner)
    budget_of(owner, "900")
    budget_of(owner, "5000", name="Payments quarterly", period="quarterly")  # the monthly one is the team's

    outcome = judge(service(owner=owner), CheckKind.WITHIN_BUDGET)

    assert (outcome.status, outcome.reason) == (
        FAILED,
        "Payments has spent 950.00 USD of its 900.00 USD budget this month (105.6 %): over by 50.00 USD.",
    )


def test_a_team_without_a_budget_cannot_be_within_one() -> None:
    owner = team("payments")
    budget_of(owner, "900", active=False)

    outcome = judge(service(owner=owner), CheckKind.WITHIN_BUDGET)

    assert outcome.status == FAILED
    assert outcome.reason.startswith("Payments has no active team budget")


def test_the_budget_period_is_the_one_the_costs_pages_use() -> None:
    owner = team("payments")
    Ledger().spend(days(date(2026, 10, 1), date(2026, 10, 2)), "100", team=owner)
    budget_of(owner, "1000", period="quarterly")

    outcome = judge(service(owner=owner), CheckKind.WITHIN_BUDGET)

    assert (outcome.status, outcome.reason) == (
        PASSED,
        "Payments has spent 200.00 USD of its 1,000.00 USD budget this quarter (20.0 %).",
    )
