"""How the portal reaches a cluster: its access, and a kubeconfig encrypted at rest, write-only, audited, rotatable."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import QuerySet
from django.test import Client, override_settings
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent, User
from portal.demo import Persona
from regions.choices import ClusterAccess, ClusterKind
from regions.models import Cluster
from tests.factories import ClusterFactory, OnPremRegionFactory, RegionFactory, kubeconfig_for

TOKEN = "k3s-admin-token-0123456789"
KUBECONFIG = kubeconfig_for("https://10.20.0.5:6443", token=TOKEN)
ClientFor = Callable[[Persona | None], Client]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def centre_network(settings: Any) -> None:
    """The k3s centres' private range, opened as an on-prem administrator does (PORTAL_CLUSTER_PRIVATE_NETWORKS)."""
    settings.CLUSTER_PRIVATE_NETWORKS = ["10.20.0.0/16"]


def k3s(**fields: Any) -> Cluster:
    fields.setdefault("kubeconfig", KUBECONFIG)
    cluster: Cluster = ClusterFactory.create(region=OnPremRegionFactory.create(), kind=ClusterKind.K3S, **fields)
    return Cluster.objects.get(pk=cluster.pk)


def stored_kubeconfig(cluster: Cluster) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT kubeconfig FROM regions_cluster WHERE id = %s", [cluster.pk])
        (value,) = cursor.fetchone()
    return str(value)


def credential_events(cluster: Cluster) -> QuerySet[AuditEvent]:
    """The cluster's credential events (the demo's clusters have theirs too)."""
    return AuditEvent.objects.filter(verb=audit.CLUSTER_CREDENTIALS_SET, object_id=str(cluster.pk))


def errors_of(cluster: Cluster) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        cluster.full_clean()
    return error.value.message_dict


def cluster_form(cluster: Cluster, **changes: str) -> dict[str, str]:
    fields = ["region", "name", "kind", "kubernetes_version", "api_endpoint", "status", "access"]
    form = {name: str(getattr(cluster, name)) for name in fields}
    form["region"] = str(cluster.region_id)
    inline = {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}
    return {**form, **{f"node_pools-{key}": value for key, value in inline.items()}, **changes}


# --- access ----------------------------------------------------------------------------


def test_a_managed_cluster_is_reached_by_cloud_token_and_k3s_by_kubeconfig_unless_told_otherwise() -> None:
    eks = ClusterFactory.create()
    k3s_cluster = k3s()

    assert (eks.access, k3s_cluster.access) == (ClusterAccess.CLOUD_TOKEN, ClusterAccess.KUBECONFIG)
    assert k3s(access=ClusterAccess.IN_CLUSTER, kubeconfig="").access == ClusterAccess.IN_CLUSTER


def test_a_k3s_cluster_without_a_kubeconfig_is_invalid_unless_it_is_reached_in_cluster() -> None:
    assert "Give the cluster's kubeconfig" in errors_of(k3s(kubeconfig=""))["kubeconfig"][0]

    k3s(kubeconfig="", access=ClusterAccess.IN_CLUSTER).full_clean()


def test_a_k3s_cluster_cannot_be_reached_by_cloud_token() -> None:
    cluster = k3s(kubeconfig="", access=ClusterAccess.CLOUD_TOKEN)

    assert "no cloud to issue tokens" in errors_of(cluster)["access"][0]


def test_a_kubeconfig_that_is_not_yaml_is_refused_without_echoing_it() -> None:
    cluster = k3s(kubeconfig=f"clusters: [\n  token: {TOKEN}")

    message = errors_of(cluster)["kubeconfig"][0]

    assert "not valid YAML" in message
    assert TOKEN not in message


def test_a_kubeconfig_without_a_user_or_that_runs_a_command_is_refused() -> None:
    no_user = KUBECONFIG.replace("users:\n- name: k3s-admin\n  user:\n    token: " + TOKEN + "\n", "")
    runs_a_command = KUBECONFIG.replace(f"token: {TOKEN}", "exec:\n      command: /bin/sh")

    assert "lists no user" in errors_of(k3s(kubeconfig=no_user))["kubeconfig"][0]
    assert "runs a command" in errors_of(k3s(kubeconfig=runs_a_command))["kubeconfig"][0]


def test_a_stored_kubeconfig_is_refused_for_an_access_that_does_not_use_it() -> None:
    cluster = ClusterFactory.create(kubeconfig=KUBECONFIG)

    assert "Only kubeconfig access uses a stored kubeconfig" in errors_of(cluster)["kubeconfig"][0]


def test_an_eks_cluster_may_be_reached_by_a_kubeconfig_instead_of_a_cloud_token() -> None:
    ClusterFactory.create(access=ClusterAccess.KUBECONFIG, kubeconfig=KUBECONFIG).full_clean()


