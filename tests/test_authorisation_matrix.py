"""Who may open which URL: every URL pattern of the project, for every persona.

The test walks Django's URL resolver, so a URL added without a line in
``EXPECTATIONS`` fails the build (``test_every_url_pattern_has_a_declared_expectation``)
instead of shipping with nobody having decided who may open it.

The policy these expectations encode (``access.policy``): anonymous visitors
are sent to the sign-in page and refused by the API; every signed-in persona
may read the inventory pages and the read API; only platform admins get the
Django admin. Objects that do not exist are a 404, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from access import services as access_services
from access.models import AccessReview, Grant, Role, SsoRule, Team, User
from portal.demo import Persona, username_of
from regions.choices import ClusterKind
from regions.models import CentreServer, CloudAccount, Cluster, Namespace, NodePool, Region

# ~1,450 tests read the same demo: load it once per module (per xdist worker), each test in its own savepoint.
pytestmark = pytest.mark.shared_demo

SIGN_IN = "/accounts/login/"
ADMIN_SIGN_IN = "/admin/login/"
REAUTHENTICATE = "/accounts/reauthenticate/"

# None stands for an anonymous visitor.
PERSONAS: list[Persona | None] = [None, *Persona]
SIGNED_IN: list[Persona] = list(Persona)


def persona_label(persona: Persona | None) -> str:
    return "anonymous" if persona is None else str(persona.value)


# --- walking the URL configuration ------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern: its namespaced name, full route and the keyword arguments it takes."""

    name: str
    route: str
    kwargs: frozenset[str]

    @property
    def takes_format(self) -> bool:
        """DRF's format-suffix variants (``/api/regions.json``) take a ``format`` argument."""
        return "format" in self.kwargs

    @property
    def label(self) -> str:
        return f"{self.name}.json" if self.takes_format else self.name


def walk(resolver: URLResolver, prefix: str = "", namespace: str | None = None) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            # An unnamed pattern (the admin's redirects) is reported by its route, inside its namespace.
            local_name = entry.name or f"<unnamed {route}>"
            name = f"{namespace}:{local_name}" if namespace else local_name
            yield Route(name, route, frozenset(entry.pattern.regex.groupindex))


def all_routes() -> list[Route]:
    return list(walk(get_resolver()))


# --- what each URL should answer ---------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """An expected answer: a status (or a few acceptable ones) and, for redirects, where to."""

    statuses: frozenset[int]
    location: str | None = None

    def __str__(self) -> str:
        statuses = "/".join(map(str, sorted(self.statuses)))
        return f"{statuses} to {self.location}" if self.location else statuses


def answers(*statuses: int, location: str | None = None) -> Outcome:
    return Outcome(frozenset(statuses), location)


OK = answers(200)
TO_SIGN_IN = answers(302, location=SIGN_IN)
TO_ADMIN_SIGN_IN = answers(302, location=ADMIN_SIGN_IN)
REFUSED = answers(403)
# The API asks for credentials (`WWW-Authenticate: Bearer`) when a call comes without any.
UNAUTHENTICATED = answers(401)
NOT_FOUND = answers(404)
NOT_ALLOWED = answers(405)


def no_kwargs() -> dict[str, str]:
    return {}


def demo_region() -> dict[str, str]:
    return {"provider": "aws", "code": "eu-west-1"}


def demo_cluster() -> dict[str, str]:
    cluster = Cluster.objects.get(region__provider="aws", region__code="eu-west-1", kind=ClusterKind.EKS)
    return {"provider": "aws", "code": "eu-west-1", "name": cluster.name}


def first_of(model: type[Model]) -> Callable[[], dict[str, str]]:
    def kwargs() -> dict[str, str]:
        first = model._default_manager.order_by("pk").first()
        assert first is not None, f"the demo data has no {model.__name__}"
        return {"pk": str(first.pk)}

    return kwargs


def unknown_provider() -> dict[str, str]:
    return {"provider_id": "no-such-provider"}


@dataclass(frozen=True)
class Expectation:
    """How to build a URL from the demo data, how to call it, and what each persona gets."""

    outcomes: dict[Persona | None, Outcome]
    kwargs: Callable[[], dict[str, str]] = no_kwargs
    method: str = "get"
    query: dict[str, str] = field(default_factory=dict)


def page(kwargs: Callable[[], dict[str, str]] = no_kwargs) -> Expectation:
    """A signed-in page: anonymous visitors are sent to sign in, every persona may read it."""
    return Expectation({None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, OK)}, kwargs)


def api(kwargs: Callable[[], dict[str, str]] = no_kwargs, query: dict[str, str] | None = None) -> Expectation:
    """A read API endpoint: anonymous callers are asked to authenticate, every persona may read it."""
    return Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK)}, kwargs, query=query or {})


def developers_api_token() -> dict[str, str]:
    """A token of the demo developer: only its owner and the platform admin (who may revoke access) reach it."""
    from tests.factories import ApiTokenFactory

    token = ApiTokenFactory.create(owner=User.objects.get(username=username_of(Persona.DEVELOPER)))
    return {"pk": str(token.pk)}


def developers_region_approval() -> dict[str, str]:
    """The demo developer asks for approval on a demo region (everyone signed in may see regions)."""
    from approvals.services import request_approval

    request = request_approval(
        Region.objects.get(provider="aws", code="eu-west-1"),
        purpose="regions.build",
        requested_by=User.objects.get(username=username_of(Persona.DEVELOPER)),
        summary="Build eu-west-1",
    )
    return {"pk": str(request.pk)}


def developers_notification() -> dict[str, str]:
    """A notification to the demo developer: only they may open it."""
    from notifications.models import Notification

    notification = Notification.objects.create(
        recipient=User.objects.get(username=username_of(Persona.DEVELOPER)),
        title="Your environment is ready",
        url="/environments/",
    )
    return {"pk": str(notification.pk)}


def developers_api_token_page() -> dict[str, str]:
    return {"token_id": developers_api_token()["pk"]}


def public(outcome: Outcome) -> Expectation:
    """Needs no sign-in and answers everyone the same."""
    return Expectation(dict.fromkeys(PERSONAS, outcome))


def audit_reader_page() -> Expectation:
    """Audit slice: a page only audit readers (auditor, platform admin) learn exists; others get 404."""
    hidden = answers(404)
    return Expectation(
        {
            None: TO_SIGN_IN,
            Persona.DEVELOPER: hidden,
            Persona.TEAM_LEAD: hidden,
            Persona.MANAGER: hidden,
            Persona.PLATFORM_ADMIN: OK,
            Persona.AUDITOR: OK,
        }
    )


