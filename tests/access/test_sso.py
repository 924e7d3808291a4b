"""SSO end to end: the portal (live server) signs people in through a real OpenID Connect provider.

The provider is django-oauth-toolkit in its own process (``tests/idp``); each
test says what the IdP asserts about a person, then signs in over real HTTP
through the authorisation-code flow (with PKCE), as a browser would.
"""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount

from access.audit import services as audit
from access.models import AuditEvent, Grant, Membership, User
from tests.access.conftest import PROVIDER_ID, IdentityProvider, SsoPortal
from tests.factories import make_sso_rule, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def events(verb: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb=verb).order_by("pk"))


def assert_refused(response, reason_words: str) -> None:
    assert response.status_code == 403
    assert "Sign-in refused" in response.text
    assert reason_words in response.text
    assert "Traceback" not in response.text


def test_the_first_sign_in_creates_an_account_keyed_on_the_subject(sso: SsoPortal, idp: IdentityProvider) -> None:
    person = idp.person(email="ada@example.com", email_verified=True, preferred_username="ada", name="Ada Lovelace")

    response = sso.sign_in(person)

    assert response.status_code == 200
    assert response.url == f"{sso.url}/"
    assert "Ada Lovelace" in response.text
    account = SocialAccount.objects.get(provider=PROVIDER_ID)
    assert account.uid == person.claims["sub"]
    assert account.user.email == "ada@example.com"
    [signed_in] = events(audit.SIGN_IN)
    assert signed_in.actor == account.user
    assert signed_in.extra["method"] == "sso"


