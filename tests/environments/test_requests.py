"""Requesting environments: allowed outright, held for approval, refused with the reasons; idempotent;
approved or rejected by someone else; provisioned, torn down, cancelled, retried and extended."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from access import services as access_services
from access.audit import services as audit
from access.models import AuditEvent, Role, Team, User
from access.permissions import BuiltinRole
from approvals import services as approvals
from approvals.models import ApprovalRequest, ApprovalStatus
from costs.budgets.models import Budget
from environments import services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from environments.workflows import ProvisionEnvironment
from notifications.models import Notification
from portal.demo import Persona
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.environments.test_provisioning_workflow import run_to_the_end
from tests.factories import ApiTokenFactory, GrantFactory, RoleFactory, UserFactory
from workflows.engine import StepContext
from workflows.models import Run, RunStatus

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path  # a sandbox cloud and cluster of this test's own


@pytest.fixture
def developer(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.DEVELOPER)


@pytest.fixture
def lead(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.TEAM_LEAD)


@pytest.fixture
def admin(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.PLATFORM_ADMIN)


def team() -> Team:
    return Team.objects.get(slug="student-experience")


def cluster(name: str = "eks-eu-west-1") -> Cluster:
    return Cluster.objects.select_related("region").get(name=name)


def template(slug: str) -> EnvironmentTemplate:
    return EnvironmentTemplate.objects.get(slug=slug)


def request(actor: User, slug: str = "preview", **changes: Any) -> Environment:
    values: dict[str, Any] = {
        "actor": actor,
        "team": team(),
        "template": template(slug),
        "cluster": cluster(),
        "name": "checkout-preview",
        "size": "S",
        "ttl_hours": None,
    }
    values.update(changes)
    return services.environment_request(**values)


def verbs(environment: Environment | None = None) -> list[str]:
    events = AuditEvent.objects.filter(verb__startswith="environments.").exclude(verb__contains="template")
    if environment is not None:
        events = events.filter(object_id=str(environment.pk))
    return list(events.order_by("pk").values_list("verb", flat=True))


def provisioning_run(environment: Environment) -> Run:
    run = services.provisioning_run(environment)
    assert run is not None
    return run


def test_a_request_the_policy_allows_starts_provisioning_with_the_estimate_and_the_default_ttl(
    sandbox: None, developer: User
) -> None:
    environment = request(developer)

    assert environment.status == EnvironmentStatus.PROVISIONING
    assert environment.tier == "development"
    assert environment.monthly_estimate > 0
    assert environment.currency == "USD"
    assert environment.expires_at is not None
    assert timedelta(hours=23) < environment.expires_at - timezone.now() <= timedelta(hours=24)
    run = provisioning_run(environment)
    assert run.params["name"] == "checkout-preview"
    assert run.params["team"] == "student-experience"
    assert run.params["ingress"]["host"] == "checkout-preview.student-experience.preview.example.com"
    assert verbs(environment) == [audit.ENVIRONMENT_REQUESTED, audit.ENVIRONMENT_PROVISIONING]


def test_the_team_idp_groups_get_edit_access_to_the_namespaces(sandbox: None, developer: User) -> None:
    groups = services.team_idp_groups(team())

    run = provisioning_run(request(developer))

    assert tuple(run.params["editor_groups"]) == groups


def test_a_production_request_waits_for_approval_and_the_approvers_are_told(
    sandbox: None, developer: User, lead: User, admin: User
) -> None:
    environment = request(developer, "production", ttl_hours=None, name="checkout")

    assert environment.status == EnvironmentStatus.PENDING_APPROVAL
    assert environment.expires_at is None
    assert environment.approver == "platform_admin"
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk), purpose=services.PROVISION)
    assert "Production environments need a platform admin's approval." in approval.reasons
    assert not Run.objects.filter(key__startswith=f"environment:{environment.pk}:").exists()
    assert Notification.objects.filter(recipient=admin, kind="approvals.requested").exists()


def test_a_team_lead_cannot_approve_what_needs_a_platform_admin_but_the_admin_can(
    sandbox: None, developer: User, lead: User, admin: User
) -> None:
    environment = request(developer, "production", name="checkout")
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))

    with pytest.raises(ValidationError, match="needs a platform admin's approval"):
        approvals.decide(approval.pk, approver=lead, approve=True)
    assert ApprovalRequest.objects.get(pk=approval.pk).status == ApprovalStatus.PENDING

    approvals.decide(approval.pk, approver=admin, approve=True)

    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.PROVISIONING
    assert provisioning_run(environment).status == RunStatus.PENDING


def approver_holding(*permissions: str) -> User:
    """Someone outside the requester's team holding exactly these permissions everywhere (and the viewer's)."""
    user: User = UserFactory.create()
    GrantFactory.create(user=user, role=RoleFactory.create(permissions=list(permissions)))
    return user


def test_who_may_change_templates_but_is_no_platform_admin_cannot_approve_what_needs_one(
    sandbox: None, developer: User
) -> None:
    environment = request(developer, "production", name="checkout")
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))
    template_editor = approver_holding("environments.view", "environments.approve", "templates.*")

    with pytest.raises(ValidationError, match="needs a platform admin's approval"):
        approvals.decide(approval.pk, approver=template_editor, approve=True)

    assert ApprovalRequest.objects.get(pk=approval.pk).status == ApprovalStatus.PENDING
    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.PENDING_APPROVAL


def test_the_platform_admin_permission_alone_makes_an_approver_a_platform_admin(sandbox: None, developer: User) -> None:
    environment = request(developer, "production", name="checkout")
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))
    named_admin = approver_holding("environments.view", "environments.approve", "platform.admin")

    approvals.decide(approval.pk, approver=named_admin, approve=True)

    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.PROVISIONING
    assert provisioning_run(environment).status == RunStatus.PENDING


def test_a_platform_admin_deciding_through_a_team_lead_token_is_held_to_the_tokens_role(
    sandbox: None, developer: User, admin: User
) -> None:
    """A token carries its role, not its owner's: a platform admin's team-lead token approves as a team lead."""
    environment = request(developer, "production", name="checkout")
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))
    token = ApiTokenFactory.create(owner=admin, team=team(), role=Role.objects.get(slug=BuiltinRole.TEAM_LEAD))
    admin.api_token = token  # type: ignore[attr-defined]  # as ApiTokenAuthentication signs the owner in

    with pytest.raises(ValidationError, match="needs a platform admin's approval"):
        approvals.decide(approval.pk, approver=admin, approve=True)

    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.PENDING_APPROVAL


def test_a_team_lead_approves_a_request_over_the_template_ttl(sandbox: None, developer: User, lead: User) -> None:
    environment = request(developer, ttl_hours=100)
    assert environment.status == EnvironmentStatus.PENDING_APPROVAL
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))
    assert any("past the template's maximum" in reason for reason in approval.reasons)

    approvals.decide(approval.pk, approver=lead, approve=True)

    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.PROVISIONING
    assert environment.expires_at is not None
    assert environment.expires_at - timezone.now() > timedelta(hours=99)


def test_nobody_approves_their_own_request(sandbox: None, lead: User) -> None:
    environment = request(lead, ttl_hours=100)
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))

    with pytest.raises(ValidationError, match="someone else must decide it"):
        approvals.decide(approval.pk, approver=lead, approve=True)

    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.PENDING_APPROVAL


def test_a_rejected_request_is_marked_rejected_and_frees_its_name(sandbox: None, developer: User, lead: User) -> None:
    environment = request(developer, ttl_hours=100)
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))

    approvals.decide(approval.pk, approver=lead, approve=False, reason="Three days are enough.")

    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.REJECTED
    assert audit.ENVIRONMENT_REJECTED in verbs(environment)
    assert request(developer).status == EnvironmentStatus.PROVISIONING  # the same name again


def test_a_region_outside_the_template_zones_is_refused_with_the_reason_and_nothing_is_saved(
    sandbox: None, developer: User
) -> None:
    staging = template("staging")
    us = cluster("eks-us-east-1")
    if not staging.allowed_zones:
        staging.allowed_zones = ["EU"]
        staging.save()

    with pytest.raises(ValidationError) as refused:
        request(developer, "staging", cluster=us)

    # The team (EU) refuses us-east-1 too; this test is about the template's own rule, so it names it.
    assert (
        "This template is for the EU zone(s); us-east-1 is in US. "
        "Choose a region in EU: eu-central-1, eu-west-1, northeurope or westeurope."
    ) in refused.value.messages
    assert not Environment.objects.exists()
    event = AuditEvent.objects.get(verb=audit.ENVIRONMENT_REFUSED)
    assert event.actor == developer
    assert event.extra["reasons"] == refused.value.messages


TEAM_ZONE_REFUSAL = (
    "The team's data must stay in the EU zone; us-east-1 is in US. "
    "Choose a region in EU: eu-central-1, eu-west-1, northeurope or westeurope."
)


def test_a_region_outside_the_teams_residency_zone_is_refused_with_the_reason_and_nothing_is_saved(
    sandbox: None, developer: User
) -> None:
    assert team().residency_zone == "EU"
    assert not template("preview").allowed_zones  # the template allows any zone: the team's zone refuses

    with pytest.raises(ValidationError) as refused:
        request(developer, cluster=cluster("eks-us-east-1"))

    assert refused.value.messages == [TEAM_ZONE_REFUSAL]
    assert not Environment.objects.exists()
    event = AuditEvent.objects.get(verb=audit.ENVIRONMENT_REFUSED)
    assert event.extra["reasons"] == [TEAM_ZONE_REFUSAL]


def test_a_team_without_a_residency_zone_may_request_in_any_zone(sandbox: None, developer: User) -> None:
    Team.objects.filter(pk=team().pk).update(residency_zone="")

    environment = request(developer, cluster=cluster("eks-us-east-1"))

    assert environment.status == EnvironmentStatus.PROVISIONING


def test_a_zone_is_not_set_while_the_team_has_live_environments_outside_it_and_the_refusal_lists_them(
    sandbox: None, developer: User, admin: User
) -> None:
    Team.objects.filter(pk=team().pk).update(residency_zone="")
    american = request(developer, cluster=cluster("eks-us-east-1"), name="before-the-zone")

    with pytest.raises(ValidationError) as refused:
        access_services.team_update(actor=admin, team_id=team().pk, name=team().name, residency_zone="EU")

    assert refused.value.message_dict == {
        "residency_zone": [
            "Student Experience has 1 environment outside EU: before-the-zone (us-east-1, US). The portal cannot "
            "move an environment: tear it down first, then bind the team to EU."
        ]
    }
    assert team().residency_zone == ""
    assert not AuditEvent.objects.filter(verb=audit.TEAM_CHANGED).exists()
    american.refresh_from_db()
    assert (american.cluster, american.status) == (cluster("eks-us-east-1"), EnvironmentStatus.PROVISIONING)


def test_once_the_outside_environments_are_gone_the_zone_is_set_and_refuses_new_requests_outside_it(
    sandbox: None, developer: User, admin: User
) -> None:
    Team.objects.filter(pk=team().pk).update(residency_zone="")
    american = request(developer, cluster=cluster("eks-us-east-1"), name="before-the-zone")
    services.environment_cancel(actor=developer, environment_id=american.pk)  # no worker ran it: cancelled at once
    american.refresh_from_db()
    assert american.status == EnvironmentStatus.CANCELLED

    access_services.team_update(actor=admin, team_id=team().pk, name=team().name, residency_zone="EU")

    with pytest.raises(ValidationError) as refused:
        request(developer, cluster=cluster("eks-us-east-1"), name="after-the-zone")
    assert refused.value.messages == [TEAM_ZONE_REFUSAL]
    assert request(developer, name="in-the-zone").status == EnvironmentStatus.PROVISIONING


def test_a_team_at_its_environment_limit_is_refused_with_a_clear_message(sandbox: None, developer: User) -> None:
    TeamLimits.objects.filter(team=team()).update(max_environments=1)
    request(developer, name="first")

    with pytest.raises(ValidationError, match="its limit is 1; tear one down first"):
        request(developer, name="second")
    assert Environment.objects.count() == 1


def test_a_request_over_the_team_budget_needs_the_team_lead(sandbox: None, developer: User) -> None:
    estimate = request(developer, name="probe").monthly_estimate
    TeamLimits.objects.filter(team=team()).update(max_monthly_estimate=estimate * 10)
    Budget.objects.create(name="Team budget", team=team(), amount=estimate - 1)  # less than one more costs

    environment = request(developer, name="second")

    assert environment.status == EnvironmentStatus.PENDING_APPROVAL
    assert environment.approver == "team_lead"
    reasons = ApprovalRequest.objects.get(subject_id=str(environment.pk)).reasons
    assert any(reason.startswith("Over the team's monthly budget") for reason in reasons)


def test_a_request_over_the_team_maximum_estimate_is_refused(sandbox: None, developer: User) -> None:
    TeamLimits.objects.filter(team=team()).update(max_monthly_estimate=Decimal(1))

    with pytest.raises(ValidationError, match=r"its limit is USD 1\.00"):
        request(developer)


def test_submitting_twice_with_the_same_key_gives_one_environment(sandbox: None, developer: User) -> None:
    first = request(developer, idempotency_key="click-1")
    second = request(developer, idempotency_key="click-1")

    assert first.pk == second.pk
    assert Environment.objects.count() == 1
    assert Run.objects.filter(kind=services.PROVISION).count() == 1
    assert verbs().count(audit.ENVIRONMENT_REQUESTED) == 1


def test_a_name_taken_in_the_team_is_reported_on_the_name(sandbox: None, developer: User) -> None:
    request(developer)

    with pytest.raises(ValidationError) as taken:
        request(developer)

    assert taken.value.message_dict["name"] == [
        "Student Experience already has an environment named checkout-preview; choose another."
    ]


def test_a_name_that_is_no_dns_label_is_refused(sandbox: None, developer: User) -> None:
    with pytest.raises(ValidationError) as invalid:
        request(developer, name="Checkout_Preview!")

    assert "name" in invalid.value.message_dict


def test_nobody_requests_for_a_team_they_do_not_work_for(sandbox: None, developer: User) -> None:
    with pytest.raises((PermissionDenied, Http404)):
        request(developer, team=Team.objects.get(slug="tutor-tools"))
    assert not Environment.objects.exists()


def test_provisioning_to_the_end_makes_the_environment_ready_and_tells_the_requester(
    sandbox: None, developer: User
) -> None:
    environment = request(developer)

    run_to_the_end(provisioning_run(environment))

    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.READY
    assert Notification.objects.filter(recipient=developer, kind="environments.ready").exists()
    assert audit.ENVIRONMENT_FINISHED in verbs(environment)


def test_teardown_undoes_the_provisioning_and_ends_torn_down(sandbox: None, developer: User) -> None:
    environment = request(developer)
    run_to_the_end(provisioning_run(environment))

    services.environment_teardown(actor=developer, environment_id=environment.pk)
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.TEARING_DOWN
    again = services.environment_teardown(actor=developer, environment_id=environment.pk)
    assert again.status == EnvironmentStatus.TEARING_DOWN
    run_to_the_end(Run.objects.get(key=f"environment:{environment.pk}:provision:undo"))

    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.TORN_DOWN
    assert verbs(environment).count(audit.ENVIRONMENT_TEARDOWN) == 1


def test_cancelling_a_request_waiting_for_approval_withdraws_it(sandbox: None, developer: User) -> None:
    environment = request(developer, ttl_hours=100)

    services.environment_cancel(actor=developer, environment_id=environment.pk)

    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.CANCELLED
    assert ApprovalRequest.objects.get(subject_id=str(environment.pk)).status == ApprovalStatus.WITHDRAWN


def test_cancelling_provisioning_before_any_step_leaves_it_cancelled(sandbox: None, developer: User) -> None:
    environment = request(developer)

    services.environment_cancel(actor=developer, environment_id=environment.pk)

    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.CANCELLED
    assert provisioning_run(environment).status == RunStatus.CANCELLED


def test_cancelling_provisioning_after_a_step_began_undoes_what_was_made(
    sandbox: None, developer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel pressed while a worker is making the namespace: the run stops after that step, its undo removes
    what was made, and the environment ends torn down, not merely cancelled with a namespace left behind."""
    environment = request(developer)
    made_namespace = ProvisionEnvironment.do_namespace

    def namespace_then_cancel(workflow: ProvisionEnvironment, ctx: StepContext) -> Any:
        made = made_namespace(workflow, ctx)
        services.environment_cancel(actor=developer, environment_id=environment.pk)  # the worker holds the run
        return made

    monkeypatch.setattr(ProvisionEnvironment, "do_namespace", namespace_then_cancel)
    kube = cluster_driver_for(cluster())
    assert isinstance(kube, SandboxClusterDriver)

    run = run_to_the_end(provisioning_run(environment))

    assert run.status == RunStatus.CANCELLED
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.TEARING_DOWN
    assert [n for n in kube.objects("Namespace") if n["metadata"]["name"].startswith("checkout-preview")]
    undo = run_to_the_end(Run.objects.get(key=f"{run.key}:undo"))
    assert undo.status == RunStatus.SUCCEEDED, undo.error
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.TORN_DOWN
    assert not [n for n in kube.objects("Namespace") if n["metadata"]["name"].startswith("checkout-preview")]
    assert verbs(environment).count(audit.ENVIRONMENT_CANCELLED) == 1