EXPECTATIONS: dict[str, Expectation] = {
    "home": page(),
    # Probes for load balancers and Kubernetes: never behind sign-in.
    "healthz": public(OK),
    # Ready (200) or not (503, e.g. no Celery worker heartbeat in the test run): either way no sign-in is asked.
    "readyz": public(answers(200, 503)),
    # --- sign-in (slice: sso) ---
    # The old sign-in address, kept for bookmarks, forwards to allauth's.
    "login": public(answers(302, location=SIGN_IN)),
    "account_login": Expectation({None: OK, **dict.fromkeys(SIGNED_IN, answers(302, location="/"))}),
    # GET asks "are you sure?"; signing out is a POST (test_signing_out_by_post_ends_the_session).
    "account_logout": Expectation({None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, OK)}),
    "account_inactive": public(OK),
    # Sign-up is closed: the page only says so (SSO creates accounts).
    "account_signup": Expectation({None: OK, **dict.fromkeys(SIGNED_IN, answers(302, location="/"))}),
    "account_reauthenticate": page(),
    "mfa_index": page(),
    # Only in the middle of a sign-in that asks for a code; otherwise sent away.
    "mfa_authenticate": public(answers(302)),
    # Changing MFA asks for the password again first (for someone with no authenticator yet, the password).
    "mfa_reauthenticate": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, answers(302, location=REAUTHENTICATE))}
    ),
    "mfa_activate_totp": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, answers(302, location=REAUTHENTICATE))}
    ),
    "mfa_generate_recovery_codes": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, answers(302, location=REAUTHENTICATE))}
    ),
    # Nothing to deactivate or show for a demo persona, who has no authenticator.
    "mfa_deactivate_totp": Expectation({None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, answers(404))}),
    "mfa_view_recovery_codes": Expectation({None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, answers(404))}),
    "mfa_download_recovery_codes": Expectation({None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, answers(404))}),
    "socialaccount_login_cancelled": public(OK),
    # allauth's "the sign-in with your provider failed" page.
    "socialaccount_login_error": public(answers(401)),
    # Only reachable in the middle of an SSO sign-in; otherwise back to sign-in.
    "socialaccount_signup": public(answers(302, location=SIGN_IN)),
    # An identity provider that is not configured is a 404, whoever asks.
    "openid_connect_login": Expectation(dict.fromkeys(PERSONAS, answers(404)), unknown_provider),
    "openid_connect_callback": Expectation(dict.fromkeys(PERSONAS, answers(404)), unknown_provider),
    # --- end of sign-in (slice: sso) ---
    "regions:list": page(),
    "regions:detail": page(demo_region),
    "regions:health": page(demo_region),
    "regions:cluster": page(demo_cluster),
    "api-root": api(),
    "cloudaccount-list": api(),
    "cloudaccount-detail": api(first_of(CloudAccount)),
    "region-list": api(),
    "region-detail": api(first_of(Region)),
    "cluster-list": api(),
    "cluster-detail": api(first_of(Cluster)),
    "nodepool-list": api(),
    "nodepool-detail": api(first_of(NodePool)),
    "namespace-list": api(),
    "namespace-detail": api(first_of(Namespace)),
    "centreserver-list": api(),
    "centreserver-detail": api(first_of(CentreServer)),
    "api-schema": api(query={"format": "json"}),
    # The docs are read in a browser, so anonymous visitors are sent to sign in rather than refused.
    "api-docs": page(),
    # Search: every signed-in persona searches; what each finds is scoped (tests/search/).
    "search": page(),
    "api-search": api(query={"q": "eu-west"}),
    # --- audit slice: the audit log page, its CSV export and its hash-chain status.
    "access:audit": audit_reader_page(),
    "access:audit-export": audit_reader_page(),
    "access:audit-chain": audit_reader_page(),
    # --- API authentication and sessions (branch api) ---
    # JWT endpoints take POST only; a GET is refused the same way for everyone.
    "jwt-obtain": public(NOT_ALLOWED),
    "jwt-refresh": public(NOT_ALLOWED),
    "jwt-revoke": public(NOT_ALLOWED),
    "me": api(),
    # Everyone lists their own tokens; a token is its owner's alone (others get 404).
    "apitoken-list": api(),
    "apitoken-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_FOUND), Persona.DEVELOPER: OK}, developers_api_token
    ),
    "access:tokens": page(),
    # --- approvals: the list is everyone's; a request is visible to whoever may see its subject ---
    "approvals:list": page(),
    "approvals:detail": page(developers_region_approval),
    "approvals:decide": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, developers_region_approval
    ),
    "approvals:withdraw": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, developers_region_approval
    ),
    # The API as the pages: the lists are everyone's (each their own), a request is visible as on its page;
    # deciding and withdrawing are POSTs (tests/approvals/test_api.py decides).
    "approvalrequest-list": api(),
    "approvalrequest-detail": api(developers_region_approval),
    "approvalrequest-decide": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, developers_region_approval
    ),
    "approvalrequest-withdraw": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, developers_region_approval
    ),
    # --- notifications: everyone has an inbox; a notification is its recipient's alone ---
    "notifications:inbox": page(),
    # Looking at it changes nothing (opening it, which marks it read, is a POST).
    "notifications:open": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, NOT_FOUND), Persona.DEVELOPER: OK}, developers_notification
    ),
    "notifications:read": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, developers_notification
    ),
    "notifications:mark_all_read": Expectation({None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}),
    # The same by API: one's own inbox; marking read is a POST (tests/notifications/test_api.py).
    "notification-list": api(),
    "notification-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_FOUND), Persona.DEVELOPER: OK}, developers_notification
    ),
    "notification-read": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, developers_notification
    ),
    "notification-read-all": Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}),
    # Revoking is for the owner and for whoever may revoke access on the token's team.
    "access:token_revoke": Expectation(
        {None: TO_SIGN_IN, **dict.fromkeys(SIGNED_IN, NOT_FOUND), Persona.DEVELOPER: OK, Persona.PLATFORM_ADMIN: OK},
        developers_api_token_page,
    ),
}

# --- access administration and access reviews (slice "ui") ------------------------
# Sections: 403 for who may do nothing of the kind; objects outside a persona's
# scope: 404; visible but not allowed: 403. The lead holds team_lead limited to
# student-experience, so they manage that team but see no role, SSO rule or
# campaign (none has a team) and decide only their team's review items.

NOT_FOUND = answers(404)
MOVED = answers(302)


def who_gets(default: Outcome, **outcomes: Outcome) -> dict[Persona | None, Outcome]:
    """Every signed-in persona gets ``default`` unless named (by persona value); anonymous is sent to sign in."""
    by_persona: dict[Persona | None, Outcome] = {None: TO_SIGN_IN}
    for who in SIGNED_IN:
        by_persona[who] = outcomes.get(who.value, default)
    return by_persona


def access_page(
    default: Outcome, kwargs: Callable[[], dict[str, str]] = no_kwargs, /, **outcomes: Outcome
) -> Expectation:
    return Expectation(who_gets(default, **outcomes), kwargs)


def access_post(
    default: Outcome, kwargs: Callable[[], dict[str, str]] = no_kwargs, /, **outcomes: Outcome
) -> Expectation:
    return Expectation(who_gets(default, **outcomes), kwargs, method="post")


def student_experience() -> dict[str, str]:
    return {"pk": str(Team.objects.get(slug="student-experience").pk)}


def developer_in_student_experience() -> dict[str, str]:
    return {**student_experience(), "user_id": str(User.objects.get(username="developer").pk)}


def student_experience_grant() -> dict[str, str]:
    grant = Grant.objects.get(grantee_team__slug="student-experience", team__slug="student-experience")
    return {"pk": str(grant.pk)}


def custom_role() -> dict[str, str]:
    role, _ = Role.objects.get_or_create(slug="release-manager", defaults={"name": "Release manager"})
    return {"pk": str(role.pk)}


def sso_rule() -> dict[str, str]:
    team = Team.objects.get(slug="student-experience")
    rule, _ = SsoRule.objects.get_or_create(name="Students", defaults={"value": "eng-students", "team": team})
    return {"pk": str(rule.pk)}


def open_review() -> AccessReview:
    review = AccessReview.objects.filter(name="Matrix review").first()
    if review is None:
        admin = User.objects.get(username="admin")
        review = access_services.access_review_open(
            actor=admin, name="Matrix review", deadline=timezone.now() + timedelta(days=7)
        )
    return review


def review() -> dict[str, str]:
    return {"pk": str(open_review().pk)}


def student_experience_review_item() -> dict[str, str]:
    item = open_review().items.get(grant__grantee_team__slug="student-experience")
    return {"pk": str(item.pk)}


ADMIN_ONLY = {"platform_admin": OK}
READERS_OF_GRANTS = {"platform_admin": OK, "auditor": OK, "team_lead": OK}
OUT_OF_SCOPE_BUT_AUDITED = {"platform_admin": OK, "auditor": REFUSED}