def test_an_sso_rule_gives_the_membership_and_grant_it_names(sso: SsoPortal, idp: IdentityProvider) -> None:
    rule = make_sso_rule(value="portal-developers")
    person = idp.person(email="grace@example.com", email_verified=True, groups=["portal-developers", "other"])

    sso.sign_in(person)

    user = User.objects.get(email="grace@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.team == rule.team
    assert membership.sso_rule == rule
    grant = Grant.objects.active().get(user=user)
    assert grant.role == rule.role
    assert grant.team == rule.team
    assert grant.source == Grant.Source.SSO
    # The rule acted, not the person signing in, although it ran inside their request.
    given = AuditEvent.objects.get(verb=audit.GRANT_CREATED, object_id=str(grant.pk))
    assert (given.actor, given.actor_label) == (None, "sso")


def test_a_group_removed_in_the_idp_is_removed_at_the_next_sign_in(sso: SsoPortal, idp: IdentityProvider) -> None:
    rule = make_sso_rule(value="portal-developers")
    person = idp.person(email="alan@example.com", email_verified=True, groups=["portal-developers"])
    sso.sign_in(person)
    user = User.objects.get(email="alan@example.com")
    assert Membership.objects.filter(user=user, team=rule.team).exists()

    person.update_claims(groups=["somewhere-else"])
    response = sso.sign_in(person)

    assert response.status_code == 200
    assert not Membership.objects.filter(user=user).exists()
    assert not Grant.objects.active().filter(user=user).exists()
    assert [event.object_repr for event in events(audit.MEMBER_REMOVED)]
    assert len(events(audit.GRANT_REVOKED)) == 1


@pytest.mark.parametrize(
    "verified_claim",
    [pytest.param({"email_verified": False}, id="false"), pytest.param({}, id="missing")],
)
def test_an_e_mail_the_idp_does_not_vouch_for_is_refused(
    sso: SsoPortal, idp: IdentityProvider, verified_claim: dict[str, bool]
) -> None:
    person = idp.person(email="mallory@example.com", **verified_claim)

    response = sso.sign_in(person)

    assert_refused(response, "not verified")
    assert not User.objects.filter(email="mallory@example.com").exists()
    [failed] = events(audit.SIGN_IN_FAILED)
    assert failed.extra["reason"] == "e-mail not verified"
    assert failed.extra["subject"] == person.claims["sub"]


def test_a_changed_e_mail_on_the_same_subject_signs_into_the_same_account(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    person = idp.person(email="old@example.com", email_verified=True)
    sso.sign_in(person)
    user = User.objects.get(email="old@example.com")

    person.update_claims(email="new@example.com")
    response = sso.sign_in(person)

    assert response.status_code == 200
    assert User.objects.count() == 1
    user.refresh_from_db()
    assert user.email == "new@example.com"
    [changed] = events(audit.USER_EMAIL_CHANGED)
    assert changed.before == {"email": "old@example.com"}
    assert changed.after == {"email": "new@example.com"}


def test_an_old_e_mail_given_up_by_one_person_can_be_used_by_another(sso: SsoPortal, idp: IdentityProvider) -> None:
    first = idp.person(email="shared@example.com", email_verified=True)
    sso.sign_in(first)
    first.update_claims(email="first@example.com")
    sso.sign_in(first)
    second = idp.person(email="shared@example.com", email_verified=True)

    response = sso.sign_in(second)

    assert response.status_code == 200
    assert set(User.objects.values_list("email", flat=True)) == {"first@example.com", "shared@example.com"}


def test_an_e_mail_of_another_account_on_a_new_subject_is_refused(sso: SsoPortal, idp: IdentityProvider) -> None:
    owner = make_user(username="break-glass", email="admin@example.com")
    impostor = idp.person(email="admin@example.com", email_verified=True)

    response = sso.sign_in(impostor)

    assert_refused(response, "Another account here already uses your e-mail address")
    assert not SocialAccount.objects.exists()
    assert User.objects.get(email="admin@example.com") == owner
    assert not events(audit.SIGN_IN)


def test_an_entra_person_is_keyed_on_tenant_and_object_id(sso: SsoPortal, idp: IdentityProvider) -> None:
    sso.configure(kind="entra", allowed_tenants=["tenant-a"])
    person = idp.person(tid="tenant-a", oid="object-1", email="lin@example.com", email_verified=True)

    sso.sign_in(person)

    assert SocialAccount.objects.get(provider=PROVIDER_ID).uid == "tenant-a:object-1"


def test_an_entra_e_mail_is_trusted_when_the_tenant_vouches_for_its_domain_with_xms_edov(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    sso.configure(kind="entra", allowed_tenants=["tenant-a"])
    person = idp.person(tid="tenant-a", oid="object-3", email="ola@example.com", xms_edov=True)

    sso.sign_in(person)

    assert User.objects.get(socialaccount__uid="tenant-a:object-3").email == "ola@example.com"


def test_xms_edov_does_not_vouch_for_an_e_mail_from_a_plain_oidc_provider(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    person = idp.person(email="pat@example.com", xms_edov=True)

    response = sso.sign_in(person)

    assert_refused(response, "does not vouch for your e-mail")


def test_an_entra_token_without_tenant_and_object_id_is_refused(sso: SsoPortal, idp: IdentityProvider) -> None:
    sso.configure(kind="entra", allowed_tenants=["tenant-a"])
    person = idp.person(tid="tenant-a", email="kim@example.com", email_verified=True)

    response = sso.sign_in(person)

    assert_refused(response, "did not say which directory and account you are")
    assert not SocialAccount.objects.exists()


def test_a_foreign_tenant_is_refused(sso: SsoPortal, idp: IdentityProvider) -> None:
    sso.configure(kind="entra", allowed_tenants=["tenant-a"])
    person = idp.person(tid="tenant-b", oid="object-2", email="eve@example.com", email_verified=True)

    response = sso.sign_in(person)

    assert_refused(response, "directory is not allowed")
    assert not User.objects.filter(email="eve@example.com").exists()
    [failed] = events(audit.SIGN_IN_FAILED)
    assert "tenant-b" in failed.extra["reason"]


def test_a_workspace_domain_outside_the_allow_list_is_refused(sso: SsoPortal, idp: IdentityProvider) -> None:
    sso.configure(kind="google", server_url=idp.issuer, allowed_domains=["example.com"])
    person = idp.person(hd="elsewhere.org", email="sam@elsewhere.org", email_verified=True)

    response = sso.sign_in(person)

    assert_refused(response, "domain are not allowed")


def test_a_replayed_callback_is_refused(sso: SsoPortal, idp: IdentityProvider) -> None:
    person = idp.person(email="replay@example.com", email_verified=True)
    browser, callback = sso.start_sign_in(person)
    assert browser.get(callback, timeout=30).status_code == 200

    replayed = browser.get(callback, timeout=30)

    assert_refused(replayed, "did not complete")
    assert len(events(audit.SIGN_IN)) == 1
    assert events(audit.SIGN_IN_FAILED)[-1].extra["reason"].startswith("SSO hand-shake failed")
