"""The Azure client secret a cloud account may hold: encrypted at rest, write-only, audited, rotatable."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent
from portal import crypto
from portal.demo import Persona
from regions.choices import AuthMethod
from regions.models import CloudAccount
from tests.factories import AzureClientSecretAccountFactory, CloudAccountFactory

SECRET = "az-client-secret-value~0123456789"
ClientFor = Callable[[Persona | None], Client]
pytestmark = pytest.mark.django_db


def azure_account(**fields: Any) -> CloudAccount:
    account: CloudAccount = AzureClientSecretAccountFactory.create(**fields)
    return CloudAccount.objects.get(pk=account.pk)


def stored_ciphertext(account: CloudAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM regions_cloudaccount WHERE id = %s", [account.pk])
        (value,) = cursor.fetchone()
    return str(value)


def account_form(account: CloudAccount, **changes: str) -> dict[str, str]:
    fields = ["name", "provider", "external_id", "tenant_id", "auth_method", "role_arn", "role_external_id"]
    fields += ["client_id", "secret_reference", "description"]
    return {**{name: str(getattr(account, name)) for name in fields}, **changes}


# --- at rest -------------------------------------------------------------------------


def test_the_client_secret_is_stored_encrypted_and_read_back_in_plain() -> None:
    account = azure_account()

    ciphertext = stored_ciphertext(account)
    assert SECRET not in ciphertext
    assert Fernet(settings.ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode()).decode() == SECRET
    assert account.client_secret == SECRET


def test_no_secret_is_stored_as_an_empty_value_not_as_ciphertext() -> None:
    account = CloudAccount.objects.get(pk=CloudAccountFactory.create().pk)

    assert stored_ciphertext(account) == ""
    assert account.client_secret == ""
    assert not account.has_client_secret


def test_each_save_encrypts_afresh_so_equal_secrets_do_not_look_equal() -> None:
    first, second = azure_account(), azure_account()

    assert stored_ciphertext(first) != stored_ciphertext(second)


def test_str_and_repr_of_an_account_never_show_the_secret() -> None:
    account = azure_account()

    assert SECRET not in str(account)
    assert SECRET not in repr(account)


def test_a_secret_no_configured_key_can_open_fails_with_a_clear_error() -> None:
    account = azure_account()

    with (
        override_settings(ENCRYPTION_KEYS=[Fernet.generate_key().decode()]),
        pytest.raises(crypto.DecryptionError, match="cannot be decrypted with PORTAL_ENCRYPTION_KEYS"),
    ):
        CloudAccount.objects.get(pk=account.pk)


# --- validation ----------------------------------------------------------------------


def test_the_client_secret_method_is_valid_with_a_stored_secret_and_no_secret_store_entry() -> None:
    azure_account(secret_reference="").full_clean()


def test_the_client_secret_method_needs_a_stored_secret_or_a_secret_store_entry() -> None:
    account = azure_account(secret_reference="", client_secret="")

    with pytest.raises(ValidationError) as error:
        account.full_clean()

    assert "store the secret itself" in error.value.message_dict["secret_reference"][0]


def test_a_stored_secret_is_refused_for_a_method_that_does_not_use_one() -> None:
    account = azure_account()
    account.auth_method = AuthMethod.AZURE_MANAGED_IDENTITY

    with pytest.raises(ValidationError) as error:
        account.full_clean()

    assert "Only the Azure client-secret method" in error.value.message_dict["auth_method"][0]


# --- audited, never with the value -----------------------------------------------------


def test_setting_the_secret_is_audited_as_changed_without_the_value() -> None:
    account = azure_account(client_secret="")

    account.set_client_secret("a-brand-new-secret")

    event = AuditEvent.objects.filter(verb=audit.CLOUD_SECRET_SET).get()
    assert (event.before, event.after) == ({"state": "not set"}, {"state": "changed"})
    assert "a-brand-new-secret" not in str([event.before, event.after, event.extra, event.object_repr])
    assert CloudAccount.objects.get(pk=account.pk).client_secret == "a-brand-new-secret"


def test_removing_the_secret_is_audited_as_removed() -> None:
    account = azure_account()

    account.set_client_secret("")

    event = AuditEvent.objects.filter(verb=audit.CLOUD_SECRET_SET).get()
    assert (event.before, event.after) == ({"state": "set"}, {"state": "removed"})
    assert stored_ciphertext(account) == ""


# --- write-only: API, pages, admin -------------------------------------------------------


def test_the_api_says_whether_a_secret_is_set_but_never_returns_it(client_for: ClientFor) -> None:
    account = azure_account()

    response = client_for(Persona.PLATFORM_ADMIN).get(f"/api/cloud-accounts/{account.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["has_client_secret"] is True
    assert "client_secret" not in body
    assert SECRET not in response.content.decode()
    assert stored_ciphertext(account) not in response.content.decode()


def test_the_admin_change_page_offers_a_write_only_input_and_never_renders_the_secret(client_for: ClientFor) -> None:
    account = azure_account()

    response = client_for(Persona.PLATFORM_ADMIN).get(reverse("admin:regions_cloudaccount_change", args=[account.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'type="password" name="new_client_secret"' in page
    assert "A client secret is stored." in page
    assert SECRET not in page
    assert stored_ciphertext(account) not in page


def test_replacing_the_secret_in_the_admin_stores_it_and_audits_the_change(client_for: ClientFor) -> None:
    account = azure_account()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cloudaccount_change", args=[account.pk]),
        account_form(account, new_client_secret="replaced-secret-value"),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert CloudAccount.objects.get(pk=account.pk).client_secret == "replaced-secret-value"
    event = AuditEvent.objects.filter(verb=audit.CLOUD_SECRET_SET).get()
    assert (event.before, event.after) == ({"state": "set"}, {"state": "changed"})
    for stored in AuditEvent.objects.all():
        assert "replaced-secret-value" not in str([stored.before, stored.after, stored.extra, stored.object_repr])


def test_saving_the_admin_form_without_a_new_secret_keeps_the_old_one_and_audits_no_secret_change(
    client_for: ClientFor,
) -> None:
    account = azure_account()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cloudaccount_change", args=[account.pk]), account_form(account, description="Renamed.")
    )

    assert response.status_code == 302
    assert CloudAccount.objects.get(pk=account.pk).client_secret == SECRET
    assert not AuditEvent.objects.filter(verb=audit.CLOUD_SECRET_SET).exists()


def test_the_admin_can_remove_the_secret_when_a_secret_store_entry_takes_over(client_for: ClientFor) -> None:
    account = azure_account()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cloudaccount_change", args=[account.pk]),
        account_form(account, secret_reference="kv-portal/azure-client", remove_client_secret="on"),
    )

    assert response.status_code == 302
    assert CloudAccount.objects.get(pk=account.pk).client_secret == ""
    assert AuditEvent.objects.filter(verb=audit.CLOUD_SECRET_SET).get().after == {"state": "removed"}


# --- rotation --------------------------------------------------------------------------


def test_reencrypting_moves_every_secret_to_the_newest_key_and_audits_the_run() -> None:
    old_key = settings.ENCRYPTION_KEYS[0]
    accounts = [azure_account(), azure_account(client_secret="second-secret")]
    new_key = Fernet.generate_key().decode()
    output = StringIO()

    with override_settings(ENCRYPTION_KEYS=[new_key, old_key]):
        call_command("reencrypt_secrets", stdout=output)

    for account in accounts:
        Fernet(new_key).decrypt(stored_ciphertext(account).encode())
    with override_settings(ENCRYPTION_KEYS=[new_key]):
        assert [CloudAccount.objects.get(pk=a.pk).client_secret for a in accounts] == [SECRET, "second-secret"]
    assert "2 secret(s) re-encrypted" in output.getvalue()
    assert SECRET not in output.getvalue()
    event = AuditEvent.objects.filter(verb=audit.SECRETS_REENCRYPTED).get()
    # Every model with an encrypted field is visited (webhook secrets too), whether or not it holds one now.
    assert event.extra == {
        "rewritten": 2,
        "models": [
            "costs.budget",
            "deployments.webhooksource",
            "mfa.authenticator",
            "regions.cloudaccount",
            "regions.cluster",
        ],
    }


def test_reencrypting_twice_rewrites_nothing_the_second_time() -> None:
    account = azure_account()
    new_key = Fernet.generate_key().decode()

    with override_settings(ENCRYPTION_KEYS=[new_key, settings.ENCRYPTION_KEYS[0]]):
        call_command("reencrypt_secrets", stdout=StringIO())
        after_first = stored_ciphertext(account)
        output = StringIO()
        call_command("reencrypt_secrets", stdout=output)

    assert stored_ciphertext(account) == after_first
    assert "0 secret(s) re-encrypted" in output.getvalue()


def test_reencrypting_without_the_old_key_changes_nothing_and_says_why() -> None:
    account = azure_account()
    before = stored_ciphertext(account)

    with (
        override_settings(ENCRYPTION_KEYS=[Fernet.generate_key().decode()]),
        pytest.raises(CommandError, match="Nothing was changed"),
    ):
        call_command("reencrypt_secrets", stdout=StringIO())

    assert stored_ciphertext(account) == before
    assert not AuditEvent.objects.filter(verb=audit.SECRETS_REENCRYPTED).exists()