ACCESS_EXPECTATIONS: dict[str, Expectation] = {
    "access:overview": page(),
    "access:teams": page(),
    "access:team_create": access_page(REFUSED, **ADMIN_ONLY),
    "access:team": page(student_experience),
    "access:team_edit": access_page(REFUSED, student_experience, platform_admin=OK, team_lead=OK),
    "access:team_member_set": access_post(REFUSED, student_experience, platform_admin=MOVED, team_lead=MOVED),
    "access:team_member_role": access_post(
        REFUSED, developer_in_student_experience, platform_admin=MOVED, team_lead=MOVED
    ),
    "access:team_member_remove": access_post(
        REFUSED, developer_in_student_experience, platform_admin=MOVED, team_lead=MOVED
    ),
    "access:roles": access_page(REFUSED, **READERS_OF_GRANTS),
    "access:role_create": access_page(REFUSED, **ADMIN_ONLY),
    "access:role_edit": access_page(NOT_FOUND, custom_role, **OUT_OF_SCOPE_BUT_AUDITED),
    "access:role_delete": access_page(NOT_FOUND, custom_role, **OUT_OF_SCOPE_BUT_AUDITED),
    "access:grants": access_page(REFUSED, **READERS_OF_GRANTS),
    "access:grant_create": access_page(REFUSED, **ADMIN_ONLY),
    "access:grant": access_page(NOT_FOUND, student_experience_grant, **READERS_OF_GRANTS),
    "access:grant_revoke": access_page(
        NOT_FOUND, student_experience_grant, platform_admin=OK, auditor=REFUSED, team_lead=REFUSED
    ),
    "access:sso_rules": access_page(REFUSED, **READERS_OF_GRANTS),
    "access:sso_rule_create": access_page(REFUSED, **ADMIN_ONLY),
    "access:sso_rule_preview": access_page(REFUSED, **READERS_OF_GRANTS),
    "access:sso_rule_edit": access_page(NOT_FOUND, sso_rule, **OUT_OF_SCOPE_BUT_AUDITED),
    "access:sso_rule_toggle": access_post(NOT_FOUND, sso_rule, platform_admin=MOVED, auditor=REFUSED),
    "access:sso_rule_delete": access_page(NOT_FOUND, sso_rule, **OUT_OF_SCOPE_BUT_AUDITED),
    "access:reviews": access_page(REFUSED, **READERS_OF_GRANTS),
    "access:review_open": access_page(REFUSED, **ADMIN_ONLY),
    "access:my_reviews": access_page(REFUSED, platform_admin=OK, team_lead=OK),
    "access:review": access_page(NOT_FOUND, review, platform_admin=OK, auditor=OK),
    "access:review_close": access_page(NOT_FOUND, review, **OUT_OF_SCOPE_BUT_AUDITED),
    "access:review_evidence": access_page(NOT_FOUND, review, platform_admin=OK, auditor=OK),
    "access:review_item_decide": access_post(
        NOT_FOUND, student_experience_review_item, platform_admin=MOVED, team_lead=MOVED
    ),
}
EXPECTATIONS.update(ACCESS_EXPECTATIONS)

# --- environment templates, team limits and the price table (branch templates) ----------------
# Templates: every signed-in persona reads them (viewer holds templates.view); only platform
# admins create, change and deactivate (403 for the others, who may see them). Team limits and
# prices are in the costs domain: a team's members see their team's limits (403 to open a team's
# limits page to change it, 404 for another team's), managers and admins see and change all;
# the price table belongs to no team, so only unlimited cost readers (managers, admins) open it.


def a_template() -> dict[str, str]:
    return {"slug": "staging"}


def student_experience_limits() -> dict[str, str]:
    return {"slug": "student-experience"}


def a_price() -> dict[str, str]:
    from costs.models import PriceItem

    first = PriceItem.objects.order_by("pk").first()
    assert first is not None, "the demo data has no price"
    return {"pk": str(first.pk)}


def a_template_api() -> dict[str, str]:
    from environments.models import EnvironmentTemplate

    return {"pk": str(EnvironmentTemplate.objects.get(slug="staging").pk)}


COST_READERS = {"platform_admin": OK, "manager": OK}

TEMPLATE_EXPECTATIONS: dict[str, Expectation] = {
    "environments:templates": page(),
    "environments:template": page(a_template),
    "environments:template_create": access_page(REFUSED, **ADMIN_ONLY),
    "environments:template_edit": access_page(REFUSED, a_template, **ADMIN_ONLY),
    "environments:template_deactivate": access_page(REFUSED, a_template, **ADMIN_ONLY),
    "environments:team_limits": access_page(OK, auditor=REFUSED),
    "environments:team_limits_edit": access_page(
        REFUSED, student_experience_limits, platform_admin=OK, manager=OK, auditor=NOT_FOUND
    ),
    "costs:prices": access_page(REFUSED, **COST_READERS),
    "costs:price_create": access_page(REFUSED, **COST_READERS),
    "costs:price_edit": access_page(NOT_FOUND, a_price, **COST_READERS),
    "costs:price_delete": access_page(NOT_FOUND, a_price, **COST_READERS),
    "environmenttemplate-list": api(),
    "environmenttemplate-detail": api(a_template_api),
    # Whoever's grants cover no price (team-limited cost readers, the auditor) gets an empty list
    # and 404 on a row, as if it did not exist.
    "priceitem-list": api(),
    "priceitem-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_FOUND), Persona.MANAGER: OK, Persona.PLATFORM_ADMIN: OK},
        a_price,
    ),
}
EXPECTATIONS.update(TEMPLATE_EXPECTATIONS)

# --- Kubernetes cost allocation (branch cost-alloc) ------------------------------------------
# Whoever holds costs.view opens a cluster's allocation (scoped: a team's members see their
# team's namespaces); the auditor holds no cost permission (404). Exporting needs costs.export:
# managers and admins; developers and leads may look but not export (403).


def demo_eks_cluster() -> dict[str, str]:
    return {"cluster_id": str(Cluster.objects.get(name="eks-eu-west-1").pk)}


ALLOCATION_EXPECTATIONS: dict[str, Expectation] = {
    "costs:allocation": access_page(OK, demo_eks_cluster, auditor=NOT_FOUND),
    "costs:allocation_export": access_page(REFUSED, demo_eks_cluster, manager=OK, platform_admin=OK, auditor=NOT_FOUND),
}
EXPECTATIONS.update(ALLOCATION_EXPECTATIONS)
# --- budgets, anomalies and a team's cost page (branch cost-budgets) ---------------------------
# Budgets and anomalies belong to a team: its developers and lead see them (and its cost page),
# managers and admins see every team's; the auditor holds no cost permission (403 on the lists,
# 404 on a team's objects). Setting budgets needs costs.change (managers, admins; 403 for the
# team's developer and lead, who may see them); the team page's CSV needs costs.export.


def a_student_experience_budget() -> dict[str, str]:
    from costs.models import Budget

    budget, _ = Budget.objects.get_or_create(
        name="Matrix budget", team=Team.objects.get(slug="student-experience"), defaults={"amount": 1000}
    )
    return {"pk": str(budget.pk)}


def a_student_experience_anomaly() -> dict[str, str]:
    from costs.models import Anomaly

    anomaly, _ = Anomaly.objects.get_or_create(
        scope="team",
        team=Team.objects.get(slug="student-experience"),
        service=None,
        day=timezone.localdate() - timedelta(days=1),
        currency="USD",
        defaults={
            "spend": 900,
            "baseline_mean": 100,
            "baseline_stddev": 10,
            "baseline_days": 14,
            "reason": "900.00 USD on a day whose usual is 100.00 USD.",
        },
    )
    return {"pk": str(anomaly.pk)}


