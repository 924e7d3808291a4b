"""Failing a region over to its DR partner: ask, approve, promote the database's replica there.

:func:`failover_request_create` checks that there is something to fail over
to (a DR partner in the same residency zone, a database whose read replica
lives there, no other failover under way, and the cloud finds the replica),
records how far behind the replica is (the data a failover would lose), and
asks for approval. From there it follows the request lifecycle every kind
of request shares (:mod:`workflows.lifecycle`, described here as
:class:`Failovers`, moved by regions/receivers.py): the verdict starts the
``regions.failover`` workflow (:mod:`regions.failover.workflow`) or rejects
it; the run's end marks it done or failed and tells the requester. A failed
failover is retried at its failed step; one waiting for approval can be
cancelled. A promotion cannot be undone, so there is no rollback.

Approvals: **a failover always needs two different platform admins, never
the requester.** A failover is the one region operation that cannot be
reversed and that loses data (up to the replica's lag), and it is asked for
when something is already wrong; the region build's production rule would
let a non-production region, or one registered elsewhere (whose purpose the
portal does not know), fail over on one person's word.

Every write here records one audit event in its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse

from access import policy
from access.audit import services as audit
from access.models import User
from access.policy import AnyUser
from portal import numbers
from providers import errors
from providers.cloud import DatabaseInfo
from regions import workflows as build_workflows
from regions.choices import FailoverStatus, ResourceStatus
from regions.failover.workflow import FAILOVER, failover_params
from regions.models import LIVE_FAILOVER_STATUSES, CloudAccount, FailoverRequest, Region, RegionResource
from workflows.lifecycle import Lifecycle, Statuses, Verbs
from workflows.models import Direction, Run, RunStatus

__all__ = ["FAILOVER", "REQUIRED_APPROVALS"]

# See the module's docstring for why it is always two.
REQUIRED_APPROVALS = 2
DEFAULT_BACKUP_RETENTION_DAYS = 7


# --- reads ---------------------------------------------------------------------------------------------------------


def failover_list(*, user: AnyUser) -> QuerySet[FailoverRequest]:
    """Failovers the user may see, newest first, with their regions and who asked."""
    return (
        policy.restrict(FailoverRequest.objects.all(), user, policy.VIEW)
        .select_related("region", "partner", "requested_by")
        .order_by("-created_at", "-pk")
    )


def failover_get(*, user: AnyUser, pk: int) -> FailoverRequest:
    return get_object_or_404(failover_list(user=user), pk=pk)


def failover_url(failover: FailoverRequest) -> str:
    return reverse("regions:failover", kwargs={"pk": failover.pk})


def failover_key(failover: FailoverRequest) -> str:
    return f"failover:{failover.pk}"


def failover_run(failover: FailoverRequest) -> Run | None:
    return FAILOVERS.forward_run(failover)


@dataclass(frozen=True)
class FailoverTarget:
    """What a failover of a region would promote, or why there is nothing to fail over to (``refusal``)."""

    region: Region
    partner: Region | None = None
    database: str = ""
    replica: str = ""
    backup_retention_days: int = DEFAULT_BACKUP_RETENTION_DAYS
    refusal: str = ""


def failover_target(region: Region) -> FailoverTarget:
    """The region's DR partner and the database whose replica lives there, from the inventory (no cloud call)."""
    partner = region.dr_partner
    if partner is None:
        return FailoverTarget(
            region, refusal=f"{region} has no DR partner region to fail over to; give it one in the inventory first."
        )
    if partner.residency_zone != region.residency_zone:
        return FailoverTarget(
            region,
            partner,
            refusal=(
                f"The DR partner {partner.code} lies in the {partner.get_residency_zone_display()} "
                f"({partner.residency_zone}) zone, not {region.residency_zone}: failing over would move the data out "
                "of its residency zone. The inventory should never pair them; correct the region's DR partner."
            ),
        )
    # Built by the portal or registered for a region built elsewhere: either way a record of this region.
    records = RegionResource.objects.filter(region=region, status=ResourceStatus.CREATED).order_by("position", "pk")
    replica = records.filter(kind="database_replica", region_code=partner.code).first()
    databases = list(records.filter(kind="database", region_code=region.code))
    source = str(replica.settings.get("source", "")) if replica is not None else ""
    database = next((record for record in databases if not source or record.name == source), None)
    if replica is None or database is None:
        return FailoverTarget(
            region,
            partner,
            refusal=(
                f"{region} has no database with a read replica in {partner.code} on record: there is nothing to "
                "promote."
            ),
        )
    retention = database.settings.get("backup_retention_days") or DEFAULT_BACKUP_RETENTION_DAYS
    return FailoverTarget(region, partner, database.name, replica.name, int(retention))