# --- at rest -------------------------------------------------------------------------


def test_the_kubeconfig_is_stored_encrypted_and_read_back_in_plain() -> None:
    cluster = k3s()

    ciphertext = stored_kubeconfig(cluster)
    assert TOKEN not in ciphertext
    assert "clusters" not in ciphertext
    assert Fernet(settings.ENCRYPTION_KEYS[0]).decrypt(ciphertext.encode()).decode() == KUBECONFIG
    assert cluster.kubeconfig == KUBECONFIG
    assert cluster.has_kubeconfig


def test_str_and_repr_of_a_cluster_never_show_the_kubeconfig() -> None:
    cluster = k3s()

    assert TOKEN not in str(cluster)
    assert TOKEN not in repr(cluster)


def test_the_api_says_how_a_cluster_is_reached_and_whether_a_kubeconfig_is_set_but_never_returns_it(
    client_for: ClientFor,
) -> None:
    cluster = k3s()

    response = client_for(Persona.PLATFORM_ADMIN).get(f"/api/clusters/{cluster.pk}/")

    body = response.json()
    assert (body["access"], body["has_kubeconfig"]) == ("kubeconfig", True)
    assert "kubeconfig" not in body
    assert TOKEN not in response.content.decode()
    assert stored_kubeconfig(cluster) not in response.content.decode()


# --- audited, never with the content ---------------------------------------------------------


def test_setting_the_kubeconfig_is_audited_as_changed_without_the_content() -> None:
    cluster = k3s(kubeconfig="", access=ClusterAccess.IN_CLUSTER)
    cluster.access = ClusterAccess.KUBECONFIG

    cluster.set_kubeconfig(KUBECONFIG)

    event = credential_events(cluster).get()
    assert event.before == {"kubeconfig": "not set"}
    assert event.after == {"kubeconfig": "changed", "access": "kubeconfig"}
    assert TOKEN not in str([event.before, event.after, event.extra, event.object_repr])
    assert Cluster.objects.get(pk=cluster.pk).kubeconfig == KUBECONFIG


def test_removing_the_kubeconfig_is_audited_as_removed() -> None:
    cluster = k3s()

    cluster.set_kubeconfig("")

    event = credential_events(cluster).get()
    assert (event.before, event.after) == ({"kubeconfig": "set"}, {"kubeconfig": "removed", "access": "kubeconfig"})
    assert stored_kubeconfig(cluster) == ""


# --- write-only in the admin -------------------------------------------------------------------