def student_experience_costs() -> dict[str, str]:
    return {"slug": "student-experience"}


TEAM_COST_READERS_API: dict[Persona | None, Outcome] = {
    None: UNAUTHENTICATED,
    **dict.fromkeys(SIGNED_IN, OK),
    Persona.AUDITOR: NOT_FOUND,
}

BUDGET_EXPECTATIONS: dict[str, Expectation] = {
    "costs:budgets": access_page(OK, auditor=REFUSED),
    "costs:budget_create": access_page(REFUSED, **COST_READERS),
    "costs:budget": access_page(OK, a_student_experience_budget, auditor=NOT_FOUND),
    "costs:budget_edit": access_page(REFUSED, a_student_experience_budget, **COST_READERS, auditor=NOT_FOUND),
    "costs:budget_delete": access_page(REFUSED, a_student_experience_budget, **COST_READERS, auditor=NOT_FOUND),
    "costs:anomalies": access_page(OK, auditor=REFUSED),
    "costs:team": access_page(OK, student_experience_costs, auditor=NOT_FOUND),
    "costs:team_export": access_page(REFUSED, student_experience_costs, **COST_READERS, auditor=NOT_FOUND),
    # Lists are scoped (the auditor's are empty); a team's budget or anomaly is a 404 to whoever may not see it.
    "budget-list": api(),
    "budget-detail": Expectation(TEAM_COST_READERS_API, a_student_experience_budget),
    "budget-status": Expectation(TEAM_COST_READERS_API, a_student_experience_budget),
    "anomaly-list": api(),
    "anomaly-detail": Expectation(TEAM_COST_READERS_API, a_student_experience_anomaly),
}
EXPECTATIONS.update(BUDGET_EXPECTATIONS)

# --- environments (branch envreq) ----------------------------------------------------------
# Everyone signed in opens the list (scoped: the auditor's is empty). Developers, team leads and
# admins request (the manager and auditor hold no environments.request: 403). A student-experience
# environment is seen by its team, the manager (environments.view everywhere) and the admin; the
# auditor sees no environment (404). Changing it (teardown, cancel, retry, extend) is for its team
# and the admin; the manager may look but not touch (403). Actions redirect to the page (302).


def a_student_experience_environment() -> dict[str, str]:
    from environments.choices import EnvironmentStatus
    from environments.models import Environment, EnvironmentTemplate

    environment, _ = Environment.objects.get_or_create(
        team=Team.objects.get(slug="student-experience"),
        name="matrix",
        defaults={
            "template": EnvironmentTemplate.objects.get(slug="preview"),
            "tier": "development",
            "cluster": Cluster.objects.get(region__provider="aws", region__code="eu-west-1", kind=ClusterKind.EKS),
            "requested_by": User.objects.get(username=username_of(Persona.DEVELOPER)),
            "status": EnvironmentStatus.READY,
            "monthly_estimate": "10.00",
            "currency": "USD",
        },
    )
    return {"pk": str(environment.pk)}


def a_student_experience_environment_run() -> dict[str, str]:
    from django.contrib.contenttypes.models import ContentType

    from environments.models import Environment
    from workflows.models import Run

    environment = Environment.objects.get(pk=a_student_experience_environment()["pk"])
    run, _ = Run.objects.get_or_create(
        key=f"matrix-environment-{environment.pk}",
        defaults={
            "kind": "environments.provision",
            "subject_type": ContentType.objects.get_for_model(Environment),
            "subject_id": str(environment.pk),
        },
    )
    return {"pk": str(run.pk)}


REQUESTERS = {"developer": OK, "team_lead": OK, "platform_admin": OK}


def a_followed_environment() -> dict[str, str]:
    return {"kind": "environment", **a_student_experience_environment()}


ENVIRONMENT_READERS = {**REQUESTERS, "manager": OK, "auditor": NOT_FOUND}
ENVIRONMENT_CHANGERS = {"developer": MOVED, "team_lead": MOVED, "platform_admin": MOVED, "auditor": NOT_FOUND}

ENVIRONMENT_EXPECTATIONS: dict[str, Expectation] = {
    "environments:list": page(),
    "environments:request": access_page(REFUSED, **REQUESTERS),
    "environments:request_check": access_page(REFUSED, **REQUESTERS),
    "environments:detail": access_page(NOT_FOUND, a_student_experience_environment, **ENVIRONMENT_READERS),
    "environments:run": access_page(NOT_FOUND, a_student_experience_environment, **ENVIRONMENT_READERS),
    # A waiting page's status poll is seen exactly as the page it belongs to.
    "live_status": access_page(NOT_FOUND, a_followed_environment, **ENVIRONMENT_READERS),
    "environments:teardown": access_page(REFUSED, a_student_experience_environment, **REQUESTERS, auditor=NOT_FOUND),
    "environments:cancel": access_post(REFUSED, a_student_experience_environment, **ENVIRONMENT_CHANGERS),
    "environments:retry": access_post(REFUSED, a_student_experience_environment, **ENVIRONMENT_CHANGERS),
    "environments:extend": access_post(REFUSED, a_student_experience_environment, **ENVIRONMENT_CHANGERS),
    # As the pages: the auditor's list is empty and an environment is a 404 to them.
    "environment-list": api(),
    "environment-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: NOT_FOUND},
        a_student_experience_environment,
    ),
    # The page's actions by API are POSTs (tests/environments/test_api_actions.py acts as each persona).
    **{
        f"environment-{name}": Expectation(
            {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, a_student_experience_environment
        )
        for name in ("teardown", "cancel", "retry", "extend")
    },
    "environment-check": Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}),
    # A workflow run is visible exactly when its subject is: the list is everyone's (scoped), the run of a
    # student-experience environment is a 404 to the auditor as the environment is (tests/workflows/test_api.py).
    "workflowrun-list": api(),
    "workflowrun-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: NOT_FOUND},
        a_student_experience_environment_run,
    ),
}
EXPECTATIONS.update(ENVIRONMENT_EXPECTATIONS)

# --- savings recommendations (branch cost-savings) -----------------------------------------------------
# Cost readers open the page (scoped: a developer sees their team's); the auditor holds no costs.view (403).
# Exports take costs.export (managers, admins). Dismissing and snoozing take costs.change: the team's developer
# and lead see the recommendation but may not (403); the auditor does not see it (404). Setting a lifetime
# takes environments.change on the environment: its team and the admin (302), the manager may not (403).


def a_student_experience_recommendation() -> dict[str, str]:
    from costs.choices import RecommendationAction, RecommendationKind
    from costs.models import Recommendation
    from environments.models import Environment

    environment = Environment.objects.select_related("cluster").get(pk=a_student_experience_environment()["pk"])
    recommendation, _ = Recommendation.objects.get_or_create(
        key="matrix:ttl",
        defaults={
            "kind": RecommendationKind.ENVIRONMENT_TTL,
            "title": "Give matrix a lifetime",
            "monthly_saving": "10.00",
            "currency": "USD",
            "team": environment.team,
            "environment": environment,
            "cluster": environment.cluster,
            "region_id": environment.cluster.region_id,
            "tier": environment.tier,
            "action": RecommendationAction.SET_TTL,
            "action_hours": 24,
        },
    )
    return {"pk": str(recommendation.pk)}


RECOMMENDATION_CHANGERS = {"manager": MOVED, "platform_admin": MOVED, "auditor": NOT_FOUND}

