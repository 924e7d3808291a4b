"""Every privileged action writes its audit event: one, naming the actor and the object, in the action's transaction.

``TRIGGERS`` maps each verb of :mod:`access.audit.services` to the ways the portal
performs that action (through its service or its view). A verb not in
``TRIGGERS`` fails the build, so a new verb cannot ship without a test
proving its action records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from allauth.core.context import request_context
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Model
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from access import services
from access.audit import services as audit
from access.models import AccessReview, AccessReviewItem, ApiToken, AuditEvent, Grant, Membership, Role, Team, User
from access.permissions import BuiltinRole
from access.sso import allauth_apps, parse_providers
from access.tokens import services as token_services
from approvals.models import ApprovalRequest
from approvals.services import decide as approve
from costs import services as cost_services
from costs.choices import RecommendationAction, RecommendationKind
from costs.models import PriceItem, Recommendation
from costs.savings import services as savings
from deployments.models import FreezeWindow, RollbackRequest
from deployments.rollbacks import freezes
from deployments.rollbacks.services import ROLLBACKS, rollback_cancel, rollback_request, rollback_retry
from environments import services as environment_services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from portal.demo import DEMO_PASSWORD, Persona
from providers.sandbox.cluster import SandboxClusterDriver
from regions.admin import CloudAccountForm, ClusterForm
from regions.drivers import cluster_driver_for
from regions.models import CloudAccount, Cluster
from tests.access.tampering import FORGED_INSERT, forged_event
from tests.deployments.cluster_objects import seed_deployment
from tests.factories import (
    PASSWORD,
    ApiTokenFactory,
    AzureClientSecretAccountFactory,
    RoleFactory,
    SsoRuleFactory,
    UserFactory,
    api_token_secret,
    kubeconfig_for,
    make_workload,
)
from workflows.models import Run, RunStatus, StepStatus

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo


@dataclass(frozen=True)
class Expected:
    """Who the event must name as actor (None and a label for the system) and which object."""

    actor: User | None
    object_type: str
    object_id: str
    actor_label: str | None = None

    @classmethod
    def of(cls, actor: User | None, obj: Model, *, object_id: Any = None, actor_label: str | None = None) -> Expected:
        return cls(actor, obj._meta.label_lower, str(object_id if object_id is not None else obj.pk), actor_label)


Trigger = Callable[["World"], Expected]


@dataclass
class World:
    """The demo platform and its people, for triggers to act in."""

    persona: Callable[[Persona], User]

    @property
    def admin(self) -> User:
        return self.persona(Persona.PLATFORM_ADMIN)

    def team(self, slug: str = "tutor-tools") -> Team:
        return Team.objects.get(slug=slug)

    def newcomer(self) -> User:
        newcomer: User = UserFactory.create(username="newcomer")
        return newcomer

    def client(self, who: Persona) -> Client:
        client = Client()
        client.force_login(self.persona(who))
        return client

    def browser(self) -> Client:
        """A browser from an address of its own, so sign-in rate limits (kept in Redis) never add up across runs."""
        number = uuid.uuid4().int
        return Client(REMOTE_ADDR=f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250 + 1}")


# --- the triggers ------------------------------------------------------------------


def grant_by_an_admin(world: World) -> Expected:
    grant = services.grant_create(
        actor=world.admin, role=Role.objects.get(slug=BuiltinRole.DEVELOPER), user=world.newcomer(), reason="Joins."
    )
    return Expected.of(world.admin, grant)


def grant_by_an_sso_rule(world: World) -> Expected:
    SsoRuleFactory.create(value="developers", role=Role.objects.get(slug=BuiltinRole.DEVELOPER))
    user = world.newcomer()
    services.sso_apply(user=user, provider="entra", claims={"groups": ["developers"]})
    return Expected.of(None, Grant.objects.get(user=user, source=Grant.Source.SSO), actor_label="sso")


def revoke_by_an_admin(world: World) -> Expected:
    grant = Grant.objects.create(
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER), user=world.newcomer(), reason="Temporary."
    )
    services.grant_revoke(actor=world.admin, grant_id=grant.pk, reason="No longer needed.")
    return Expected.of(world.admin, grant)


def revoke_by_an_sso_sign_in_without_the_group(world: World) -> Expected:
    user = world.newcomer()
    grant = Grant.objects.create(
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER),
        user=user,
        reason="SSO",
        source=Grant.Source.SSO,
        sso_rule=SsoRuleFactory.create(value="old-group", role=Role.objects.get(slug=BuiltinRole.DEVELOPER)),
    )
    services.sso_apply(user=user, provider="entra", claims={"groups": []})
    return Expected.of(None, grant, actor_label="sso")


def create_a_team(world: World) -> Expected:
    team = services.team_create(actor=world.admin, slug="new-team", name="New Team")
    return Expected.of(world.admin, team)


def add_a_member(world: World) -> Expected:
    membership = services.membership_set(actor=world.admin, team=world.team(), user=world.newcomer())
    return Expected.of(world.admin, membership)


def add_a_member_by_sso(world: World) -> Expected:
    SsoRuleFactory.create(value="tutors", team=world.team())
    user = world.newcomer()
    services.sso_apply(user=user, provider="google", claims={"groups": "tutors"})
    return Expected.of(None, Membership.objects.get(user=user), actor_label="sso")


def make_a_member_lead(world: World) -> Expected:
    membership = Membership.objects.create(team=world.team(), user=world.newcomer())
    services.membership_set(actor=world.admin, team=world.team(), user=membership.user, role=Membership.Role.LEAD)
    return Expected.of(world.admin, membership)


def remove_a_member(world: World) -> Expected:
    membership = Membership.objects.create(team=world.team(), user=world.newcomer())
    services.membership_remove(actor=world.admin, team=world.team(), user=membership.user)
    return Expected.of(world.admin, Membership(), object_id=membership.pk)


def remove_a_member_by_sso(world: World) -> Expected:
    rule = SsoRuleFactory.create(value="tutors", team=world.team())
    membership = Membership.objects.create(team=world.team(), user=world.newcomer(), sso_rule=rule)
    services.sso_apply(user=membership.user, provider="google", claims={"groups": ["someone-else"]})
    return Expected.of(None, Membership(), object_id=membership.pk, actor_label="sso")


def export_the_audit_log(world: World) -> Expected:
    response = world.client(Persona.AUDITOR).get(reverse("access:audit-export"))
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return Expected(world.persona(Persona.AUDITOR), "", "")


def upgrade_a_log_written_before_the_chain_was_keyed(world: World) -> Expected:
    newest = AuditEvent.objects.order_by("-pk").values_list("hash", flat=True).first() or audit.GENESIS
    with connection.cursor() as cursor:
        cursor.execute(FORGED_INSERT, forged_event(verb=audit.SIGN_IN, object_repr="", previous_hash=newest))
        (unkeyed,) = cursor.fetchone()
    audit.unkeyed_chain_seal()
    return Expected(None, "access.auditevent", str(unkeyed), actor_label="system")


def export_costs_from_the_breakdown_page(world: World) -> Expected:
    response = world.client(Persona.MANAGER).get(reverse("costs:export"), {"by": "service", "rows": "series"})
    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return Expected(world.persona(Persona.MANAGER), "", "")


def export_the_savings(world: World) -> Expected:
    response = world.client(Persona.PLATFORM_ADMIN).get(reverse("costs:savings_export"))
    assert response.status_code == 200
    return Expected(world.admin, "", "")


def export_costs_through_the_api(world: World) -> Expected:
    response = world.client(Persona.PLATFORM_ADMIN).get(reverse("cost-breakdown-export"), {"by": "team"})
    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return Expected(world.admin, "", "")


# Sign-in, failed sign-in and sign-out go through the real allauth views. The test
# client calls the view in this thread, on this database connection, so the request
# runs inside the trigger's transaction and its events roll back with it: the
# harness needs no change for them. (Only Redis, where allauth counts failures,
# outlives the rollback; each trigger signs in from a fresh address and as a
# fresh person, so repeated runs never reach the lockout.)


def someone_with_a_password() -> User:
    user: User = UserFactory.create(username=f"local-{uuid.uuid4().hex[:8]}")  # password: PASSWORD
    return user


def sign_in_with_username_and_password(world: World) -> Expected:
    user = someone_with_a_password()
    response = world.browser().post("/accounts/login/", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return Expected.of(user, user)


def sign_in_with_a_wrong_password(world: World) -> Expected:
    user = someone_with_a_password()
    # A password the secrets check of tests/access/test_audit.py looks for: it must not be recorded.
    response = world.browser().post("/accounts/login/", {"login": user.username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.status_code
    return Expected(None, "", "", actor_label=user.username)


def sign_out(world: World) -> Expected:
    user = someone_with_a_password()
    browser = world.browser()
    browser.force_login(user)  # Django's login, not allauth's: no sign-in event of its own
    response = browser.post("/accounts/logout/")
    assert response.status_code == 302, response.status_code
    return Expected.of(user, user)


# The e-mail change happens only in an SSO sign-in, after the IdP's callback. The
# end-to-end flow (tests/access/test_sso.py) needs the live server, whose requests
# run on other connections and commit, so it cannot run in a rolled-back
# transaction. This trigger takes the same code path from where allauth hands the
# IdP's answer to the portal: a SocialLogin with the IdP's new claims, looked up by
# allauth (provider + subject) and given to the portal's adapter (pre_social_login)
# under a configured provider. Nothing of allauth is mocked.
IDP = "test-idp"
IDP_APPS = allauth_apps(
    parse_providers(
        [
            {
                "id": IDP,
                "name": "Test IdP",
                "kind": "oidc",
                "server_url": "https://idp.example.com/o",
                "client_id": "portal",
                "client_secret": "test-idp-client-secret",
            }
        ]
    )
)


def sso_sign_in_after_the_idp_changed_the_e_mail(world: World) -> Expected:
    user = world.newcomer()
    subject = uuid.uuid4().hex
    SocialAccount.objects.create(user=user, provider=IDP, uid=subject, extra_data={"sub": subject})
    claims = {"sub": subject, "email": "renamed@example.com", "email_verified": True}
    request = RequestFactory().get(f"/accounts/oidc/{IDP}/login/callback/")
    with (
        override_settings(SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": IDP_APPS}}),
        request_context(request),
    ):
        sociallogin = SocialLogin(account=SocialAccount(provider=IDP, uid=subject, extra_data=claims), user=User())
        sociallogin.lookup()
        assert sociallogin.is_existing
        get_social_adapter(request).pre_social_login(request, sociallogin)
    user.refresh_from_db()
    assert user.email == "renamed@example.com"
    return Expected.of(user, user)


def link_an_identity_in_the_django_admin(world: World) -> Expected:
    with override_settings(SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": IDP_APPS}}):
        response = world.client(Persona.PLATFORM_ADMIN).post(
            reverse("admin:socialaccount_socialaccount_add"),
            {"user": world.newcomer().pk, "provider": IDP, "uid": uuid.uuid4().hex},
        )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, SocialAccount.objects.get(user__username="newcomer"))


def move_an_identity_to_another_account_in_the_django_admin(world: World) -> Expected:
    account = SocialAccount.objects.create(user=world.newcomer(), provider=IDP, uid=uuid.uuid4().hex)
    with override_settings(SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": IDP_APPS}}):
        response = world.client(Persona.PLATFORM_ADMIN).post(
            reverse("admin:socialaccount_socialaccount_change", args=[account.pk]),
            {"user": UserFactory.create(username="rightful-owner").pk, "provider": IDP, "uid": account.uid},
        )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, account)


def unlink_an_identity_in_the_django_admin(world: World) -> Expected:
    account = SocialAccount.objects.create(user=world.newcomer(), provider=IDP, uid=uuid.uuid4().hex)
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("admin:socialaccount_socialaccount_delete", args=[account.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.status_code
    return Expected(world.admin, "socialaccount.socialaccount", str(account.pk))


def create_a_role(world: World) -> Expected:
    role = services.role_create(
        actor=world.admin, slug="release-reader", name="Release reader", permission_names=["inventory.view"]
    )
    return Expected.of(world.admin, role)


def change_a_role(world: World) -> Expected:
    role: Role = RoleFactory.create()
    services.role_update(
        actor=world.admin, role_id=role.pk, name="Renamed role", permission_names=[*role.permissions, "teams.view"]
    )
    return Expected.of(world.admin, role)


def delete_a_role(world: World) -> Expected:
    role: Role = RoleFactory.create()
    services.role_delete(actor=world.admin, role_id=role.pk)
    return Expected.of(world.admin, Role(), object_id=role.pk)


def create_an_sso_rule(world: World) -> Expected:
    rule = services.sso_rule_create(
        actor=world.admin,
        name="Tutor tools developers",
        claim="groups",
        value="tutor-tools-developers",
        team=world.team(),
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER),
        scope_team=world.team(),
    )
    return Expected.of(world.admin, rule)


def change_an_sso_rule(world: World) -> Expected:
    rule = SsoRuleFactory.create(value="tutors", team=world.team())
    services.sso_rule_update(actor=world.admin, rule_id=rule.pk, value="all-tutors")
    return Expected.of(world.admin, rule)


def disable_an_sso_rule(world: World) -> Expected:
    rule = SsoRuleFactory.create(value="tutors", team=world.team())
    services.sso_rule_update(actor=world.admin, rule_id=rule.pk, enabled=False)
    return Expected.of(world.admin, rule)


def delete_an_sso_rule(world: World) -> Expected:
    rule = SsoRuleFactory.create(value="tutors", team=world.team())
    services.sso_rule_delete(actor=world.admin, rule_id=rule.pk)
    return Expected.of(world.admin, rule, object_id=rule.pk)


def rename_a_team(world: World) -> Expected:
    team = services.team_update(actor=world.admin, team_id=world.team().pk, name="Tutor Tools (renamed)")
    return Expected.of(world.admin, team)


def move_a_team_to_another_residency_zone_on_its_page(world: World) -> Expected:
    team = world.team()
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_edit", args=[team.pk]), {"name": team.name, "residency_zone": "EU"}
    )
    assert response.status_code == 302, response.status_code
    assert Team.objects.get(pk=team.pk).residency_zone == "EU"
    return Expected.of(world.admin, team)


# API tokens: besides the one event, the token's secret (and its hash) must appear in
# no event. The check is part of the triggers, so it also runs in the no-secrets test
# of tests/access/test_audit.py, which runs every trigger.


def secret_part_of(raw: str) -> str:
    """The random part of ``ppt_<prefix>_<secret>`` (which may itself contain ``_``)."""
    return raw.removeprefix("ppt_").partition("_")[2]


def assert_the_log_holds_none_of(*secrets: str) -> None:
    for event in AuditEvent.objects.all():
        text = " ".join(
            str(part)
            for part in (event.before, event.after, event.extra, event.object_repr, event.actor_label, event.object_id)
        )
        for secret in secrets:
            assert secret not in text, f"{event.verb}: event {event.pk} holds a token secret"


def create_an_api_token(world: World) -> Expected:
    developer = world.persona(Persona.DEVELOPER)
    new = token_services.api_token_create(
        actor=developer,
        name="deploy pipeline",
        team=developer.memberships.get().team,
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER),
        expires_at=timezone.now() + timedelta(days=30),
    )
    assert_the_log_holds_none_of(new.secret, secret_part_of(new.secret), new.token.secret_hash)
    return Expected.of(developer, new.token)


def revoke_an_api_token(world: World) -> Expected:
    developer = world.persona(Persona.DEVELOPER)
    token: ApiToken = ApiTokenFactory.create(owner=developer, team=developer.memberships.get().team)
    token_services.api_token_revoke(actor=developer, token_id=token.pk)
    secret = api_token_secret(token)
    assert_the_log_holds_none_of(secret, secret_part_of(secret), token.secret_hash)
    return Expected.of(developer, token)


def revoke_someone_elses_api_token_as_an_admin(world: World) -> Expected:
    developer = world.persona(Persona.DEVELOPER)
    token: ApiToken = ApiTokenFactory.create(owner=developer, team=developer.memberships.get().team)
    token_services.api_token_revoke(actor=world.admin, token_id=token.pk)
    assert_the_log_holds_none_of(api_token_secret(token), token.secret_hash)
    return Expected.of(world.admin, token)


def open_a_review(world: World) -> AccessReview:
    return services.access_review_open(
        actor=world.admin, name=f"Review {uuid.uuid4().hex[:6]}", deadline=timezone.now() + timedelta(days=14)
    )


def open_an_access_review(world: World) -> Expected:
    review = open_a_review(world)
    assert review.items.exists(), "the demo has grants to review"
    return Expected.of(world.admin, review)


def an_item_of(review: AccessReview, reviewer: User) -> AccessReviewItem:
    item = review.items.exclude(grant__user=reviewer).order_by("pk").first()
    assert item is not None, "the review has an item someone other than the reviewer holds"
    return item


def confirm_a_grant_in_a_review(world: World) -> Expected:
    item = an_item_of(open_a_review(world), world.admin)
    services.access_review_decide(actor=world.admin, item_id=item.pk, decision=AccessReviewItem.Decision.CONFIRMED)
    return Expected.of(world.admin, item)


def revoke_a_grant_in_a_review(world: World) -> Expected:
    item = an_item_of(open_a_review(world), world.admin)
    services.access_review_decide(
        actor=world.admin, item_id=item.pk, decision=AccessReviewItem.Decision.REVOKED, note="Not needed any more."
    )
    return Expected.of(world.admin, item)


def close_an_access_review(world: World) -> Expected:
    review = open_a_review(world)
    services.access_review_close(actor=world.admin, review_id=review.pk)
    return Expected.of(world.admin, review)


def close_an_access_review_at_its_deadline(world: World) -> Expected:
    review = open_a_review(world)
    # What the beat task (access.tasks.expire_overdue_reviews) runs, once the deadline has passed.
    closed = services.access_reviews_expire_overdue(now=review.deadline + timedelta(minutes=1))
    assert closed == [review.pk]
    return Expected.of(None, review, actor_label="system")


# --- secrets held by the portal -------------------------------------------------------


def replace_a_client_secret_in_the_django_admin(world: World) -> Expected:
    account = CloudAccount.objects.get(pk=AzureClientSecretAccountFactory.create().pk)
    form = {name: str(getattr(account, name)) for name in CloudAccountForm.Meta.fields}
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cloudaccount_change", args=[account.pk]), {**form, "new_client_secret": "rotated-value"}
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, account)


def set_a_client_secret(world: World) -> Expected:
    account = CloudAccount.objects.get(pk=AzureClientSecretAccountFactory.create(client_secret="").pk)
    account.set_client_secret("first-value", actor=world.admin)
    return Expected.of(world.admin, account)


def k3s_cluster_of_the_demo() -> Cluster:
    return Cluster.objects.filter(kind="k3s").order_by("pk").first() or pytest.fail("the demo has k3s clusters")


def set_a_cluster_kubeconfig(world: World) -> Expected:
    cluster = k3s_cluster_of_the_demo()
    cluster.set_kubeconfig(
        kubeconfig_for("https://k3s-9-1.centres.example:6443", token="replaced-token"), actor=world.admin
    )
    return Expected.of(world.admin, cluster)


def replace_a_cluster_kubeconfig_in_the_django_admin(world: World) -> Expected:
    cluster = k3s_cluster_of_the_demo()
    form = {name: str(getattr(cluster, name)) for name in ClusterForm.Meta.fields}
    form["region"] = str(cluster.region_id)
    inline = {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cluster_change", args=[cluster.pk]),
        {
            **form,
            **{f"node_pools-{key}": value for key, value in inline.items()},
            "new_kubeconfig": kubeconfig_for("https://k3s-9-2.centres.example:6443", token="rotated-token"),
        },
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, cluster)


def reencrypt_every_secret(world: World) -> Expected:
    call_command("reencrypt_secrets", stdout=StringIO())
    return Expected(None, "portal.encryption_keys", "", actor_label="system")


# --- the Django admin ---------------------------------------------------------------

NO_INLINE_MEMBERS = {
    "memberships-TOTAL_FORMS": "0",
    "memberships-INITIAL_FORMS": "0",
    "memberships-MIN_NUM_FORMS": "0",
    "memberships-MAX_NUM_FORMS": "1000",
}


def add_a_team_in_the_django_admin(world: World) -> Expected:
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("admin:access_team_add"), {"slug": "night-shift", "name": "Night Shift", **NO_INLINE_MEMBERS}
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, Team.objects.get(slug="night-shift"))


def change_a_team_in_the_django_admin(world: World) -> Expected:
    team = world.team()
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("admin:access_team_change", args=[team.pk]),
        {"slug": team.slug, "name": "Tutor Tools (renamed)", **NO_INLINE_MEMBERS},
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, team)


def delete_a_team_in_the_django_admin(world: World) -> Expected:
    team = Team.objects.create(slug="short-lived", name="Short-lived")
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("admin:access_team_delete", args=[team.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.status_code
    return Expected(world.admin, "access.team", str(team.pk))


# --- approvals ---------------------------------------------------------------------------


def _region_approval(world: World, required: int = 1) -> Any:
    from approvals.services import request_approval
    from regions.models import Region

    return request_approval(
        Region.objects.get(provider="aws", code="eu-west-1"),
        purpose="regions.build",
        requested_by=world.persona(Persona.DEVELOPER),
        summary="Build eu-west-1",
        required_approvals=required,
    )


def ask_for_approval(world: World) -> Expected:
    request = _region_approval(world)
    return Expected.of(world.persona(Persona.DEVELOPER), request)


def approve_a_request_on_its_page(world: World) -> Expected:
    request = _region_approval(world)
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("approvals:decide", args=[request.pk]), {"verdict": "approve"}
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, request)


def reject_a_request_on_its_page(world: World) -> Expected:
    request = _region_approval(world)
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("approvals:decide", args=[request.pk]), {"verdict": "reject", "reason": "Not this quarter."}
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, request)


def withdraw_a_request_on_its_page(world: World) -> Expected:
    request = _region_approval(world)
    response = world.client(Persona.DEVELOPER).post(reverse("approvals:withdraw", args=[request.pk]))
    assert response.status_code == 302, response.status_code
    return Expected.of(world.persona(Persona.DEVELOPER), request)


# --- API sign-in (JWT) --------------------------------------------------------------------


def _password_pair(world: World) -> dict[str, str]:
    response = world.browser().post(
        "/api/auth/token/",
        {"username": world.persona(Persona.DEVELOPER).username, "password": DEMO_PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.status_code
    pair: dict[str, str] = response.json()
    return pair


def get_a_jwt_pair_with_a_password(world: World) -> Expected:
    _password_pair(world)
    developer = world.persona(Persona.DEVELOPER)
    return Expected.of(developer, developer)


def get_a_jwt_pair_for_the_browser_session(world: World) -> Expected:
    response = world.client(Persona.MANAGER).post("/api/auth/token/")
    assert response.status_code == 200, response.status_code
    manager = world.persona(Persona.MANAGER)
    return Expected.of(manager, manager)


def revoke_a_refresh_token(world: World) -> Expected:
    pair = _password_pair(world)
    response = Client().post("/api/auth/token/revoke/", {"refresh": pair["refresh"]}, content_type="application/json")
    assert response.json() == {"revoked": 1}
    developer = world.persona(Persona.DEVELOPER)
    return Expected.of(developer, developer)


# --- environment templates, team limits and the price table ---------------------------------


def create_a_template(world: World) -> Expected:
    from tests.environments.factories import VALID_TEMPLATE

    template = environment_services.template_create(actor=world.admin, **{**VALID_TEMPLATE, "slug": "audited"})
    return Expected.of(world.admin, template)


def change_a_template(world: World) -> Expected:
    template = EnvironmentTemplate.objects.get(slug="preview")
    environment_services.template_update(actor=world.admin, template_id=template.pk, ingress_rate_limit_rps=99)
    return Expected.of(world.admin, template)


def change_a_template_through_its_page(world: World) -> Expected:
    template = EnvironmentTemplate.objects.get(slug="preview")
    client = world.client(Persona.PLATFORM_ADMIN)
    form = client.get(reverse("environments:template_edit", args=["preview"])).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {
        name: "\n".join(value)
        if name in {"ingress_allow_cidrs", "ingress_deny_cidrs", "network_allowed_namespaces"}
        else value
        for name, value in data.items()
        if value is not None and value is not False
    }
    response = client.post(reverse("environments:template_edit", args=["preview"]), {**data, "description": "New."})
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, template)


def deactivate_a_template(world: World) -> Expected:
    template = EnvironmentTemplate.objects.get(slug="staging")
    environment_services.template_deactivate(actor=world.admin, template_id=template.pk)
    return Expected.of(world.admin, template)


def request_an_environment(world: World, slug: str = "preview", **changes: Any) -> Environment:
    values: dict[str, Any] = {
        "actor": world.persona(Persona.DEVELOPER),
        "team": world.team("student-experience"),
        "template": EnvironmentTemplate.objects.get(slug=slug),
        "cluster": Cluster.objects.get(name="eks-eu-west-1"),
        "name": "audited",
        **changes,
    }
    return environment_services.environment_request(**values)


def request_an_environment_allowed_outright(world: World) -> Expected:
    environment = request_an_environment(world)
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def request_an_environment_that_needs_approval(world: World) -> Expected:
    environment = request_an_environment(world, ttl_hours=100)
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def request_an_environment_the_policy_refuses(world: World) -> Expected:
    with pytest.raises(ValidationError):
        request_an_environment(world, "production", ttl_hours=5)
    return Expected(world.persona(Persona.DEVELOPER), "environments.environment", "")


def approve_an_environment_request(world: World) -> Expected:
    environment = request_an_environment(world, ttl_hours=100)
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk), purpose="environments.provision")
    approve(approval.pk, approver=world.persona(Persona.TEAM_LEAD), approve=True)
    return Expected.of(world.persona(Persona.TEAM_LEAD), environment)


def reject_an_environment_request(world: World) -> Expected:
    environment = request_an_environment(world, ttl_hours=100)
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk), purpose="environments.provision")
    approve(approval.pk, approver=world.persona(Persona.TEAM_LEAD), approve=False, reason="Too long.")
    return Expected.of(world.persona(Persona.TEAM_LEAD), environment)


def finish_a_provisioning_run(world: World) -> Expected:
    environment = request_an_environment(world)
    run = environment_services.provisioning_run(environment)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    run.refresh_from_db()
    environment_services.ENVIRONMENTS.finished(run)
    return Expected.of(None, environment, actor_label="system")


# --- region provisioning ---


def request_a_region(world: World, **changes: Any) -> Any:
    from regions import services as region_services

    fields: dict[str, Any] = {
        "provider": "aws",
        "code": "eu-south-1",
        "residency_zone": "EU",
        "purpose": "non_production",
        "dr_partner_code": "eu-west-3",
        "account": CloudAccount.objects.get(provider="aws"),
        "justification": "Closer to the students in Italy.",
        **changes,
    }
    return region_services.region_request_create(actor=world.admin, **fields)


def another_platform_admin() -> User:
    other: User = UserFactory.create(username="admin-two")
    Grant.objects.create(role=Role.objects.get(slug=BuiltinRole.PLATFORM_ADMIN), user=other, reason="Two admins.")
    return other


def decide_a_region(world: World, *, approve_it: bool) -> tuple[Any, User]:
    request = request_a_region(world)
    approver = another_platform_admin()
    approval = ApprovalRequest.objects.get(subject_id=str(request.pk), purpose="regions.build")
    approve(approval.pk, approver=approver, approve=approve_it, reason="" if approve_it else "Not now.")
    return request, approver


def a_failed_region_build(world: World) -> Any:
    from regions import services as region_services
    from regions.choices import RegionRequestStatus
    from workflows.models import Run, RunStatus, StepStatus

    request, _ = decide_a_region(world, approve_it=True)
    run = region_services.build_run(request)
    assert run is not None
    run.steps.filter(position=1).update(status=StepStatus.FAILED, started_at=timezone.now(), error="injected")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    type(request).objects.filter(pk=request.pk).update(status=RegionRequestStatus.FAILED)
    return request


def request_a_region_build(world: World) -> Expected:
    return Expected.of(world.admin, request_a_region(world))


def approve_a_region(world: World) -> Expected:
    request, approver = decide_a_region(world, approve_it=True)
    return Expected.of(approver, request)


def reject_a_region(world: World) -> Expected:
    request, approver = decide_a_region(world, approve_it=False)
    return Expected.of(approver, request)


def finish_a_region_build(world: World) -> Expected:
    from regions import services as region_services
    from workflows.models import Run, RunStatus

    request, _ = decide_a_region(world, approve_it=True)
    run = region_services.build_run(request)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="Network: injected")
    run.refresh_from_db()
    region_services.REGION_BUILDS.finished(run)
    return Expected.of(None, request, actor_label="system")


def retry_a_region_build(world: World) -> Expected:
    from regions import services as region_services

    request = a_failed_region_build(world)
    region_services.region_build_retry(actor=world.admin, request_id=request.pk)
    return Expected.of(world.admin, request)


def roll_a_region_back(world: World) -> Expected:
    from regions import services as region_services

    request = a_failed_region_build(world)
    region_services.region_build_rollback(actor=world.admin, request_id=request.pk)
    return Expected.of(world.admin, request)


def check_an_accounts_access_on_its_page(world: World) -> Expected:
    account = CloudAccount.objects.get(provider="aws")
    response = world.client(Persona.PLATFORM_ADMIN).post(reverse("regions:account_check_access", args=[account.pk]))
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, account)


def check_a_clusters_access_on_its_page(world: World) -> Expected:
    cluster = k3s_cluster_of_the_demo()
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse(
            "regions:cluster_check_access",
            kwargs={"provider": cluster.region.provider, "code": cluster.region.code, "name": cluster.name},
        )
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.admin, cluster)


def check_access_before_an_approved_build_starts(world: World) -> Expected:
    request, approver = decide_a_region(world, approve_it=True)
    return Expected.of(approver, request.account)


def move_a_region_out_of_every_zone(world: World) -> Expected:
    from regions import services as region_services

    region_services.region_zone_set(
        actor=world.admin, provider="aws", code="eu-south-2", zone="outside", reason="Checked with legal."
    )
    return Expected(world.admin, "regions.zoneoverride", "aws/eu-south-2")


def cancel_a_region_request(world: World) -> Expected:
    from regions import services as region_services

    request = request_a_region(world)
    region_services.region_request_cancel(actor=world.admin, request_id=request.pk)
    return Expected.of(world.admin, request)


# --- region failover ---


def ask_for_a_failover(world: World) -> Any:
    """A failover of the demo's eu-west-1 (registered, with a database and its replica in eu-central-1)."""
    from regions.failover import services as failovers
    from regions.models import Region
    from tests.regions.test_region_failover import registered_with_a_replica

    region = Region.objects.select_related("account", "dr_partner").get(provider="aws", code="eu-west-1")
    database = f"audit-{uuid.uuid4().hex[:8]}-db"  # the sandbox outlives each trigger's transaction
    registered_with_a_replica(region, database)
    return failovers.failover_request_create(actor=world.admin, region_id=region.pk, reason="Dublin is down.")


