"""Nobody links an IdP identity to their own account; a platform administrator may, in the admin, audited.

allauth's ``?process=connect`` would link the identity someone signs in with at
the IdP to the account already signed in here, and that identity would from
then on sign into the account, set its e-mail and drive its SSO grants: a way
to keep access after the IdP removed the person. The portal refuses the flow
before anything is saved, through the real test IdP as a browser would go.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent, Grant, Membership, Role, User
from access.permissions import BuiltinRole
from access.sso import allauth_apps, parse_providers
from tests.access.conftest import PROVIDER_ID, IdentityProvider, SsoPortal
from tests.factories import PASSWORD, GrantFactory, make_sso_rule, make_user

LINKING_REFUSED = "does not link another identity provider account to yours"


def assert_linking_refused(response: requests.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.url, response.text[:500])
    assert LINKING_REFUSED in response.text
    assert "Traceback" not in response.text


def assert_refused_before_the_idp(response: requests.Response) -> None:
    """The portal answered the connect request itself: nobody was sent to the IdP."""
    assert response.went_to_the_idp is False  # type: ignore[attr-defined]


def access_of(user: User) -> dict[str, Any]:
    """Everything the portal holds about what ``user`` is and may do."""
    user.refresh_from_db()
    return {
        "email": user.email,
        "identities": sorted(SocialAccount.objects.filter(user=user).values_list("provider", "uid")),
        "grants": sorted(Grant.objects.active().filter(user=user).values_list("pk", flat=True)),
        "memberships": sorted(Membership.objects.filter(user=user).values_list("team_id", flat=True)),
    }


@pytest.mark.django_db(transaction=True)
def test_a_local_user_cannot_link_an_idp_identity_to_their_account(sso: SsoPortal, idp: IdentityProvider) -> None:
    make_sso_rule(value="portal-admins")
    local = make_user(username="ops", email="ops@example.com")
    browser = sso.sign_in_locally("ops", PASSWORD)
    before = access_of(local)
    someone = idp.person(email="someone@example.com", email_verified=True, groups=["portal-admins"])

    response = sso.link(browser, someone)

    assert_linking_refused(response)
    assert_refused_before_the_idp(response)
    assert not SocialAccount.objects.exists()
    assert access_of(local) == before
    refused = AuditEvent.objects.filter(verb=audit.SIGN_IN_FAILED).latest("pk")
    assert refused.extra["reason"] == "linking another identity is refused"
    assert refused.actor_label == "ops"
    # The identity stays its own: signing in with it is another account, not the local one.
    assert sso.sign_in(someone).status_code == 200
    assert SocialAccount.objects.get().user.email == "someone@example.com"
    assert access_of(local) == before


@pytest.mark.django_db(transaction=True)
def test_an_sso_user_cannot_link_a_second_idp_identity_to_keep_their_access(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    make_sso_rule(value="portal-developers")
    employee = idp.person(email="dev@example.com", email_verified=True, groups=["portal-developers"])
    browser = sso.sign_in(employee).browser  # type: ignore[attr-defined]
    user = User.objects.get(email="dev@example.com")
    before = access_of(user)
    assert before["grants"], "the SSO rule gave a grant"
    personal = idp.person(email="dev.personal@example.com", email_verified=True, groups=["portal-developers"])

    response = sso.link(browser, personal)

    assert_linking_refused(response)
    assert_refused_before_the_idp(response)
    assert SocialAccount.objects.count() == 1
    assert access_of(user) == before


@pytest.mark.django_db(transaction=True)
def test_a_connect_state_reaching_the_callback_is_refused_before_anything_is_saved(
    sso: SsoPortal, idp: IdentityProvider
) -> None:
    """However a connect flow's state got into the session, the callback refuses it too."""
    employee = idp.person(email="lead@example.com", email_verified=True)
    browser = sso.sign_in(employee).browser  # type: ignore[attr-defined]
    user = User.objects.get(email="lead@example.com")
    before = access_of(user)
    personal = idp.person(email="lead.personal@example.com", email_verified=True)
    sso.sign_out_at_the_idp(browser)
    callback = sso.sign_in_at_the_idp(browser, sso.click_sign_in(browser), personal)
    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=browser.cookies["sessionid"])
    states = session["socialaccount_states"]
    for stashed in states.values():
        stashed[0]["process"] = "connect"
    session["socialaccount_states"] = states
    session.save()

    response = browser.get(callback, timeout=30)

    assert_linking_refused(response)
    assert SocialAccount.objects.count() == 1
    assert access_of(user) == before


