"""The permissions pre-flight: what the portal's identity needs, read from the policies the repository ships,
and the plain result of checking it.

The least-privilege grants live as files in ``providers/policies/`` and are
the one source of what the portal needs:

- ``aws-portal-policy.json``: an IAM policy document for the role the portal
  assumes in each AWS account;
- ``azure-portal-role.json``: an Azure custom role definition (``az role
  definition create --role-definition @azure-portal-role.json`` after setting
  ``AssignableScopes``) for the portal's principal on the subscription;
- ``kubernetes-portal-role.json``: a ClusterRole for the identity the portal
  signs in to clusters with.

Each driver's ``check_access()`` reads what it needs from here, asks its
backend whether the portal's identity holds it, and answers an
:class:`AccessCheck`: whether everything needed is granted, and for each
missing item the exact grant to add. A check never changes anything in the
cloud or the cluster.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

POLICY_DIR = Path(__file__).resolve().parent / "policies"
AWS_POLICY_FILE = "aws-portal-policy.json"
AZURE_ROLE_FILE = "azure-portal-role.json"
KUBERNETES_ROLE_FILE = "kubernetes-portal-role.json"
POLICY_FILES = (AWS_POLICY_FILE, AZURE_ROLE_FILE, KUBERNETES_ROLE_FILE)


@dataclass(frozen=True)
class MissingGrant:
    """One permission the portal's identity lacks: the action (or verb on a resource) and what grants it."""

    action: str
    grant: str

    def as_json(self) -> dict[str, str]:
        return {"action": self.action, "grant": self.grant}


@dataclass(frozen=True)
class AccessCheck:
    """The answer of one pre-flight.

    ``ok`` only when every needed permission is granted. ``summary`` says in
    words what was found (the identity checked, or why it could not be
    checked); ``method`` how (``simulation``, ``probes``, ``permissions``,
    ``access-reviews``, ``sandbox``); ``checked`` how many permissions were
    asked about; ``missing`` what to grant.
    """

    ok: bool
    summary: str
    method: str
    checked: int = 0
    missing: tuple[MissingGrant, ...] = field(default_factory=tuple)
    identity: str = ""


@runtime_checkable
class AccessCheckable(Protocol):
    """A driver that can check its own identity's permissions."""

    def check_access(self) -> AccessCheck: ...


def check_access(driver: object) -> AccessCheck:
    """The driver's pre-flight; a driver that cannot check says so (not ok: nothing was verified)."""
    if isinstance(driver, AccessCheckable):
        return driver.check_access()
    return AccessCheck(
        ok=False, summary=f"{type(driver).__name__} cannot check its own permissions.", method="unsupported"
    )


@cache
def _load(name: str) -> Any:
    return json.loads((POLICY_DIR / name).read_text(encoding="utf-8"))


def policy_text(name: str) -> str:
    """The shipped file ``name`` as it is in the repository (one of :data:`POLICY_FILES`)."""
    if name not in POLICY_FILES:
        raise KeyError(name)
    return (POLICY_DIR / name).read_text(encoding="utf-8")


# ------------------------------------------------------------------ AWS


def aws_policy() -> dict[str, Any]:
    """The IAM policy document the portal's role needs."""
    policy: dict[str, Any] = _load(AWS_POLICY_FILE)
    return policy


