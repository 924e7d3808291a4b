"""The audit log: append-only, HMAC-chained, written in the same transaction as the change.

Every privileged action calls :func:`record` inside the transaction that
makes the change, so an event exists exactly when the change does. Each
event carries an HMAC-SHA256 over its fields and the previous event's hash,
made with a key that is never in the database (``PORTAL_AUDIT_KEYS``,
:mod:`access.audit.keys`): whoever can write the table but does not hold the
key cannot make an event that verifies. A PostgreSQL advisory lock
serialises writers so the chain has no forks; triggers refuse UPDATE,
DELETE and TRUNCATE; the application's own database role may only INSERT
and SELECT the table (:mod:`portal.database_roles`).

:func:`verify_chain` recomputes every MAC and names the first event that
does not verify. Signed checkpoints of the verified head are written outside
the database (``PORTAL_AUDIT_CHECKPOINT_DIR``), so a database rolled back
or rewritten behind the newest checkpoint is caught too.

Events written before the chain was keyed carry no key id and the plain
SHA-256 of the older chain; they may only form the start of the log, sealed
by one keyed :data:`AUDIT_CHAIN_KEYED` event that links to the last of them
(the migration that introduced the keys writes it). An unkeyed event
anywhere else was written behind the portal's back.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address
from django_guid import get_guid

from access.audit import keys as audit_keys
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
# The keyed event that seals the events of an installation written before the chain was keyed.
AUDIT_CHAIN_KEYED = "audit.chain_keyed"
# Secrets the portal holds (docs/operations.md, "Secrets"): set, replaced or removed (never the value), re-encrypted.
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
# Region provisioning: a request, its approval's outcome, the build-out run and what people do to it.
REGION_REQUESTED = "regions.requested"
REGION_BUILD_STARTED = "regions.build_started"
REGION_REJECTED = "regions.rejected"
REGION_BUILD_FINISHED = "regions.build_finished"
REGION_BUILD_RETRIED = "regions.build_retried"
REGION_ROLLBACK_STARTED = "regions.rollback_started"
REGION_REQUEST_CANCELLED = "regions.request_cancelled"
# The permissions pre-flight of a cloud account or cluster (ok or not, and how many grants are missing).
ACCESS_CHECKED = "regions.access_checked"
REGION_ZONE_CHANGED = "regions.zone_changed"  # a region moved to another residency zone or out of all
# Region failover: promoting a region's database replica in its DR partner, asked, decided, run.
FAILOVER_REQUESTED = "regions.failover_requested"
FAILOVER_REJECTED = "regions.failover_rejected"
FAILOVER_STARTED = "regions.failover_started"
FAILOVER_FINISHED = "regions.failover_finished"
FAILOVER_RETRIED = "regions.failover_retried"
FAILOVER_CANCELLED = "regions.failover_cancelled"
# Rollbacks and deploy freezes (deployments app).
ROLLBACK_REQUESTED = "deployments.rollback_requested"
ROLLBACK_REJECTED = "deployments.rollback_rejected"
ROLLBACK_STARTED = "deployments.rollback_started"
ROLLBACK_CANCELLED = "deployments.rollback_cancelled"
ROLLBACK_RETRIED = "deployments.rollback_retried"
ROLLBACK_FINISHED = "deployments.rollback_finished"
FREEZE_CREATED = "deployments.freeze_created"
FREEZE_ENDED = "deployments.freeze_ended"
PRICE_CREATED = "costs.price_created"
PRICE_CHANGED = "costs.price_changed"
PRICE_DELETED = "costs.price_deleted"
# A cluster's allocation table left the portal as CSV (costs app).
COST_ALLOCATION_EXPORTED = "costs.allocation_exported"
# Savings recommendations (costs/savings/services.py): dismissed, or snoozed until a date.
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
# A person read the last lines of a workload's container logs in its Kubernetes panel: which pod and containers,
# from which cluster and namespace (logs may hold personal data). Never the log's text.
WORKLOAD_LOGS_VIEWED = "deployments.logs_viewed"
# CI/CD webhook sources (deployments app): created, secret rotated (never the secret itself), deactivated.
WEBHOOK_SOURCE_CREATED = "deployments.webhook_source_created"
WEBHOOK_SECRET_ROTATED = "deployments.webhook_secret_rotated"  # noqa: S105 (a verb, not a secret)
WEBHOOK_SOURCE_DEACTIVATED = "deployments.webhook_source_deactivated"
# The explicit list of services a webhook source may write to (before and after, by slug).
WEBHOOK_SOURCE_SERVICES_SET = "deployments.webhook_source_services_set"
# The service catalogue (deployments app): services created, changed and deleted; a workload claimed for a service.
SERVICE_CREATED = "deployments.service_created"
SERVICE_CHANGED = "deployments.service_changed"
SERVICE_DELETED = "deployments.service_deleted"
WORKLOAD_CLAIMED = "deployments.workload_claimed"
# Scorecards (scorecards app): scorecards and their rules created, changed and deleted by platform admins, and a
# person's "re-evaluate now" (scheduled evaluations are not audited).
SCORECARD_CREATED = "scorecards.scorecard_created"
SCORECARD_CHANGED = "scorecards.scorecard_changed"
SCORECARD_DELETED = "scorecards.scorecard_deleted"
SCORECARD_RULE_CREATED = "scorecards.rule_created"
SCORECARD_RULE_CHANGED = "scorecards.rule_changed"
SCORECARD_RULE_DELETED = "scorecards.rule_deleted"
SCORECARD_EVALUATION_REQUESTED = "scorecards.evaluation_requested"
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
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor,
        actor_label=label[:200],
        verb=verb,
        object_type=object_type if object_type is not None else obj._meta.label_lower if obj is not None else "",
        object_id=object_id if object_id is not None else str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr if object_repr is not None else str(obj) if obj is not None else "")[:300],
        team=team,
        source_ip=_stored_ip(context.source_ip),
        request_id=(context.request_id or get_guid() or "")[:64],
        before=_plain(before),
        after=_plain(after),
        extra=_plain(extra) or {},
    )
    _append(event, AuditEvent)
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


def _append(event: AuditEvent, model: type[AuditEvent]) -> None:
    """Link ``event`` to the newest event, sign it with the first audit key and insert it.

    ``model`` is the model class to query: :class:`AuditEvent`, or its historical version in a migration.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        event.previous_hash = model.objects.order_by("-pk").values_list("hash", flat=True).first() or GENESIS
        key = signing_key()
        event.key_id = key.id
        event.hash = event_hash(event, key)
        event.save(force_insert=True)