def two_more_platform_admins() -> tuple[User, User]:
    third: User = UserFactory.create(username="admin-three")
    Grant.objects.create(role=Role.objects.get(slug=BuiltinRole.PLATFORM_ADMIN), user=third, reason="Two admins.")
    return another_platform_admin(), third


def start_a_failover(world: World) -> tuple[Any, User]:
    from regions.failover import services as failovers

    failover = ask_for_a_failover(world)
    approval = ApprovalRequest.objects.get(subject_id=str(failover.pk), purpose=failovers.FAILOVER)
    first, second = two_more_platform_admins()
    approve(approval.pk, approver=first, approve=True)
    approve(approval.pk, approver=second, approve=True)
    return failover, second


def a_failed_failover(world: World) -> Any:
    from regions.choices import FailoverStatus
    from regions.failover import services as failovers
    from workflows.models import Run, RunStatus, StepStatus

    failover, _ = start_a_failover(world)
    run = failovers.failover_run(failover)
    assert run is not None
    run.steps.filter(position=1).update(status=StepStatus.FAILED, started_at=timezone.now(), error="injected")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    type(failover).objects.filter(pk=failover.pk).update(status=FailoverStatus.FAILED)
    return failover


def request_a_failover(world: World) -> Expected:
    return Expected.of(world.admin, ask_for_a_failover(world))