SAVINGS_EXPECTATIONS: dict[str, Expectation] = {
    "costs:savings": access_page(OK, auditor=REFUSED),
    "costs:savings_export": access_page(REFUSED, **COST_READERS),
    "costs:savings_dismiss": access_post(REFUSED, a_student_experience_recommendation, **RECOMMENDATION_CHANGERS),
    "costs:savings_snooze": access_post(REFUSED, a_student_experience_recommendation, **RECOMMENDATION_CHANGERS),
    "costs:savings_set_ttl": access_post(
        REFUSED, a_student_experience_recommendation, **ENVIRONMENT_CHANGERS, manager=REFUSED
    ),
}
EXPECTATIONS.update(SAVINGS_EXPECTATIONS)
# The savings API, as the page: its readers list recommendations (the auditor holds no costs.view: 403); a
# recommendation is a 404 to whoever may not see it (the auditor); its actions are POSTs
# (tests/costs/test_savings_api.py and tests/test_authorisation_writes.py act as each persona).
EXPECTATIONS.update(
    {
        "savings-list": Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: REFUSED}),
        "savings-detail": Expectation(TEAM_COST_READERS_API, a_student_experience_recommendation),
        **{
            f"savings-{name}": Expectation(
                {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, a_student_experience_recommendation
            )
            for name in ("dismiss", "snooze", "set-ttl")
        },
    }
)
# --- cost pages, export and API (branch cost-pages) ------------------------------------------------
# Whoever holds costs.view on some figures opens the overview and breakdown (scoped: a developer sees
# their team's); the auditor holds none (403). Exporting takes costs.export (manager, admin). An
# environment's cost is a partial of its page: who may see the environment gets it, others a 404.

COST_EXPORTERS = {"manager": OK, "platform_admin": OK}

COST_EXPECTATIONS: dict[str, Expectation] = {
    "costs:overview": access_page(OK, auditor=REFUSED),
    "costs:breakdown": access_page(OK, auditor=REFUSED),
    "costs:export": access_page(REFUSED, **COST_EXPORTERS),
    "costs:environment_cost": access_page(NOT_FOUND, a_student_experience_environment, **ENVIRONMENT_READERS),
    "cost-breakdown": Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: REFUSED}),
    "cost-breakdown-export": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, REFUSED), Persona.MANAGER: OK, Persona.PLATFORM_ADMIN: OK}
    ),
}
EXPECTATIONS.update(COST_EXPECTATIONS)

# --- rollbacks, freeze windows and DORA (deployments app) -----------------------------------------
# As environments: the team's developer, lead and the admin act; the manager may look (403 to act);
# the auditor holds no deployments.view, so objects are a 404 and lists are empty.


def a_student_experience_workload() -> dict[str, str]:
    from tests.factories import make_workload

    cluster = Cluster.objects.get(region__provider="aws", region__code="eu-west-1", kind=ClusterKind.EKS)
    workload = make_workload(cluster=cluster, team=Team.objects.get(slug="student-experience"), tier="development")
    return {"pk": str(workload.pk)}


def a_student_experience_rollback() -> dict[str, str]:
    from deployments.models import RollbackRequest, Workload

    workload = Workload.objects.get(pk=a_student_experience_workload()["pk"])
    rollback = RollbackRequest.objects.create(
        workload=workload,
        to_revision=1,
        to_version="1.0.0",
        reason="matrix",
        requested_by=User.objects.get(username=username_of(Persona.DEVELOPER)),
        status="failed",
    )
    return {"pk": str(rollback.pk)}


def a_student_experience_freeze() -> dict[str, str]:
    from deployments.models import FreezeWindow
    from environments.models import Environment

    freeze = FreezeWindow.objects.create(
        environment=Environment.objects.get(pk=a_student_experience_environment()["pk"]),
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(days=1),
        reason="matrix",
        created_by=User.objects.get(username=username_of(Persona.PLATFORM_ADMIN)),
    )
    return {"pk": str(freeze.pk)}


DEPLOYMENT_READERS = {**REQUESTERS, "manager": OK, "auditor": NOT_FOUND}

DEPLOYMENT_ACTION_EXPECTATIONS: dict[str, Expectation] = {
    "deployments:rollback_new": access_page(REFUSED, a_student_experience_workload, **REQUESTERS, auditor=NOT_FOUND),
    # A workload's Kubernetes panel is for whoever sees the workload; its logs take deployments.logs too, which
    # the manager lacks (403: they see the workload). The cluster's answer (here: no such workload) is a message.
    "deployments:workload_kubernetes": access_page(NOT_FOUND, a_student_experience_workload, **DEPLOYMENT_READERS),
    "deployments:workload_log": Expectation(
        who_gets(NOT_FOUND, **REQUESTERS, manager=REFUSED), a_student_experience_workload, query={"pod": "api-0"}
    ),
    "deployments:rollbacks": page(),
    "deployments:rollback": access_page(NOT_FOUND, a_student_experience_rollback, **DEPLOYMENT_READERS),
    "deployments:rollback_run": access_page(NOT_FOUND, a_student_experience_rollback, **DEPLOYMENT_READERS),
    # A manager sees the rollback but may not change it (403); the auditor does not see it (404).
    "deployments:rollback_retry": access_post(
        REFUSED,
        a_student_experience_rollback,
        developer=MOVED,
        team_lead=MOVED,
        platform_admin=MOVED,
        auditor=NOT_FOUND,
    ),
    "deployments:rollback_cancel": access_post(
        REFUSED,
        a_student_experience_rollback,
        developer=MOVED,
        team_lead=MOVED,
        platform_admin=MOVED,
        auditor=NOT_FOUND,
    ),
    "deployments:freezes": page(),
    "deployments:freeze_end": access_post(REFUSED, a_student_experience_freeze, **ENVIRONMENT_CHANGERS),
    "deployments:dora": page(),
    "deployments:cluster_sync": page(first_of(Cluster)),
    # The API as the pages: lists scoped (the auditor's are empty), objects outside one's scope a 404.
    "rollbackrequest-list": api(),
    "rollbackrequest-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: NOT_FOUND},
        a_student_experience_rollback,
    ),
    # What the rollback form offers takes a workload (tests/deployments/test_actions_api.py asks as each persona):
    # without one everyone signed in hears which to give.
    "rollbackrequest-options": Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, answers(400))}),
    "freezewindow-list": api(),
    "freezewindow-detail": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: NOT_FOUND},
        a_student_experience_freeze,
    ),
    "freezewindow-end": Expectation(
        {
            None: UNAUTHENTICATED,
            **dict.fromkeys(SIGNED_IN, OK),
            Persona.MANAGER: REFUSED,
            Persona.AUDITOR: NOT_FOUND,
        },
        a_student_experience_freeze,
        method="post",
    ),
    "dora-metrics": api(),
}
EXPECTATIONS.update(DEPLOYMENT_ACTION_EXPECTATIONS)
# --- CI/CD webhooks (branch dephooks) -------------------------------------------------------------
# CI systems post to /hooks/<name>/ with the source's secret, never a session: a GET is refused the same
# way for everyone. The sources page is everyone's (scoped: the auditor's list is empty). Adding a source
# takes deployments.change on some team (developers, leads, admins; 403 for the manager and auditor);
# rotating or deactivating a student-experience source is for its team and the admin, the manager may
# see it but not change it (403), the auditor does not see it (404). The confirmation pages are GETs.


def a_webhook_name() -> dict[str, str]:
    return {"name": "matrix-github"}


def a_student_experience_webhook_source() -> dict[str, str]:
    from deployments.models import WebhookSource

    source, _ = WebhookSource.objects.get_or_create(
        name="matrix-github",
        defaults={"provider": "github", "team": Team.objects.get(slug="student-experience"), "secret": "matrix"},
    )
    return {"pk": str(source.pk)}