@dataclass(frozen=True)
class AuditKey:
    """One configured audit key, by its public id, with the keys derived from it for each use."""

    id: str
    event_key: bytes
    checkpoint_key: bytes


@functools.lru_cache(maxsize=4)
def _keys(secrets: tuple[str, ...]) -> tuple[AuditKey, ...]:
    return tuple(
        AuditKey(
            audit_keys.key_id(secret),
            audit_keys.derived_key(secret, audit_keys.EVENT_LABEL),
            audit_keys.derived_key(secret, audit_keys.CHECKPOINT_LABEL),
        )
        for secret in secrets
    )


def configured_keys() -> tuple[AuditKey, ...]:
    """``PORTAL_AUDIT_KEYS``, newest first."""
    return _keys(tuple(settings.AUDIT_KEYS))


def signing_key() -> AuditKey:
    """The key that signs new events and checkpoints: the first configured."""
    return configured_keys()[0]


def key_named(key_id: str) -> AuditKey | None:
    """The configured key with this id; None when it is no longer (or never was) configured."""
    return next((key for key in configured_keys() if key.id == key_id), None)


def _canonical(event: AuditEvent, *, keyed: bool) -> bytes:
    """The event's fields and the previous hash in one canonical JSON form (the key id too, once keyed)."""
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
    if keyed:
        body["key_id"] = event.key_id
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent, key: AuditKey | None = None) -> str:
    """HMAC-SHA256 of the event with ``key`` (by default the configured key its ``key_id`` names)."""
    key = key or key_named(event.key_id)
    if key is None:
        raise LookupError(f"audit key {event.key_id!r} is not configured")
    return hmac.new(key.event_key, _canonical(event, keyed=True), hashlib.sha256).hexdigest()


def unkeyed_event_hash(event: AuditEvent) -> str:
    """The plain SHA-256 of the chain before it was keyed: only events written then are checked with it."""
    return hashlib.sha256(_canonical(event, keyed=False)).hexdigest()


