"""Users, teams, roles and scoped grants, SSO mapping rules, API tokens, the
audit log and access reviews.

Who may do what is data: a :class:`Grant` binds a user or a whole team to a
:class:`Role` (a named set of permissions), limited by attributes of the
objects it covers (a team, a region, a residency zone, environment tiers) and
optionally by time. :mod:`access.policy` is the only code that reads grants
to decide.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from access import permissions
from access.scoping import scoped
from portal.bounds import bounded_text
from regions.choices import ResidencyZone


class Tier(models.TextChoices):
    """Environment tiers (spec 6.1); grants may be limited to some of them."""

    DEVELOPMENT = "development", "Development"
    TEST = "test", "Test"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


def full_name() -> Concat:
    """A person's first and last name as one text: what the portal's search matches and its index holds."""
    return Concat("first_name", Value(" "), "last_name", output_field=models.CharField())


@scoped("teams")
class User(AbstractUser):
    """A person who signs in to the portal, locally (break-glass) or through SSO."""

    class Meta:
        ordering = ["username"]
        # Trigram indexes (pg_trgm) for the portal's search, which matches the same expressions.
        indexes = [
            GinIndex(fields=["username"], opclasses=["gin_trgm_ops"], name="user_username_trgm"),
            GinIndex(OpClass(full_name(), name="gin_trgm_ops"), name="user_full_name_trgm"),
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def choice_label(self) -> str:
        """How a picker names the person: their name, with the username that tells two of the same name apart."""
        name = self.get_full_name()
        return f"{name} ({self.username})" if name else self.username

    @property
    def initials(self) -> str:
        """Up to two letters for the header's account menu: of the first and last name, else of the username."""
        letters = "".join(part[0] for part in (self.first_name.strip(), self.last_name.strip()) if part)
        return (letters or self.username[:1]).upper()


@scoped("teams", team="pk")
class Team(models.Model):
    """A group of people who own environments, services and spend, and where their data must stay.

    The residency zone is a constraint on environment requests (the admission policy refuses a region
    outside it), set only by those who may create teams (a team cannot lift its own constraint) and
    only while none of the team's live environments lies outside it.
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    description = bounded_text(blank=True)
    residency_zone = models.CharField(
        max_length=2,
        choices=ResidencyZone.choices,
        blank=True,
        help_text="Where the team's environments and data must stay (spec 10.3); a request in a region of another "
        "zone is refused. Empty: no constraint. It cannot be set while a live environment of the team lies outside "
        "it: the portal moves no environment, so tear those down first.",
    )
    members = models.ManyToManyField(User, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]
        indexes = [
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="team_name_trgm"),
            GinIndex(fields=["slug"], opclasses=["gin_trgm_ops"], name="team_slug_trgm"),
        ]

    def __str__(self) -> str:
        return self.name


@scoped("teams", team="team")
class Membership(models.Model):
    """A user's place in a team. Membership alone grants nothing; grants to the team do."""

    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        LEAD = "lead", "Lead"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Memberships made by an SSO rule are removed by the next sign-in whose claims no longer match.
    sso_rule = models.ForeignKey(
        "SsoRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="memberships"
    )

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_team_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"