def test_the_admin_change_page_offers_a_write_only_input_and_never_renders_the_kubeconfig(
    client_for: ClientFor,
) -> None:
    cluster = k3s()

    response = client_for(Persona.PLATFORM_ADMIN).get(reverse("admin:regions_cluster_change", args=[cluster.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert '<textarea name="new_kubeconfig"' in page
    assert "A kubeconfig is stored." in page
    assert TOKEN not in page
    assert "10.20.0.5" not in page
    assert stored_kubeconfig(cluster) not in page


def test_replacing_the_kubeconfig_in_the_admin_stores_it_and_audits_the_change(client_for: ClientFor) -> None:
    cluster = k3s()
    replacement = kubeconfig_for("https://10.20.0.6:6443", token="rotated-k3s-token")

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cluster_change", args=[cluster.pk]), cluster_form(cluster, new_kubeconfig=replacement)
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Cluster.objects.get(pk=cluster.pk).kubeconfig == replacement.strip()
    event = credential_events(cluster).get()
    assert event.actor == User.objects.get(username="admin")
    assert (event.before, event.after) == ({"kubeconfig": "set"}, {"kubeconfig": "changed", "access": "kubeconfig"})
    for stored in AuditEvent.objects.all():
        assert "rotated-k3s-token" not in str([stored.before, stored.after, stored.extra, stored.object_repr])


def test_saving_the_admin_form_without_a_new_kubeconfig_keeps_the_old_one_and_audits_no_credential_change(
    client_for: ClientFor,
) -> None:
    cluster = k3s()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cluster_change", args=[cluster.pk]), cluster_form(cluster, kubernetes_version="1.32")
    )

    assert response.status_code == 302
    assert Cluster.objects.get(pk=cluster.pk).kubeconfig == KUBECONFIG
    assert not credential_events(cluster).exists()


def test_a_bad_kubeconfig_in_the_admin_is_refused_next_to_its_input_and_not_rendered_back(
    client_for: ClientFor,
) -> None:
    cluster = k3s()
    bad = f"clusters: [\n  token: bad-{TOKEN}"

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cluster_change", args=[cluster.pk]), cluster_form(cluster, new_kubeconfig=bad)
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "The kubeconfig is not valid YAML" in page
    assert f"bad-{TOKEN}" not in page
    assert Cluster.objects.get(pk=cluster.pk).kubeconfig == KUBECONFIG
    assert not credential_events(cluster).exists()


def new_k3s_cluster_form(kubeconfig: str) -> dict[str, str]:
    """The admin's "add cluster" form for a new k3s site with ``kubeconfig`` and no node pools."""
    region = OnPremRegionFactory.create()
    return {
        "region": str(region.pk),
        "name": "k3s-new-site",
        "kind": ClusterKind.K3S,
        "kubernetes_version": "1.31",
        "api_endpoint": "https://new-site.centres.internal:6443",
        "status": "ready",
        "access": "",
        "new_kubeconfig": kubeconfig,
        **{f"node_pools-{key}": "0" for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS")},
        "node_pools-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.parametrize(
    ("server", "why"),
    [
        ("http://10.20.0.5:6443", "must start with https://"),
        ("file:///etc/rancher/k3s/k3s.yaml", "must start with https://"),
        ("https://admin:pw@10.20.0.5:6443", "must not contain a user name or password"),
        ("https://169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("https://2130706433:6443", "non-standard form"),
        ("https://[::1]:6443", "::1 is a loopback address"),
        ("https://169.254.7.7:6443", "169.254.7.7 is a link-local address"),
        ("https://10.99.0.5:6443", "10.99.0.5 is a private address"),  # outside the centres' opened range
    ],
)
def test_registering_a_kubeconfig_whose_server_is_refused_says_why_next_to_its_input(
    client_for: ClientFor, server: str, why: str
) -> None:
    form = new_k3s_cluster_form(kubeconfig_for(server, token=TOKEN))

    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("admin:regions_cluster_add"), form)

    page = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200
    assert "The kubeconfig's server is refused: " in page
    assert why in page
    assert TOKEN not in page
    assert not Cluster.objects.filter(name="k3s-new-site").exists()


def test_a_server_in_a_private_range_is_refused_until_an_administrator_opens_it(settings: Any) -> None:
    settings.CLUSTER_PRIVATE_NETWORKS = []

    assert "PORTAL_CLUSTER_PRIVATE_NETWORKS" in errors_of(k3s())["kubeconfig"][0]
    settings.CLUSTER_PRIVATE_NETWORKS = ["10.20.0.0/24"]
    k3s().full_clean()


def test_the_admin_can_remove_the_kubeconfig_when_the_cluster_switches_to_in_cluster_access(
    client_for: ClientFor,
) -> None:
    cluster = k3s()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("admin:regions_cluster_change", args=[cluster.pk]),
        cluster_form(cluster, access=ClusterAccess.IN_CLUSTER, remove_kubeconfig="on"),
    )

    assert response.status_code == 302
    assert Cluster.objects.get(pk=cluster.pk).kubeconfig == ""
    assert credential_events(cluster).get().after == {
        "kubeconfig": "removed",
        "access": "in_cluster",
    }


def test_adding_a_k3s_cluster_with_its_kubeconfig_in_the_admin_audits_the_credentials(client_for: ClientFor) -> None:
    form = new_k3s_cluster_form(KUBECONFIG)

    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("admin:regions_cluster_add"), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    cluster = Cluster.objects.get(name="k3s-new-site")
    assert (cluster.access, cluster.kubeconfig) == (ClusterAccess.KUBECONFIG, KUBECONFIG.strip())
    event = credential_events(cluster).get()
    assert (event.object_id, event.before) == (str(cluster.pk), {"kubeconfig": "not set"})


# --- rotation --------------------------------------------------------------------------


def test_reencrypting_secrets_covers_the_kubeconfig() -> None:
    old_key = settings.ENCRYPTION_KEYS[0]
    cluster = k3s()
    new_key = Fernet.generate_key().decode()
    output = StringIO()

    with override_settings(ENCRYPTION_KEYS=[new_key, old_key]):
        call_command("reencrypt_secrets", stdout=output)

    assert Fernet(new_key).decrypt(stored_kubeconfig(cluster).encode()).decode() == KUBECONFIG
    with override_settings(ENCRYPTION_KEYS=[new_key]):
        assert Cluster.objects.get(pk=cluster.pk).kubeconfig == KUBECONFIG
    assert "regions.cluster.kubeconfig: 1 re-encrypted" in output.getvalue()
    assert TOKEN not in output.getvalue()


def test_a_cluster_in_a_region_without_an_account_cannot_use_a_cloud_token() -> None:
    region = RegionFactory.create()
    cluster: Cluster = ClusterFactory.create(region=region)
    region.account = None
    region.save(update_fields=["account"])

    assert "this region has none" in errors_of(Cluster.objects.get(pk=cluster.pk))["access"][0]