def aws_actions() -> tuple[str, ...]:
    """Every IAM action the shipped policy allows, in file order, without repeats."""
    seen: dict[str, None] = {}
    for statement in aws_policy()["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            seen.setdefault(action, None)
    return tuple(seen)


def aws_allows(action: str, actions: Iterable[str] | None = None) -> bool:
    """Whether ``action`` (``service:Operation``) is among ``actions`` (the shipped policy's by default).

    IAM compares action names case-insensitively and expands ``*`` and ``?``.
    """
    wanted = action.lower()
    return any(fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in (actions or aws_actions()))


def aws_grant(action: str) -> str:
    """What an AWS administrator adds for one missing action."""
    return f'Allow "{action}" in the role\'s policy (providers/policies/{AWS_POLICY_FILE}).'


# ------------------------------------------------------------------ Azure


def azure_role() -> dict[str, Any]:
    """The Azure custom role definition the portal's principal needs."""
    role: dict[str, Any] = _load(AZURE_ROLE_FILE)
    return role


def azure_actions() -> tuple[str, ...]:
    """The control-plane actions of the shipped role."""
    return tuple(azure_role().get("Actions", []))


def azure_data_actions() -> tuple[str, ...]:
    """The data-plane actions of the shipped role (blobs, Key Vault keys)."""
    return tuple(azure_role().get("DataActions", []))


def _azure_match(action: str, pattern: str) -> bool:
    # Azure RBAC compares operations case-insensitively; "*" stands for any run of characters.
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def azure_permits(permissions: Sequence[Mapping[str, Any]], action: str, *, data: bool = False) -> bool:
    """Whether a principal with ``permissions`` may perform ``action``.

    ``permissions`` is the ``value`` of ARM's ``Microsoft.Authorization/permissions``
    listing: one entry per role assignment, each with ``actions`` and
    ``notActions`` (``dataActions`` / ``notDataActions`` for data actions).
    An entry grants what matches its actions and none of its not-actions
    ("NotActions ... are subtracted from the Actions"); the principal holds the
    union of its entries.
    """
    allowed_key, denied_key = ("dataActions", "notDataActions") if data else ("actions", "notActions")
    for entry in permissions:
        if any(_azure_match(action, pattern) for pattern in entry.get(allowed_key) or []) and not any(
            _azure_match(action, pattern) for pattern in entry.get(denied_key) or []
        ):
            return True
    return False


def azure_role_allows(action: str, *, data: bool = False) -> bool:
    """Whether the shipped role grants ``action`` (wildcards in the role expanded)."""
    return azure_permits([{"actions": azure_actions(), "dataActions": azure_data_actions()}], action, data=data)


def azure_grant(action: str, *, data: bool = False) -> str:
    """What an Azure administrator adds for one missing action."""
    where = "DataActions" if data else "Actions"
    return (
        f'Add "{action}" to the {where} of the principal\'s role, or assign the "{azure_role()["Name"]}" role '
        f"(providers/policies/{AZURE_ROLE_FILE})."
    )


# ------------------------------------------------------------------ Kubernetes


@dataclass(frozen=True)
class KubernetesPermission:
    """One verb on one resource of one API group ("" is the core group), cluster-wide."""

    group: str
    resource: str
    verb: str

    @property
    def label(self) -> str:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {resource}"


def kubernetes_role() -> dict[str, Any]:
    """The ClusterRole the portal's cluster identity needs."""
    role: dict[str, Any] = _load(KUBERNETES_ROLE_FILE)
    return role


def kubernetes_permissions() -> tuple[KubernetesPermission, ...]:
    """Every (group, resource, verb) of the shipped ClusterRole's rules."""
    return tuple(
        KubernetesPermission(group, resource, verb)
        for rule in kubernetes_role()["rules"]
        for group in rule.get("apiGroups", [""])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    )


def kubernetes_grant(permission: KubernetesPermission) -> str:
    """What a cluster administrator adds for one missing verb."""
    group = permission.group or '""'
    return (
        f'Allow verb "{permission.verb}" on "{permission.resource}" (apiGroup {group}) cluster-wide: bind the '
        f'ClusterRole "{kubernetes_role()["metadata"]["name"]}" (providers/policies/{KUBERNETES_ROLE_FILE}) to the '
        "portal's identity with a ClusterRoleBinding."
    )


def sandbox_check(what: str) -> AccessCheck:
    """The sandbox's answer: a simulated backend grants everything."""
    return AccessCheck(ok=True, summary=f"{what} is simulated: it grants everything.", method="sandbox")