def reject_a_failover(world: World) -> Expected:
    from regions.failover import services as failovers

    failover = ask_for_a_failover(world)
    approval = ApprovalRequest.objects.get(subject_id=str(failover.pk), purpose=failovers.FAILOVER)
    approver = another_platform_admin()
    approve(approval.pk, approver=approver, approve=False, reason="Dublin is back.")
    return Expected.of(approver, failover)


def approve_a_failover(world: World) -> Expected:
    failover, last_approver = start_a_failover(world)
    return Expected.of(last_approver, failover)


def finish_a_failover(world: World) -> Expected:
    from regions.failover import services as failovers
    from workflows.models import Run, RunStatus

    failover, _ = start_a_failover(world)
    run = failovers.failover_run(failover)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="Promote: injected")
    run.refresh_from_db()
    failovers.FAILOVERS.finished(run)
    return Expected.of(None, failover, actor_label="system")


def retry_a_failover(world: World) -> Expected:
    from regions.failover import services as failovers

    failover = a_failed_failover(world)
    failovers.failover_retry(actor=world.admin, failover_id=failover.pk)
    return Expected.of(world.admin, failover)


def cancel_a_failover(world: World) -> Expected:
    from regions.failover import services as failovers

    failover = ask_for_a_failover(world)
    failovers.failover_cancel(actor=world.admin, failover_id=failover.pk)
    return Expected.of(world.admin, failover)


