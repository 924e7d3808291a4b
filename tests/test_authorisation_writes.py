"""Who may change what: every form and API action that changes something, sent a valid body by every persona.

The authorisation matrix (tests/test_authorisation_matrix.py) checks the answer each persona gets from each URL;
this module checks what a write *does*. For every route that takes a POST, PUT, PATCH or DELETE (found by walking
the URL configuration, so a new one without a line in ``WRITES`` fails ``test_every_write_has_a_case``), each
persona sends a body the form or serializer accepts:

- a persona the policy allows gets a 2xx or 3xx, the change is in the database (what ``observe`` reads moved)
  and, for a privileged action, an audit event was written;
- a persona it does not allow gets 403 or 404, and nothing changed: ``observe`` reads the same, no audit event
  was written and no row of any table was inserted, updated or deleted (the session's own bookkeeping aside);
- an anonymous visitor is sent to sign in (pages) or asked to authenticate (API), and nothing changed.

A case is a row of the table: who may, how to build its target from the demo, the body, and what to read to see
the change. The target is built once per action; each persona's attempt runs in a savepoint rolled back after it
(and with the cache emptied), so every persona starts from the same state. Adding a new action is adding a row.

The Django admin is left out: its pages ask the same policy per model (``access.backends.PolicyBackend``), and
its writes are checked where they are audited (tests/access/test_audit_completeness.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from access.models import (
    AccessReview,
    AccessReviewItem,
    ApiToken,
    AuditEvent,
    Grant,
    Membership,
    Role,
    SsoRule,
    Team,
    User,
)
from portal.demo import Persona, username_of
from regions.models import CloudAccount, Cluster, Region
from tests import test_authorisation_matrix as matrix

# The demo, loaded once for the module; each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

ADMIN = Persona.PLATFORM_ADMIN
DEVELOPER = Persona.DEVELOPER
LEAD = Persona.TEAM_LEAD
MANAGER = Persona.MANAGER
AUDITOR = Persona.AUDITOR
EVERYONE = frozenset(Persona)
UNSAFE = ("post", "put", "patch", "delete")


# --- what a case is ------------------------------------------------------------------------------------------


@dataclass
class Target:
    """What a case acts on: the URL's keyword arguments and the object whose change it reads (if one)."""

    kwargs: dict[str, str] = field(default_factory=dict)
    obj: Any = None


@dataclass(frozen=True)
class Write:
    """One action that changes something: who may, its target, a valid body, and how the change shows."""

    allowed: frozenset[Persona]
    observe: Callable[[Target], object]
    target: Callable[[], Target] = Target
    body: Callable[[Target], dict[str, Any]] = lambda target: {}
    # Privileged actions write an audit event; marking one's own notifications read is not one.
    audited: bool = True
    # A file is sent as a form (multipart), built again for each persona; the API otherwise takes JSON.
    multipart: bool = False


def who(*personas: Persona) -> frozenset[Persona]:
    return frozenset(personas)


def kwargs_of(make: Callable[[], dict[str, str]], model: type[Model] | None = None) -> Callable[[], Target]:
    """A target from one of the authorisation matrix's builders (its URL arguments), with the object they name."""

    def build() -> Target:
        kwargs = make()
        obj = model._default_manager.get(pk=kwargs["pk"]) if model is not None and "pk" in kwargs else None
        return Target(kwargs, obj)

    return build


def count(model: type[Model], **lookup: Any) -> Callable[[Target], object]:
    """How many rows match: a creation adds one, a deletion takes one away."""
    return lambda target: model._default_manager.filter(**lookup).count()


def count_of(model_path: str, **lookup: Any) -> Callable[[Target], object]:
    """``count`` for a model named "app.Model", imported when the case runs."""

    def read(target: Target) -> object:
        from django.apps import apps

        return apps.get_model(model_path)._default_manager.filter(**lookup).count()

    return read


def fields(*names: str) -> Callable[[Target], object]:
    """The target object's fields as stored now (None once it is deleted)."""

    def read(target: Target) -> object:
        return type(target.obj)._default_manager.filter(pk=target.obj.pk).values_list(*names).first()

    return read


def user(persona: Persona) -> User:
    return User.objects.get(username=username_of(persona))


def team(slug: str = "student-experience") -> Team:
    return Team.objects.get(slug=slug)