def test_a_failed_run_is_retried_from_its_failed_step(sandbox: None, developer: User) -> None:
    environment = request(developer)
    run = provisioning_run(environment)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="boom")
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.FAILED)

    services.environment_retry(actor=developer, environment_id=environment.pk)

    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.PROVISIONING
    assert Run.objects.get(pk=run.pk).status == RunStatus.PENDING


def test_the_ttl_is_extended_within_the_template_maximum_only(sandbox: None, developer: User) -> None:
    environment = request(developer)  # preview: 24 h by default, 72 h at most
    expiry = environment.expires_at
    assert expiry is not None

    extended = services.environment_extend(actor=developer, environment_id=environment.pk, hours=24)
    assert extended.expires_at == expiry + timedelta(hours=24)

    with pytest.raises(ValidationError, match="at most 72 hours from now"):
        services.environment_extend(actor=developer, environment_id=environment.pk, hours=48)
    assert verbs(environment).count(audit.ENVIRONMENT_EXTENDED) == 1


def test_production_environments_cannot_be_extended(sandbox: None, developer: User, admin: User) -> None:
    environment = request(developer, "production", name="checkout")

    with pytest.raises(ValidationError, match="never expires"):
        services.environment_extend(actor=admin, environment_id=environment.pk, hours=24)