def ready_environment(world: World) -> Environment:
    environment = request_an_environment(world)
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.READY)
    return environment


def tear_an_environment_down(world: World) -> Expected:
    environment = ready_environment(world)
    environment_services.environment_teardown(actor=world.persona(Persona.DEVELOPER), environment_id=environment.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def let_an_environment_expire(world: World) -> Expected:
    environment = ready_environment(world)
    Environment.objects.filter(pk=environment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert environment_services.environments_expire().expired == [environment.pk]
    return Expected.of(None, environment, actor_label="system")


def rollback_for_audit(world: World, *, tier: str = "staging") -> RollbackRequest:
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    namespace = f"audit-{uuid.uuid4().hex[:8]}"
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, namespace, "checkout", ["reg/checkout:1", "reg/checkout:2"])
    workload = make_workload(
        cluster=cluster,
        namespace=namespace,
        name="checkout",
        team=world.team("student-experience"),
        tier=tier,
        revision=2,
        version="2",
    )
    return rollback_request(
        actor=world.persona(Persona.DEVELOPER), workload_id=workload.pk, to_revision=1, reason="checkout 500s"
    )


def request_a_rollback(world: World) -> Expected:
    return Expected.of(world.persona(Persona.DEVELOPER), rollback_for_audit(world))


def reject_a_rollback(world: World) -> Expected:
    rollback = rollback_for_audit(world, tier="production")
    approval = ApprovalRequest.objects.get(subject_id=str(rollback.pk), purpose="deployments.rollback")
    approve(approval.pk, approver=world.persona(Persona.TEAM_LEAD), approve=False, reason="fix forward")
    return Expected.of(world.persona(Persona.TEAM_LEAD), rollback)


def finish_a_rollback(world: World) -> Expected:
    rollback = rollback_for_audit(world)
    Run.objects.filter(key=f"rollback:{rollback.pk}").update(status=RunStatus.FAILED, error="the cluster said no")
    ROLLBACKS.finished(Run.objects.get(key=f"rollback:{rollback.pk}"))
    return Expected.of(None, rollback, actor_label="system")


def approve_a_rollback(world: World) -> Expected:
    rollback = rollback_for_audit(world, tier="production")
    approval = ApprovalRequest.objects.get(subject_id=str(rollback.pk), purpose="deployments.rollback")
    approve(approval.pk, approver=world.persona(Persona.TEAM_LEAD), approve=True)
    return Expected.of(world.persona(Persona.TEAM_LEAD), rollback)


def cancel_a_rollback_waiting_for_approval(world: World) -> Expected:
    rollback = rollback_for_audit(world, tier="production")
    rollback_cancel(actor=world.persona(Persona.DEVELOPER), rollback_id=rollback.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), rollback)