def in_a_week() -> str:
    return (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")


# --- a form as its page shows it --------------------------------------------------------------------------------


class _FormValues(HTMLParser):
    """The values a browser would submit with the page's form that posts to ``path`` (or to the page itself)."""

    def __init__(self, path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.path = path
        self.inside = False
        self.found = False
        self.values: dict[str, list[str]] = {}
        self.select: str | None = None
        self.select_first: str | None = None
        self.select_chosen = False
        self.option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and not self.found:
            posts = attributes.get("method", "get").lower() == "post"
            self.inside = posts and attributes.get("action", "") in {"", self.path}
            self.found = self.inside
        if not self.inside:
            return
        name = attributes.get("name", "")
        if tag == "input" and name and "disabled" not in attributes:
            kind = attributes.get("type", "text").lower()
            if kind in {"submit", "button", "file", "image", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attributes:
                return
            self.values.setdefault(name, []).append(attributes.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name and "disabled" not in attributes:
            self.select, self.select_first, self.select_chosen = name, None, False
            self.values.setdefault(name, [])
        elif tag == "option" and self.select is not None:
            value = attributes.get("value", "")
            if self.select_first is None:
                self.select_first = value
            if "selected" in attributes:
                self.values[self.select].append(value)
                self.select_chosen = True
        elif tag == "textarea" and name and "disabled" not in attributes:
            self.textarea = name
            self.values[name] = [""]

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.values[self.textarea][0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select is not None:
            if not self.select_chosen and self.select_first is not None:
                self.values[self.select].append(self.select_first)
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def shown_form(target: Target, url_name: str, **changes: Any) -> dict[str, Any]:
    """The form of the page at ``url_name`` as the platform admin sees it filled in, with ``changes`` made."""
    client = Client()
    client.force_login(user(ADMIN))
    path = reverse(url_name, kwargs=target.kwargs)
    page = client.get(path)
    assert page.status_code == 200, f"{path} answered {page.status_code} to the platform admin"
    parser = _FormValues(path)
    parser.feed(page.content.decode())
    assert parser.found, f"{path} shows no form that posts to it"
    values: dict[str, Any] = {name: found[0] if len(found) == 1 else found for name, found in parser.values.items()}
    values.update(changes)
    return values


def form(url_name: str, **changes: Any) -> Callable[[Target], dict[str, Any]]:
    """The target's form as its page shows it, with ``changes`` made."""
    return lambda target: shown_form(target, url_name, **changes)


def copy_of(source: Callable[[], Target], url_name: str, **changes: Any) -> Callable[[Target], dict[str, Any]]:
    """For a creation: another object's edit form as its page shows it, with ``changes`` making it a new one."""
    return lambda target: shown_form(source(), url_name, **changes)


# --- the cases ------------------------------------------------------------------------------------------------

# --- access administration: platform admins, and a team's lead on their own team --------------------------


def a_custom_role() -> Target:
    role = Role.objects.create(slug="release-manager", name="Release manager", permissions=["inventory.view"])
    return Target({"pk": str(role.pk)}, role)


def a_developer_token() -> Target:
    from tests.factories import ApiTokenFactory

    token = ApiTokenFactory.create(owner=user(DEVELOPER))
    return Target({"token_id": str(token.pk)}, token)


def the_developer_in_student_experience() -> Target:
    membership = Membership.objects.get(team__slug="student-experience", user__username=username_of(DEVELOPER))
    return Target(matrix.developer_in_student_experience(), membership)


def someone_outside_student_experience() -> User:
    outsider = User.objects.exclude(memberships__team__slug="student-experience").order_by("username").first()
    assert outsider is not None
    return outsider


ACCESS_WRITES: dict[str, Write] = {
    "access:team_create": Write(
        who(ADMIN),
        count(Team, slug="exam-services"),
        body=lambda target: {"slug": "exam-services", "name": "Exam services"},
    ),
    "access:team_edit": Write(
        who(ADMIN, LEAD),
        fields("name"),
        kwargs_of(matrix.student_experience, Team),
        form("access:team_edit", name="Student Experience and Exams"),
    ),
    "access:team_member_set": Write(
        who(ADMIN, LEAD),
        count(Membership, team__slug="student-experience"),
        kwargs_of(matrix.student_experience, Team),
        lambda target: {"user": someone_outside_student_experience().pk, "role": "member"},
    ),
    "access:team_member_role": Write(
        who(ADMIN, LEAD), fields("role"), the_developer_in_student_experience, lambda target: {"role": "lead"}
    ),
    "access:team_member_remove": Write(who(ADMIN, LEAD), fields("pk"), the_developer_in_student_experience),
    "access:role_create": Write(
        who(ADMIN),
        count(Role, slug="cost-reader"),
        body=lambda target: {"slug": "cost-reader", "name": "Cost reader", "permissions": ["costs.view"]},
    ),
    "access:role_edit": Write(who(ADMIN), fields("name"), a_custom_role, form("access:role_edit", name="Releases")),
    "access:role_delete": Write(who(ADMIN), fields("pk"), a_custom_role),
    "access:grant_create": Write(
        who(ADMIN),
        count(Grant, user__username=username_of(DEVELOPER), team__slug="tutor-tools"),
        body=lambda target: {
            "grantee_user": user(DEVELOPER).pk,
            "role": Role.objects.get(slug="developer").pk,
            "team": team("tutor-tools").pk,
            "expires_at": in_a_week(),
            "reason": "Covering for Tutor Tools during the exam week.",
        },
    ),
    "access:grant_revoke": Write(
        who(ADMIN),
        fields("revoked_at"),
        kwargs_of(matrix.student_experience_grant, Grant),
        lambda target: {"reason": "The team moved to SSO groups."},
    ),
    "access:sso_rule_create": Write(
        who(ADMIN),
        count(SsoRule, value="eng-exams"),
        body=lambda target: {
            "name": "Exams engineering",
            "claim": "groups",
            "value": "eng-exams",
            "enabled": "on",
            "team": team().pk,
            "membership_role": "member",
        },
    ),
    "access:sso_rule_edit": Write(
        who(ADMIN), fields("value"), kwargs_of(matrix.sso_rule, SsoRule), form("access:sso_rule_edit", value="eng-x")
    ),
    "access:sso_rule_toggle": Write(who(ADMIN), fields("enabled"), kwargs_of(matrix.sso_rule, SsoRule)),
    "access:sso_rule_delete": Write(who(ADMIN), fields("pk"), kwargs_of(matrix.sso_rule, SsoRule)),
    "access:review_open": Write(
        who(ADMIN),
        count(AccessReview, name="Exam-week review"),
        body=lambda target: {"name": "Exam-week review", "deadline": in_a_week()},
    ),
    "access:review_close": Write(who(ADMIN), fields("status"), kwargs_of(matrix.review, AccessReview)),
    "access:review_item_decide": Write(
        who(ADMIN, LEAD),
        fields("decision"),
        kwargs_of(matrix.student_experience_review_item, AccessReviewItem),
        lambda target: {"decision": "confirmed", "note": "Still on the team."},
    ),
    # Everyone may make tokens for themselves, carrying a role they hold on the token's team: everyone holds the
    # viewer role everywhere.
    "access:tokens": Write(
        EVERYONE,
        count(ApiToken, name="deploy pipeline"),
        body=lambda target: {
            "name": "deploy pipeline",
            "team": team().pk,
            "role": Role.objects.get(slug="viewer").pk,
            "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        },
    ),
    "access:token_revoke": Write(who(DEVELOPER, ADMIN), fields("revoked_at"), a_developer_token),
    # "Verify now" asks a worker to verify the audit chain (audit readers); the answer is the chain's state.
    "access:audit-chain": Write(who(AUDITOR, ADMIN), lambda target: _verification_asked(), audited=False),
}


def _verification_asked() -> bool:
    from django.core.cache import cache

    from access.audit.tasks import REQUESTED_KEY

    return cache.get(REQUESTED_KEY) is not None


# --- notifications and approvals ------------------------------------------------------------------------------


def a_developer_notification() -> Target:
    from notifications.models import Notification

    kwargs = matrix.developers_notification()
    return Target(kwargs, Notification.objects.get(pk=kwargs["pk"]))


def a_notification_for_everyone() -> Target:
    from notifications.models import Notification

    for persona in Persona:
        Notification.objects.create(recipient=user(persona), title="Maintenance tonight", url="/")
    return Target()


def unread_notifications(target: Target) -> object:
    from notifications.models import Notification

    return Notification.objects.filter(read_at__isnull=True).count()


def a_developer_region_approval() -> Target:
    from approvals.models import ApprovalRequest

    kwargs = matrix.developers_region_approval()
    return Target(kwargs, ApprovalRequest.objects.get(pk=kwargs["pk"]))


NOTIFICATION_AND_APPROVAL_WRITES: dict[str, Write] = {
    "notifications:read": Write(who(DEVELOPER), fields("read_at"), a_developer_notification, audited=False),
    "notifications:open": Write(who(DEVELOPER), fields("read_at"), a_developer_notification, audited=False),
    "notifications:mark_all_read": Write(EVERYONE, unread_notifications, a_notification_for_everyone, audited=False),
    # A region's approval is decided by who may approve inventory (platform admins); the requester withdraws it.
    "approvals:decide": Write(
        who(ADMIN), fields("status"), a_developer_region_approval, lambda target: {"verdict": "approve"}
    ),
    "approvals:withdraw": Write(who(DEVELOPER, ADMIN), fields("status"), a_developer_region_approval),
    # The same by API: one's own notification, or all of one's own (not a privileged action: not audited).
    "notification-read": Write(who(DEVELOPER), fields("read_at"), a_developer_notification, audited=False),
    "notification-read-all": Write(EVERYONE, unread_notifications, a_notification_for_everyone, audited=False),
}


# --- environments, their templates and their team's limits ------------------------------------------------
# A student-experience environment is changed by its team (developer, lead) and the platform admin; the manager
# sees it but may not (403), the auditor does not see it (404). Templates are the platform admin's; team limits
# are in the costs domain (managers and the platform admin).


def a_requested_environment(status: str | None = None, *, failed_run: bool = False) -> Target:
    """The developer's preview environment of student-experience, as requested (provisioning), then as told."""
    from environments import services as environment_services
    from environments.models import Environment, EnvironmentTemplate
    from regions.models import Cluster
    from workflows.models import Run, RunStatus

    environment = environment_services.environment_request(
        actor=user(DEVELOPER),
        team=team(),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        name="exam-preview",
        size="S",
        ttl_hours=None,
    )
    if failed_run:
        run = environment_services.provisioning_run(environment)
        assert run is not None
        Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="The cloud said no.")
    if status is not None:
        Environment.objects.filter(pk=environment.pk).update(status=status)
    return Target({"pk": str(environment.pk)}, Environment.objects.get(pk=environment.pk))


def a_ready_environment() -> Target:
    return a_requested_environment("ready")


def a_failed_environment() -> Target:
    return a_requested_environment("failed", failed_run=True)


def the_staging_template() -> Target:
    from environments.models import EnvironmentTemplate

    return Target(matrix.a_template(), EnvironmentTemplate.objects.get(slug="staging"))


def student_experience_limits() -> Target:
    return Target(matrix.student_experience_limits(), team())


def the_limits_of(target: Target) -> object:
    from environments.models import TeamLimits

    return TeamLimits.objects.filter(team=target.obj).values_list("max_environments", "max_monthly_estimate").first()


def environment_request_body(target: Target) -> dict[str, Any]:
    from environments.models import EnvironmentTemplate
    from regions.models import Cluster

    return {
        "name": "exam-preview",
        "team": team().pk,
        "template": EnvironmentTemplate.objects.get(slug="preview").pk,
        "cluster": Cluster.objects.get(name="eks-eu-west-1").pk,
        "size": "S",
        "ttl_hours": "",
        "idempotency_key": "exam-preview-once",
    }


ENVIRONMENT_CHANGERS = who(DEVELOPER, LEAD, ADMIN)

ENVIRONMENT_WRITES: dict[str, Write] = {
    "environments:request": Write(
        ENVIRONMENT_CHANGERS,
        lambda target: _environments_named("exam-preview"),
        body=environment_request_body,
    ),
    "environments:teardown": Write(
        ENVIRONMENT_CHANGERS,
        fields("status"),
        a_ready_environment,
        lambda target: {"confirm_name": target.obj.name},
    ),
    "environments:cancel": Write(ENVIRONMENT_CHANGERS, fields("status"), a_requested_environment),
    "environments:retry": Write(ENVIRONMENT_CHANGERS, fields("status"), a_failed_environment),
    "environments:extend": Write(
        ENVIRONMENT_CHANGERS, fields("expires_at"), a_requested_environment, lambda target: {"hours": 24}
    ),
    "environments:template_create": Write(
        who(ADMIN),
        lambda target: _templates_named("exam-week"),
        # A copy of the staging template, as its edit page shows it, under another name.
        body=copy_of(the_staging_template, "environments:template_edit", name="Exam week", slug="exam-week"),
    ),
    "environments:template_edit": Write(
        who(ADMIN),
        fields("description"),
        the_staging_template,
        form("environments:template_edit", description="Staging, as close to production as it gets."),
    ),
    "environments:template_deactivate": Write(who(ADMIN), fields("active"), the_staging_template),
    "environments:team_limits_edit": Write(
        who(MANAGER, ADMIN),
        the_limits_of,
        student_experience_limits,
        lambda target: {"max_environments": 7, "max_monthly_estimate": "4321.00", "currency": "USD"},
    ),
}


def _environments_named(name: str) -> int:
    from environments.models import Environment

    return Environment.objects.filter(name=name).count()


def _templates_named(slug: str) -> int:
    from environments.models import EnvironmentTemplate

    return EnvironmentTemplate.objects.filter(slug=slug).count()


# --- scorecards: the platform admin's ----------------------------------------------------------------------


def the_demo_scorecard() -> Target:
    from scorecards.models import Scorecard

    kwargs = matrix.the_demo_scorecard()
    return Target(kwargs, Scorecard.objects.get(pk=kwargs["pk"]))


def a_demo_rule() -> Target:
    from scorecards.models import ScorecardRule

    kwargs = matrix.a_demo_rule()
    return Target(kwargs, ScorecardRule.objects.get(pk=kwargs["pk"]))


def scorecard_rules(target: Target) -> object:
    from scorecards.models import ScorecardRule

    return ScorecardRule.objects.count()


def audit_events_of(verb: str) -> Callable[[Target], object]:
    """For an action whose only lasting trace is asking a worker to do something: its audit events."""
    return lambda target: AuditEvent.objects.filter(verb=verb).count()


SCORECARD_WRITES: dict[str, Write] = {
    "scorecards:create": Write(
        who(ADMIN),
        lambda target: _scorecards_named("Exam readiness"),
        body=lambda target: {"name": "Exam readiness", "description": "Ready for the exam week."},
    ),
    "scorecards:edit": Write(
        who(ADMIN), fields("description"), the_demo_scorecard, form("scorecards:edit", description="Renamed.")
    ),
    "scorecards:delete": Write(who(ADMIN), fields("pk"), the_demo_scorecard),
    "scorecards:evaluate": Write(who(ADMIN), audit_events_of("scorecards.evaluation_requested"), the_demo_scorecard),
    "scorecards:rule_create": Write(
        who(ADMIN),
        scorecard_rules,
        the_demo_scorecard,
        lambda target: {"kind": "deployed_within", "level": "gold", "days": 3, "description": "Deployed this week."},
    ),
    "scorecards:rule_edit": Write(
        who(ADMIN), fields("description"), a_demo_rule, form("scorecards:rule_edit", description="Reworded.")
    ),
    "scorecards:rule_delete": Write(who(ADMIN), fields("pk"), a_demo_rule),
}


def _scorecards_named(name: str) -> int:
    from scorecards.models import Scorecard

    return Scorecard.objects.filter(name=name).count()


# --- costs: prices, budgets, sources and rules (managers and the platform admin), savings ---------------------


def a_price() -> Target:
    from costs.models import PriceItem

    kwargs = matrix.a_price()
    return Target(kwargs, PriceItem.objects.get(pk=kwargs["pk"]))


def prices(target: Target) -> object:
    from costs.models import PriceItem

    return PriceItem.objects.count()


def a_budget() -> Target:
    from costs.models import Budget

    kwargs = matrix.a_student_experience_budget()
    return Target(kwargs, Budget.objects.get(pk=kwargs["pk"]))


def budgets_named(name: str) -> Callable[[Target], object]:
    from costs.models import Budget

    return lambda target: Budget.objects.filter(name=name).count()


def a_cost_source() -> Target:
    from costs.models import CostSource

    kwargs = matrix.a_cost_source()
    return Target(kwargs, CostSource.objects.get(pk=kwargs["pk"]))


def cost_sources_named(name: str) -> Callable[[Target], object]:
    from costs.models import CostSource

    return lambda target: CostSource.objects.filter(name=name).count()


def an_attribution_rule() -> Target:
    from costs.models import AttributionRule

    kwargs = matrix.an_attribution_rule()
    return Target(kwargs, AttributionRule.objects.get(pk=kwargs["pk"]))


def attribution_rules(target: Target) -> object:
    from costs.models import AttributionRule

    return AttributionRule.objects.count()


def a_recommendation() -> Target:
    from costs.models import Recommendation

    kwargs = matrix.a_student_experience_recommendation()
    return Target(kwargs, Recommendation.objects.get(pk=kwargs["pk"]))


def its_environments_expiry(target: Target) -> object:
    from environments.models import Environment

    return Environment.objects.filter(pk=target.obj.environment_id).values_list("expires_at", flat=True).first()


def workflow_runs(target: Target) -> object:
    from workflows.models import Run

    return Run.objects.count()


def an_upload(target: Target) -> dict[str, Any]:
    """A FOCUS file of two days' charges, into a new upload source."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.costs.focus_files import focus_csv, focus_row

    rows = [focus_row("2026-11-01", "100.00"), focus_row("2026-11-02", "8.75")]
    return {
        "new_source": "finance-upload",
        "file": SimpleUploadedFile("bill.csv", focus_csv(rows).encode(), content_type="text/csv"),
    }


COST_CHANGERS = who(MANAGER, ADMIN)

COST_WRITES: dict[str, Write] = {
    "costs:price_create": Write(
        COST_CHANGERS,
        prices,
        # The same price from a later date: a new row of the price table.
        body=lambda target: shown_form(
            a_price(), "costs:price_edit", effective_from=(timezone.localdate() + timedelta(days=30)).isoformat()
        ),
    ),
    "costs:price_edit": Write(
        COST_CHANGERS, fields("note"), a_price, form("costs:price_edit", note="Checked against the invoice.")
    ),
    "costs:price_delete": Write(COST_CHANGERS, fields("pk"), a_price),
    "costs:budget_create": Write(
        COST_CHANGERS, budgets_named("Exam week"), body=copy_of(a_budget, "costs:budget_edit", name="Exam week")
    ),
    "costs:budget_edit": Write(COST_CHANGERS, fields("amount"), a_budget, form("costs:budget_edit", amount="2500")),
    "costs:budget_delete": Write(COST_CHANGERS, fields("pk"), a_budget),
    "costs:source_create": Write(
        COST_CHANGERS,
        cost_sources_named("azure-focus"),
        body=copy_of(a_cost_source, "costs:source_edit", name="azure-focus", prefix="azure/"),
    ),
    "costs:source_edit": Write(
        COST_CHANGERS, fields("prefix"), a_cost_source, form("costs:source_edit", prefix="exports/")
    ),
    "costs:source_import": Write(COST_CHANGERS, workflow_runs, a_cost_source),
    "costs:rules": Write(
        COST_CHANGERS,
        attribution_rules,
        body=lambda target: {"kind": "tag", "key": "cost-center", "value": "cc-77", "priority": 50, "team": team().pk},
    ),
    "costs:rule_delete": Write(COST_CHANGERS, fields("pk"), an_attribution_rule),
    "costs:upload": Write(
        COST_CHANGERS, count_of("costs.CostSource", name="finance-upload"), body=an_upload, multipart=True
    ),
    "costs:reattribute": Write(
        COST_CHANGERS,
        audit_events_of("costs.reattributed"),
        body=lambda target: {"since": (timezone.localdate() - timedelta(days=30)).isoformat()},
    ),
    "costs:savings_dismiss": Write(COST_CHANGERS, fields("status"), a_recommendation),
    "costs:savings_snooze": Write(COST_CHANGERS, fields("status", "snoozed_until"), a_recommendation),
    # Setting the lifetime a recommendation names is a change to its environment: the environment's changers.
    "costs:savings_set_ttl": Write(ENVIRONMENT_CHANGERS, its_environments_expiry, a_recommendation),
    # The same by API, through the same services.
    "savings-dismiss": Write(COST_CHANGERS, fields("status"), a_recommendation),
    "savings-snooze": Write(
        COST_CHANGERS, fields("status", "snoozed_until"), a_recommendation, lambda target: {"days": 7}
    ),
    "savings-set-ttl": Write(ENVIRONMENT_CHANGERS, its_environments_expiry, a_recommendation),
}


# --- deployments: the catalogue, CI sources, freezes and syncs ----------------------------------------------
# Changed by holders of deployments.change (or environments.change, for freezes) on the team: the developer,
# the lead and the platform admin; the manager sees but may not (403), the auditor sees nothing (404).


def the_student_portal() -> Target:
    from deployments.models import Service

    return Target(matrix.a_student_experience_service(), Service.objects.get(slug="student-portal"))


def services_named(slug: str) -> Callable[[Target], object]:
    from deployments.models import Service

    return lambda target: Service.objects.filter(slug=slug).count()


def a_webhook_source() -> Target:
    from deployments.models import WebhookSource

    kwargs = matrix.a_student_experience_webhook_source()
    return Target(kwargs, WebhookSource.objects.get(pk=kwargs["pk"]))


def its_services(target: Target) -> object:
    return sorted(target.obj.services.values_list("pk", flat=True))


def a_freeze() -> Target:
    from deployments.models import FreezeWindow

    kwargs = matrix.a_student_experience_freeze()
    return Target(kwargs, FreezeWindow.objects.get(pk=kwargs["pk"]))


def freezes(target: Target) -> object:
    from deployments.models import FreezeWindow

    return FreezeWindow.objects.count()


def an_unmatched_workload() -> Target:
    from deployments.models import Workload

    kwargs = matrix.an_unmatched_student_experience_workload()
    return Target(kwargs, Workload.objects.get(pk=kwargs["pk"]))


def the_demo_eks_cluster() -> Target:
    from regions.models import Cluster

    cluster = Cluster.objects.get(name="eks-eu-west-1")
    return Target({"pk": str(cluster.pk)}, cluster)


def freeze_body(target: Target) -> dict[str, Any]:
    from environments.models import Environment

    starts = timezone.localtime() + timedelta(days=1)
    return {
        "environment": Environment.objects.get(pk=matrix.a_student_experience_environment()["pk"]).pk,
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (starts + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "Exam week: no deployments.",
    }


def a_workload_to_roll_back() -> Target:
    """A staging workload of student-experience whose cluster keeps two revisions (tests/deployments/)."""
    from providers.sandbox.cluster import SandboxClusterDriver
    from regions.drivers import cluster_driver_for
    from regions.models import Cluster
    from tests.deployments.cluster_objects import IMAGES, seed_deployment
    from tests.deployments.test_rollback import workload

    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", IMAGES)
    row = workload(cluster, user(DEVELOPER))
    return Target({"pk": str(row.pk)}, row)


def a_rollback(*, tier: str, failed: bool = False) -> Target:
    """A rollback of student-experience's checkout: waiting for approval (production), or failed at its step."""
    from deployments.models import RollbackRequest
    from deployments.rollbacks.services import rollback_request
    from providers.sandbox.cluster import SandboxClusterDriver
    from regions.drivers import cluster_driver_for
    from regions.models import Cluster
    from tests.deployments.cluster_objects import IMAGES, seed_deployment
    from tests.deployments.test_rollback import workload
    from workflows.models import Run, RunStatus, StepStatus

    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", IMAGES)
    row = workload(cluster, user(DEVELOPER), tier=tier)
    rollback = rollback_request(actor=user(DEVELOPER), workload_id=row.pk, to_revision=1, reason="checkout 500s")
    if failed:
        run = Run.objects.get(key=f"rollback:{rollback.pk}")
        run.steps.filter(position=1).update(status=StepStatus.FAILED, error="the cluster did not answer")
        Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="the cluster did not answer")
        RollbackRequest.objects.filter(pk=rollback.pk).update(status="failed")
    return Target({"pk": str(rollback.pk)}, rollback)


CATALOGUE_CHANGERS = who(DEVELOPER, LEAD, ADMIN)

DEPLOYMENT_WRITES: dict[str, Write] = {
    "deployments:service_create": Write(
        CATALOGUE_CHANGERS,
        services_named("exam-portal"),
        body=copy_of(the_student_portal, "deployments:service_edit", slug="exam-portal", name="Exam portal"),
    ),
    "deployments:service_edit": Write(
        CATALOGUE_CHANGERS,
        fields("description"),
        the_student_portal,
        form("deployments:service_edit", description="Where students sit their exams."),
    ),
    "deployments:service_delete": Write(CATALOGUE_CHANGERS, fields("pk"), the_student_portal),
    "deployments:workload_claim": Write(
        CATALOGUE_CHANGERS,
        fields("service"),
        an_unmatched_workload,
        lambda target: {"service": the_student_portal().obj.pk},
    ),
    "deployments:hook_create": Write(
        CATALOGUE_CHANGERS,
        lambda target: _webhook_sources_named("exam-gitlab"),
        body=lambda target: {"name": "exam-gitlab", "provider": "gitlab", "team": team().pk},
    ),
    "deployments:hook_rotate": Write(CATALOGUE_CHANGERS, fields("secret"), a_webhook_source),
    "deployments:hook_deactivate": Write(CATALOGUE_CHANGERS, fields("active"), a_webhook_source),
    "deployments:hook_services": Write(
        CATALOGUE_CHANGERS,
        its_services,
        a_webhook_source,
        lambda target: {"services": [the_student_portal().obj.pk]},
    ),
    "deployments:freezes": Write(ENVIRONMENT_CHANGERS, freezes, body=freeze_body),
    "deployments:freeze_end": Write(ENVIRONMENT_CHANGERS, fields("ends_at"), a_freeze),
    "deployments:cluster_sync": Write(CATALOGUE_CHANGERS, workflow_runs, the_demo_eks_cluster),
    "deployments:rollback_new": Write(
        CATALOGUE_CHANGERS,
        count_of("deployments.RollbackRequest"),
        a_workload_to_roll_back,
        lambda target: {"to_revision": "1", "reason": "checkout answers 500", "idempotency_key": "roll-once"},
    ),
    "deployments:rollback_cancel": Write(CATALOGUE_CHANGERS, fields("status"), lambda: a_rollback(tier="production")),
    "deployments:rollback_retry": Write(
        CATALOGUE_CHANGERS, fields("status"), lambda: a_rollback(tier="staging", failed=True)
    ),
}


def _webhook_sources_named(name: str) -> int:
    from deployments.models import WebhookSource

    return WebhookSource.objects.filter(name=name).count()


# --- regions: the platform admin's (inventory.add, inventory.change, inventory.residency) --------------------


def queued_for_workers(target: Target) -> object:
    """What the request asked workers to do once it commits (each test's transaction never does)."""
    return len(connection.run_on_commit)


def a_region_request() -> Target:
    from regions.models import RegionRequest

    kwargs = matrix.a_region_request()
    request = RegionRequest.objects.get(pk=kwargs["pk"])
    RegionRequest.objects.filter(pk=request.pk).update(status="pending_approval")
    return Target(kwargs, request)


def a_failed_region_build() -> Target:
    """A region request whose build-out failed at its first step."""
    from regions import services as region_services
    from regions.models import RegionRequest
    from regions.plan import region_plan
    from regions.workflows import BUILD, build_params
    from workflows import engine
    from workflows.models import Run, RunStatus

    target = a_region_request()
    request = target.obj
    run = engine.start(
        BUILD,
        key=region_services.build_key(request),
        subject=request,
        params=build_params(request.pk, [resource.as_step() for resource in region_plan(request).resources]),
    )
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="The cloud said no.")
    RegionRequest.objects.filter(pk=request.pk).update(status="failed")
    return target


def a_region_with_a_replica() -> Target:
    """The demo's eu-west-1, its database and the replica in its DR partner made in this test's sandbox cloud."""
    from regions.demo import load_demo_region_resources

    load_demo_region_resources()
    return Target(matrix.a_region_with_a_partner())


def a_failover() -> Target:
    from regions.models import FailoverRequest

    kwargs = matrix.a_failover()
    return Target(kwargs, FailoverRequest.objects.get(pk=kwargs["pk"]))


def a_replicated_region() -> Target:
    """As ``a_region_with_a_replica``, for the API: the region itself, which the body names."""
    a_region_with_a_replica()
    return Target(obj=Region.objects.get(provider="aws", code="eu-west-1"))


def a_failed_failover() -> Target:
    """The demo admin's failover of eu-west-1, approved by the two other admins, failed at its first step."""
    from approvals import services as approvals
    from approvals.models import ApprovalRequest
    from regions.failover import services as failovers
    from regions.models import FailoverRequest, Region
    from workflows.models import Run, RunStatus

    a_region_with_a_replica()
    failover = failovers.failover_request_create(
        actor=user(ADMIN), region_id=Region.objects.get(provider="aws", code="eu-west-1").pk, reason="Down."
    )
    approval = ApprovalRequest.objects.get(subject_id=str(failover.pk), status="pending")
    for approver in ("admin2", "admin3"):
        approvals.decide(approval.pk, approver=User.objects.get(username=approver), approve=True)
    run = failovers.failover_run(failover)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="The cloud said no.")
    FailoverRequest.objects.filter(pk=failover.pk).update(status="failed")
    return Target({"pk": str(failover.pk)}, failover)


def a_waiting_failover() -> Target:
    target = a_failover()
    type(target.obj).objects.filter(pk=target.obj.pk).update(status="pending_approval")
    return target


REGION_ADMINS = who(ADMIN)

REGION_WRITES: dict[str, Write] = {
    # Checking a region's health asks a worker; the worker writes what it finds.
    "regions:check": Write(REGION_ADMINS, queued_for_workers, lambda: Target(matrix.demo_region()), audited=False),
    "regions:account_check_access": Write(
        REGION_ADMINS, count_of("regions.AccessCheckResult"), lambda: Target(matrix.an_aws_account())
    ),
    "regions:cluster_check_access": Write(
        REGION_ADMINS, count_of("regions.AccessCheckResult"), lambda: Target(matrix.demo_cluster())
    ),
    "regions:request_create": Write(
        REGION_ADMINS,
        count_of("regions.RegionRequest", code="eu-south-1"),
        body=lambda target: shown_form(
            Target(),
            "regions:request_create",
            provider="aws",
            code="eu-south-1",
            residency_zone="EU",
            dr_partner_code="eu-west-3",
            justification="Closer to the students in Italy.",
        ),
    ),
    "regions:request_cancel": Write(REGION_ADMINS, fields("status"), a_region_request),
    "regions:request_retry": Write(REGION_ADMINS, fields("status"), a_failed_region_build),
    "regions:request_rollback": Write(REGION_ADMINS, fields("status"), a_failed_region_build),
    "regions:zones": Write(
        REGION_ADMINS,
        count_of("regions.ZoneOverride"),
        body=lambda target: {"region": "aws/eu-south-2", "zone": "outside", "reason": "No legal entity there."},
    ),
    "regions:failover_create": Write(
        REGION_ADMINS,
        count_of("regions.FailoverRequest"),
        a_region_with_a_replica,
        lambda target: {"reason": "eu-west-1 is down.", "idempotency_key": "fail-eu-west-1-once"},
    ),
    "regions:failover_cancel": Write(REGION_ADMINS, fields("status"), a_waiting_failover),
    "regions:failover_retry": Write(REGION_ADMINS, fields("status"), a_failed_failover),
}


# --- the API: the same actions as the pages, each allowed to the same people -------------------------------


def shown_by_the_api(target: Target, detail_route: str, **changes: Any) -> dict[str, Any]:
    """The object as the API shows it to the platform admin, with ``changes``: a body to send back or copy.

    The read-only fields it carries (its id, its times) are ignored by the API on the way in.
    """
    client = Client()
    client.force_login(user(ADMIN))
    shown = client.get(reverse(detail_route, kwargs=target.kwargs))
    assert shown.status_code == 200, f"{detail_route} answered {shown.status_code} to the platform admin"
    return {**shown.json(), **changes}


def api_copy(source: Callable[[], Target], detail_route: str, **changes: Any) -> Callable[[Target], dict[str, Any]]:
    return lambda target: shown_by_the_api(source(), detail_route, **changes)


def api_changed(detail_route: str, **changes: Any) -> Callable[[Target], dict[str, Any]]:
    return lambda target: shown_by_the_api(target, detail_route, **changes)


def the_student_portal_api() -> Target:
    from deployments.models import Service

    kwargs = matrix.a_student_experience_service_api()
    return Target(kwargs, Service.objects.get(pk=kwargs["pk"]))


def a_developer_token_api() -> Target:
    target = a_developer_token()
    return Target({"pk": target.kwargs["token_id"]}, target.obj)


def an_upload_source() -> Target:
    from costs.models import CostSource

    source = CostSource.objects.create(name="finance-upload", kind="upload")
    return Target({"pk": str(source.pk)}, source)


def cost_loads(target: Target) -> object:
    from costs.models import CostLoad

    return CostLoad.objects.filter(source=target.obj).count()


def an_upload_file(target: Target) -> dict[str, Any]:
    return {"file": an_upload(target)["file"]}


def region_request_body(target: Target) -> dict[str, Any]:
    from tests.regions.test_region_requests import api_data

    return api_data()


def freeze_api_body(target: Target) -> dict[str, Any]:
    body = freeze_body(target)
    starts = timezone.now() + timedelta(days=1)
    return {**body, "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(days=2)).isoformat()}


API_WRITES: dict[str, Write] = {
    # Tokens: everyone, for themselves; a token is revoked by its owner or whoever may revoke access.
    "apitoken-list": Write(
        EVERYONE,
        count(ApiToken, name="deploy pipeline"),
        body=lambda target: {
            "name": "deploy pipeline",
            "team": "student-experience",
            "role": "viewer",
            "expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
        },
    ),
    "apitoken-detail DELETE": Write(who(DEVELOPER, ADMIN), fields("revoked_at"), a_developer_token_api),
    "approvalrequest-decide": Write(
        who(ADMIN), fields("status"), a_developer_region_approval, lambda target: {"verdict": "approve"}
    ),
    "approvalrequest-withdraw": Write(who(DEVELOPER, ADMIN), fields("status"), a_developer_region_approval),
    # Environments, as their pages.
    "environment-list": Write(
        ENVIRONMENT_CHANGERS,
        lambda target: _environments_named("exam-preview"),
        body=lambda target: {
            "name": "exam-preview",
            "team": "student-experience",
            "template": "preview",
            "cluster": the_demo_eks_cluster().obj.pk,
            "size": "S",
        },
    ),
    "environment-teardown": Write(ENVIRONMENT_CHANGERS, fields("status"), a_ready_environment),
    "environment-cancel": Write(ENVIRONMENT_CHANGERS, fields("status"), a_requested_environment),
    "environment-retry": Write(ENVIRONMENT_CHANGERS, fields("status"), a_failed_environment),
    "environment-extend": Write(
        ENVIRONMENT_CHANGERS, fields("expires_at"), a_requested_environment, lambda target: {"hours": 24}
    ),
    # The service catalogue.
    "service-list": Write(
        CATALOGUE_CHANGERS,
        services_named("exam-portal"),
        body=api_copy(the_student_portal_api, "service-detail", slug="exam-portal", name="Exam portal"),
    ),
    "service-detail PUT": Write(
        CATALOGUE_CHANGERS,
        fields("description"),
        the_student_portal_api,
        api_changed("service-detail", description="Where students sit their exams."),
    ),
    "service-detail PATCH": Write(
        CATALOGUE_CHANGERS, fields("name"), the_student_portal_api, lambda target: {"name": "Student portal 2"}
    ),
    "service-detail DELETE": Write(CATALOGUE_CHANGERS, fields("pk"), the_student_portal_api),
    # Freezes and rollbacks.
    "freezewindow-list": Write(ENVIRONMENT_CHANGERS, freezes, body=freeze_api_body),
    "freezewindow-end": Write(ENVIRONMENT_CHANGERS, fields("ends_at"), a_freeze),
    "rollbackrequest-list": Write(
        CATALOGUE_CHANGERS,
        count_of("deployments.RollbackRequest"),
        lambda: Target(obj=a_workload_to_roll_back().obj),
        lambda target: {"workload": target.obj.pk, "to_revision": 1, "reason": "checkout answers 500"},
    ),
    # Budgets, cost sources and attribution rules: managers and the platform admin.
    "budget-list": Write(
        COST_CHANGERS, budgets_named("Exam week"), body=api_copy(a_budget, "budget-detail", name="Exam week")
    ),
    "budget-detail PUT": Write(COST_CHANGERS, fields("amount"), a_budget, api_changed("budget-detail", amount="2500")),
    "budget-detail PATCH": Write(COST_CHANGERS, fields("amount"), a_budget, lambda target: {"amount": "2500"}),
    "budget-detail DELETE": Write(COST_CHANGERS, fields("pk"), a_budget),
    "costsource-list": Write(
        COST_CHANGERS,
        cost_sources_named("azure-focus"),
        body=api_copy(a_cost_source, "costsource-detail", name="azure-focus", prefix="azure/"),
    ),
    "costsource-detail PATCH": Write(COST_CHANGERS, fields("prefix"), a_cost_source, lambda target: {"prefix": "x/"}),
    "costsource-import-now": Write(COST_CHANGERS, workflow_runs, a_cost_source),
    "costsource-upload": Write(COST_CHANGERS, cost_loads, an_upload_source, an_upload_file, multipart=True),
    "attributionrule-list": Write(
        COST_CHANGERS,
        attribution_rules,
        body=lambda target: {"kind": "tag", "key": "cost-center", "value": "cc-77", "priority": 50, "team": team().pk},
    ),
    "attributionrule-detail DELETE": Write(COST_CHANGERS, fields("pk"), an_attribution_rule),
    # Regions: the platform admin's.
    "cloudaccount-check-access": Write(
        REGION_ADMINS, count_of("regions.AccessCheckResult"), lambda: Target(matrix.first_of(CloudAccount)())
    ),
    "cluster-check-access": Write(
        REGION_ADMINS, count_of("regions.AccessCheckResult"), lambda: Target(matrix.first_of(Cluster)())
    ),
    "regionrequest-list": Write(
        REGION_ADMINS, count_of("regions.RegionRequest", code="eu-south-1"), body=region_request_body
    ),
    "region-zones": Write(
        REGION_ADMINS,
        count_of("regions.ZoneOverride"),
        body=lambda target: {
            "provider": "aws",
            "code": "eu-south-2",
            "zone": "outside",
            "reason": "No legal entity there.",
        },
    ),
    "failoverrequest-list": Write(
        REGION_ADMINS,
        count_of("regions.FailoverRequest"),
        a_replicated_region,
        lambda target: {
            "region": target.obj.pk,
            "reason": "eu-west-1 is down.",
        },
    ),
    "regionrequest-cancel": Write(REGION_ADMINS, fields("status"), a_region_request),
    "regionrequest-retry": Write(REGION_ADMINS, fields("status"), a_failed_region_build),
    "regionrequest-rollback": Write(REGION_ADMINS, fields("status"), a_failed_region_build),
    "failoverrequest-cancel": Write(REGION_ADMINS, fields("status"), a_waiting_failover),
    "failoverrequest-retry": Write(REGION_ADMINS, fields("status"), a_failed_failover),
}


# The catalogue's API beyond the services: claims, webhook sources (as their pages) and scorecards (the admin's).
CATALOGUE_API_WRITES: dict[str, Write] = {
    "workload-claim": Write(
        CATALOGUE_CHANGERS, fields("service"), an_unmatched_workload, lambda target: {"service": "student-portal"}
    ),
    "webhooksource-list": Write(
        CATALOGUE_CHANGERS,
        lambda target: _webhook_sources_named("exam-gitlab"),
        body=lambda target: {"name": "exam-gitlab", "provider": "gitlab", "team": "student-experience"},
    ),
    "webhooksource-rotate": Write(CATALOGUE_CHANGERS, fields("secret"), a_webhook_source),
    "webhooksource-deactivate": Write(CATALOGUE_CHANGERS, fields("active"), a_webhook_source),
    "webhooksource-services": Write(
        CATALOGUE_CHANGERS, its_services, a_webhook_source, lambda target: {"services": ["student-portal"]}
    ),
    "scorecard-list": Write(
        who(ADMIN),
        lambda target: _scorecards_named("Exam readiness"),
        body=lambda target: {"name": "Exam readiness", "description": "Ready for the exam week."},
    ),
    "scorecard-detail PATCH": Write(
        who(ADMIN), fields("description"), the_demo_scorecard, lambda target: {"description": "Renamed."}
    ),
    "scorecard-detail DELETE": Write(who(ADMIN), fields("pk"), the_demo_scorecard),
    "scorecard-evaluate": Write(who(ADMIN), audit_events_of("scorecards.evaluation_requested"), the_demo_scorecard),
    "scorecardrule-list": Write(
        who(ADMIN),
        scorecard_rules,
        lambda: Target(obj=the_demo_scorecard().obj),
        lambda target: {"scorecard": target.obj.pk, "kind": "deployed_within", "level": "gold", "days": 3},
    ),
    "scorecardrule-detail PATCH": Write(
        who(ADMIN), fields("description"), a_demo_rule, lambda target: {"description": "Reworded."}
    ),
    "scorecardrule-detail DELETE": Write(who(ADMIN), fields("pk"), a_demo_rule),
}


# --- the table, and what is not in it ------------------------------------------------------------------------

WRITES: dict[str, Write] = {
    **ACCESS_WRITES,
    **NOTIFICATION_AND_APPROVAL_WRITES,
    **ENVIRONMENT_WRITES,
    **SCORECARD_WRITES,
    **COST_WRITES,
    **DEPLOYMENT_WRITES,
    **REGION_WRITES,
    **API_WRITES,
    **CATALOGUE_API_WRITES,
}

# Routes that take an unsafe method but whose caller is not a persona of the portal's policy, or that change
# nothing by design. Each says why; the first test keeps the list honest.
NOT_WRITES: dict[str, str] = {
    # Signing in and out, MFA and JWTs are authentication, the same for every persona (tests/access/).
    **dict.fromkeys(
        [
            "login",
            "account_login",
            "account_logout",
            "account_signup",
            "account_reauthenticate",
            "mfa_authenticate",
            "mfa_reauthenticate",
            "mfa_activate_totp",
            "mfa_deactivate_totp",
            "mfa_generate_recovery_codes",
            "socialaccount_signup",
            "jwt-obtain",
            "jwt-refresh",
            "jwt-revoke",
        ],
        "authentication, not a persona's write: the same for everyone (tests/access/)",
    ),
    "webhook": "CI systems post with the source's signature, never a session (tests/deployments/test_webhooks.py)",
    # What a request would meet or make, shown before it is made: nothing is saved.
    "access:sso_rule_preview": "previews what an SSO rule would give; saves nothing",
    "regions:request_preview": "previews a region request's plan; saves nothing",
    "environments:request_check": "shows what an environment request would meet and cost; creates nothing",
    "environment-check": "answers what an environment request would meet and cost; creates nothing",
}


# --- finding every write in the URL configuration ----------------------------------------------------------

HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


def _declared_methods(view: Callable[..., Any]) -> set[str] | None:
    """The methods a function view's ``require_http_methods`` (or ``require_POST``…) lets through, if it has one."""
    function: Any = view
    while function is not None:
        for cell in function.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(contents, list | tuple | set | frozenset) and contents:
                methods = {str(method).upper() for method in contents}
                if methods <= HTTP_METHODS:
                    return methods
        function = getattr(function, "__wrapped__", None)
    return None


def unsafe_methods(view: Callable[..., Any]) -> list[str]:
    """The unsafe methods a URL's view answers: a viewset's actions, a class's handlers, a function's decorator."""
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    answered = set(getattr(view_class, "http_method_names", UNSAFE))
    actions = getattr(view, "actions", None)
    if actions is not None:
        return [method for method in UNSAFE if method in actions and method in answered]
    if view_class is not None:
        return [method for method in UNSAFE if hasattr(view_class, method) and method in answered]
    declared = _declared_methods(view)
    if declared is not None:
        return [method for method in UNSAFE if method.upper() in declared]
    # No declared methods: a view that reads a posted body takes a POST.
    source = inspect.getsource(inspect.unwrap(view))
    return ["post"] if "request.POST" in source or "request.method" in source else []


def _walk(resolver: URLResolver, namespace: str | None = None) -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            found += _walk(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((f"{namespace}:{entry.name}" if namespace else entry.name, entry.callback))
    return found


def case_name(route: str, method: str) -> str:
    """A POST is named by its route; another method by the route and the method, e.g. ``budget-detail PATCH``."""
    return route if method == "post" else f"{route} {method.upper()}"


def write_routes() -> set[str]:
    """Every route and unsafe method of the URL configuration, outside the Django admin (see the module's docstring)."""
    names: set[str] = set()
    for route, view in _walk(get_resolver()):
        if route.startswith(matrix.ADMIN_NAMESPACE):
            continue
        names.update(case_name(route, method) for method in unsafe_methods(view))
    return names


# --- the tests ------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def sandbox_of_its_own(settings: Any, tmp_path: Path) -> None:
    """Each test's sandbox cloud and clusters start empty, in a directory of its own."""
    settings.DATA_DIR = tmp_path


def test_every_write_has_a_case() -> None:
    routes = write_routes()
    missing = sorted(name for name in routes - set(WRITES) if name.partition(" ")[0] not in NOT_WRITES)
    gone = sorted(set(WRITES) - routes) + sorted(set(NOT_WRITES) - {name.partition(" ")[0] for name in routes})

    assert not missing, "writes with no case in WRITES (or reason in NOT_WRITES):\n  " + "\n  ".join(missing)
    assert not gone, f"cases for writes that no longer exist: {gone}"


def rows_written() -> int:
    """Rows inserted, updated or deleted so far in this test's transaction, the session table aside."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
            " WHERE relname <> 'django_session'"
        )
        (written,) = cursor.fetchone()
    return int(written)


def send(client: Client, name: str, kwargs: dict[str, str], body: dict[str, Any], *, multipart: bool) -> Any:
    route, _, method = name.partition(" ")
    path = reverse(route, kwargs=kwargs)
    if path.startswith("/api/") and not multipart:
        return getattr(client, method.lower() or "post")(path, body, content_type="application/json")
    return client.post(path, body)


def attempt(
    write: Write, name: str, target: Target, body: dict[str, Any], acting: Persona | None, client: Client
) -> str | None:
    """Send the write as ``acting``; what went wrong, in words, or None when it did what the policy says."""
    who_acts = matrix.persona_label(acting)
    before = write.observe(target)
    last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rows_before = rows_written()

    response = send(client, name, target.kwargs, body, multipart=write.multipart)

    status = response.status_code
    events = list(AuditEvent.objects.filter(pk__gt=last_event).values_list("verb", flat=True))
    if acting is not None and acting in write.allowed:
        if not 200 <= status < 400:
            return f"{who_acts} may {name} but got {status}"
        if write.observe(target) == before:
            return f"{who_acts} got {status} from {name} but nothing changed"
        if write.audited and not events:
            return f"{who_acts}'s {name} changed something without an audit event"
        return None
    if acting is None:
        location = response.headers.get("Location", "")
        if not (status == 401 or (status == 302 and location.startswith(matrix.SIGN_IN))):
            return f"an anonymous {name} got {status} {location}"
    elif status not in {403, 404}:
        return f"{who_acts} may not {name} but got {status}"
    if write.observe(target) != before:
        return f"{who_acts} was refused {name} but it changed"
    if events:
        return f"{who_acts} was refused {name} but it was audited: {events}"
    if rows_written() != rows_before:
        return f"{who_acts} was refused {name} but rows were written"
    return None


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_write_changes_something_exactly_when_the_persona_may_make_it(
    name: str, client_for: Callable[[Persona | None], Client]
) -> None:
    """Each persona in turn, from the same target: each attempt is rolled back (and the cache emptied) after it."""
    from portal.health import redis_client

    write = WRITES[name]
    target = write.target()
    body = write.body(target)
    problems: list[str] = []
    for acting in matrix.PERSONAS:
        with transaction.atomic():
            redis_client().flushdb()
            if write.multipart:  # a file is read once
                body = write.body(target)
            problem = attempt(write, name, target, body, acting, client_for(acting))
            transaction.set_rollback(True)
        if problem is not None:
            problems.append(problem)

    assert not problems, "\n".join(problems)