# --- links made on purpose, by a platform administrator in the admin ---------------------


@pytest.fixture
def admin_browser(db: None, settings: Any) -> Client:
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": allauth_apps(
                parse_providers(
                    [
                        {
                            "id": PROVIDER_ID,
                            "kind": "oidc",
                            "server_url": "https://idp.example.com",
                            "client_id": "portal",
                            "client_secret": "not-a-secret",
                        }
                    ]
                )
            )
        }
    }
    admin = make_user(username="platform-admin")
    GrantFactory.create(user=admin, role=Role.objects.get(slug=BuiltinRole.PLATFORM_ADMIN))
    client = Client()
    client.force_login(admin)
    return client


def test_linking_an_identity_in_the_admin_is_audited(admin_browser: Client) -> None:
    person = make_user(username="kim")

    response = admin_browser.post(
        reverse("admin:socialaccount_socialaccount_add"), {"user": person.pk, "provider": PROVIDER_ID, "uid": "sub-1"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    account = SocialAccount.objects.get(provider=PROVIDER_ID, uid="sub-1")
    assert account.user == person
    linked = AuditEvent.objects.get(verb=audit.IDENTITY_LINKED)
    assert linked.actor == User.objects.get(username="platform-admin")
    assert (linked.object_type, linked.object_id) == ("socialaccount.socialaccount", str(account.pk))
    assert linked.before is None
    assert linked.after == {"user": "kim", "provider": PROVIDER_ID, "subject": "sub-1"}


def test_moving_an_identity_to_another_account_in_the_admin_is_audited_with_both_accounts(
    admin_browser: Client,
) -> None:
    first, second = make_user(username="first"), make_user(username="second")
    account = SocialAccount.objects.create(user=first, provider=PROVIDER_ID, uid="sub-2")

    response = admin_browser.post(
        reverse("admin:socialaccount_socialaccount_change", args=[account.pk]),
        {"user": second.pk, "provider": PROVIDER_ID, "uid": "sub-2"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    moved = AuditEvent.objects.get(verb=audit.IDENTITY_LINKED)
    assert moved.before == {"user": "first", "provider": PROVIDER_ID, "subject": "sub-2"}
    assert moved.after == {"user": "second", "provider": PROVIDER_ID, "subject": "sub-2"}


def test_unlinking_an_identity_in_the_admin_is_audited(admin_browser: Client) -> None:
    account = SocialAccount.objects.create(user=make_user(username="leaver"), provider=PROVIDER_ID, uid="sub-3")

    response = admin_browser.post(
        reverse("admin:socialaccount_socialaccount_delete", args=[account.pk]), {"post": "yes"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not SocialAccount.objects.exists()
    unlinked = AuditEvent.objects.get(verb=audit.IDENTITY_UNLINKED)
    assert unlinked.before == {"user": "leaver", "provider": PROVIDER_ID, "subject": "sub-3"}
    assert (unlinked.object_type, unlinked.object_id) == ("socialaccount.socialaccount", str(account.pk))


def test_the_admin_offers_only_the_configured_providers(admin_browser: Client) -> None:
    response = admin_browser.post(
        reverse("admin:socialaccount_socialaccount_add"),
        {"user": make_user(username="lee").pk, "provider": "made-up", "uid": "sub-4"},
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SocialAccount.objects.exists()
    assert not AuditEvent.objects.filter(verb=audit.IDENTITY_LINKED).exists()