@scoped("access")
class Role(models.Model):
    """A named set of permissions (see :mod:`access.permissions`)."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = bounded_text(blank=True)
    permissions = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    builtin = models.BooleanField(default=False, help_text="Shipped with the portal; its permissions are fixed.")
    everyone = models.BooleanField(
        default=False, help_text="Every active user holds this role everywhere, without a grant."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = [permission for permission in self.permissions if not permissions.is_known(permission)]
        if unknown:
            raise ValidationError({"permissions": f"Unknown permissions: {', '.join(unknown)}."})

    @property
    def permission_set(self) -> frozenset[str]:
        return frozenset(self.permissions)


class GrantQuerySet(models.QuerySet["Grant"]):
    def active(self) -> GrantQuerySet:
        """Grants in force now: not revoked and not expired."""
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), revoked_at__isnull=True)


@scoped("access", team="team", region="region", zone="zone")
class Grant(models.Model):
    """A user or every member of a team holds a role on the objects matching the limits.

    Limits are ANDed: a grant limited to team T and tiers {development, test}
    covers T's development and test environments only. A grant with no limit
    covers everything. An object that lacks a limited attribute (a region has
    no team) is not covered.
    """

    class Source(models.TextChoices):
        MANUAL = "manual", "Granted by hand"
        SSO = "sso", "SSO rule"

    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="grants")
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="grants")
    grantee_team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="team_grants",
        help_text="Every member of this team holds the grant.",
    )
    # Limits (the ABAC half). Empty means unlimited.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="scoped_grants")
    region = models.ForeignKey("regions.Region", on_delete=models.CASCADE, null=True, blank=True, related_name="grants")
    zone = models.CharField(max_length=2, choices=ResidencyZone.choices, blank=True)
    tiers = ArrayField(models.CharField(max_length=16, choices=Tier.choices), default=list, blank=True)

    reason = bounded_text()
    expires_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    sso_rule = models.ForeignKey("SsoRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="grants")
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="grants_given")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="grants_revoked")
    revoke_reason = bounded_text(blank=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, grantee_team__isnull=True)
                | Q(user__isnull=True, grantee_team__isnull=False),
                name="grant_has_one_grantee",
            ),
        ]
        indexes = [models.Index(fields=["user", "revoked_at"]), models.Index(fields=["grantee_team", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.role} for {self.grantee_label} on {self.scope_label}"

    @property
    def grantee_label(self) -> str:
        if self.user_id is not None:
            return str(self.user)
        return f"members of {self.grantee_team}"

    @property
    def scope_label(self) -> str:
        """The limits in words: "everything", or e.g. "team Core Platform, EU zone, tiers development/test"."""
        limits: list[str] = []
        if self.team_id is not None:
            limits.append(f"team {self.team}")
        if self.region_id is not None:
            limits.append(f"region {self.region}")
        if self.zone:
            limits.append(f"{self.zone} zone")
        if self.tiers:
            limits.append("tiers " + "/".join(self.tiers))
        return ", ".join(limits) or "everything"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def clean(self) -> None:
        if (self.user_id is None) == (self.grantee_team_id is None):
            raise ValidationError("A grant goes to exactly one user or one team.")
        if self.expires_at is not None and self.expires_at <= timezone.now():
            raise ValidationError({"expires_at": "The expiry must be in the future."})
        if not self.reason.strip():
            raise ValidationError({"reason": "Say why this access is needed; the reason is kept as evidence."})
        unknown = set(self.tiers) - set(Tier.values)
        if unknown:
            raise ValidationError({"tiers": f"Unknown tiers: {', '.join(sorted(unknown))}."})


@scoped("access")
class SsoRule(models.Model):
    """Maps an IdP claim value to a team membership and/or a grant, re-applied at every sign-in.

    A rule matches when the claim (e.g. ``groups``) equals the value or, for a
    list claim, contains it. What a rule gave and no longer matches is removed
    at the next sign-in, so access removed in the IdP is removed here.
    """

    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, blank=True, help_text="SSO provider id; empty matches every provider.")
    claim = models.CharField(max_length=100, default="groups")
    value = models.CharField(max_length=300)
    enabled = models.BooleanField(default=True)
    # What a match gives.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="sso_rules")
    membership_role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, null=True, blank=True, related_name="sso_rules")
    scope_team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Limit the grant to this team's objects.",
    )
    scope_region = models.ForeignKey(
        "regions.Region", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    scope_zone = models.CharField(max_length=2, choices=ResidencyZone.choices, blank=True)
    scope_tiers = ArrayField(models.CharField(max_length=16, choices=Tier.choices), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.team_id is None and self.role_id is None:
            raise ValidationError("A rule must add a team membership, grant a role, or both.")

    def matches(self, provider: str, claims: dict[str, Any]) -> bool:
        if not self.enabled or (self.provider and self.provider != provider):
            return False
        claimed = claims.get(self.claim)
        if isinstance(claimed, list | tuple | set):
            return self.value in {str(item) for item in claimed}
        return claimed is not None and str(claimed) == self.value


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


@scoped("tokens", team="team")
class ApiToken(models.Model):
    """A named token for automation, acting for its owner with at most one role on one team.

    Only a hash of the secret is stored; the secret is shown once, at creation.
    ``prefix`` (the first characters of the token) finds the row and is safe to show.
    """

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="api_tokens")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_token_name_per_owner")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


@scoped("audit")
class AuditEvent(models.Model):
    """One privileged action: append-only, HMAC-chained.

    ``hash`` is an HMAC-SHA256, with the audit key named by ``key_id``, over
    the event's fields and the previous event's hash, so an edited, removed
    or inserted row breaks the chain and a row written without the key never
    verifies (:func:`access.audit.services.verify_chain`). Database triggers refuse
    UPDATE, DELETE and TRUNCATE on this table. Events written before the
    chain was keyed have an empty ``key_id`` and a plain SHA-256 ``hash``.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    actor_label = models.CharField(max_length=200, blank=True, help_text="Who acted, as named when they acted.")
    verb = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The id of the audit key that signed the event (access.audit.keys.key_id); empty before the chain was keyed.
    key_id = models.CharField(max_length=16, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.verb} {self.object_repr}"


@scoped("access")
class AccessReview(models.Model):
    """A review campaign: team leads confirm or revoke every grant on their team by the deadline."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="access_reviews_opened")
    opened_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The outcome kept as evidence once closed: counts and every decision, frozen.
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]

    def __str__(self) -> str:
        return self.name


@scoped("access", team="team")
class AccessReviewItem(models.Model):
    """One grant to confirm or revoke in a review, decided by a lead of ``team``."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired unreviewed"

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="review_items")
    # Empty: the platform bucket, for grants that concern no team (decided by platform admins).
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="review_items")
    # The grant as it was when the review opened (who, what role, which limits), kept as evidence.
    snapshot = models.JSONField(default=dict)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="review_decisions"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = bounded_text(blank=True)

    class Meta:
        ordering = ["team__name", "pk"]
        constraints = [models.UniqueConstraint(fields=["review", "grant"], name="unique_grant_per_review")]

    def __str__(self) -> str:
        return f"{self.review}: {self.grant}"