def retry_a_failed_rollback(world: World) -> Expected:
    rollback = rollback_for_audit(world)
    run = Run.objects.get(key=f"rollback:{rollback.pk}")
    run.steps.filter(position=1).update(status=StepStatus.FAILED, started_at=timezone.now(), error="injected")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    RollbackRequest.objects.filter(pk=rollback.pk).update(status="failed")
    rollback_retry(actor=world.persona(Persona.DEVELOPER), rollback_id=rollback.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), rollback)


def freeze_an_environment(world: World) -> Expected:
    environment = ready_environment(world)
    now = timezone.now()
    freeze = freezes.freeze_create(
        actor=world.persona(Persona.TEAM_LEAD),
        environment_id=environment.pk,
        starts_at=now,
        ends_at=now + timedelta(days=2),
        reason="exam week",
    )
    return Expected.of(world.persona(Persona.TEAM_LEAD), freeze)


def end_a_freeze(world: World) -> Expected:
    environment = ready_environment(world)
    now = timezone.now()
    freeze = FreezeWindow.objects.create(
        environment=environment,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=2),
        reason="exam week",
        created_by=world.admin,
    )
    freezes.freeze_end(actor=world.persona(Persona.TEAM_LEAD), freeze_id=freeze.pk)
    return Expected.of(world.persona(Persona.TEAM_LEAD), freeze)


def cancel_an_environment_request(world: World) -> Expected:
    environment = request_an_environment(world, ttl_hours=100)
    environment_services.environment_cancel(actor=world.persona(Persona.DEVELOPER), environment_id=environment.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def retry_a_failed_environment(world: World) -> Expected:
    environment = request_an_environment(world)
    Run.objects.filter(key=f"environment:{environment.pk}:provision").update(status=RunStatus.FAILED)
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.FAILED)
    environment_services.environment_retry(actor=world.persona(Persona.DEVELOPER), environment_id=environment.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def extend_an_environment(world: World) -> Expected:
    environment = ready_environment(world)
    environment_services.environment_extend(
        actor=world.persona(Persona.DEVELOPER), environment_id=environment.pk, hours=2
    )
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def give_an_environment_a_lifetime(world: World) -> Expected:
    environment = ready_environment(world)
    environment_services.environment_set_expiry(
        actor=world.persona(Persona.DEVELOPER), environment_id=environment.pk, hours=2
    )
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def set_a_lifetime_from_a_savings_recommendation(world: World) -> Expected:
    environment = ready_environment(world)
    recommendation = a_recommendation(environment)
    client = world.client(Persona.DEVELOPER)
    response = client.post(reverse("costs:savings_set_ttl", args=[recommendation.pk]))
    assert response.status_code == 302
    return Expected.of(world.persona(Persona.DEVELOPER), environment)


def a_recommendation(environment: Environment) -> Recommendation:
    return Recommendation.objects.create(
        key=f"audit:{environment.pk}",
        kind=RecommendationKind.ENVIRONMENT_TTL,
        title=f"Give {environment.name} a lifetime",
        monthly_saving=Decimal("12.50"),
        currency="USD",
        team=environment.team,
        environment=environment,
        cluster=environment.cluster,
        region=environment.cluster.region,
        tier=environment.tier,
        action=RecommendationAction.SET_TTL,
        action_hours=2,
    )


def dismiss_a_recommendation(world: World) -> Expected:
    recommendation = a_recommendation(ready_environment(world))
    response = world.client(Persona.MANAGER).post(reverse("costs:savings_dismiss", args=[recommendation.pk]))
    assert response.status_code == 302
    return Expected.of(world.persona(Persona.MANAGER), recommendation)


def snooze_a_recommendation(world: World) -> Expected:
    recommendation = a_recommendation(ready_environment(world))
    savings.recommendation_snooze(actor=world.admin, recommendation_id=recommendation.pk, days=7)
    return Expected.of(world.admin, recommendation)


def set_a_teams_limits(world: World) -> Expected:
    limits = environment_services.team_limits_set(
        actor=world.admin,
        team=world.team(),
        max_environments=3,
        max_monthly_estimate=Decimal(900),
    )
    return Expected.of(world.admin, limits)


def set_limits_of_a_team_without_any(world: World) -> Expected:
    team = Team.objects.create(slug="night-shift", name="Night Shift")
    limits = environment_services.team_limits_set(
        actor=world.persona(Persona.MANAGER),
        team=team,
        max_environments=2,
        max_monthly_estimate=Decimal(500),
    )
    return Expected.of(world.persona(Persona.MANAGER), limits)


def remove_a_teams_limits(world: World) -> Expected:
    limits = TeamLimits.objects.get(team=world.team())
    environment_services.team_limits_remove(actor=world.admin, team=world.team())
    return Expected.of(world.admin, TeamLimits(), object_id=limits.pk)


def add_a_price(world: World) -> Expected:
    item = cost_services.price_create(
        actor=world.persona(Persona.MANAGER),
        provider="aws",
        region_code="eu-west-1",
        kind="cpu",
        unit="vcpu_hour",
        price=Decimal("0.05"),
        effective_from=date(2026, 2, 1),
    )
    return Expected.of(world.persona(Persona.MANAGER), item)


def correct_a_price(world: World) -> Expected:
    item = PriceItem.objects.get(provider="aws", region_code="", kind="bucket")
    cost_services.price_update(actor=world.admin, price_id=item.pk, price=Decimal("0.021"))
    return Expected.of(world.admin, item)


def delete_a_price(world: World) -> Expected:
    item = PriceItem.objects.get(provider="aws", region_code="", kind="bucket")
    cost_services.price_delete(actor=world.admin, price_id=item.pk)
    return Expected.of(world.admin, PriceItem(), object_id=item.pk)


def _export_source(world: World) -> Any:
    from costs.sources import services as source_services

    return source_services.source_create(
        actor=world.persona(Persona.MANAGER),
        name="aws-focus",
        kind="focus_export",
        account=CloudAccount.objects.order_by("pk").first(),
        bucket="focus-exports",
    )


def add_a_cost_source(world: World) -> Expected:
    return Expected.of(world.persona(Persona.MANAGER), _export_source(world))


def add_a_cost_source_through_its_page(world: World) -> Expected:
    account = CloudAccount.objects.order_by("pk").first()
    assert account is not None
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("costs:source_create"),
        {"name": "azure-focus", "kind": "focus_export", "account": account.pk, "bucket": "exports", "enabled": "on"},
    )
    assert response.status_code == 302, response.content
    from costs.models import CostSource

    return Expected.of(world.admin, CostSource.objects.get(name="azure-focus"))


