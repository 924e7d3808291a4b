"""Every branch of the request lifecycle, once for each of the four kinds of request that share it.

An environment request, a region build, a failover and a rollback move the
same way (:mod:`workflows.lifecycle`): approved or rejected, carried out by
a run that succeeds or fails, retried from the failed step, cancelled before
or after a step began. Each branch is tested here once for all four, with
the runs' steps replaced by scripted ones: what each kind's real steps do is
tested in its own app's tests; here it is how the request moves, who is
named as its actor, and that it is audited and told once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import models

from access.models import AuditEvent, Grant, Role, Team, User
from access.permissions import BuiltinRole
from approvals import services as approvals
from approvals.models import ApprovalRequest, ApprovalStatus
from deployments.rollbacks.services import ROLLBACKS, rollback_request
from environments import services as environments
from environments.models import EnvironmentTemplate
from notifications.models import Notification
from portal.demo import Persona
from providers.sandbox.cluster import SandboxClusterDriver
from regions import services as regions
from regions.drivers import cluster_driver_for
from regions.failover import services as failovers
from regions.models import CloudAccount, Cluster, Region
from tests.deployments.cluster_objects import seed_deployment
from tests.environments.test_provisioning_workflow import run_to_the_end
from tests.factories import UserFactory, make_workload
from tests.regions.test_region_failover import registered_with_a_replica
from workflows import engine
from workflows.engine import StepContext, StepFailed
from workflows.lifecycle import Lifecycle
from workflows.models import Direction, Run, RunStatus

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

Persons = Callable[[Persona], User]


def platform_admin(name: str) -> User:
    admin: User = UserFactory.create(username=name)
    Grant.objects.create(role=Role.objects.get(slug=BuiltinRole.PLATFORM_ADMIN), user=admin, reason="Decides.")
    return admin


# --- the four kinds: how one is asked for, who asks, who must approve, how it ends --------------------------


def ask_for_an_environment(persons: Persons) -> models.Model:
    """A preview asked to live longer than its template allows: it waits for the team lead."""
    return environments.environment_request(
        actor=persons(Persona.DEVELOPER),
        team=Team.objects.get(slug="student-experience"),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        name="checkout-preview",
        size="S",
        ttl_hours=100,
    )


def ask_for_a_region(persons: Persons) -> models.Model:
    account = CloudAccount.objects.get(provider="aws")
    # What the build's last steps would have registered, so that success can make it active.
    Region.objects.get_or_create(
        provider="aws",
        code="eu-south-1",
        defaults={"display_name": "Milan", "residency_zone": "EU", "account": account},
    )
    return regions.region_request_create(
        actor=persons(Persona.PLATFORM_ADMIN),
        provider="aws",
        code="eu-south-1",
        residency_zone="EU",
        purpose="non_production",
        dr_partner_code="eu-west-3",
        account=account,
        justification="Closer to the students in Italy.",
    )


def ask_for_a_failover(persons: Persons) -> models.Model:
    region = Region.objects.select_related("account", "dr_partner").get(provider="aws", code="eu-west-1")
    registered_with_a_replica(region, f"lifecycle-{uuid.uuid4().hex[:8]}-db")
    return failovers.failover_request_create(
        actor=persons(Persona.PLATFORM_ADMIN), region_id=region.pk, reason="Dublin is down."
    )


def ask_for_a_production_rollback(persons: Persons) -> models.Model:
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    namespace = f"lifecycle-{uuid.uuid4().hex[:8]}"
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, namespace, "checkout", ["reg/checkout:1", "reg/checkout:2"])
    workload = make_workload(
        cluster=cluster,
        namespace=namespace,
        name="checkout",
        team=Team.objects.get(slug="student-experience"),
        tier="production",
        revision=2,
        version="2",
    )
    return rollback_request(
        actor=persons(Persona.DEVELOPER), workload_id=workload.pk, to_revision=1, reason="checkout 500s"
    )


@dataclass(frozen=True)
class Kind:
    name: str
    lifecycle: Lifecycle[Any]
    ask: Callable[[Persons], models.Model]
    requester: Persona
    approvers: Callable[[Persons], list[User]]
    succeeded: str
    #: The status a cancel after a step began ends in (its undo done); None when a running one cannot be cancelled.
    undone: str | None


KINDS = [
    Kind(
        "environment",
        environments.ENVIRONMENTS,
        ask_for_an_environment,
        Persona.DEVELOPER,
        lambda persons: [persons(Persona.TEAM_LEAD)],
        succeeded="ready",
        undone="torn_down",
    ),
    Kind(
        "region build",
        regions.REGION_BUILDS,
        ask_for_a_region,
        Persona.PLATFORM_ADMIN,
        lambda persons: [platform_admin("admin-two")],
        succeeded="ready",
        undone="rolled_back",
    ),
    Kind(
        "failover",
        failovers.FAILOVERS,
        ask_for_a_failover,
        Persona.PLATFORM_ADMIN,
        lambda persons: [platform_admin("admin-two"), platform_admin("admin-three")],
        succeeded="done",
        undone=None,
    ),
    Kind(
        "rollback",
        ROLLBACKS,
        ask_for_a_production_rollback,
        Persona.DEVELOPER,
        lambda persons: [persons(Persona.TEAM_LEAD)],
        succeeded="succeeded",
        undone=None,
    ),
]


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest, demo: None, settings: Any, tmp_path: Path) -> Kind:
    settings.DATA_DIR = tmp_path  # a sandbox cloud and cluster of this test's own
    chosen: Kind = request.param
    return chosen


# --- scripted steps ---------------------------------------------------------------------------------------------


@dataclass
class Script:
    """Replaces the kind's steps: each records itself; a step named in ``fail`` or ``then`` misbehaves once."""

    done: list[str]
    undone: list[str]
    fail: set[str]
    then: dict[str, Callable[[], None]]