CHANGED = "its contents were changed after it was written, or it was written without the audit key"
REMOVED = "an event before it was removed or changed"
UNSIGNED = "it carries no signature of the audit key: it was written behind the portal's back"


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of :func:`verify_chain`; ``head`` is the newest event verified (id and hash)."""

    verified: bool
    events: int
    first_bad_event: int | None = None
    problem: str = ""
    head: tuple[int, str] | None = None


def verify_chain() -> ChainCheck:
    """Recompute every MAC in order; report the first event that was changed, removed, inserted or forged."""
    previous = GENESIS
    count = 0
    head: tuple[int, str] | None = None
    keyed_seen = False
    first_unsealed: int | None = None  # the first of the unkeyed events no keyed seal has closed yet
    for event in AuditEvent.objects.order_by("pk").iterator(chunk_size=2000):
        count += 1
        if event.previous_hash != previous:
            return ChainCheck(False, count, event.pk, REMOVED)
        if not event.key_id:
            if keyed_seen:
                return ChainCheck(False, count, event.pk, UNSIGNED)
            if not hmac.compare_digest(unkeyed_event_hash(event), event.hash):
                return ChainCheck(False, count, event.pk, CHANGED)
            first_unsealed = first_unsealed or event.pk
        else:
            key = key_named(event.key_id)
            if key is None:
                problem = f"it was signed with audit key {event.key_id}, which PORTAL_AUDIT_KEYS no longer lists"
                return ChainCheck(False, count, event.pk, problem)
            if not hmac.compare_digest(event_hash(event, key), event.hash):
                return ChainCheck(False, count, event.pk, CHANGED)
            if first_unsealed is not None and event.verb != AUDIT_CHAIN_KEYED:
                return ChainCheck(False, count, first_unsealed, UNSIGNED)
            first_unsealed = None
            keyed_seen = True
        previous = event.hash
        head = (event.pk, event.hash)
    if first_unsealed is not None:
        return ChainCheck(False, count, first_unsealed, UNSIGNED)
    return ChainCheck(True, count, head=head)


def unkeyed_chain_seal(*, model: type[AuditEvent] = AuditEvent) -> AuditEvent | None:
    """Close the unkeyed events of an installation written before the chain was keyed with one keyed event.

    The seal's MAC covers the hash of the last unkeyed event, so none of them
    can be changed, dropped or added without breaking it, and no unkeyed event
    may follow it. Does nothing on an empty log or one whose newest event is
    already keyed. ``model`` is the historical model when a migration calls it.
    """
    newest = model.objects.order_by("-pk").values("pk", "key_id").first()
    if newest is None or newest["key_id"]:
        return None
    unkeyed = model.objects.filter(key_id="").count()
    event = model(
        occurred_at=timezone.now(),
        actor_label="system",
        verb=AUDIT_CHAIN_KEYED,
        object_type="access.auditevent",
        object_id=str(newest["pk"]),
        object_repr=f"the {unkeyed} events written before the audit log was keyed"[:300],
        request_id="",
        extra={"unkeyed_events": unkeyed},
    )
    _append(event, model)
    return event


# --- checkpoints outside the database ---------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """The verified head of the chain at one moment, signed with the audit key and kept outside the database."""

    database: str
    event_id: int
    hash: str
    events: int
    written_at: str
    key_id: str
    signature: str = ""

    def body(self) -> bytes:
        fields = {name: value for name, value in self.__dict__.items() if name != "signature"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


class CheckpointError(Exception):
    """The newest checkpoint cannot be read or trusted, or a new one cannot be written; the message says why."""


def checkpoint_file() -> Path:
    """This database's checkpoint file: one JSON line per checkpoint, newest last."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(connection.settings_dict["NAME"]))
    return Path(settings.AUDIT_CHECKPOINT_DIR) / f"{name}.checkpoints.jsonl"


def _signature(checkpoint: Checkpoint, key: AuditKey) -> str:
    return hmac.new(key.checkpoint_key, checkpoint.body(), hashlib.sha256).hexdigest()


def checkpoint_latest() -> Checkpoint | None:
    """The newest checkpoint of this database, its signature checked; None when none was written yet."""
    path = checkpoint_file()
    try:
        with path.open("rb") as lines:
            last = b""
            for line in lines:
                last = line.strip() or last
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CheckpointError(f"the checkpoint file {path} cannot be read: {error.strerror}") from None
    if not last:
        return None
    try:
        checkpoint = Checkpoint(**json.loads(last))
    except (ValueError, TypeError):
        raise CheckpointError(f"the newest checkpoint in {path} is not a checkpoint: the file was altered") from None
    key = key_named(checkpoint.key_id)
    if key is None:
        raise CheckpointError(
            f"the newest checkpoint in {path} was signed with audit key {checkpoint.key_id}, "
            "which PORTAL_AUDIT_KEYS no longer lists"
        )
    if not hmac.compare_digest(_signature(checkpoint, key), checkpoint.signature):
        raise CheckpointError(f"the signature of the newest checkpoint in {path} does not match: the file was altered")
    return checkpoint


