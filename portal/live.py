"""Pages that follow a subject while it is on its way somewhere: one mechanism for every kind of subject.

A page showing a subject that is still waiting (for an approval, a build, a pipeline) carries a small htmx poll
(``{% live_status "environment" environment %}``). The poll sends a stamp of what the page showed; the answer is
"204 No Content" while the subject is unchanged and, once it changed, an ``HX-Refresh`` that reloads the whole page,
so the status, the facts and the actions that still apply are all drawn afresh (never a panel beside a stale
header). A settled subject carries no poll. Seeing the subject goes through the same rule as its page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model
from django.http import Http404
from django.shortcuts import get_object_or_404

from access import policy
from access.models import User

# How often a waiting page asks (seconds): quick enough to feel live, and one indexed read by primary key.
POLL_SECONDS = 5


@dataclass(frozen=True)
class Subject:
    """A kind of subject a page can follow: how to find it for a person, what its page shows, when it waits."""

    find: Callable[[User, int], Model]  # the subject ``user`` may see, else Http404
    shown: tuple[str, ...]  # the fields whose change calls for the whole page again (progress has its own poll)
    waiting: frozenset[str]  # the statuses under which the page keeps asking

    def stamp(self, subject: Model) -> str:
        """A short fingerprint of what the page shows of ``subject`` (no data of it is readable from the stamp)."""
        text = "|".join(str(getattr(subject, name)) for name in self.shown)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def waits(self, subject: Model) -> bool:
        return str(getattr(subject, "status", "")) in self.waiting


def _visible(model_label: str) -> Callable[[User, int], Model]:
    """A finder through the policy, for a kind whose app has no selector of one by id."""

    def find(user: User, pk: int) -> Model:
        from django.apps import apps

        model = apps.get_model(model_label)
        found: Model = get_object_or_404(policy.restrict(model._default_manager.all(), user, policy.VIEW), pk=pk)
        return found

    return find


def _environment(user: User, pk: int) -> Model:
    from environments.selectors import environment_get

    return environment_get(user=user, pk=pk)


def _region_request(user: User, pk: int) -> Model:
    from regions.selectors import region_request_get

    return region_request_get(user=user, pk=pk)


def _failover(user: User, pk: int) -> Model:
    from regions.failover.services import failover_get

    return failover_get(user=user, pk=pk)


def _deployment(user: User, pk: int) -> Model:
    from deployments.selectors import deployment_get

    return deployment_get(user=user, pk=pk)


def _approval(user: User, pk: int) -> Model:
    from approvals.selectors import visible

    return visible(user, pk)


SUBJECTS: dict[str, Subject] = {
    "environment": Subject(
        _environment,
        ("status",),
        frozenset({"pending_approval", "provisioning", "tearing_down"}),
    ),
    "region-request": Subject(
        _region_request,
        ("status",),
        frozenset({"draft", "pending_approval", "approved", "building", "rolling_back"}),
    ),
    "failover": Subject(
        _failover,
        ("status",),
        frozenset({"pending_approval", "running"}),
    ),
    "rollback": Subject(
        _visible("deployments.RollbackRequest"),
        ("status",),
        frozenset({"pending_approval", "running"}),
    ),
    "deployment": Subject(
        _deployment,
        ("status", "smoke_test"),
        frozenset({"in_progress"}),
    ),
    "approval": Subject(_approval, ("status",), frozenset({"pending"})),
}


def subject_of(kind: str) -> Subject:
    try:
        return SUBJECTS[kind]
    except KeyError:
        raise Http404("Nothing of that kind is followed.") from None


def changed(user: User, kind: str, pk: int, seen: str) -> bool:
    """Whether the subject ``user`` sees no longer matches the stamp ``seen`` its page was drawn with."""
    subject = subject_of(kind)
    return subject.stamp(subject.find(user, pk)) != seen