@dataclass(frozen=True)
class ReplicaState:
    """The replica as the cloud reports it now: how far behind (None when the cloud does not say), or the problem."""

    lag_seconds: float | None = None
    found: bool = False
    problem: str = ""


def replica_state(target: FailoverTarget) -> ReplicaState:
    """Ask the primary region's cloud about the replica (one call)."""
    region, partner = target.region, target.partner
    if partner is None or region.account is None:
        return ReplicaState(problem=f"{region} has no cloud account to ask.")
    try:
        info = build_workflows.cloud_driver(region.account, region.code).describe_database(target.database)
    except errors.NotFound:
        return ReplicaState(problem=f"The cloud finds no database {target.database} in {region.code}.")
    except errors.ProviderError as error:
        # The primary's region does not answer: the outage a failover is for. Ask the partner for the replica.
        if replica_in_partner(region.account, partner.code, target.replica) is None:
            return ReplicaState(
                problem=f"{region.code} did not answer about {target.database} ({error}), and {partner.code} finds "
                f"no replica {target.replica}."
            )
        return ReplicaState(
            found=True,
            problem=f"{region.code} did not answer ({error}); {partner.code} has the replica, but its lag is unknown.",
        )
    if info.replica is None or info.replica.region != partner.code:
        return ReplicaState(
            problem=f"The cloud reports no replica of {target.database} in {partner.code}: there is nothing to promote."
        )
    return ReplicaState(lag_seconds=info.replica.lag_seconds, found=True)


def replica_in_partner(account: CloudAccount, partner_code: str, replica: str) -> DatabaseInfo | None:
    """The replica as its own (partner) region reports it, or None when that region finds none or does not answer.

    Asked when the primary's region does not answer: promoting needs only the partner.
    """
    try:
        return build_workflows.cloud_driver(account, partner_code).describe_database(replica)
    except errors.ProviderError:
        return None


def describe_lag(lag_seconds: float | None) -> str:
    if lag_seconds is None:
        return "not reported by the cloud"
    return f"{numbers.number(Decimal(f'{lag_seconds:g}'))} seconds"


# --- writes --------------------------------------------------------------------------------------------------------


def failover_request_create(*, actor: User, region_id: int, reason: str, idempotency_key: str = "") -> FailoverRequest:
    """Ask to fail ``region_id`` over to its DR partner: checked, saved waiting for two approvals, approvers told.

    Raises ValidationError, in words, when there is nothing to fail over to
    (no partner, a partner in another zone, no replica on record or in the
    cloud) or a failover is already under way; the same ``idempotency_key``
    from the same person gives back the first request.
    """
    key = idempotency_key.strip()[:200]
    if key:
        existing = FailoverRequest.objects.filter(requested_by=actor, idempotency_key=key).first()
        if existing is not None:
            return existing
    policy.forget(actor)
    region = get_object_or_404(
        policy.restrict(Region.objects.select_related("account", "dr_partner"), actor, policy.VIEW), pk=region_id
    )
    failover = FailoverRequest(region=region, requested_by=actor, idempotency_key=key, reason=reason.strip())
    policy.require(actor, policy.ADD, failover)
    if not failover.reason:
        raise ValidationError({"reason": "Say why the region must fail over: the approvers read it."})
    target = failover_target(region)
    if target.refusal:
        raise ValidationError(target.refusal)
    _refuse_a_second(region)
    state = replica_state(target)  # a cloud call: before the transaction, not holding its locks
    if not state.found:
        raise ValidationError(state.problem)
    assert target.partner is not None  # noqa: S101 (a target without refusal has its partner)
    failover.partner = target.partner
    failover.database = target.database
    failover.replica_lag_seconds = state.lag_seconds
    try:
        with transaction.atomic():
            failover.status = FailoverStatus.PENDING_APPROVAL
            failover.save()
            audit.record(
                audit.FAILOVER_REQUESTED,
                failover,
                actor=actor,
                after={
                    "region": region.code,
                    "partner": target.partner.code,
                    "database": target.database,
                    "replica": target.replica,
                    "replica_lag_seconds": state.lag_seconds,
                    "reason": failover.reason,
                },
            )
            FAILOVERS.hold_for_approval(
                failover,
                actor=actor,
                summary=f"Fail {region} over to {target.partner.code}",
                reasons=[
                    failover.reason,
                    f"Promotes {target.replica} in {target.partner.code} to the primary database. The replica is "
                    f"{describe_lag(state.lag_seconds)} behind (RPO {settings.DR_RPO_MINUTES} minutes): the writes "
                    "of that time are lost.",
                    "A promotion cannot be undone. Two platform admins must approve it.",
                ],
                required_approvals=REQUIRED_APPROVALS,
            )
    except IntegrityError:
        # Two requests for one region at once: the constraint keeps one; the other hears why.
        if key and FailoverRequest.objects.filter(requested_by=actor, idempotency_key=key).exists():
            return FailoverRequest.objects.get(requested_by=actor, idempotency_key=key)
        _refuse_a_second(region)
        raise
    return failover