def disable_a_cost_source(world: World) -> Expected:
    from costs.sources import services as source_services

    source = _export_source(world)
    source_services.source_update(actor=world.admin, source_id=source.pk, enabled=False)
    return Expected.of(world.admin, source)


def import_a_cost_source_now(world: World) -> Expected:
    source = _export_source(world)
    response = world.client(Persona.PLATFORM_ADMIN).post(reverse("costs:source_import", args=[source.pk]))
    assert response.status_code == 302
    return Expected.of(world.admin, source)


def upload_a_focus_file(world: World) -> Expected:
    from costs.sources import services as source_services
    from tests.costs.focus_files import focus_csv, focus_row

    result = source_services.upload_focus(
        actor=world.persona(Persona.MANAGER), data=focus_csv([focus_row()]).encode(), new_source="finance-upload"
    )
    assert result.ok, result.errors
    assert result.source is not None
    return Expected.of(world.persona(Persona.MANAGER), result.source)


def _a_rule(world: World) -> Any:
    from costs.sources import services as source_services

    return source_services.rule_create(
        actor=world.admin, kind="tag", key="cost-center", value="cc-42", team=world.team()
    )


def add_an_attribution_rule(world: World) -> Expected:
    return Expected.of(world.admin, _a_rule(world))


def delete_an_attribution_rule(world: World) -> Expected:
    from costs.models import AttributionRule
    from costs.sources import services as source_services

    rule = _a_rule(world)
    source_services.rule_delete(actor=world.persona(Persona.MANAGER), rule_id=rule.pk)
    return Expected.of(world.persona(Persona.MANAGER), AttributionRule(), object_id=rule.pk)


def reattribute_stored_periods(world: World) -> Expected:
    from costs.models import AttributionRule
    from costs.sources import services as source_services

    source_services.reattribute(actor=world.admin, since=date(2026, 11, 1))
    return Expected.of(world.admin, AttributionRule(), object_id="")


def read_a_workloads_logs(world: World) -> Expected:
    from tests.providers import live_objects

    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    namespace = f"audit-{uuid.uuid4().hex[:8]}"
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, namespace, "checkout", ["registry.example.com/checkout:1.0.0"])
    driver.seed(live_objects.pod(namespace, "checkout-0", {"app": "checkout"}, containers=("checkout",)))
    driver.seed_logs([(namespace, "checkout-0", "checkout", "GET /healthz 200\n", False)])
    team = world.team("student-experience")
    workload = make_workload(cluster=cluster, namespace=namespace, name="checkout", team=team)
    url = reverse("deployments:workload_log", kwargs={"pk": workload.pk})
    assert "GET /healthz 200" in world.client(Persona.DEVELOPER).get(url, {"pod": "checkout-0"}).content.decode()
    return Expected.of(world.persona(Persona.DEVELOPER), workload)


def request_a_cluster_sync(world: World) -> Expected:
    from deployments.sync import sync_request

    cluster = Cluster.objects.get(name="eks-eu-west-1")
    sync_request(actor=world.persona(Persona.DEVELOPER), cluster_id=cluster.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), cluster)


def create_a_webhook_source(world: World) -> Expected:
    from deployments.hooks import services as hooks

    developer = world.persona(Persona.DEVELOPER)
    created = hooks.webhook_source_create(
        actor=developer, name="audited-github", provider="github", team=world.team("student-experience")
    )
    assert_the_log_holds_none_of(created.secret)
    return Expected.of(developer, created.source)


def rotate_a_webhook_secret(world: World) -> Expected:
    from deployments.hooks import services as hooks

    developer = world.persona(Persona.DEVELOPER)
    source = hooks.webhook_source_create(
        actor=developer, name="audited-gitlab", provider="gitlab", team=world.team("student-experience")
    ).source
    rotated = hooks.webhook_source_rotate(actor=world.admin, source_id=source.pk)
    assert_the_log_holds_none_of(rotated.secret)
    return Expected.of(world.admin, source)


def deactivate_a_webhook_source_on_its_page(world: World) -> Expected:
    from deployments.hooks import services as hooks

    lead = world.persona(Persona.TEAM_LEAD)
    source = hooks.webhook_source_create(
        actor=lead, name="audited-azure", provider="azure_devops", team=world.team("student-experience")
    ).source
    response = world.client(Persona.TEAM_LEAD).post(reverse("deployments:hook_deactivate", kwargs={"pk": source.pk}))
    assert response.status_code == 302
    return Expected.of(lead, source)


def let_a_webhook_source_write_to_another_teams_service_on_its_page(world: World) -> Expected:
    from deployments.hooks import services as hooks
    from deployments.models import Service

    source = hooks.webhook_source_create(
        actor=world.persona(Persona.DEVELOPER),
        name="audited-shared",
        provider="github",
        team=world.team("student-experience"),
    ).source
    shared = Service.objects.filter(slug__in=["student-portal", "class-scheduler"])
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("deployments:hook_services", kwargs={"pk": source.pk}),
        {"services": [service.pk for service in shared]},
    )
    assert response.status_code == 302
    return Expected.of(world.admin, source)


def export_a_clusters_allocation(world: World) -> Expected:
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    manager = world.persona(Persona.MANAGER)
    response = world.client(Persona.MANAGER).get(reverse("costs:allocation_export", kwargs={"cluster_id": cluster.pk}))
    assert response.status_code == 200
    return Expected.of(manager, cluster)


# --- the service catalogue (deployments) ---------------------------------------------


def create_a_service(world: World) -> Expected:
    from deployments import catalogue

    developer = world.persona(Persona.DEVELOPER)
    service = catalogue.service_create(
        actor=developer,
        slug="audited",
        name="Audited",
        team=world.team("student-experience"),
        namespace_group="student-services",
        links=[{"label": "Runbook", "url": "https://wiki.example.com/audited"}],
    )
    return Expected.of(developer, service)


def create_a_service_through_its_page(world: World) -> Expected:
    from deployments.models import Service

    response = world.client(Persona.DEVELOPER).post(
        reverse("deployments:service_create"),
        {
            "slug": "audited",
            "name": "Audited",
            "team": world.team("student-experience").pk,
            "namespace_group": "student-services",
        },
    )
    assert response.status_code == 302, response.status_code
    return Expected.of(world.persona(Persona.DEVELOPER), Service.objects.get(slug="audited"))


