"""Writes of environment templates, team limits and environments: each re-checks the policy inside
its transaction, validates with the model's rules and records one audit event with before/after.

An environment's life: :func:`environment_request` asks the admission policy
(:mod:`environments.admission`) and either refuses (nothing saved, the refusal
audited), holds it for approval or starts the ``environments.provision``
workflow. From there it follows the request lifecycle every kind of request
shares (:mod:`workflows.lifecycle`, described here as :class:`EnvironmentRequests`):
the approval's verdict starts provisioning or rejects it, the run's end sets
ready / failed / cancelled / torn down and tells the requester (both through
environments/receivers.py), and teardown is the provisioning run's undo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, IntegerField, Q, QuerySet
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import Membership, SsoRule, Team, Tier, User
from access.permissions import ADD, CHANGE, DELETE
from approvals.models import ApprovalRequest
from environments import admission, selectors
from environments.choices import LIFETIME_TOO_LONG, MAX_LIFETIME_HOURS, EnvironmentStatus, Size
from environments.estimates import Estimate
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from environments.workflows import BucketPlan, CachePlan, DatabasePlan, EnvironmentPlan, IngressPlan
from notifications.services import Message, notify
from regions.choices import Provider
from regions.models import Cluster, Region
from workflows.lifecycle import Lifecycle, Statuses, Verbs
from workflows.models import Direction, Run, RunStatus

TEMPLATE_FIELDS = [
    field.name
    for field in EnvironmentTemplate._meta.get_fields()
    if field.concrete and not field.many_to_many and field.name not in {"id", "created_at", "updated_at"}
]
TEAM_LIMITS_FIELDS = ["max_environments", "max_monthly_estimate", "currency"]


def template_snapshot(template: EnvironmentTemplate, regions: Iterable[Region] | None = None) -> dict[str, Any]:
    """The template's fields for the audit log, allowed regions as "provider/code"."""
    if regions is None:
        regions = template.allowed_regions.all() if template.pk else []
    return {
        **audit.snapshot(template, TEMPLATE_FIELDS),
        "allowed_regions": sorted(f"{region.provider}/{region.code}" for region in regions),
    }


def _check(actor: User, action: str, obj: Any) -> None:
    policy.forget(actor)
    policy.require(actor, action, obj)