WEBHOOK_EXPECTATIONS: dict[str, Expectation] = {
    "webhook": Expectation(dict.fromkeys(PERSONAS, NOT_ALLOWED), a_webhook_name),
    "deployments:hooks": page(),
    "deployments:hook_create": access_page(REFUSED, **REQUESTERS),
    "deployments:hook_rotate": access_page(
        REFUSED, a_student_experience_webhook_source, **REQUESTERS, auditor=NOT_FOUND
    ),
    "deployments:hook_deactivate": access_page(
        REFUSED, a_student_experience_webhook_source, **REQUESTERS, auditor=NOT_FOUND
    ),
    "deployments:hook_services": access_page(
        REFUSED, a_student_experience_webhook_source, **REQUESTERS, auditor=NOT_FOUND
    ),
}
EXPECTATIONS.update(WEBHOOK_EXPECTATIONS)
# --- deployments (branch deppages) ------------------------------------------------------------
# Everyone signed in opens the matrix, the catalogue and the unmatched list (scoped: the auditor,
# who holds no deployments.view, sees them empty). A student-experience service, deployment,
# workload or run is seen by its team, the manager and the admin; the auditor gets 404. The
# catalogue is changed by holders of deployments.change on the service's team (developer, lead,
# admin); the manager may look but not touch (403).


def a_student_experience_service() -> dict[str, str]:
    return {"slug": "student-portal"}


def a_student_experience_deployment() -> dict[str, str]:
    from deployments.models import Deployment

    return {"pk": str(Deployment.objects.filter(service__slug="student-portal").order_by("pk").first().pk)}  # type: ignore[union-attr]


def an_unmatched_student_experience_workload() -> dict[str, str]:
    from deployments.models import Workload

    return {"pk": str(Workload.objects.get(name="debug-toolbox").pk)}


def a_student_experience_service_api() -> dict[str, str]:
    from deployments.models import Service

    return {"pk": str(Service.objects.get(slug="student-portal").pk)}


def a_student_experience_workload_api() -> dict[str, str]:
    from deployments.models import Workload

    return {"pk": str(Workload.objects.filter(service__slug="student-portal").order_by("pk").first().pk)}  # type: ignore[union-attr]


def a_student_experience_run_api() -> dict[str, str]:
    from deployments.models import PipelineRun

    return {"pk": str(PipelineRun.objects.filter(service__slug="student-portal").order_by("pk").first().pk)}  # type: ignore[union-attr]


DEPLOYMENT_READERS = {"developer": OK, "team_lead": OK, "manager": OK, "platform_admin": OK}
CATALOGUE_WRITERS = {"developer": OK, "team_lead": OK, "platform_admin": OK}


def deployments_api_object(kwargs: Callable[[], dict[str, str]]) -> Expectation:
    return Expectation({None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, OK), Persona.AUDITOR: NOT_FOUND}, kwargs)


DEPLOYMENT_EXPECTATIONS: dict[str, Expectation] = {
    "deployments:list": page(),
    "deployments:detail": access_page(NOT_FOUND, a_student_experience_deployment, **DEPLOYMENT_READERS),
    "deployments:services": page(),
    "deployments:service_create": access_page(REFUSED, **CATALOGUE_WRITERS),
    "deployments:service": access_page(NOT_FOUND, a_student_experience_service, **DEPLOYMENT_READERS),
    "deployments:service_edit": access_page(
        NOT_FOUND, a_student_experience_service, **CATALOGUE_WRITERS, manager=REFUSED
    ),
    "deployments:service_delete": access_page(
        NOT_FOUND, a_student_experience_service, **CATALOGUE_WRITERS, manager=REFUSED
    ),
    "deployments:unmatched": page(),
    "deployments:workload_claim": access_page(
        NOT_FOUND, an_unmatched_student_experience_workload, **CATALOGUE_WRITERS, manager=REFUSED
    ),
    "service-list": api(),
    "service-detail": deployments_api_object(a_student_experience_service_api),
    "workload-list": api(),
    "workload-detail": deployments_api_object(a_student_experience_workload_api),
    "deployment-list": api(),
    "deployment-detail": deployments_api_object(a_student_experience_deployment),
    "deployment-matrix": api(),
    "pipelinerun-list": api(),
    "pipelinerun-detail": deployments_api_object(a_student_experience_run_api),
}
EXPECTATIONS.update(DEPLOYMENT_EXPECTATIONS)

# --- scorecards ------------------------------------------------------------------------------------
# What is expected of services is public: everyone signed in reads the scorecards and their rules (every
# persona holds scorecards.view through the viewer role). Only platform admins create, change or delete
# scorecards and rules, or ask for a re-evaluation: the others see the forms refused (403). A service's
# level and results are the service's: seen by who sees the service (the auditor gets 404).


def the_demo_scorecard() -> dict[str, str]:
    from scorecards.models import Scorecard

    return {"pk": str(Scorecard.objects.get(name="Production readiness").pk)}


def a_demo_rule() -> dict[str, str]:
    from scorecards.models import ScorecardRule

    return {"pk": str(ScorecardRule.objects.filter(scorecard__name="Production readiness").order_by("pk")[0].pk)}


def a_student_experience_score() -> dict[str, str]:
    from deployments.models import Service
    from scorecards.models import Scorecard, ServiceScore

    score, _ = ServiceScore.objects.get_or_create(
        service=Service.objects.get(slug="student-portal"),
        scorecard=Scorecard.objects.get(name="Production readiness"),
        defaults={"level": "bronze", "passed": 3, "total": 8, "evaluated_at": timezone.now()},
    )
    return {"pk": str(score.pk)}


SCORECARD_ADMINS = {"platform_admin": OK}

SCORECARD_EXPECTATIONS: dict[str, Expectation] = {
    "scorecards:list": page(),
    "scorecards:detail": page(the_demo_scorecard),
    "scorecards:create": access_page(REFUSED, **SCORECARD_ADMINS),
    "scorecards:edit": access_page(REFUSED, the_demo_scorecard, **SCORECARD_ADMINS),
    "scorecards:delete": access_page(REFUSED, the_demo_scorecard, **SCORECARD_ADMINS),
    "scorecards:evaluate": access_post(REFUSED, the_demo_scorecard, platform_admin=MOVED),
    "scorecards:rule_create": access_page(REFUSED, the_demo_scorecard, **SCORECARD_ADMINS),
    "scorecards:rule_edit": access_page(REFUSED, a_demo_rule, **SCORECARD_ADMINS),
    "scorecards:rule_delete": access_page(REFUSED, a_demo_rule, **SCORECARD_ADMINS),
    "scorecard-list": api(),
    "scorecard-detail": api(the_demo_scorecard),
    "servicescore-list": api(),
    "servicescore-detail": deployments_api_object(a_student_experience_score),
    "service-scorecards": deployments_api_object(a_student_experience_service_api),
}
EXPECTATIONS.update(SCORECARD_EXPECTATIONS)

# --- the catalogue's API beyond reading: claims, a workload's live view, webhook sources, scorecard writes -----
# As their pages: a workload's Kubernetes view is for whoever sees it, its logs take deployments.logs too (the
# manager sees the workload but may not read its logs: 403); the auditor sees no workload (404). A webhook source
# is changed by its team's developer and lead and the admin; the manager sees it (403 to act), the auditor does
# not (404). Claims and a source's services are written with POST (tests/test_authorisation_writes.py):
# a GET is not allowed. Only the platform admin asks a scorecard's evaluation (202); everyone reads the rules.

TEAM_AND_ADMIN_NOT_MANAGER: dict[Persona | None, Outcome] = {
    None: UNAUTHENTICATED,
    **dict.fromkeys(SIGNED_IN, OK),
    Persona.MANAGER: REFUSED,
    Persona.AUDITOR: NOT_FOUND,
}
NOT_A_READ: dict[Persona | None, Outcome] = {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}