def change_a_service(world: World) -> Expected:
    from deployments import catalogue
    from deployments.models import Service

    service = Service.objects.get(slug="student-portal")
    catalogue.service_update(actor=world.persona(Persona.TEAM_LEAD), service_id=service.pk, description="Changed.")
    return Expected.of(world.persona(Persona.TEAM_LEAD), service)


def delete_a_service(world: World) -> Expected:
    from deployments import catalogue
    from deployments.models import Service

    service = Service.objects.get(slug="enrolment")
    catalogue.service_delete(actor=world.persona(Persona.DEVELOPER), service_id=service.pk)
    return Expected.of(world.persona(Persona.DEVELOPER), Service(), object_id=service.pk)


def claim_a_workload(world: World) -> Expected:
    from deployments import catalogue
    from deployments.models import Service, Workload

    workload = Workload.objects.get(name="debug-toolbox")
    catalogue.workload_claim(
        actor=world.persona(Persona.DEVELOPER),
        workload_id=workload.pk,
        service_id=Service.objects.get(slug="student-portal").pk,
    )
    return Expected.of(world.persona(Persona.DEVELOPER), workload)


def a_budget(world: World) -> Any:
    from costs.budgets.services import budget_create

    return budget_create(
        actor=world.persona(Persona.MANAGER), name="Tutor tools", team=world.team(), amount=Decimal(500)
    )


def create_a_budget(world: World) -> Expected:
    return Expected.of(world.persona(Persona.MANAGER), a_budget(world))