def _set_fields(template: EnvironmentTemplate, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name not in TEMPLATE_FIELDS:
            raise TypeError(f"not a template field: {name}")
        setattr(template, name, value.strip() if isinstance(value, str) else value)


def _validate_regions(template: EnvironmentTemplate, regions: list[Region]) -> None:
    problems = template.region_errors(regions)
    if problems:
        raise ValidationError({"allowed_regions": problems})


@transaction.atomic
def template_create(*, actor: User, allowed_regions: Iterable[Region] = (), **fields: Any) -> EnvironmentTemplate:
    """Create a template (platform admins: ``templates.add``)."""
    template = EnvironmentTemplate()
    _set_fields(template, fields)
    _check(actor, ADD, template)
    regions = list(allowed_regions)
    template.full_clean()
    _validate_regions(template, regions)
    template.save()
    template.allowed_regions.set(regions)
    audit.record(audit.TEMPLATE_CREATED, template, actor=actor, after=template_snapshot(template, regions))
    return template


@transaction.atomic
def template_update(
    *, actor: User, template_id: int, allowed_regions: Iterable[Region] | None = None, **fields: Any
) -> EnvironmentTemplate:
    """Change a template; re-activating one is a change too. Nothing changed: no event."""
    template = policy.get_for_update(EnvironmentTemplate.objects.all(), actor, CHANGE, pk=template_id)
    before = template_snapshot(template)
    _set_fields(template, fields)
    # The new values may move the template out of the actor's reach (a tier they may not change).
    _check(actor, CHANGE, template)
    regions = list(template.allowed_regions.all()) if allowed_regions is None else list(allowed_regions)
    template.full_clean()
    _validate_regions(template, regions)
    template.save()
    template.allowed_regions.set(regions)
    after = template_snapshot(template, regions)
    if after != before:
        changed = {name for name in after if after[name] != before.get(name)}
        audit.record(
            audit.TEMPLATE_CHANGED,
            template,
            actor=actor,
            before={name: before.get(name) for name in sorted(changed)},
            after={name: after[name] for name in sorted(changed)},
        )
    return template


@transaction.atomic
def template_deactivate(*, actor: User, template_id: int) -> EnvironmentTemplate:
    """Take a template out of use: no new requests. Environments made from it are not touched.

    Templates are deactivated, never deleted, so environments keep naming the
    template they came from. Deactivating an inactive template changes nothing.
    """
    template = policy.get_for_update(EnvironmentTemplate.objects.all(), actor, DELETE, pk=template_id)
    if not template.active:
        return template
    template.active = False
    template.save(update_fields=["active", "updated_at"])
    audit.record(audit.TEMPLATE_DEACTIVATED, template, actor=actor, before={"active": True}, after={"active": False})
    return template


@transaction.atomic
def team_limits_set(
    *,
    actor: User,
    team: Team,
    max_environments: int,
    max_monthly_estimate: Decimal,
    currency: str = "USD",
) -> TeamLimits:
    """Set a team's limits, creating them the first time (``costs.change`` on the team)."""
    Team.objects.select_for_update().filter(pk=team.pk).first()  # one writer per team: no duplicate row
    existing = TeamLimits.objects.filter(team=team).first()
    limits = existing if existing is not None else TeamLimits(team=team)
    _check(actor, CHANGE, limits)
    before = audit.snapshot(limits, TEAM_LIMITS_FIELDS) if existing is not None else None
    limits.max_environments = max_environments
    limits.max_monthly_estimate = max_monthly_estimate
    limits.currency = currency.strip().upper()
    limits.full_clean()
    limits.save()
    after = audit.snapshot(limits, TEAM_LIMITS_FIELDS)
    if after != before:
        audit.record(audit.TEAM_LIMITS_SET, limits, actor=actor, before=before, after=after, team=team)
    return limits


@transaction.atomic
def team_limits_remove(*, actor: User, team: Team) -> None:
    """Remove a team's limits: it is no longer capped. Removing none changes nothing."""
    limits = TeamLimits.objects.select_for_update().filter(team=team).first()
    if limits is None:
        return
    _check(actor, CHANGE, limits)
    audit.record(
        audit.TEAM_LIMITS_REMOVED, limits, actor=actor, before=audit.snapshot(limits, TEAM_LIMITS_FIELDS), team=team
    )
    limits.delete()


# --- environments ---------------------------------------------------------------------------

REQUEST = "request"
PROVISION = "environments.provision"  # the workflow's kind and the approval's purpose
ENVIRONMENT_FIELDS = [
    "name",
    "team",
    "template",
    "tier",
    "size",
    "cluster",
    "status",
    "monthly_estimate",
    "currency",
    "expires_at",
    "approver",
]

# Managed add-on classes per provider and template add-on size. The price table prices the size;
# these are what the cloud is asked for.
DATABASE_CLASSES: dict[str, dict[str, str]] = {
    Provider.AWS: {"small": "db.t4g.small", "medium": "db.m7g.large", "large": "db.m7g.xlarge"},
    Provider.AZURE: {"small": "B_Standard_B1ms", "medium": "GP_Standard_D2ds_v5", "large": "GP_Standard_D4ds_v5"},
}
CACHE_CLASSES: dict[str, dict[str, str]] = {
    Provider.AWS: {"small": "cache.t4g.micro", "medium": "cache.m7g.large", "large": "cache.m7g.xlarge"},
    Provider.AZURE: {"small": "Basic_C0", "medium": "Standard_C1", "large": "Standard_C2"},
}


def environment_url(environment: Environment) -> str:
    return reverse("environments:detail", kwargs={"pk": environment.pk})


def _environment_snapshot(environment: Environment) -> dict[str, Any]:
    return audit.snapshot(environment, ENVIRONMENT_FIELDS)


def team_idp_groups(team: Team) -> tuple[str, ...]:
    """The IdP groups the portal maps to ``team`` (enabled SSO rules on the ``groups`` claim), sorted.

    These are the groups bound to edit the environment's namespaces; a team
    with no such rule gets no role binding (its members use the portal).
    """
    values = SsoRule.objects.filter(team=team, enabled=True, claim="groups").values_list("value", flat=True)
    return tuple(sorted(set(values)))


def environment_plan(environment: Environment) -> EnvironmentPlan:
    """What provisioning does, from the environment, its template and team as they are now."""
    template = environment.template
    size = environment.size
    provider = environment.cluster.region.provider
    ingress = None
    if template.ingress_host_pattern:
        host = template.ingress_host_pattern.replace("{env}", environment.name).replace("{team}", environment.team.slug)
        ingress = IngressPlan(
            host=host,
            tls=template.ingress_tls,
            rate_limit_rps=template.ingress_rate_limit_rps,
            allow_cidrs=tuple(template.ingress_allow_cidrs),
            deny_cidrs=tuple(template.ingress_deny_cidrs),
        )
    database = cache = bucket = None
    if template.postgresql_size:
        database = DatabasePlan(instance_class=DATABASE_CLASSES.get(provider, {}).get(template.postgresql_size, ""))
    if template.redis_size:
        cache = CachePlan(node_type=CACHE_CLASSES.get(provider, {}).get(template.redis_size, ""))
    if template.bucket_size_gb:
        bucket = BucketPlan()
    return EnvironmentPlan(
        environment_id=environment.pk,
        name=environment.name,
        team=environment.team.slug,
        tier=environment.tier,
        cluster_id=environment.cluster_id,
        namespaces=tuple(template.namespaces),
        quota=template.quota_for(size),
        limit_defaults={"cpu": template.limit_default_cpu, "memory": template.limit_default_memory},
        limit_default_requests={
            "cpu": template.limit_default_request_cpu,
            "memory": template.limit_default_request_memory,
        },
        limit_max={"cpu": template.limit_max_cpu, "memory": template.limit_max_memory},
        network_policy=template.network_default_deny,
        allow_from_namespaces=tuple(template.network_allowed_namespaces),
        editor_groups=team_idp_groups(environment.team),
        ingress=ingress,
        database=database,
        cache=cache,
        bucket=bucket,
    )


def _expiry(ttl_hours: int | None) -> Any:
    return timezone.now() + timedelta(hours=ttl_hours) if ttl_hours is not None else None


def _ttl_hours(environment: Environment) -> int | None:
    """The lifetime asked for, from what was recorded at request time."""
    if environment.expires_at is None:
        return None
    return max(1, round((environment.expires_at - environment.created_at).total_seconds() / 3600))


class _Refused(Exception):
    def __init__(self, decision: admission.Decision) -> None:
        super().__init__(*decision.reasons)
        self.decision = decision


def _clean_request(environment: Environment) -> None:
    """The model's validation, with a name already taken in the team reported on the name."""
    errors: dict[str, list[str]] = {}
    try:
        environment.full_clean(exclude=["monthly_estimate", "currency"], validate_constraints=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if (
        "name" not in errors
        and Environment.objects.live().filter(team_id=environment.team_id, name=environment.name).exists()
    ):
        errors["name"] = [f"{environment.team} already has an environment named {environment.name}; choose another."]
    if not environment.template.active:
        errors.setdefault("template", []).append("This template is no longer offered; choose another.")
    if errors:
        raise ValidationError(errors)


def _asked(
    actor: User,
    team: Team,
    template: EnvironmentTemplate,
    cluster: Cluster,
    name: str,
    size: str,
    ttl_hours: int | None,
    idempotency_key: str = "",
) -> tuple[Environment, int | None]:
    """The environment a request describes (not saved) and its lifetime: the template's default when none is
    given, refused when out of bounds."""
    if ttl_hours is None and template.expires:
        ttl_hours = template.default_ttl_hours
    if ttl_hours is not None and not 1 <= ttl_hours <= MAX_LIFETIME_HOURS:
        raise ValidationError({"ttl_hours": LIFETIME_TOO_LONG if ttl_hours > 0 else "A lifetime is at least one hour."})
    environment = Environment(
        name=name.strip().lower(),
        team=team,
        template=template,
        tier=template.tier,
        size=size,
        cluster=cluster,
        requested_by=actor,
        idempotency_key=idempotency_key,
        expires_at=_expiry(ttl_hours),
    )
    return environment, ttl_hours


def _admission(
    actor: User, environment: Environment, ttl_hours: int | None
) -> tuple[selectors.RequestCheck, admission.Decision, Estimate]:
    """The policy's and the model's checks of the request, then its estimate and admission decision."""
    policy.forget(actor)
    policy.require(actor, REQUEST, environment)
    _clean_request(environment)
    check = selectors.request_check(
        team_id=environment.team_id,
        template=environment.template,
        cluster=environment.cluster,
        size=environment.size,
        ttl_hours=ttl_hours,
    )
    if check.problem or check.estimate is None or check.decision is None:
        raise ValidationError(check.problem or "This request cannot be estimated.")
    return check, check.decision, check.estimate


def environment_check(
    *,
    actor: User,
    team: Team,
    template: EnvironmentTemplate,
    cluster: Cluster,
    name: str,
    size: str = Size.SMALL,
    ttl_hours: int | None = None,
) -> selectors.RequestCheck:
    """What :func:`environment_request` would decide and estimate for these values, with nothing saved, audited
    or asked: the same refusals of the values themselves (ValidationError) and of the policy (403/404)."""
    environment, ttl_hours = _asked(actor, team, template, cluster, name, size, ttl_hours)
    check, _, _ = _admission(actor, environment, ttl_hours)
    return check


def environment_request(
    *,
    actor: User,
    team: Team,
    template: EnvironmentTemplate,
    cluster: Cluster,
    name: str,
    size: str = Size.SMALL,
    ttl_hours: int | None = None,
    idempotency_key: str = "",
) -> Environment:
    """Ask for an environment: refused (ValidationError with the reasons), held for approval, or provisioned.

    The same ``idempotency_key`` from the same requester gives back the first
    environment and creates nothing. A non-production request with no TTL gets
    the template's default. One request per team at a time is decided (the
    team's row is locked), so two requests cannot both squeeze under a limit.
    """
    key = idempotency_key.strip()[:200]
    if key:
        existing = Environment.objects.filter(requested_by=actor, idempotency_key=key).first()
        if existing is not None:
            return existing
    environment, ttl_hours = _asked(actor, team, template, cluster, name, size, ttl_hours, key)
    try:
        with transaction.atomic():
            Team.objects.select_for_update().filter(pk=team.pk).first()
            if key:
                existing = Environment.objects.filter(requested_by=actor, idempotency_key=key).first()
                if existing is not None:
                    return existing
            _, decision, estimate = _admission(actor, environment, ttl_hours)
            if decision.outcome == admission.Outcome.REFUSED:
                raise _Refused(decision)
            environment.monthly_estimate = estimate.total
            environment.currency = estimate.currency
            environment.status = EnvironmentStatus.PENDING_APPROVAL
            environment.approver = decision.approver.value if decision.approver else ""
            environment.save()
            warnings: dict[str, Any] = {"warnings": list(decision.warnings)} if decision.warnings else {}
            audit.record(
                audit.ENVIRONMENT_REQUESTED,
                environment,
                actor=actor,
                after=_environment_snapshot(environment),
                team=team,
                decision=decision.outcome.value,
                reasons=list(decision.reasons),
                **warnings,
            )
            if decision.outcome == admission.Outcome.NEEDS_APPROVAL:
                ENVIRONMENTS.hold_for_approval(
                    environment,
                    actor=actor,
                    summary=f"Environment {environment.name} for {team} ({environment.get_tier_display()})",
                    reasons=decision.reasons,
                )
            else:
                ENVIRONMENTS.start(environment, actor=actor)
    except _Refused as refused:
        # The refusal is audited in a transaction of its own: nothing of the request is saved.
        audit.record(
            audit.ENVIRONMENT_REFUSED,
            actor=actor,
            object_type=Environment._meta.label_lower,
            object_id="",
            object_repr=environment.name,
            team=team,
            after={"template": template.slug, "cluster": str(cluster), "size": size, "ttl_hours": ttl_hours},
            reasons=list(refused.decision.reasons),
        )
        raise ValidationError(list(refused.decision.reasons)) from None
    except IntegrityError:
        # A concurrent request won the race for the key or the name.
        if key:
            existing = Environment.objects.filter(requested_by=actor, idempotency_key=key).first()
            if existing is not None:
                return existing
        raise ValidationError({"name": [f"{team} already has an environment named {environment.name}."]}) from None
    return environment


def is_platform_admin(user: User) -> bool:
    """Whether ``user`` counts as a platform admin: the ``platform.admin`` permission, held everywhere."""
    return policy.can(user, policy.PLATFORM_ADMIN)


class EnvironmentRequests(Lifecycle[Environment]):
    """An environment's request: held for approval or provisioned; teardown is the provisioning run's undo."""

    model = Environment
    kind = PROVISION
    noun = "environment"
    statuses = Statuses(
        pending=EnvironmentStatus.PENDING_APPROVAL,
        running=EnvironmentStatus.PROVISIONING,
        failed=EnvironmentStatus.FAILED,
        rejected=EnvironmentStatus.REJECTED,
        cancelled=EnvironmentStatus.CANCELLED,
        undoing=EnvironmentStatus.TEARING_DOWN,
        outcomes={
            (Direction.FORWARD, RunStatus.SUCCEEDED): EnvironmentStatus.READY,
            (Direction.FORWARD, RunStatus.FAILED): EnvironmentStatus.FAILED,
            (Direction.FORWARD, RunStatus.CANCELLED): EnvironmentStatus.CANCELLED,
            (Direction.UNDO, RunStatus.SUCCEEDED): EnvironmentStatus.TORN_DOWN,
            (Direction.UNDO, RunStatus.FAILED): EnvironmentStatus.FAILED,
            (Direction.UNDO, RunStatus.CANCELLED): EnvironmentStatus.FAILED,
        },
    )
    verbs = Verbs(
        started=audit.ENVIRONMENT_PROVISIONING,
        rejected=audit.ENVIRONMENT_REJECTED,
        finished=audit.ENVIRONMENT_FINISHED,
        cancelled=audit.ENVIRONMENT_CANCELLED,
        retried=audit.ENVIRONMENT_RETRIED,
        undo_started=audit.ENVIRONMENT_TEARDOWN,
    )
    related = ("team", "template", "cluster__region", "requested_by")

    def run_key(self, request: Environment) -> str:
        return f"environment:{request.pk}:provision"

    def run_params(self, request: Environment) -> Mapping[str, Any]:
        return environment_plan(request).to_params()

    def url(self, request: Environment) -> str:
        return environment_url(request)

    def audit_context(self, request: Environment) -> dict[str, Any]:
        return {"team": request.team}

    def check_start(self, request: Environment, *, actor: User | None, approval: ApprovalRequest | None) -> None:
        """An approval cannot place it where the region no longer takes new environments, and a request that
        needs a platform admin is not approved by a team lead alone."""
        if approval is None:
            return
        region = request.cluster.region
        unavailable = admission.region_unavailable(region.code, region.status)
        if unavailable is not None:
            raise ValidationError(
                f"It cannot be provisioned: {unavailable} Reject it; the requester asks again elsewhere."
            )
        if request.approver == admission.Approver.PLATFORM_ADMIN:
            # The one deciding now counts as they signed in (an API token's role with them); earlier approvers
            # as their decisions record them.
            earlier = approval.decisions.select_related("approver").exclude(approver=actor)
            approvers = [*([actor] if actor is not None else []), *(decision.approver for decision in earlier)]
            if not any(is_platform_admin(approver) for approver in approvers):
                raise ValidationError("This request needs a platform admin's approval.")

    def on_start(self, request: Environment) -> list[str]:
        """The lifetime counts from the start, not from the request."""
        request.expires_at = _expiry(_ttl_hours(request))
        return ["expires_at"]

    def check_retry(self, request: Environment, run: Run, *, actor: User) -> None:
        region = request.cluster.region
        unavailable = admission.region_unavailable(region.code, region.status)
        if run.direction == Direction.FORWARD and unavailable is not None:
            raise ValidationError(f"Provisioning cannot be retried: {unavailable} Tear it down instead.")

    def title(self, request: Environment, status: str, run: Run) -> str:
        words: dict[str, str] = {
            EnvironmentStatus.READY: "is ready",
            EnvironmentStatus.FAILED: "failed" if run.direction == Direction.FORWARD else "could not be torn down",
            EnvironmentStatus.CANCELLED: "was cancelled",
            EnvironmentStatus.TEARING_DOWN: "was cancelled and is being torn down",
            EnvironmentStatus.TORN_DOWN: "is torn down",
        }
        what = words[status]
        return f"Environment {request.name} {what}"

    def cannot_cancel(self, request: Environment) -> str:
        return f"An environment that is {request.get_status_display().lower()} cannot be cancelled."


ENVIRONMENTS = EnvironmentRequests()


def provisioning_run(environment: Environment) -> Run | None:
    """The environment's provisioning run (its undo is the teardown), or None before approval."""
    return ENVIRONMENTS.forward_run(environment)


@transaction.atomic
def environment_teardown(*, actor: User, environment_id: int) -> Environment:
    """Tear an environment down: the provisioning run's undo (once; asking again changes nothing).

    Ready, failed and cancelled environments may be torn down; one still
    provisioning is cancelled first (its run stops, then undoes itself).
    """
    environment = ENVIRONMENTS.locked_for(actor, environment_id)
    if environment.status in (EnvironmentStatus.TEARING_DOWN, EnvironmentStatus.TORN_DOWN):
        return environment
    if environment.status in (EnvironmentStatus.PENDING_APPROVAL, EnvironmentStatus.PROVISIONING):
        raise ValidationError("It is not provisioned yet: cancel it instead.")
    if environment.status == EnvironmentStatus.REJECTED:
        raise ValidationError("A rejected request has nothing to tear down.")
    return ENVIRONMENTS.undo(environment, actor=actor)


# --- lifetime: warnings before expiry, teardown at expiry ----------------------------------------------

# What expiry tears down: a ready environment, or one whose provisioning failed (what it began is undone).
EXPIRABLE = (EnvironmentStatus.READY, EnvironmentStatus.FAILED)
# What is warned about: expirable, or still provisioning (it will be ready before it expires).
WARNED = (EnvironmentStatus.PROVISIONING, *EXPIRABLE)


@dataclass(frozen=True)
class ExpirySweep:
    """What one pass of :func:`environments_expire` did: ids warned, per threshold, and ids torn down."""

    warned: dict[int, list[int]]
    expired: list[int]


def environments_expire(*, now: datetime | None = None, batch: int = 200) -> ExpirySweep:
    """Warn the owners of environments about to expire, and tear down those whose lifetime is over.

    Run by beat every minute. Each threshold in ``ENVIRONMENT_EXPIRY_WARNINGS``
    (hours before expiry) is told once per expiry, and only to environments
    that live longer than it (a 24-hour preview is not warned a day ahead as it
    starts): the environment records the last one sent; an extension clears it. Production never expires
    (``expires_at`` is empty). Each environment is handled in its own
    transaction, skipping rows another pass holds, so overlapping passes and a
    failure on one environment do not stop the rest; up to ``batch`` of each
    kind per pass, the next pass takes the rest. A failed teardown is left for
    a person to retry rather than attempted again every minute.
    """
    now = now or timezone.now()
    warned: dict[int, list[int]] = {}
    already_warned: set[int] = set()
    for hours in sorted(set(settings.ENVIRONMENT_EXPIRY_WARNINGS)):  # the nearest threshold first
        due = (
            Environment.objects.filter(
                status__in=WARNED, expires_at__gt=now, expires_at__lte=now + timedelta(hours=hours)
            )
            .filter(Q(expiry_warned_hours__isnull=True) | Q(expiry_warned_hours__gt=hours))
            .filter(expires_at__gt=F("created_at") + timedelta(hours=hours))  # lives longer than the warning
            .exclude(pk__in=already_warned)
            .order_by("expires_at")
            .values_list("pk", flat=True)[:batch]
        )
        warned[hours] = [pk for pk in due if _warn_expiring(pk, hours=hours, now=now)]
        already_warned.update(warned[hours])
    due = (
        Environment.objects.filter(status__in=EXPIRABLE, expires_at__lte=now)
        .exclude(pk__in=_torn_down_before())
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch]
    )
    expired = [pk for pk in due if _expire(pk, now=now)]
    return ExpirySweep(warned=warned, expired=expired)


def _torn_down_before() -> QuerySet[Any, Any]:
    """The environments with a teardown run: a failed one waits for a person, not for the next pass."""
    runs = Run.objects.filter(kind=PROVISION, direction=Direction.UNDO)
    return runs.annotate(environment_id=Cast("subject_id", IntegerField())).values("environment_id")


def _owners(environment: Environment) -> list[User]:
    """Who answers for an environment: who asked for it and the team's leads."""
    leads = User.objects.filter(memberships__team=environment.team, memberships__role=Membership.Role.LEAD)
    return [environment.requested_by, *leads]


def _still_due(environment_id: int, **due: Any) -> Environment | None:
    """The environment, locked, if it is still due (as another pass may have handled it); None if held."""
    return (
        Environment.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("team", "requested_by")
        .filter(pk=environment_id, **due)
        .first()
    )


@transaction.atomic
def _warn_expiring(environment_id: int, *, hours: int, now: datetime) -> bool:
    environment = _still_due(environment_id, status__in=WARNED, expires_at__gt=now)
    if environment is None or environment.expires_at is None:
        return False
    environment.expiry_warned_hours = hours
    environment.save(update_fields=["expiry_warned_hours", "updated_at"])
    at = timezone.localtime(environment.expires_at)
    notify(
        _owners(environment),
        Message(
            kind="environments.expiring",
            title=f"Environment {environment.name} expires {naturaltime(environment.expires_at)}",
            body=f"It will be torn down at {at:%d %b %Y %H:%M %Z}. Extend it on its page if you still need it.",
            url=environment_url(environment),
            key=f"environment:{environment.pk}:expires:{environment.expires_at.isoformat()}:{hours}h",
        ),
    )
    return True


@transaction.atomic
def _expire(environment_id: int, *, now: datetime) -> bool:
    environment = _still_due(environment_id, status__in=EXPIRABLE, expires_at__lte=now)
    if environment is None:
        return False
    ENVIRONMENTS.undo(environment, actor=None, reason="expired")
    notify(
        _owners(environment),
        Message(
            kind="environments.expired",
            title=f"Environment {environment.name} expired and is being torn down",
            body="Its lifetime is over. Request a new one when you need it again.",
            url=environment_url(environment),
            key=f"environment:{environment.pk}:expired",
        ),
    )
    return True


@transaction.atomic
def environment_cancel(*, actor: User, environment_id: int) -> Environment:
    """Cancel a request waiting for approval (the approval is withdrawn) or a provisioning run under way (what
    it began is torn down)."""
    return ENVIRONMENTS.cancel(actor=actor, pk=environment_id)


@transaction.atomic
def environment_retry(*, actor: User, environment_id: int) -> Environment:
    """Resume the failed run (provisioning or teardown) at its failed step."""
    return ENVIRONMENTS.retry(actor=actor, pk=environment_id)


@transaction.atomic
def environment_extend(*, actor: User, environment_id: int, hours: int) -> Environment:
    """Push the expiry ``hours`` later, so that it is at most the template's maximum lifetime from now."""
    environment = ENVIRONMENTS.locked_for(actor, environment_id)
    template = environment.template
    if environment.expires_at is None or template.max_ttl_hours is None:
        raise ValidationError("This environment never expires.")
    if environment.status not in (EnvironmentStatus.PROVISIONING, EnvironmentStatus.READY, EnvironmentStatus.FAILED):
        raise ValidationError(f"An environment that is {environment.get_status_display().lower()} cannot be extended.")
    if hours < 1:
        raise ValidationError({"hours": "Extend by at least one hour."})
    if hours > MAX_LIFETIME_HOURS:
        raise ValidationError({"hours": LIFETIME_TOO_LONG})
    now = timezone.now()
    new_expiry = max(environment.expires_at, now) + timedelta(hours=hours)
    latest = now + timedelta(hours=template.max_ttl_hours)
    if new_expiry > latest:
        raise ValidationError(
            {
                "hours": f"{template} environments live at most {template.max_ttl_hours} hours from now "
                f"(until {timezone.localtime(latest):%d %b %Y %H:%M}); extend by less."
            }
        )
    before = environment.expires_at
    environment.expires_at = new_expiry
    environment.expiry_warned_hours = None  # warn again before the new expiry
    environment.save(update_fields=["expires_at", "expiry_warned_hours", "updated_at"])
    audit.record(
        audit.ENVIRONMENT_EXTENDED,
        environment,
        actor=actor,
        before={"expires_at": before},
        after={"expires_at": new_expiry},
        team=environment.team,
    )
    return environment


@transaction.atomic
def environment_set_expiry(*, actor: User, environment_id: int, hours: int) -> Environment:
    """Give a non-production environment a lifetime of ``hours`` from now, or shorten a longer one.

    The savings page offers it for environments that never expire or live long
    (costs/savings/services.py). Unlike :func:`environment_extend` it may end sooner than
    the current expiry and may give a lifetime to one that had none; production
    never expires, and the template's maximum lifetime still holds.
    """
    environment = ENVIRONMENTS.locked_for(actor, environment_id)
    template = environment.template
    if environment.tier == Tier.PRODUCTION:
        raise ValidationError("Production environments never expire.")
    if environment.status not in (EnvironmentStatus.PROVISIONING, EnvironmentStatus.READY, EnvironmentStatus.FAILED):
        raise ValidationError(
            f"An environment that is {environment.get_status_display().lower()} cannot be given a lifetime."
        )
    if hours < 1:
        raise ValidationError({"hours": "Set a lifetime of at least one hour."})
    if hours > MAX_LIFETIME_HOURS:
        raise ValidationError({"hours": LIFETIME_TOO_LONG})
    if template.max_ttl_hours is not None and hours > template.max_ttl_hours:
        raise ValidationError(
            {"hours": f"{template} environments live at most {template.max_ttl_hours} hours; choose less."}
        )
    new_expiry = timezone.now() + timedelta(hours=hours)
    before = environment.expires_at
    environment.expires_at = new_expiry
    environment.expiry_warned_hours = None  # warn again before the new expiry
    environment.save(update_fields=["expires_at", "expiry_warned_hours", "updated_at"])
    audit.record(
        audit.ENVIRONMENT_EXPIRY_SET,
        environment,
        actor=actor,
        before={"expires_at": before},
        after={"expires_at": new_expiry},
        team=environment.team,
        hours=hours,
    )
    return environment