@pytest.fixture
def script(kind: Kind, monkeypatch: pytest.MonkeyPatch) -> Script:
    played = Script(done=[], undone=[], fail=set(), then={})
    workflow = type(engine.definition(kind.lifecycle.kind))

    def perform(self: Any, ctx: StepContext) -> dict[str, Any]:
        if ctx.name in played.fail:
            played.fail.discard(ctx.name)
            raise StepFailed("the cloud said no")
        played.done.append(ctx.name)
        if ctx.name in played.then:
            played.then.pop(ctx.name)()
        return {}

    def reverse(self: Any, ctx: StepContext) -> None:
        played.undone.append(ctx.name)

    monkeypatch.setattr(workflow, "perform", perform)
    monkeypatch.setattr(workflow, "reverse", reverse)
    return played


# --- reading what happened ----------------------------------------------------------------------------------


def fresh(request: models.Model) -> Any:
    return type(request)._default_manager.get(pk=request.pk)


def events(request: models.Model, verb: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=request._meta.label_lower, object_id=str(request.pk), verb=verb))


def told(kind: Kind, requester: User, status: str) -> int:
    return Notification.objects.filter(recipient=requester, kind=kind.lifecycle.notification_kind(status)).count()


def approval_of(kind: Kind, request: models.Model) -> ApprovalRequest:
    return ApprovalRequest.objects.get(subject_id=str(request.pk), purpose=kind.lifecycle.kind)


def approve(kind: Kind, persons: Persons, request: models.Model) -> tuple[Run, User]:
    """Every approval the kind needs; the run started and who approved last."""
    approval = approval_of(kind, request)
    deciders = kind.approvers(persons)
    for decider in deciders:
        approvals.decide(approval.pk, approver=decider, approve=True)
    run = kind.lifecycle.forward_run(fresh(request))
    assert run is not None, "the approval started no run"
    return run, deciders[-1]


def first_step(run: Run) -> str:
    name: str = run.steps.order_by("position").values_list("name", flat=True)[0]
    return name


# --- the branches -------------------------------------------------------------------------------------------


def test_a_rejected_request_ends_rejected_in_the_rejecters_name_and_its_requester_is_told_once(
    kind: Kind, persona: Persons
) -> None:
    request = kind.ask(persona)
    rejecter = kind.approvers(persona)[0]

    approvals.decide(approval_of(kind, request).pk, approver=rejecter, approve=False, reason="Not now.")

    assert fresh(request).status == kind.lifecycle.statuses.rejected
    [rejected] = events(request, kind.lifecycle.verbs.rejected)
    assert rejected.actor == rejecter
    requester = persona(kind.requester)
    assert Notification.objects.filter(recipient=requester, kind="approvals.rejected").count() == 1
    assert not kind.lifecycle.forward_run(fresh(request))


def test_an_approved_request_runs_as_its_approver_and_hearing_the_verdict_again_changes_nothing(
    kind: Kind, persona: Persons, script: Script
) -> None:
    request = kind.ask(persona)

    run, approver = approve(kind, persona, request)
    kind.lifecycle.decided(approval_of(kind, request), approved=True)  # a verdict heard twice

    assert run.created_by == approver
    assert fresh(request).status == kind.lifecycle.statuses.running
    [started] = events(request, kind.lifecycle.verbs.started)
    assert started.actor == approver
    assert Run.objects.filter(kind=kind.lifecycle.kind, subject_id=str(request.pk)).count() == 1


def test_a_run_that_succeeds_finishes_the_request_and_tells_its_requester_once(
    kind: Kind, persona: Persons, script: Script
) -> None:
    request = kind.ask(persona)
    run, _ = approve(kind, persona, request)

    run = run_to_the_end(run)
    kind.lifecycle.finished(run)  # the end heard twice

    assert run.status == RunStatus.SUCCEEDED
    assert fresh(request).status == kind.succeeded
    [finished] = events(request, kind.lifecycle.verbs.finished)
    assert finished.actor is None
    assert finished.actor_label == "system"
    assert told(kind, persona(kind.requester), kind.succeeded) == 1