def _refuse_a_second(region: Region) -> None:
    live = FailoverRequest.objects.filter(region=region, status__in=LIVE_FAILOVER_STATUSES).first()
    if live is not None:
        raise ValidationError(
            f"A failover of {region.code} is already under way ({live.get_status_display().lower()}); follow that one."
        )


class Failovers(Lifecycle[FailoverRequest]):
    """A failover: two platform admins approve it, its run promotes the replica. A promotion cannot be undone,
    so a failover is cancelled only while it waits for approval, and nothing rolls it back."""

    model = FailoverRequest
    kind = FAILOVER
    noun = "failover"
    statuses = Statuses(
        pending=FailoverStatus.PENDING_APPROVAL,
        running=FailoverStatus.RUNNING,
        failed=FailoverStatus.FAILED,
        rejected=FailoverStatus.REJECTED,
        cancelled=FailoverStatus.CANCELLED,
        outcomes={
            (Direction.FORWARD, RunStatus.SUCCEEDED): FailoverStatus.DONE,
            (Direction.FORWARD, RunStatus.FAILED): FailoverStatus.FAILED,
            (Direction.FORWARD, RunStatus.CANCELLED): FailoverStatus.CANCELLED,
        },
    )
    verbs = Verbs(
        started=audit.FAILOVER_STARTED,
        rejected=audit.FAILOVER_REJECTED,
        finished=audit.FAILOVER_FINISHED,
        cancelled=audit.FAILOVER_CANCELLED,
        retried=audit.FAILOVER_RETRIED,
    )
    cancel_while_running = False
    related = ("region", "partner", "requested_by")

    def run_key(self, request: FailoverRequest) -> str:
        return failover_key(request)

    def run_params(self, request: FailoverRequest) -> Mapping[str, Any]:
        region = request.region
        target = failover_target(region)
        return failover_params(
            failover_id=request.pk,
            account_id=region.account_id or 0,
            primary_id=region.pk,
            partner_id=request.partner_id,
            primary_code=region.code,
            partner_code=request.partner.code,
            database=request.database,
            replica=target.replica or f"{request.database}-replica",
            backup_retention_days=target.backup_retention_days,
        )

    def url(self, request: FailoverRequest) -> str:
        return failover_url(request)

    def finish_details(self, request: FailoverRequest, run: Run) -> dict[str, Any]:
        check = run.steps.filter(action="check").values_list("output", flat=True).first() or {}
        return {"replica_lag_seconds_at_promotion": check.get("lag_seconds")}

    def notification_kind(self, status: str) -> str:
        return f"regions.failover_{status}"

    def title(self, request: FailoverRequest, status: str, run: Run) -> str:
        words: dict[str, str] = {
            FailoverStatus.DONE: f"is done: {request.partner.code} serves, its database is the primary",
            FailoverStatus.FAILED: "failed; retry it from the failed step",
            FailoverStatus.CANCELLED: "was cancelled",
        }
        what = words[status]
        return f"The failover of {request.region.code} to {request.partner.code} {what}"

    def cannot_cancel(self, request: FailoverRequest) -> str:
        return (
            f"A failover that is {request.get_status_display().lower()} cannot be cancelled: only one waiting for "
            "approval can."
        )


FAILOVERS = Failovers()


@transaction.atomic
def failover_retry(*, actor: User, failover_id: int) -> FailoverRequest:
    """Resume a failed failover at its failed step (each step is safe to perform again)."""
    return FAILOVERS.retry(actor=actor, pk=failover_id)


@transaction.atomic
def failover_cancel(*, actor: User, failover_id: int) -> FailoverRequest:
    """Cancel a failover waiting for approval (its approval is withdrawn). One under way cannot be stopped."""
    return FAILOVERS.cancel(actor=actor, pk=failover_id)