CATALOGUE_API_EXPECTATIONS: dict[str, Expectation] = {
    "workload-claim": Expectation(NOT_A_READ, an_unmatched_student_experience_workload),
    "workload-kubernetes": deployments_api_object(a_student_experience_workload),
    "workload-logs": Expectation(
        TEAM_AND_ADMIN_NOT_MANAGER, a_student_experience_workload, query={"pod": "api-0", "tail": "20"}
    ),
    "webhooksource-list": api(),
    "webhooksource-detail": deployments_api_object(a_student_experience_webhook_source),
    "webhooksource-rotate": Expectation(TEAM_AND_ADMIN_NOT_MANAGER, a_student_experience_webhook_source, method="post"),
    "webhooksource-deactivate": Expectation(
        TEAM_AND_ADMIN_NOT_MANAGER, a_student_experience_webhook_source, method="post"
    ),
    "webhooksource-services": Expectation(NOT_A_READ, a_student_experience_webhook_source),
    "scorecard-evaluate": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, REFUSED), Persona.PLATFORM_ADMIN: answers(202)},
        the_demo_scorecard,
        method="post",
    ),
    "scorecardrule-list": api(),
    "scorecardrule-detail": api(a_demo_rule),
}
EXPECTATIONS.update(CATALOGUE_API_EXPECTATIONS)

# --- region provisioning ---------------------------------------------------------------------------
# Region requests are inventory: everyone signed in reads them and their plans (every persona holds
# inventory.view everywhere). Only platform admins ask for a region (inventory.add) and act on a request
# (inventory.change): the others may see it but not act (403); the admin's actions redirect to the page.


def a_region_request() -> dict[str, str]:
    from regions.models import RegionRequest

    request, _ = RegionRequest.objects.get_or_create(
        provider="aws",
        code="eu-south-1",
        defaults={
            "residency_zone": "EU",
            "dr_partner_code": "eu-west-3",
            "account": CloudAccount.objects.get(provider="aws"),
            "justification": "Closer to the students in Italy.",
            "requested_by": User.objects.get(username=username_of(Persona.PLATFORM_ADMIN)),
        },
    )
    return {"pk": str(request.pk)}


def an_aws_account() -> dict[str, str]:
    return {"pk": str(CloudAccount.objects.get(provider="aws").pk)}


def an_aws_policy() -> dict[str, str]:
    return {"name": "aws-portal-policy.json"}


REGION_EXPECTATIONS: dict[str, Expectation] = {
    "regions:check": access_post(REFUSED, demo_region, platform_admin=MOVED),
    # --- the permissions pre-flight: everyone reads an account's page and the policies to grant; only platform
    # admins (inventory.change) check access, from the page (then back to it) or the API.
    "regions:account": page(an_aws_account),
    "regions:account_check_access": access_post(REFUSED, an_aws_account, platform_admin=MOVED),
    "regions:cluster_check_access": access_post(REFUSED, demo_cluster, platform_admin=MOVED),
    "regions:policy_file": page(an_aws_policy),
    "cloudaccount-check-access": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, REFUSED), Persona.PLATFORM_ADMIN: OK},
        first_of(CloudAccount),
        method="post",
    ),
    "cluster-check-access": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, REFUSED), Persona.PLATFORM_ADMIN: OK},
        first_of(Cluster),
        method="post",
    ),
    "regions:requests": page(),
    # --- data residency (branch residency): everyone signed in; what it lists is scoped by the policy ---
    "regions:residency": page(),
    "region-residency": api(),
    "regions:request_create": access_page(REFUSED, **ADMIN_ONLY),
    "regions:request_preview": access_post(REFUSED, **ADMIN_ONLY),
    "regions:request": page(a_region_request),
    "regions:request_plan": page(a_region_request),
    "regions:request_run": page(a_region_request),
    "regions:request_retry": access_post(REFUSED, a_region_request, platform_admin=MOVED),
    "regions:request_rollback": access_post(REFUSED, a_region_request, platform_admin=MOVED),
    "regions:request_cancel": access_post(REFUSED, a_region_request, platform_admin=MOVED),
    "regionrequest-list": api(),
    "regionrequest-detail": api(a_region_request),
    "regionrequest-plan": api(a_region_request),
    # The page's actions by API are POSTs (tests/regions/test_api_actions.py acts as each persona).
    **{
        f"regionrequest-{name}": Expectation(
            {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, a_region_request
        )
        for name in ("cancel", "retry", "rollback")
    },
    # Asking the cloud which Kubernetes versions it offers is for those who may request a region; without an
    # account and a region the admin hears which to give (400), everyone else is refused before the cloud is asked.
    "regionrequest-kubernetes-versions": Expectation(
        {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, REFUSED), Persona.PLATFORM_ADMIN: answers(400)}
    ),
    # Residency zones: everyone signed in sees which zone each known region counts as; moving one is a POST
    # for platform admins (inventory.residency), checked in tests/regions/test_residency_zones.py.
    "regions:zones": page(),
    "regions:request_kubernetes_versions": access_page(REFUSED, **ADMIN_ONLY),
    "region-zones": api(),
}
EXPECTATIONS.update(REGION_EXPECTATIONS)


# Failovers are inventory too: everyone signed in reads them; only platform admins ask for one
# (inventory.add on the region) and retry or cancel one (inventory.change); the others may see but not act (403).
def a_region_with_a_partner() -> dict[str, str]:
    region = Region.objects.select_related("dr_partner").get(provider="aws", code="eu-west-1")
    return {"provider": region.provider, "code": region.code}


def a_failover() -> dict[str, str]:
    from regions.models import FailoverRequest

    region = Region.objects.get(provider="aws", code="eu-west-1")
    partner = region.dr_partner or Region.objects.filter(residency_zone="EU").exclude(pk=region.pk).first()
    assert partner is not None
    failover, _ = FailoverRequest.objects.get_or_create(
        region=region,
        defaults={
            "partner": partner,
            "database": "portal-eu-west-1-db",
            "reason": "The region is down.",
            "requested_by": User.objects.get(username=username_of(Persona.PLATFORM_ADMIN)),
        },
    )
    return {"pk": str(failover.pk)}


FAILOVER_EXPECTATIONS: dict[str, Expectation] = {
    "regions:failover_create": access_page(REFUSED, a_region_with_a_partner, **ADMIN_ONLY),
    "regions:failover": page(a_failover),
    "regions:failover_run": page(a_failover),
    "regions:failover_retry": access_post(REFUSED, a_failover, platform_admin=MOVED),
    "regions:failover_cancel": access_post(REFUSED, a_failover, platform_admin=MOVED),
    "failoverrequest-list": api(),
    "failoverrequest-detail": api(a_failover),
    # Cancelling and retrying by API are POSTs (tests/regions/test_api_actions.py acts as each persona).
    **{
        f"failoverrequest-{name}": Expectation(
            {None: UNAUTHENTICATED, **dict.fromkeys(SIGNED_IN, NOT_ALLOWED)}, a_failover
        )
        for name in ("cancel", "retry")
    },
}
EXPECTATIONS.update(FAILOVER_EXPECTATIONS)

# Everything under the admin namespace is one group: the admin site decides for all of its pages.
ADMIN_NAMESPACE = "admin:"
ADMIN_EXPECTATION = Expectation(
    {
        None: TO_ADMIN_SIGN_IN,
        Persona.DEVELOPER: TO_ADMIN_SIGN_IN,
        Persona.TEAM_LEAD: TO_ADMIN_SIGN_IN,
        Persona.MANAGER: TO_ADMIN_SIGN_IN,
        Persona.PLATFORM_ADMIN: OK,
        Persona.AUDITOR: TO_ADMIN_SIGN_IN,
    }
)


def is_covered(name: str) -> bool:
    return name in EXPECTATIONS or name.startswith(ADMIN_NAMESPACE)


