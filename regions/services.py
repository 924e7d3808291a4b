"""Writes of region provisioning: request, approval outcome, build-out, retry, roll back, cancel.

A region's life: :func:`region_request_create` validates the request (the
residency zone against the region's real location, the DR partner in the
same zone) and asks for approval: two different platform admins for a
production region, one otherwise; the requester never decides it (the
approvals app enforces both). From there it follows the request lifecycle
every kind of request shares (:mod:`workflows.lifecycle`, described here as
:class:`RegionBuilds`): the approval's verdict starts the ``regions.build``
workflow with the request's plan (:mod:`regions.plan`) or rejects it; the
run's end makes the region active with its DR partner, or marks the request
failed (retry the step, or roll back: the run's undo), rolled back or
cancelled. Each of these writes one audit event in its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from access import policy
from access.audit import services as audit
from access.models import User
from approvals.models import ApprovalRequest
from regions import catalogue, versions
from regions.choices import Provider, RegionRequestStatus, RegionStatus, ResidencyZone
from regions.models import Region, RegionRequest
from regions.plan import region_plan
from regions.preflight.checks import build_refusal
from regions.workflows import BUILD as BUILD
from regions.workflows import build_params
from workflows.lifecycle import Lifecycle, Statuses, Verbs
from workflows.models import Direction, Run, RunStatus

REQUEST_FIELDS = [
    "provider",
    "code",
    "residency_zone",
    "purpose",
    "dr_partner_code",
    "account",
    "kubernetes_version",
    "general_nodes",
    "high_cpu_nodes",
    "high_cpu_spot",
    "gpu_nodes",
    "gpu_spot",
    "database",
    "database_size",
    "database_replica",
    "backup_retention_days",
    "cache",
    "cache_size",
    "bucket",
    "bucket_expected_gib",
    "cold_storage_after_days",
    "encryption_key",
    "justification",
]


def request_url(request: RegionRequest) -> str:
    return reverse("regions:request", kwargs={"pk": request.pk})


def build_key(request: RegionRequest) -> str:
    return f"region-request:{request.pk}:build"


def build_run(request: RegionRequest) -> Run | None:
    """The build-out run of the request (its undo is the rollback), or None before approval."""
    return REGION_BUILDS.forward_run(request)


def _clean_with_the_clouds_versions(request: RegionRequest) -> None:
    """The model's rules, then the Kubernetes version against what the cloud offers in the region (empty: the
    newest in standard support). Every refusal, by field, in one ValidationError."""
    problems: dict[str, list[str]] = {}
    try:
        request.full_clean(exclude=["requested_by", "status", "idempotency_key"], validate_constraints=False)
    except ValidationError as error:
        problems = error.message_dict
    if not problems.keys() & {"provider", "code", "account", "kubernetes_version"}:
        try:
            request.kubernetes_version = versions.choose_version(
                request.account, request.code, request.kubernetes_version
            )
        except versions.VersionsUnavailable as error:
            problems["kubernetes_version"] = [error.message]
        except ValueError as error:
            problems["kubernetes_version"] = [str(error)]
    if problems:
        raise ValidationError(problems)


def region_request_create(*, actor: User, idempotency_key: str = "", **fields: Any) -> RegionRequest:
    """Ask for a new region: validated, saved waiting for approval, and the approvers told.

    Raises ValidationError (by field) for a request that breaks a rule: an
    unknown region, a zone the region does not lie in, a DR partner outside
    it, a region already in the inventory or already requested. The same
    ``idempotency_key`` from the same person gives back the first request.
    """
    key = idempotency_key.strip()[:200]
    if key:
        existing = RegionRequest.objects.filter(requested_by=actor, idempotency_key=key).first()
        if existing is not None:
            return existing
    unknown = set(fields) - set(REQUEST_FIELDS)
    if unknown:
        raise TypeError(f"not request fields: {sorted(unknown)}")
    request = RegionRequest(requested_by=actor, idempotency_key=key, **fields)
    for name in ("code", "dr_partner_code", "kubernetes_version"):
        setattr(request, name, str(getattr(request, name) or "").strip())
    request.justification = request.justification.strip()
    try:
        with transaction.atomic():
            policy.forget(actor)
            policy.require(actor, policy.ADD, request)
            _clean_with_the_clouds_versions(request)
            request.status = RegionRequestStatus.PENDING_APPROVAL
            request.save()
            plan = region_plan(request)
            audit.record(
                audit.REGION_REQUESTED,
                request,
                actor=actor,
                after={
                    **audit.snapshot(request, REQUEST_FIELDS),
                    "monthly_estimate": str(plan.monthly_total),
                    "currency": plan.currency,
                },
            )
            zone = request.get_residency_zone_display()
            partner = f", DR partner {request.dr_partner_code}" if request.dr_partner_code else ""
            REGION_BUILDS.hold_for_approval(
                request,
                actor=actor,
                summary=f"New {request.get_purpose_display().lower()} region {request} ({zone}){partner}",
                reasons=[
                    request.justification,
                    f"{len(plan.resources)} resources, about {plan.monthly_total} {plan.currency} a month.",
                    *(["Production: two platform admins must approve it."] if request.is_production else []),
                ],
                required_approvals=request.required_approvals,
            )
    except IntegrityError as error:
        # Two requests for one region at the same moment: the constraint keeps one; the other hears why.
        if key and RegionRequest.objects.filter(requested_by=actor, idempotency_key=key).exists():
            return RegionRequest.objects.get(requested_by=actor, idempotency_key=key)
        raise ValidationError({"code": f"{request.code} already has a request under way; follow that one."}) from error
    return request


def _activate(request: RegionRequest) -> None:
    """The build-out succeeded: the region is active, paired with its DR partner (registered if it was not)."""
    region = Region.objects.select_for_update().get(provider=request.provider, code=request.code)
    partner = None
    if request.dr_partner_code:
        display_name, zone = catalogue.regions_in_zones(request.provider)[request.dr_partner_code]
        # A partner the inventory did not hold yet is registered as planned: it holds the replica and the
        # bucket copy, but no cluster until someone builds one there.
        partner, _ = Region.objects.get_or_create(
            provider=request.provider,
            code=request.dr_partner_code,
            defaults={
                "display_name": display_name,
                "residency_zone": zone,
                "status": RegionStatus.PLANNED,
                "account": request.account,
            },
        )
        if partner.dr_partner_id is None:
            partner.dr_partner = region
            partner.save(update_fields=["dr_partner"])
    region.status = RegionStatus.ACTIVE
    region.dr_partner = partner
    region.save(update_fields=["status", "dr_partner"])
    request.region = region


class RegionBuilds(Lifecycle[RegionRequest]):
    """A region request: approved by platform admins, built out, rolled back (the build run's undo)."""

    model = RegionRequest
    kind = BUILD
    noun = "build"
    statuses = Statuses(
        pending=RegionRequestStatus.PENDING_APPROVAL,
        running=RegionRequestStatus.BUILDING,
        failed=RegionRequestStatus.FAILED,
        rejected=RegionRequestStatus.REJECTED,
        cancelled=RegionRequestStatus.CANCELLED,
        undoing=RegionRequestStatus.ROLLING_BACK,
        outcomes={
            (Direction.FORWARD, RunStatus.SUCCEEDED): RegionRequestStatus.READY,
            (Direction.FORWARD, RunStatus.FAILED): RegionRequestStatus.FAILED,
            (Direction.FORWARD, RunStatus.CANCELLED): RegionRequestStatus.CANCELLED,
            (Direction.UNDO, RunStatus.SUCCEEDED): RegionRequestStatus.ROLLED_BACK,
            (Direction.UNDO, RunStatus.FAILED): RegionRequestStatus.FAILED,
            (Direction.UNDO, RunStatus.CANCELLED): RegionRequestStatus.FAILED,
        },
    )
    verbs = Verbs(
        started=audit.REGION_BUILD_STARTED,
        rejected=audit.REGION_REJECTED,
        finished=audit.REGION_BUILD_FINISHED,
        cancelled=audit.REGION_REQUEST_CANCELLED,
        retried=audit.REGION_BUILD_RETRIED,
        undo_started=audit.REGION_ROLLBACK_STARTED,
    )
    related = ("account", "requested_by")

    def run_key(self, request: RegionRequest) -> str:
        return build_key(request)

    def run_params(self, request: RegionRequest) -> Mapping[str, Any]:
        return build_params(request.pk, [resource.as_step() for resource in region_plan(request).resources])

    def url(self, request: RegionRequest) -> str:
        return request_url(request)

    def check_start(self, request: RegionRequest, *, actor: User | None, approval: ApprovalRequest | None) -> None:
        # Nothing starts while the account's permissions pre-flight fails: the refusal undoes the approval's
        # transaction, so the approver reads why and approves again once the grants are fixed.
        refusal = build_refusal(request.account, request.code, actor=actor)
        if refusal:
            raise ValidationError(refusal)

    def start_details(self, request: RegionRequest, run: Run) -> dict[str, Any]:
        return {"resources": run.steps.count()}

    def check_retry(self, request: RegionRequest, run: Run, *, actor: User) -> None:
        if run.direction == Direction.FORWARD:
            self.check_start(request, actor=actor, approval=None)

    def on_finish(self, request: RegionRequest, status: str, run: Run) -> list[str]:
        if status == RegionRequestStatus.READY:
            _activate(request)
            return ["region"]
        return []

    def title(self, request: RegionRequest, status: str, run: Run) -> str:
        failed = "failed to build" if run.direction == Direction.FORWARD else "could not be rolled back"
        words: dict[str, str] = {
            RegionRequestStatus.READY: "is ready",
            RegionRequestStatus.FAILED: failed,
            RegionRequestStatus.CANCELLED: "was cancelled",
            RegionRequestStatus.ROLLING_BACK: "was cancelled and is being rolled back",
            RegionRequestStatus.ROLLED_BACK: "is rolled back: nothing of it is left",
        }
        what = words[status]
        return f"Region {request} {what}"

    def cannot_cancel(self, request: RegionRequest) -> str:
        return f"A request that is {request.get_status_display().lower()} cannot be cancelled."


REGION_BUILDS = RegionBuilds()


@transaction.atomic
def region_build_retry(*, actor: User, request_id: int) -> RegionRequest:
    """Resume the failed run (build-out or rollback) at its failed step."""
    return REGION_BUILDS.retry(actor=actor, pk=request_id)


@transaction.atomic
def region_build_rollback(*, actor: User, request_id: int) -> RegionRequest:
    """Roll a failed build back: delete what it created, newest first (the build run's undo, once)."""
    request = REGION_BUILDS.locked_for(actor, request_id)
    run = build_run(request)
    if request.status != RegionRequestStatus.FAILED or run is None or run.status != RunStatus.FAILED:
        raise ValidationError("Only a failed build can be rolled back.")
    if run.undo_runs.exists():
        raise ValidationError("This build is already being rolled back; retry the rollback instead.")
    return REGION_BUILDS.undo(request, actor=actor, run=run.key)


@transaction.atomic
def region_request_cancel(*, actor: User, request_id: int) -> RegionRequest:
    """Cancel a request waiting for approval (the approval is withdrawn) or a build under way (then rolled back)."""
    return REGION_BUILDS.cancel(actor=actor, pk=request_id)


# --- residency zones: an admin's correction of which zone a cloud region counts as -------------------------------

ZONE_DEFAULT = "default"
ZONE_OUTSIDE = "outside"


class ZoneChangeNeedsConfirmation(Exception):
    """The change would make placements already made breach residency; ``breaches`` lists them."""

    def __init__(self, breaches: list[Any]) -> None:
        super().__init__(f"{len(breaches)} placements would breach residency")
        self.breaches = breaches


def _zone_words(zone: str) -> str:
    return zone or "outside every zone"


def _breach_key(breach: Any) -> tuple[str, str, str, str]:
    return (breach.kind, breach.subject, breach.zone, breach.region)


def region_zone_consequences(*, actor: User, provider: str, code: str, zone: str | None) -> list[Any]:
    """The residency breaches moving ``code`` to ``zone`` ("" outside every zone, None the catalogue's
    default) would add to those already there, among what ``actor`` may see. Nothing is changed."""
    from regions.residency.report import residency_overview

    before = {_breach_key(breach) for breach in residency_overview(user=actor).breaches}
    new_zone = str(catalogue.default_zone_of(provider, code) or "") if zone is None else zone
    with transaction.atomic():
        savepoint = transaction.savepoint()
        try:
            with catalogue.previewing(provider, code, zone):
                if new_zone:
                    Region.objects.filter(provider=provider, code=code).update(residency_zone=new_zone)
                after = residency_overview(user=actor).breaches
        finally:
            transaction.savepoint_rollback(savepoint)
    return [breach for breach in after if _breach_key(breach) not in before]


def region_zone_set(
    *, actor: User, provider: str, code: str, zone: str, reason: str, confirmed: bool = False
) -> list[Any]:
    """Move a known cloud region to ``zone`` (a zone, :data:`ZONE_OUTSIDE` or :data:`ZONE_DEFAULT`), with why.

    The inventory's region of that code (if any) follows, so environment
    admission and the DR rules apply the new zone at once. The portal moves no
    data: placements that the new zone makes breaches are listed first
    (:class:`ZoneChangeNeedsConfirmation`) and, once the admin confirms, appear
    on the residency page until they are dealt with. A region the inventory
    holds cannot be put outside every zone (an inventory region has a zone);
    remove it first. Returns the breaches the change made; audited.
    """
    from regions.models import ZoneOverride

    name = catalogue.region_name(provider, code)
    reason = reason.strip()
    problems: dict[str, str] = {}
    if name is None:
        label = Provider(provider).label if provider in Provider.values else provider
        problems["code"] = f"The portal knows no {label} region called {code!r}."
    if zone not in (ZONE_DEFAULT, ZONE_OUTSIDE, *ResidencyZone.values):
        problems["zone"] = "Choose a residency zone, outside every zone, or the catalogue's default."
    if not reason:
        problems["reason"] = "Say why the region counts as this zone; the audit log keeps it."
    if problems:
        raise ValidationError(problems)
    target: str | None = None if zone == ZONE_DEFAULT else ("" if zone == ZONE_OUTSIDE else zone)
    default = str(catalogue.default_zone_of(provider, code) or "")
    new_zone = default if target is None else target
    with transaction.atomic():
        policy.forget(actor)
        policy.require(actor, policy.RESIDENCY, ZoneOverride(provider=provider, code=code))
        existing = ZoneOverride.objects.select_for_update().filter(provider=provider, code=code).first()
        old_zone = default if existing is None else existing.zone
        if new_zone == old_zone and (existing is None) == (target is None or target == default):
            raise ValidationError({"zone": f"{code} already counts as {_zone_words(new_zone)}."})
        held = list(Region.objects.filter(provider=provider, code=code).values_list("status", flat=True))
        if not new_zone and held:
            raise ValidationError(
                {
                    "zone": f"The inventory holds {code} ({', '.join(held)}): a region in the inventory must lie in "
                    "a zone. Move it to another zone, or remove it from the inventory first."
                }
            )
        breaches = region_zone_consequences(actor=actor, provider=provider, code=code, zone=target)
        if breaches and not confirmed:
            raise ZoneChangeNeedsConfirmation(breaches)
        if target is None or target == default:
            ZoneOverride.objects.filter(provider=provider, code=code).delete()
        else:
            ZoneOverride.objects.update_or_create(
                provider=provider, code=code, defaults={"zone": target, "reason": reason, "changed_by": actor}
            )
        if new_zone:
            Region.objects.filter(provider=provider, code=code).update(residency_zone=new_zone)
        catalogue.forget_overrides()
        transaction.on_commit(catalogue.forget_overrides)
        audit.record(
            audit.REGION_ZONE_CHANGED,
            actor=actor,
            object_type="regions.zoneoverride",
            object_id=f"{provider}/{code}",
            object_repr=f"{name} ({code})",
            before={"zone": old_zone, "overridden": existing is not None},
            after={"zone": new_zone, "overridden": not (target is None or target == default)},
            reason=reason,
            breaches=[breach.reason for breach in breaches],
        )
    return breaches
