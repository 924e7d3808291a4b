"""The action vocabulary of the policy and the built-in roles.

A permission is ``"<domain>.<action>"``: the domain is what a model declares
with :func:`access.scoping.scoped` (``inventory``, ``teams``, ``access``,
``audit``…), the action a verb (``view``, ``add``, ``change``, ``delete``,
``approve``…). A role is a named set of permissions; ``"*"`` means every
permission and ``"<domain>.*"`` every action in a domain.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

VIEW = "view"
ADD = "add"
CHANGE = "change"
DELETE = "delete"
EXPORT = "export"
APPROVE = "approve"
REQUEST = "request"
ROLLBACK = "rollback"
LOGS = "logs"
REVIEW = "review"
ADMIN_SITE = "admin_site"
RESIDENCY = "residency"
PLATFORM_ADMIN = "platform_admin"

# Every permission a role may list, with what it lets people do. Later apps
# add their domains here; a role naming anything else is refused.
PERMISSIONS: dict[str, str] = {
    "inventory.view": "See cloud accounts, regions, clusters, namespaces and centre servers",
    "inventory.add": "Register cloud accounts, regions, clusters and centre servers",
    "inventory.change": "Change the inventory",
    "inventory.delete": "Remove inventory objects",
    "inventory.approve": "Approve new regions and other requests about the inventory",
    "inventory.residency": "Move a cloud region into another residency zone or out of every zone",
    "teams.view": "See teams and who is in them",
    "teams.add": "Create teams",
    "teams.change": "Add and remove team members",
    "teams.delete": "Delete teams",
    "access.view": "See roles, grants, SSO rules and access reviews",
    "access.add": "Grant access and define roles and SSO rules",
    "access.change": "Change roles and SSO rules",
    "access.delete": "Revoke grants, delete roles and SSO rules",
    "access.review": "Confirm or revoke grants in an access review",
    "audit.view": "Read the audit log",
    "audit.export": "Export the audit log",
    "templates.view": "See environment templates and their cost estimates",
    "templates.add": "Create environment templates",
    "templates.change": "Change environment templates",
    "templates.delete": "Deactivate environment templates",
    "environments.view": "See environments",
    "environments.request": "Request environments",
    "environments.change": "Extend and tear down environments",
    "environments.approve": "Approve environment requests",
    "deployments.view": "See services, workloads and deployments",
    "deployments.change": "Edit the service catalogue",
    "deployments.rollback": "Roll workloads back",
    "deployments.logs": "Read the container logs of workloads, from their clusters (the Kubernetes panel)",
    "deployments.approve": "Approve production rollbacks",
    "costs.view": "See costs",
    "costs.export": "Export costs",
    "costs.change": "Set budgets, team limits and the price table (rate cards)",
    "scorecards.view": "See scorecards and their rules",
    "scorecards.add": "Create scorecards and add rules to them",
    "scorecards.change": "Change scorecards and their rules, and re-evaluate services against them",
    "scorecards.delete": "Delete scorecards and their rules",
    "admin.admin_site": "Open the Django admin",
    "platform.admin": "Count as a platform admin: give the approval only a platform admin may give (production "
    "environments, templates that ask for one) and see the platform's inventory on the home page",
}

# Actions about the platform as a whole, each its own permission, asked about no object:
# ``policy.can(user, PLATFORM_ADMIN)``. Holding ``*`` (the built-in platform admin role) includes them.
PLATFORM_PERMISSIONS: dict[str, str] = {ADMIN_SITE: "admin.admin_site", PLATFORM_ADMIN: "platform.admin"}

DOMAINS = sorted({permission.split(".", 1)[0] for permission in PERMISSIONS})


def is_known(permission: str) -> bool:
    """Whether a role may list ``permission`` (an exact permission or a wildcard)."""
    if permission == "*":
        return True
    domain, _, action = permission.partition(".")
    if action == "*":
        return domain in DOMAINS
    return permission in PERMISSIONS


def allows(permissions: frozenset[str], permission: str) -> bool:
    """Whether a role's permission set covers ``permission``."""
    if "*" in permissions or permission in permissions:
        return True
    return f"{permission.split('.', 1)[0]}.*" in permissions


class BuiltinRole(models.TextChoices):
    """The roles every portal starts with (DESIGN.md, "Who uses it"). Admins can define more."""

    VIEWER = "viewer", "Viewer"
    DEVELOPER = "developer", "Developer"
    TEAM_LEAD = "team_lead", "Team lead (approver)"
    MANAGER = "manager", "Manager (cost viewer)"
    PLATFORM_ADMIN = "platform_admin", "Platform admin"
    AUDITOR = "auditor", "Auditor"


@dataclass(frozen=True)
class RoleDefinition:
    slug: str
    name: str
    description: str
    permissions: tuple[str, ...]
    everyone: bool = False


# What is expected of every service is public: everyone reads the scorecards' rules (a service's results are
# seen by whoever may see the service).
_VIEWER = ("inventory.view", "teams.view", "templates.view", "scorecards.view")
_DEVELOPER = (
    *_VIEWER,
    "environments.view",
    "environments.request",
    "environments.change",
    "deployments.view",
    "deployments.change",
    "deployments.rollback",
    "deployments.logs",
    "costs.view",
)

BUILTIN_ROLES = [
    RoleDefinition(
        BuiltinRole.VIEWER,
        BuiltinRole.VIEWER.label,
        "Reads the platform inventory, the team directory, the environment templates and the scorecards' rules. "
        "Every active user holds it.",
        _VIEWER,
        everyone=True,
    ),
    RoleDefinition(
        BuiltinRole.DEVELOPER,
        BuiltinRole.DEVELOPER.label,
        "Requests and runs environments, deploys and rolls back, sees the cost of what they run.",
        _DEVELOPER,
    ),
    RoleDefinition(
        BuiltinRole.TEAM_LEAD,
        BuiltinRole.TEAM_LEAD.label,
        "A developer who also approves requests, manages the team's members and reviews its access.",
        (*_DEVELOPER, "environments.approve", "deployments.approve", "teams.change", "access.view", "access.review"),
    ),
    RoleDefinition(
        BuiltinRole.MANAGER,
        BuiltinRole.MANAGER.label,
        "Reviews cloud spend, budgets and forecasts, and exports them.",
        (*_VIEWER, "environments.view", "deployments.view", "costs.view", "costs.export", "costs.change"),
    ),
    RoleDefinition(
        BuiltinRole.PLATFORM_ADMIN,
        BuiltinRole.PLATFORM_ADMIN.label,
        "Runs the platform: may do everything.",
        ("*",),
    ),
    RoleDefinition(
        BuiltinRole.AUDITOR,
        BuiltinRole.AUDITOR.label,
        "Reads the audit log, every grant and the access-review history; changes nothing.",
        (*_VIEWER, "access.view", "audit.view", "audit.export"),
    ),
]