def test_a_failed_run_fails_the_request_and_a_retry_resumes_at_the_failed_step(
    kind: Kind, persona: Persons, script: Script
) -> None:
    request = kind.ask(persona)
    run, _ = approve(kind, persona, request)
    steps = list(run.steps.order_by("position").values_list("name", flat=True))
    script.fail.add(steps[-1])

    run = run_to_the_end(run)

    assert run.status == RunStatus.FAILED
    assert fresh(request).status == kind.lifecycle.statuses.failed
    assert told(kind, persona(kind.requester), kind.lifecycle.statuses.failed) == 1
    assert "the cloud said no" in run.error
    requester = persona(kind.requester)
    retried = kind.lifecycle.retry(actor=requester, pk=request.pk)
    assert retried.status == kind.lifecycle.statuses.running
    [retry] = events(request, kind.lifecycle.verbs.retried)
    assert retry.actor == requester

    run = run_to_the_end(run)

    assert run.status == RunStatus.SUCCEEDED
    assert fresh(request).status == kind.succeeded
    assert script.done == steps  # each step done once: the retry began at the failed one
    with pytest.raises(ValidationError, match="Only a failed"):
        kind.lifecycle.retry(actor=requester, pk=request.pk)


def test_cancelling_a_request_waiting_for_approval_withdraws_the_approval(kind: Kind, persona: Persons) -> None:
    request = kind.ask(persona)
    requester = persona(kind.requester)

    kind.lifecycle.cancel(actor=requester, pk=request.pk)

    assert fresh(request).status == kind.lifecycle.statuses.cancelled
    assert approval_of(kind, request).status == ApprovalStatus.WITHDRAWN
    [cancelled] = events(request, kind.lifecycle.verbs.cancelled)
    assert cancelled.actor == requester
    with pytest.raises(ValidationError, match="cannot be cancelled"):
        kind.lifecycle.cancel(actor=requester, pk=request.pk)


def test_cancelling_a_run_before_its_first_step_ends_it_cancelled_with_nothing_to_undo(
    kind: Kind, persona: Persons, script: Script
) -> None:
    request = kind.ask(persona)
    run, _ = approve(kind, persona, request)
    requester = persona(kind.requester)

    if not kind.lifecycle.cancel_while_running:
        with pytest.raises(ValidationError, match="cannot be cancelled"):
            kind.lifecycle.cancel(actor=requester, pk=request.pk)
        assert fresh(request).status == kind.lifecycle.statuses.running
        assert Run.objects.get(pk=run.pk).status == RunStatus.PENDING
        return

    kind.lifecycle.cancel(actor=requester, pk=request.pk)

    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    assert fresh(request).status == kind.lifecycle.statuses.cancelled
    assert not Run.objects.filter(parent=run).exists()
    assert len(events(request, kind.lifecycle.verbs.cancelled)) == 1
    assert told(kind, requester, kind.lifecycle.statuses.cancelled) == 1


def test_cancelling_a_run_after_a_step_began_undoes_what_it_made(kind: Kind, persona: Persons, script: Script) -> None:
    """Cancel pressed while a worker performs the first step: the run stops after it and its undo removes what
    it made. Kinds whose work cannot be taken back refuse, and the run goes on to its end."""
    request = kind.ask(persona)
    run, _ = approve(kind, persona, request)
    requester = persona(kind.requester)
    first = first_step(run)
    refusals: list[ValidationError] = []

    def cancel() -> None:
        try:
            kind.lifecycle.cancel(actor=requester, pk=request.pk)
        except ValidationError as refusal:
            refusals.append(refusal)

    script.then[first] = cancel
    run = run_to_the_end(run)

    if kind.undone is None:
        assert "cannot be cancelled" in str(refusals)
        assert run.status == RunStatus.SUCCEEDED
        assert fresh(request).status == kind.succeeded
        assert not events(request, kind.lifecycle.verbs.cancelled)
        return
    assert not refusals
    assert run.status == RunStatus.CANCELLED
    assert fresh(request).status == kind.lifecycle.statuses.undoing
    run_to_the_end(Run.objects.get(parent=run, direction=Direction.UNDO))
    assert script.done == [first]
    assert script.undone == [first]
    assert fresh(request).status == kind.undone
    assert len(events(request, kind.lifecycle.verbs.cancelled)) == 1
    assert told(kind, requester, kind.undone) == 1


def test_a_run_ending_for_a_request_deleted_meanwhile_is_passed_over(
    kind: Kind, persona: Persons, script: Script
) -> None:
    request = kind.ask(persona)
    run, _ = approve(kind, persona, request)
    type(request)._default_manager.filter(pk=request.pk).delete()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="the cloud said no")

    kind.lifecycle.finished(Run.objects.get(pk=run.pk))

    assert told(kind, persona(kind.requester), kind.lifecycle.statuses.failed) == 0
    assert not events(request, kind.lifecycle.verbs.finished)
