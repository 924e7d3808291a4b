"""Enumerations of environment templates."""

from __future__ import annotations

from django.db import models


class NamespaceGroup(models.TextChoices):
    """The namespaces an environment may get (spec 4.1); a template picks a subset."""

    CORE_SERVICES = "core-services", "core-services"
    STUDENT_SERVICES = "student-services", "student-services"
    TUTOR_SERVICES = "tutor-services", "tutor-services"
    ADMIN_SERVICES = "admin-services", "admin-services"
    ANALYTICS = "analytics", "analytics"
    MONITORING = "monitoring", "monitoring"


class Approval(models.TextChoices):
    """Who must approve a request from a template before it is provisioned."""

    NONE = "none", "No approval"
    TEAM_LEAD = "team_lead", "Team lead"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"


# Stronger approvals come later: a platform admin's approval satisfies a need for a team lead's.
APPROVAL_STRENGTH = {Approval.NONE: 0, Approval.TEAM_LEAD: 1, Approval.PLATFORM_ADMIN: 2}


class Size(models.TextChoices):
    """Sizes a template offers: its quota times the size's multiplier."""

    SMALL = "S", "Small"
    MEDIUM = "M", "Medium"
    LARGE = "L", "Large"


class EnvironmentStatus(models.TextChoices):
    """Where an environment is in its life."""

    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    TEARING_DOWN = "tearing_down", "Tearing down"
    TORN_DOWN = "torn_down", "Torn down"
    CANCELLED = "cancelled", "Cancelled"


# Environments that hold (or may soon hold) resources: they count against the team's limits and keep
# their name. A rejected, cancelled-before-anything or torn-down one holds nothing.
ENDED = (EnvironmentStatus.REJECTED, EnvironmentStatus.TORN_DOWN, EnvironmentStatus.CANCELLED)
LIVE = tuple(status for status in EnvironmentStatus if status not in ENDED)


# The longest lifetime an environment can be given or extended by: a year. Longer is what production is for.
MAX_LIFETIME_HOURS = 24 * 365
LIFETIME_TOO_LONG = f"A lifetime is at most {MAX_LIFETIME_HOURS:,} hours (a year)."
