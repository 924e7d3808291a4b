"""The audit log: append-only, hash-chained, written in the same transaction as the change.

Every privileged action calls :func:`record` inside the transaction that
makes the change, so an event exists exactly when the change does. Each
event's hash covers its fields and the previous event's hash; a PostgreSQL
advisory lock serialises writers so the chain has no forks, and a trigger
refuses UPDATE and DELETE on the table. :func:`verify_chain` recomputes every
hash and names the first event that does not verify.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address
from django_guid import get_guid

from access.models import AuditEvent, Team, User

GENESIS = "0" * 64
# Any constant: the advisory lock that serialises writers of the chain.
_CHAIN_LOCK = 0x706F7274616C  # "portal"

# Verbs of privileged actions. The audit-completeness test walks this list,
# so a new privileged action adds its verb here and its test there.
SIGN_IN = "auth.sign_in"
SIGN_IN_FAILED = "auth.sign_in_failed"
SIGN_OUT = "auth.sign_out"
USER_EMAIL_CHANGED = "auth.user_email_changed"  # the IdP changed the e-mail of the same subject
JWT_ISSUED = "auth.jwt_issued"  # an API access + refresh pair, for a session or a password
JWT_REVOKED = "auth.jwt_revoked"  # an API client signed out (one refresh token, or all of a person's)
GRANT_CREATED = "access.grant_created"
GRANT_REVOKED = "access.grant_revoked"
ROLE_CREATED = "access.role_created"
ROLE_CHANGED = "access.role_changed"
ROLE_DELETED = "access.role_deleted"
TEAM_CREATED = "teams.team_created"
TEAM_CHANGED = "teams.team_changed"
MEMBER_ADDED = "teams.member_added"
MEMBER_CHANGED = "teams.member_changed"
MEMBER_REMOVED = "teams.member_removed"
SSO_RULE_CREATED = "access.sso_rule_created"
SSO_RULE_CHANGED = "access.sso_rule_changed"
SSO_RULE_DELETED = "access.sso_rule_deleted"
# An IdP identity linked to an account, moved to another, or unlinked: by an administrator, never by its owner.
IDENTITY_LINKED = "access.identity_linked"
IDENTITY_UNLINKED = "access.identity_unlinked"
TOKEN_CREATED = "access.token_created"  # noqa: S105 (a verb, not a secret)
TOKEN_REVOKED = "access.token_revoked"  # noqa: S105
REVIEW_OPENED = "access.review_opened"
REVIEW_DECIDED = "access.review_decided"
REVIEW_CLOSED = "access.review_closed"
AUDIT_EXPORTED = "audit.exported"
# Secrets the portal holds (README, "Secrets"): set, replaced or removed (never the value), re-encrypted.
CLOUD_SECRET_SET = "regions.cloud_secret_set"  # noqa: S105 (a verb, not a secret)
SECRETS_REENCRYPTED = "regions.secrets_reencrypted"
# Approvals (approvals/): asked for, approved (one approver's verdict), rejected, withdrawn.
APPROVAL_REQUESTED = "approvals.requested"
APPROVAL_GIVEN = "approvals.approved"
APPROVAL_REJECTED = "approvals.rejected"
APPROVAL_WITHDRAWN = "approvals.withdrawn"
# A cluster's kubeconfig set, replaced or removed (never the content).
CLUSTER_CREDENTIALS_SET = "regions.cluster_credentials_set"
# Environment templates, team limits (environments app) and the price table (costs app).
TEMPLATE_CREATED = "environments.template_created"
TEMPLATE_CHANGED = "environments.template_changed"
TEMPLATE_DEACTIVATED = "environments.template_deactivated"
TEAM_LIMITS_SET = "environments.team_limits_set"
TEAM_LIMITS_REMOVED = "environments.team_limits_removed"
# Environments (environments app): requested (with the policy's decision), provisioning started,
# outcome of a run, teardown, cancel, retry and TTL extension.
ENVIRONMENT_REQUESTED = "environments.requested"
ENVIRONMENT_REFUSED = "environments.refused"
ENVIRONMENT_PROVISIONING = "environments.provisioning_started"
ENVIRONMENT_REJECTED = "environments.rejected"
ENVIRONMENT_FINISHED = "environments.run_finished"
ENVIRONMENT_TEARDOWN = "environments.teardown_started"
ENVIRONMENT_CANCELLED = "environments.cancelled"
ENVIRONMENT_RETRIED = "environments.retried"
ENVIRONMENT_EXTENDED = "environments.extended"
# A lifetime set (or shortened) on a non-production environment, e.g. from a savings recommendation.
ENVIRONMENT_EXPIRY_SET = "environments.expiry_set"
# Region provisioning (issue 8): a request, its approval's outcome, the build-out run and what people do to it.
REGION_REQUESTED = "regions.requested"
REGION_BUILD_STARTED = "regions.build_started"
REGION_REJECTED = "regions.rejected"
REGION_BUILD_FINISHED = "regions.build_finished"
REGION_BUILD_RETRIED = "regions.build_retried"
REGION_ROLLBACK_STARTED = "regions.rollback_started"
REGION_REQUEST_CANCELLED = "regions.request_cancelled"
# Region failover (issue 8, part 4): promoting a region's database replica in its DR partner, asked, decided, run.
FAILOVER_REQUESTED = "regions.failover_requested"
FAILOVER_REJECTED = "regions.failover_rejected"
FAILOVER_STARTED = "regions.failover_started"
FAILOVER_FINISHED = "regions.failover_finished"
FAILOVER_RETRIED = "regions.failover_retried"
FAILOVER_CANCELLED = "regions.failover_cancelled"
# Rollbacks and deploy freezes (deployments app).
ROLLBACK_REQUESTED = "deployments.rollback_requested"
ROLLBACK_FINISHED = "deployments.rollback_finished"
FREEZE_CREATED = "deployments.freeze_created"
FREEZE_ENDED = "deployments.freeze_ended"
PRICE_CREATED = "costs.price_created"
PRICE_CHANGED = "costs.price_changed"
PRICE_DELETED = "costs.price_deleted"
# A cluster's allocation table left the portal as CSV (costs app).
COST_ALLOCATION_EXPORTED = "costs.allocation_exported"
# Savings recommendations (costs/savings.py): dismissed, or snoozed until a date.
RECOMMENDATION_DISMISSED = "costs.recommendation_dismissed"
RECOMMENDATION_SNOOZED = "costs.recommendation_snoozed"
# Cost sources and attribution rules (costs app): a source added or changed (disabled included), an import asked for
# by a person (scheduled imports are not audited), a FOCUS file uploaded, rules added and deleted, stored periods
# re-attributed.
COST_SOURCE_CREATED = "costs.source_created"
COST_SOURCE_CHANGED = "costs.source_changed"
COST_IMPORT_REQUESTED = "costs.import_requested"
COST_UPLOADED = "costs.uploaded"
ATTRIBUTION_RULE_CREATED = "costs.attribution_rule_created"
ATTRIBUTION_RULE_DELETED = "costs.attribution_rule_deleted"
COSTS_REATTRIBUTED = "costs.reattributed"
# Budgets (costs app): created, changed (its webhook URL only as set or not), deleted.
BUDGET_CREATED = "costs.budget_created"
BUDGET_CHANGED = "costs.budget_changed"
BUDGET_DELETED = "costs.budget_deleted"
# A team's cost page downloaded as CSV (costs.export).
COSTS_TEAM_EXPORTED = "costs.team_exported"
# Cost figures exported as CSV (page or API), with the filters used: who took which figures out.
COSTS_EXPORTED = "costs.exported"
# Deployments (deployments app): a person asked for a cluster sync now (scheduled syncs are not audited).
DEPLOYMENTS_SYNC_REQUESTED = "deployments.sync_requested"
# CI/CD webhook sources (deployments app): created, secret rotated (never the secret itself), deactivated.
WEBHOOK_SOURCE_CREATED = "deployments.webhook_source_created"
WEBHOOK_SECRET_ROTATED = "deployments.webhook_secret_rotated"  # noqa: S105 (a verb, not a secret)
WEBHOOK_SOURCE_DEACTIVATED = "deployments.webhook_source_deactivated"
# The service catalogue (deployments app): services created, changed and deleted; a workload claimed for a service.
SERVICE_CREATED = "deployments.service_created"
SERVICE_CHANGED = "deployments.service_changed"
SERVICE_DELETED = "deployments.service_deleted"
WORKLOAD_CLAIMED = "deployments.workload_claimed"
# Changes made in the Django admin (emergencies; daily work goes through the portal's services).
ADMIN_OBJECT_ADDED = "admin.object_added"
ADMIN_OBJECT_CHANGED = "admin.object_changed"
ADMIN_OBJECT_DELETED = "admin.object_deleted"


@dataclass(frozen=True)
class RequestContext:
    """Who is acting, from where: set by middleware for a web request, by hand in tasks."""

    actor: User | None = None
    source_ip: str | None = None
    request_id: str = ""
    request: HttpRequest | None = None

    def current_actor(self) -> User | None:
        """The explicit actor, else whoever the request is signed in as now (sign-in changes it)."""
        if self.actor is not None:
            return self.actor
        user = getattr(self.request, "user", None)
        return user if isinstance(user, User) and user.is_authenticated else None


_context: ContextVar[RequestContext | None] = ContextVar("audit_context", default=None)


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@contextmanager
def acting(context: RequestContext) -> Iterator[None]:
    """Attribute events recorded inside the block to ``context`` (used by the middleware and by tasks)."""
    token = _context.set(context)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> RequestContext:
    return _context.get() or RequestContext(request_id=get_guid() or "")


def record(
    verb: str,
    obj: models.Model | None = None,
    *,
    actor: User | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    team: Team | None = None,
    object_repr: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_label: str | None = None,
    **extra: Any,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    ``object_type`` and ``object_id`` name an object that is not at hand (one
    already deleted). ``actor`` defaults to the person behind the current request. ``before`` and
    ``after`` are the changed fields; they must never hold a secret.
    """
    context = current_context()
    if actor is None and actor_label is None:
        # A labelled system actor ("sso", "system") acts for nobody, even inside someone's request.
        actor = context.current_actor()
    label = actor_label if actor_label is not None else (actor.get_username() if actor is not None else "")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        previous = AuditEvent.objects.order_by("-pk").values_list("hash", flat=True).first() or GENESIS
        event = AuditEvent(
            occurred_at=timezone.now(),
            actor=actor,
            actor_label=label[:200],
            verb=verb,
            object_type=object_type if object_type is not None else obj._meta.label_lower if obj is not None else "",
            object_id=object_id
            if object_id is not None
            else str(obj.pk)
            if obj is not None and obj.pk is not None
            else "",
            object_repr=(object_repr if object_repr is not None else str(obj) if obj is not None else "")[:300],
            team=team,
            source_ip=_stored_ip(context.source_ip),
            request_id=(context.request_id or get_guid() or "")[:64],
            before=_plain(before),
            after=_plain(after),
            extra=_plain(extra) or {},
            previous_hash=previous,
        )
        event.hash = event_hash(event)
        event.save(force_insert=True)
    return event