def checked_routes() -> list[Route]:
    """One route per name and variant: the admin's index and model lists, and every declared URL."""
    seen: dict[str, Route] = {}
    for route in all_routes():
        if route.name.startswith(ADMIN_NAMESPACE):
            if route.name != "admin:index" and not route.name.endswith("_changelist"):
                continue
        elif route.name not in EXPECTATIONS:
            continue
        seen.setdefault(route.label, route)
    return list(seen.values())


def expectation_for(route: Route) -> Expectation:
    return ADMIN_EXPECTATION if route.name.startswith(ADMIN_NAMESPACE) else EXPECTATIONS[route.name]


def url_for(route: Route, expectation: Expectation) -> str:
    kwargs = expectation.kwargs()
    if route.takes_format:
        kwargs["format"] = "json"
    return reverse(route.name, kwargs=kwargs)


# --- cost sources and attribution rules (branch cost-sources) ----------------------------------
# Sources and rules belong to no team, like the price table: managers and platform admins open the
# pages and change them; everyone else gets 403 on a page and 404 on a source or rule. The API lists
# them scoped (empty for the others) and answers 404 on one outside the caller's grants.


def a_cost_source() -> dict[str, str]:
    from costs.models import CostSource

    source, _ = CostSource.objects.get_or_create(
        name="aws-focus",
        defaults={
            "kind": "focus_export",
            "account": CloudAccount.objects.order_by("pk").first(),
            "bucket": "focus-exports",
        },
    )
    return {"pk": str(source.pk)}


def an_attribution_rule() -> dict[str, str]:
    from costs.models import AttributionRule

    rule, _ = AttributionRule.objects.get_or_create(
        kind="tag", key="cost-center", value="cc-42", defaults={"team": Team.objects.order_by("pk").first()}
    )
    return {"pk": str(rule.pk)}


COST_READERS_API: dict[Persona | None, Outcome] = {
    None: UNAUTHENTICATED,
    **dict.fromkeys(SIGNED_IN, NOT_FOUND),
    Persona.MANAGER: OK,
    Persona.PLATFORM_ADMIN: OK,
}
COST_SOURCE_EXPECTATIONS: dict[str, Expectation] = {
    "costs:sources": access_page(REFUSED, **COST_READERS),
    "costs:source_create": access_page(REFUSED, **COST_READERS),
    "costs:source_edit": access_page(NOT_FOUND, a_cost_source, **COST_READERS),
    "costs:source_import": access_post(NOT_FOUND, a_cost_source, platform_admin=MOVED, manager=MOVED),
    "costs:upload": access_page(REFUSED, **COST_READERS),
    "costs:rules": access_page(REFUSED, **COST_READERS),
    "costs:rule_delete": access_page(NOT_FOUND, an_attribution_rule, **COST_READERS),
    "costs:reattribute": access_post(REFUSED, platform_admin=MOVED, manager=MOVED),
    "costsource-list": api(),
    "costsource-detail": Expectation(COST_READERS_API, a_cost_source),
    # Import now: started (202) for who may change sources; a source outside one's grants does not exist.
    "costsource-import-now": Expectation(
        {**COST_READERS_API, Persona.MANAGER: answers(202), Persona.PLATFORM_ADMIN: answers(202)},
        a_cost_source,
        method="post",
    ),
    # Upload a FOCUS file: who may change sources reaches the checks (no file here, and not an upload source:
    # 400); a source outside one's grants does not exist.
    "costsource-upload": Expectation(
        {**COST_READERS_API, Persona.MANAGER: answers(400), Persona.PLATFORM_ADMIN: answers(400)},
        a_cost_source,
        method="post",
    ),
    "attributionrule-list": api(),
    "attributionrule-detail": Expectation(COST_READERS_API, an_attribution_rule),
}
EXPECTATIONS.update(COST_SOURCE_EXPECTATIONS)

MATRIX = [
    pytest.param(route, who, id=f"{route.label}-{persona_label(who)}") for route in checked_routes() for who in PERSONAS
]


# --- the tests ---------------------------------------------------------------


def test_every_url_pattern_has_a_declared_expectation() -> None:
    uncovered = sorted({f"{route.name} ({route.route})" for route in all_routes() if not is_covered(route.name)})

    assert not uncovered, "URL patterns with no declared expectation in EXPECTATIONS:\n  " + "\n  ".join(uncovered)


def test_every_declared_expectation_names_a_url_that_exists() -> None:
    names = {route.name for route in all_routes()}

    assert not set(EXPECTATIONS) - names, f"expectations for URLs that no longer exist: {set(EXPECTATIONS) - names}"


def test_the_admin_group_covers_the_admin_index() -> None:
    assert "admin:index" in {route.name for route in checked_routes()}


@pytest.mark.parametrize(("route", "who"), MATRIX)
def test_each_persona_gets_the_declared_answer_from_each_url(
    route: Route, who: Persona | None, client_for: Callable[[Persona | None], Client]
) -> None:
    expectation = expectation_for(route)
    expected = expectation.outcomes[who]
    url = url_for(route, expectation)

    response = getattr(client_for(who), expectation.method)(url, expectation.query)

    assert response.status_code in expected.statuses, (
        f"{persona_label(who)} got {response.status_code} from {url}, expected {expected}"
    )
    if expected.location is not None:
        location = response.headers["Location"]
        assert location.split("?")[0] == expected.location, f"{url} redirected to {location}"


@pytest.mark.parametrize("who", SIGNED_IN, ids=persona_label)
def test_signing_out_by_post_ends_the_session(who: Persona, client_for: Callable[[Persona | None], Client]) -> None:
    client = client_for(who)

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert response.headers["Location"] == SIGN_IN
    assert client.get(reverse("home")).status_code == 302


# --- objects that do not exist -----------------------------------------------

MISSING_PAGES = [
    pytest.param("regions:detail", {"provider": "aws", "code": "no-such-region"}, id="unknown-region-code"),
    pytest.param("regions:detail", {"provider": "no-such-cloud", "code": "eu-west-1"}, id="unknown-provider"),
    pytest.param(
        "regions:cluster", {"provider": "aws", "code": "eu-west-1", "name": "no-such-cluster"}, id="unknown-cluster"
    ),
    pytest.param(
        "regions:cluster",
        {"provider": "aws", "code": "us-east-1", "name": "eks-eu-west-1"},
        id="cluster-under-another-region",
    ),
]

# API routes only: pages about a missing object answer the HTML 404 page (checked above and per app).
API_DETAIL_ROUTES = sorted(
    {route.name for route in all_routes() if "pk" in route.kwargs and route.route.startswith("api/")}
)


@pytest.mark.parametrize(("name", "kwargs"), MISSING_PAGES)
@pytest.mark.parametrize("who", SIGNED_IN, ids=persona_label)
def test_a_page_about_an_object_that_does_not_exist_is_a_404(
    name: str, kwargs: dict[str, str], who: Persona, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(who).get(reverse(name, kwargs=kwargs))

    assert response.status_code == 404
    assert b"Page not found" in response.content


@pytest.mark.parametrize("pk", ["999999999", "not-a-number"])
@pytest.mark.parametrize("name", API_DETAIL_ROUTES)
@pytest.mark.parametrize("who", SIGNED_IN, ids=persona_label)
def test_an_api_detail_route_for_an_id_that_does_not_exist_is_a_structured_404(
    name: str, pk: str, who: Persona, client_for: Callable[[Persona | None], Client]
) -> None:
    url = reverse(name, kwargs={"pk": pk})
    actions = getattr(resolve(url).func, "actions", {"get": "retrieve"})  # a POST-only action is asked by POST
    response = getattr(client_for(who), "get" if "get" in actions else "post")(url)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