def checkpoint_check(checkpoint: Checkpoint) -> str:
    """Why the database does not hold the checkpoint's event as it was signed ("" when it does)."""
    stored = AuditEvent.objects.filter(pk=checkpoint.event_id).values_list("hash", flat=True).first()
    if stored == checkpoint.hash:
        return ""
    return (
        f"the database was rolled back or altered behind the signed checkpoint of {checkpoint.written_at}: "
        f"event #{checkpoint.event_id} is {'gone' if stored is None else 'not the one it signed'}"
    )


def checkpoint_write(check: ChainCheck) -> Checkpoint:
    """Append a signed checkpoint of a verified chain's head to this database's checkpoint file."""
    if not check.verified or check.head is None:
        raise ValueError("only the head of a verified, non-empty chain is checkpointed")
    key = signing_key()
    unsigned = Checkpoint(
        database=str(connection.settings_dict["NAME"]),
        event_id=check.head[0],
        hash=check.head[1],
        events=check.events,
        written_at=timezone.now().isoformat(),
        key_id=key.id,
    )
    checkpoint = Checkpoint(**{**unsigned.__dict__, "signature": _signature(unsigned, key)})
    path = checkpoint_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with path.open("ab") as lines:
            lines.write(json.dumps(checkpoint.__dict__, sort_keys=True).encode() + b"\n")
            lines.flush()
            os.fsync(lines.fileno())
    except OSError as error:
        raise CheckpointError(f"no checkpoint could be written to {path}: {error.strerror}") from None
    return checkpoint


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


# What the pages call a verb: derived from it (the app's subject, then the action in words), except these.
_VERB_WORDS = {
    SIGN_IN: "Signed in",
    SIGN_IN_FAILED: "Sign-in failed",
    SIGN_OUT: "Signed out",
    USER_EMAIL_CHANGED: "E-mail changed by the identity provider",
    JWT_ISSUED: "API session token issued",
    JWT_REVOKED: "API session token revoked",
    TOKEN_CREATED: "API token created",
    TOKEN_REVOKED: "API token revoked",
    IDENTITY_LINKED: "SSO identity linked",
    IDENTITY_UNLINKED: "SSO identity unlinked",
    SSO_RULE_CREATED: "SSO rule created",
    SSO_RULE_CHANGED: "SSO rule changed",
    SSO_RULE_DELETED: "SSO rule deleted",
    REVIEW_OPENED: "Access review opened",
    REVIEW_DECIDED: "Access review item decided",
    REVIEW_CLOSED: "Access review closed",
    AUDIT_EXPORTED: "Audit log exported",
    AUDIT_CHAIN_KEYED: "Audit chain keyed",
    APPROVAL_GIVEN: "Approval given",
    CLOUD_SECRET_SET: "Cloud account secret set",
    SECRETS_REENCRYPTED: "Stored secrets re-encrypted",
    CLUSTER_CREDENTIALS_SET: "Cluster credentials set",
    ACCESS_CHECKED: "Cloud access checked",
    REGION_ZONE_CHANGED: "Region moved to another residency zone",
    TEAM_LIMITS_SET: "Team limits set",
    TEAM_LIMITS_REMOVED: "Team limits removed",
    ENVIRONMENT_FINISHED: "Environment run finished",
    ENVIRONMENT_EXPIRY_SET: "Environment expiry set",
    COST_ALLOCATION_EXPORTED: "Cluster cost allocation exported",
    COSTS_TEAM_EXPORTED: "Team costs exported",
    COSTS_EXPORTED: "Cost breakdown exported",
    COSTS_REATTRIBUTED: "Costs re-attributed",
    COST_UPLOADED: "Cost file uploaded",
    DEPLOYMENTS_SYNC_REQUESTED: "Cluster sync requested",
    WEBHOOK_SOURCE_SERVICES_SET: "Webhook source's services set",
    ADMIN_OBJECT_ADDED: "Added in the admin site",
    ADMIN_OBJECT_CHANGED: "Changed in the admin site",
    ADMIN_OBJECT_DELETED: "Deleted in the admin site",
}
# The app part of a verb -> the subject its one-word actions are about ("regions.requested": a region).
_VERB_SUBJECTS = {
    "environments": "environment",
    "regions": "region",
    "approvals": "approval",
    "teams": "team",
}


def verb_label(verb: str) -> str:
    """A verb in words for a page: "regions.build_started" -> "Region build started"."""
    if verb in _VERB_WORDS:
        return _VERB_WORDS[verb]
    app, _, action = verb.partition(".")
    words = action.replace("_", " ")
    subject = _VERB_SUBJECTS.get(app, "")
    if subject and not words.startswith(subject):
        words = f"{subject} {words}"
    return words[:1].upper() + words[1:] if words else verb