def create_a_budget_through_its_page(world: World) -> Expected:
    from costs.models import Budget

    response = world.client(Persona.MANAGER).post(
        reverse("costs:budget_create"),
        {
            "name": "Tutor tools quarterly",
            "team": world.team().pk,
            "period": "quarterly",
            "amount": "1500",
            "currency": "EUR",
            "basis": "effective",
            "actual_thresholds": "50,100",
            "forecast_thresholds": "100",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Expected.of(world.persona(Persona.MANAGER), Budget.objects.get(name="Tutor tools quarterly"))


def change_a_budget(world: World) -> Expected:
    from costs.budgets.services import budget_update

    budget = a_budget(world)
    budget_update(
        actor=world.admin, budget_id=budget.pk, amount=Decimal(750), chat_webhook_url="https://93.184.215.14/x"
    )
    return Expected.of(world.admin, budget)


def delete_a_budget(world: World) -> Expected:
    from costs.budgets.services import budget_delete
    from costs.models import Budget

    budget = a_budget(world)
    budget_delete(actor=world.admin, budget_id=budget.pk)
    return Expected.of(world.admin, Budget(), object_id=budget.pk)


def export_a_teams_costs(world: World) -> Expected:
    response = world.client(Persona.MANAGER).get(reverse("costs:team_export", kwargs={"slug": "tutor-tools"}))
    assert response.status_code == 200
    return Expected.of(world.persona(Persona.MANAGER), world.team())


# --- scorecards ---------------------------------------------------------------------------------------------


def a_scorecard(world: World) -> Any:
    from scorecards.models import Scorecard

    return Scorecard.objects.get(name="Production readiness")


def create_a_scorecard_through_its_page(world: World) -> Expected:
    from scorecards.models import Scorecard

    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("scorecards:create"), {"name": "Security basics", "description": "No known holes."}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Expected.of(world.admin, Scorecard.objects.get(name="Security basics"))


def rename_a_scorecard(world: World) -> Expected:
    from scorecards import services as scorecard_services

    scorecard = a_scorecard(world)
    scorecard_services.scorecard_update(actor=world.admin, scorecard_id=scorecard.pk, name="Ready for production")
    return Expected.of(world.admin, scorecard)


def delete_a_scorecard_on_its_page(world: World) -> Expected:
    scorecard = a_scorecard(world)
    response = world.client(Persona.PLATFORM_ADMIN).post(reverse("scorecards:delete", kwargs={"pk": scorecard.pk}))
    assert response.status_code == 302
    return Expected.of(world.admin, scorecard)


def add_a_rule_through_its_page(world: World) -> Expected:
    from scorecards.models import ScorecardRule

    scorecard = a_scorecard(world)
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("scorecards:rule_create", kwargs={"pk": scorecard.pk}),
        {"kind": "deployed_within", "level": "gold", "days": "7"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Expected.of(world.admin, ScorecardRule.objects.get(scorecard=scorecard, kind="deployed_within", days=7))


def tighten_a_rules_threshold_through_its_page(world: World) -> Expected:
    rule = a_scorecard(world).rules.get(kind="deployed_within")
    response = world.client(Persona.PLATFORM_ADMIN).post(
        reverse("scorecards:rule_edit", kwargs={"pk": rule.pk}),
        {"kind": "deployed_within", "level": rule.level, "days": "7", "description": rule.description},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Expected.of(world.admin, rule)


def remove_a_rule(world: World) -> Expected:
    from scorecards import services as scorecard_services

    rule = a_scorecard(world).rules.get(kind="within_budget")
    scorecard_services.rule_delete(actor=world.admin, rule_id=rule.pk)
    return Expected.of(world.admin, rule)


def re_evaluate_a_scorecard_now(world: World) -> Expected:
    scorecard = a_scorecard(world)
    response = world.client(Persona.PLATFORM_ADMIN).post(reverse("scorecards:evaluate", kwargs={"pk": scorecard.pk}))
    assert response.status_code == 302
    return Expected.of(world.admin, scorecard)


TRIGGERS: dict[str, list[Trigger]] = {
    audit.SIGN_IN: [sign_in_with_username_and_password],
    audit.SIGN_IN_FAILED: [sign_in_with_a_wrong_password],
    audit.JWT_ISSUED: [get_a_jwt_pair_with_a_password, get_a_jwt_pair_for_the_browser_session],
    audit.JWT_REVOKED: [revoke_a_refresh_token],
    audit.SIGN_OUT: [sign_out],
    audit.USER_EMAIL_CHANGED: [sso_sign_in_after_the_idp_changed_the_e_mail],
    audit.GRANT_CREATED: [grant_by_an_admin, grant_by_an_sso_rule],
    audit.GRANT_REVOKED: [revoke_by_an_admin, revoke_by_an_sso_sign_in_without_the_group],
    audit.ROLE_CREATED: [create_a_role],
    audit.ROLE_CHANGED: [change_a_role],
    audit.ROLE_DELETED: [delete_a_role],
    audit.TEAM_CREATED: [create_a_team],
    audit.TEAM_CHANGED: [rename_a_team, move_a_team_to_another_residency_zone_on_its_page],
    audit.MEMBER_ADDED: [add_a_member, add_a_member_by_sso],
    audit.MEMBER_CHANGED: [make_a_member_lead],
    audit.MEMBER_REMOVED: [remove_a_member, remove_a_member_by_sso],
    audit.SSO_RULE_CREATED: [create_an_sso_rule],
    audit.SSO_RULE_CHANGED: [change_an_sso_rule, disable_an_sso_rule],
    audit.SSO_RULE_DELETED: [delete_an_sso_rule],
    audit.IDENTITY_LINKED: [
        link_an_identity_in_the_django_admin,
        move_an_identity_to_another_account_in_the_django_admin,
    ],
    audit.IDENTITY_UNLINKED: [unlink_an_identity_in_the_django_admin],
    audit.TOKEN_CREATED: [create_an_api_token],
    audit.TOKEN_REVOKED: [revoke_an_api_token, revoke_someone_elses_api_token_as_an_admin],
    audit.REVIEW_OPENED: [open_an_access_review],
    audit.REVIEW_DECIDED: [confirm_a_grant_in_a_review, revoke_a_grant_in_a_review],
    audit.REVIEW_CLOSED: [close_an_access_review, close_an_access_review_at_its_deadline],
    audit.AUDIT_EXPORTED: [export_the_audit_log],
    audit.AUDIT_CHAIN_KEYED: [upgrade_a_log_written_before_the_chain_was_keyed],
    audit.CLOUD_SECRET_SET: [set_a_client_secret, replace_a_client_secret_in_the_django_admin],
    audit.SECRETS_REENCRYPTED: [reencrypt_every_secret],
    audit.APPROVAL_REQUESTED: [ask_for_approval],
    audit.APPROVAL_GIVEN: [approve_a_request_on_its_page],
    audit.APPROVAL_REJECTED: [reject_a_request_on_its_page],
    audit.APPROVAL_WITHDRAWN: [withdraw_a_request_on_its_page],
    audit.CLUSTER_CREDENTIALS_SET: [set_a_cluster_kubeconfig, replace_a_cluster_kubeconfig_in_the_django_admin],
    audit.TEMPLATE_CREATED: [create_a_template],
    audit.TEMPLATE_CHANGED: [change_a_template, change_a_template_through_its_page],
    audit.TEMPLATE_DEACTIVATED: [deactivate_a_template],
    audit.TEAM_LIMITS_SET: [set_a_teams_limits, set_limits_of_a_team_without_any],
    audit.TEAM_LIMITS_REMOVED: [remove_a_teams_limits],
    audit.ENVIRONMENT_REQUESTED: [
        request_an_environment_allowed_outright,
        request_an_environment_that_needs_approval,
    ],
    audit.ENVIRONMENT_REFUSED: [request_an_environment_the_policy_refuses],
    audit.ENVIRONMENT_PROVISIONING: [request_an_environment_allowed_outright, approve_an_environment_request],
    audit.ENVIRONMENT_REJECTED: [reject_an_environment_request],
    audit.ENVIRONMENT_FINISHED: [finish_a_provisioning_run],
    audit.ENVIRONMENT_TEARDOWN: [tear_an_environment_down, let_an_environment_expire],
    audit.ENVIRONMENT_CANCELLED: [cancel_an_environment_request],
    audit.ENVIRONMENT_RETRIED: [retry_a_failed_environment],
    audit.ENVIRONMENT_EXTENDED: [extend_an_environment],
    audit.ENVIRONMENT_EXPIRY_SET: [give_an_environment_a_lifetime, set_a_lifetime_from_a_savings_recommendation],
    audit.RECOMMENDATION_DISMISSED: [dismiss_a_recommendation],
    audit.RECOMMENDATION_SNOOZED: [snooze_a_recommendation],
    audit.REGION_REQUESTED: [request_a_region_build],
    audit.REGION_BUILD_STARTED: [approve_a_region],
    audit.REGION_REJECTED: [reject_a_region],
    audit.REGION_BUILD_FINISHED: [finish_a_region_build],
    audit.REGION_BUILD_RETRIED: [retry_a_region_build],
    audit.REGION_ROLLBACK_STARTED: [roll_a_region_back],
    audit.REGION_REQUEST_CANCELLED: [cancel_a_region_request],
    audit.ACCESS_CHECKED: [
        check_an_accounts_access_on_its_page,
        check_a_clusters_access_on_its_page,
        check_access_before_an_approved_build_starts,
    ],
    audit.REGION_ZONE_CHANGED: [move_a_region_out_of_every_zone],
    audit.FAILOVER_REQUESTED: [request_a_failover],
    audit.FAILOVER_REJECTED: [reject_a_failover],
    audit.FAILOVER_STARTED: [approve_a_failover],
    audit.FAILOVER_FINISHED: [finish_a_failover],
    audit.FAILOVER_RETRIED: [retry_a_failover],
    audit.FAILOVER_CANCELLED: [cancel_a_failover],
    audit.ROLLBACK_REQUESTED: [request_a_rollback],
    audit.ROLLBACK_REJECTED: [reject_a_rollback],
    audit.ROLLBACK_FINISHED: [finish_a_rollback],
    audit.ROLLBACK_STARTED: [request_a_rollback, approve_a_rollback],
    audit.ROLLBACK_CANCELLED: [cancel_a_rollback_waiting_for_approval],
    audit.ROLLBACK_RETRIED: [retry_a_failed_rollback],
    audit.FREEZE_CREATED: [freeze_an_environment],
    audit.FREEZE_ENDED: [end_a_freeze],
    audit.PRICE_CREATED: [add_a_price],
    audit.PRICE_CHANGED: [correct_a_price],
    audit.PRICE_DELETED: [delete_a_price],
    audit.COST_ALLOCATION_EXPORTED: [export_a_clusters_allocation],
    audit.COST_SOURCE_CREATED: [add_a_cost_source, add_a_cost_source_through_its_page],
    audit.COST_SOURCE_CHANGED: [disable_a_cost_source],
    audit.COST_IMPORT_REQUESTED: [import_a_cost_source_now],
    audit.COST_UPLOADED: [upload_a_focus_file],
    audit.ATTRIBUTION_RULE_CREATED: [add_an_attribution_rule],
    audit.ATTRIBUTION_RULE_DELETED: [delete_an_attribution_rule],
    audit.COSTS_REATTRIBUTED: [reattribute_stored_periods],
    audit.BUDGET_CREATED: [create_a_budget, create_a_budget_through_its_page],
    audit.BUDGET_CHANGED: [change_a_budget],
    audit.BUDGET_DELETED: [delete_a_budget],
    audit.COSTS_TEAM_EXPORTED: [export_a_teams_costs],
    audit.COSTS_EXPORTED: [export_costs_from_the_breakdown_page, export_costs_through_the_api, export_the_savings],
    audit.DEPLOYMENTS_SYNC_REQUESTED: [request_a_cluster_sync],
    audit.WORKLOAD_LOGS_VIEWED: [read_a_workloads_logs],
    audit.WEBHOOK_SOURCE_CREATED: [create_a_webhook_source],
    audit.WEBHOOK_SECRET_ROTATED: [rotate_a_webhook_secret],
    audit.WEBHOOK_SOURCE_DEACTIVATED: [deactivate_a_webhook_source_on_its_page],
    audit.WEBHOOK_SOURCE_SERVICES_SET: [let_a_webhook_source_write_to_another_teams_service_on_its_page],
    audit.ADMIN_OBJECT_ADDED: [add_a_team_in_the_django_admin],
    audit.ADMIN_OBJECT_CHANGED: [change_a_team_in_the_django_admin],
    audit.ADMIN_OBJECT_DELETED: [delete_a_team_in_the_django_admin],
    audit.SERVICE_CREATED: [create_a_service, create_a_service_through_its_page],
    audit.SERVICE_CHANGED: [change_a_service],
    audit.SERVICE_DELETED: [delete_a_service],
    audit.WORKLOAD_CLAIMED: [claim_a_workload],
    audit.SCORECARD_CREATED: [create_a_scorecard_through_its_page],
    audit.SCORECARD_CHANGED: [rename_a_scorecard],
    audit.SCORECARD_DELETED: [delete_a_scorecard_on_its_page],
    audit.SCORECARD_RULE_CREATED: [add_a_rule_through_its_page],
    audit.SCORECARD_RULE_CHANGED: [tighten_a_rules_threshold_through_its_page],
    audit.SCORECARD_RULE_DELETED: [remove_a_rule],
    audit.SCORECARD_EVALUATION_REQUESTED: [re_evaluate_a_scorecard_now],
}

CASES = [
    pytest.param(verb, trigger, id=f"{verb}-{trigger.__name__}")
    for verb, triggers in TRIGGERS.items()
    for trigger in triggers
]


# --- the tests ----------------------------------------------------------------------


def test_every_verb_has_a_trigger() -> None:
    verbs = set(audit.verbs().values())

    untested = verbs - set(TRIGGERS)
    assert not untested, f"verbs with no trigger in TRIGGERS: {sorted(untested)}"
    assert not set(TRIGGERS) - verbs, "TRIGGERS names a verb access.audit.services no longer has"
    assert all(TRIGGERS.values()), "a verb in TRIGGERS has no trigger"


@pytest.mark.parametrize(("verb", "trigger"), CASES)
def test_each_privileged_action_writes_exactly_one_event_in_its_transaction(
    verb: str, trigger: Trigger, persona: Callable[[Persona], User]
) -> None:
    world = World(persona)
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    with transaction.atomic():
        expected = trigger(world)
        events = list(AuditEvent.objects.filter(pk__gt=last, verb=verb))
        assert len(events) == 1, f"{verb}: {len(events)} events"
        (event,) = events
        assert event.actor == expected.actor
        assert event.actor_label == (expected.actor_label or (expected.actor.username if expected.actor else ""))
        assert (event.object_type, event.object_id) == (expected.object_type, expected.object_id)
        transaction.set_rollback(True)

    assert not AuditEvent.objects.filter(pk__gt=last).exists(), "the event outlived the transaction it belongs to"