def _stored_ip(address: str | None) -> str | None:
    """The address as PostgreSQL gives it back (IPv6 compressed, lower case), so the hash still matches.

    Something that is no IP address at all is not recorded rather than failing the action.
    """
    if not address:
        return None
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return clean_ipv6_address(address) if ":" in address else address


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the event's fields in a canonical JSON form and the previous hash."""
    body = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "verb": event.verb,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "team": event.team_id,
        "source_ip": event.source_ip,
        "request_id": event.request_id,
        "before": event.before,
        "after": event.after,
        "extra": event.extra,
        "previous_hash": event.previous_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of :func:`verify_chain`."""

    verified: bool
    events: int
    first_bad_event: int | None = None
    problem: str = ""


def verify_chain() -> ChainCheck:
    """Recompute every hash in order; report the first event that was changed, removed or inserted."""
    previous = GENESIS
    count = 0
    events = AuditEvent.objects.order_by("pk").iterator(chunk_size=2000)
    for event in events:
        count += 1
        if event.previous_hash != previous:
            return ChainCheck(False, count, event.pk, "an event before it was removed or changed")
        if event_hash(event) != event.hash:
            return ChainCheck(False, count, event.pk, "its contents were changed after it was written")
        previous = event.hash
    return ChainCheck(True, count)


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of ``obj`` as plain JSON values, for ``before``/``after``."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def _plain(value: Any) -> Any:
    """JSON-safe form of a value (dates, decimals, models and collections included)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return {"id": value.pk, "repr": str(value)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


def verbs() -> dict[str, str]:
    """Every verb constant of this module, by constant name (``{"GRANT_CREATED": "access.grant_created", …}``).

    The audit page offers them as filter choices and the audit-completeness
    test walks them, so a verb added above is picked up by both.
    """
    return {
        name: value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, str) and _VERB_SHAPE.fullmatch(value)
    }


_VERB_SHAPE = re.compile(r"[a-z_]+\.[a-z_]+")
