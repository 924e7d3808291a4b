"""Template pages, team limits and the price table, through the browser's requests."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent, Team, User
from costs.models import PriceItem
from environments.models import EnvironmentTemplate, TeamLimits
from portal.demo import Persona
from regions.choices import ResourceKind
from regions.models import Region
from tests.environments.factories import saved_template
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

ClientFor = Callable[[Persona | None], Client]

LIST = reverse("environments:templates")
CREATE = reverse("environments:template_create")


@pytest.fixture
def admin(client_for: ClientFor) -> Client:
    return client_for(Persona.PLATFORM_ADMIN)


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


def form_data(**changes: Any) -> dict[str, Any]:
    """What the create form posts for a small, valid test template."""
    data: dict[str, Any] = {
        "name": "Load test",
        "slug": "load-test",
        "description": "For load tests.",
        "tier": "test",
        "active": "on",
        "namespaces": ["core-services", "analytics"],
        "quota_requests_cpu": "4",
        "quota_limits_cpu": "8",
        "quota_requests_memory": "8Gi",
        "quota_limits_memory": "16Gi",
        "quota_pods": "40",
        "quota_gpus": "0",
        "quota_storage": "",
        "limit_default_request_cpu": "100m",
        "limit_default_cpu": "500m",
        "limit_max_cpu": "2",
        "limit_default_request_memory": "128Mi",
        "limit_default_memory": "512Mi",
        "limit_max_memory": "4Gi",
        "network_default_deny": "on",
        "network_allowed_namespaces": "monitoring",
        "ingress_host_pattern": "{env}.{team}.load.example.com",
        "ingress_tls": "on",
        "ingress_rate_limit_rps": "200",
        "ingress_allow_cidrs": "10.0.0.0/8\n192.168.0.0/16",
        "ingress_deny_cidrs": "",
        "postgresql_size": "small",
        "redis_size": "",
        "bucket_size_gb": "",
        "allowed_providers": ["aws"],
        "allowed_zones": ["EU"],
        "allowed_regions": [],
        "default_ttl_hours": "48",
        "max_ttl_hours": "168",
        "approval": "none",
        "size_small": "1",
        "size_medium": "2",
        "size_large": "4",
    }
    data.update(changes)
    return data


# --- creating and editing ----------------------------------------------------------------


def test_an_admin_creates_a_template_through_the_form(admin: Client) -> None:
    eu_west_1 = Region.objects.get(provider="aws", code="eu-west-1")

    response = admin.post(CREATE, form_data(allowed_regions=[str(eu_west_1.pk)]))

    assert response.status_code == 302
    assert response.headers["Location"] == reverse("environments:template", args=["load-test"])
    made = EnvironmentTemplate.objects.get(slug="load-test")
    assert made.namespaces == ["core-services", "analytics"]
    assert made.ingress_allow_cidrs == ["10.0.0.0/8", "192.168.0.0/16"]
    assert made.network_allowed_namespaces == ["monitoring"]
    assert list(made.allowed_regions.all()) == [eu_west_1]
    event = AuditEvent.objects.get(verb="environments.template_created", object_id=str(made.pk))
    assert event.actor == User.objects.get(username="admin")
    assert event.before is None
    assert event.after is not None
    assert event.after["quota_requests_cpu"] == "4"
    assert event.after["allowed_regions"] == ["aws/eu-west-1"]


def test_invalid_input_shows_each_error_by_its_field_and_keeps_what_was_typed(admin: Client) -> None:
    response = admin.post(
        CREATE,
        form_data(quota_requests_cpu="4Gi", ingress_allow_cidrs="10.0.0.1/8\nnot-a-range", max_ttl_hours="24"),
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert not EnvironmentTemplate.objects.filter(slug="load-test").exists()
    assert "&#x27;4Gi&#x27; is not a CPU quantity" in body
    assert "10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" in body
    assert "not-a-range is not a CIDR block" in body
    assert "The default lifetime (48 h) cannot exceed the maximum (24 h)." in body
    # What was typed is still there to correct.
    assert 'value="Load test"' in body
    assert "10.0.0.1/8\nnot-a-range</textarea>" in body
    assert 'value="4Gi"' in body


def test_a_region_outside_the_templates_zones_is_refused_on_the_form(admin: Client) -> None:
    sydney = Region.objects.get(provider="aws", code="ap-southeast-2")

    response = admin.post(CREATE, form_data(allowed_regions=[str(sydney.pk)]))

    assert response.status_code == 200
    assert "ap-southeast-2 lies in the AU zone, which is not allowed." in response.content.decode()


def test_an_edit_records_only_what_changed(admin: Client) -> None:
    preview = EnvironmentTemplate.objects.get(slug="preview")
    form = admin.get(reverse("environments:template_edit", args=["preview"])).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {
        name: (
            "\n".join(value)
            if name in {"ingress_allow_cidrs", "ingress_deny_cidrs", "network_allowed_namespaces"}
            else value
        )
        for name, value in data.items()
        if value is not None and value is not False
    }
    data["ingress_rate_limit_rps"] = "35"

    response = admin.post(reverse("environments:template_edit", args=["preview"]), data)

    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    preview.refresh_from_db()
    assert preview.ingress_rate_limit_rps == 35
    event = AuditEvent.objects.get(verb="environments.template_changed", object_id=str(preview.pk))
    assert (event.before, event.after) == ({"ingress_rate_limit_rps": 20}, {"ingress_rate_limit_rps": 35})


def test_people_who_may_only_read_templates_get_403_on_the_admin_pages(
    developer: Client, client_for: ClientFor
) -> None:
    assert developer.get(CREATE).status_code == 403
    assert developer.post(CREATE, form_data()).status_code == 403
    assert not EnvironmentTemplate.objects.filter(slug="load-test").exists()
    for who in (Persona.TEAM_LEAD, Persona.MANAGER, Persona.AUDITOR):
        client = client_for(who)
        assert client.get(reverse("environments:template_edit", args=["staging"])).status_code == 403
        assert client.post(reverse("environments:template_deactivate", args=["staging"])).status_code == 403
    assert EnvironmentTemplate.objects.get(slug="staging").active


def test_a_deactivated_template_disappears_for_developers_but_stays_for_admins(
    admin: Client, developer: Client
) -> None:
    response = admin.post(reverse("environments:template_deactivate", args=["staging"]))

    assert response.status_code == 302
    assert not EnvironmentTemplate.objects.get(slug="staging").active
    assert "staging" not in [template.slug for template in developer.get(LIST).context["page"]]
    assert developer.get(reverse("environments:template", args=["staging"])).status_code == 404
    assert "staging" in [template.slug for template in admin.get(LIST).context["page"]]
    assert AuditEvent.objects.filter(verb="environments.template_deactivated").count() == 1
    admin.post(reverse("environments:template_deactivate", args=["staging"]))
    assert AuditEvent.objects.filter(verb="environments.template_deactivated").count() == 1


# --- the list and the estimates --------------------------------------------------------------


def test_everyone_sees_the_demo_templates(client_for: ClientFor) -> None:
    for who in Persona:
        slugs = {template.slug for template in client_for(who).get(LIST).context["page"]}
        assert slugs == {"preview", "team-sandbox", "staging", "production"}, who


def test_the_list_filters_by_tier_in_place(developer: Client) -> None:
    response = developer.get(LIST, {"tier": "production"}, headers={"HX-Request": "true"})

    assert [template.slug for template in response.context["page"]] == ["production"]
    assert "<html" not in response.content.decode()


def test_the_template_list_runs_the_same_queries_however_many_templates_there_are(developer: Client) -> None:
    queries_for(developer, LIST)
    before = queries_for(developer, LIST)
    regions = list(Region.objects.filter(provider="aws"))
    for number in range(15):
        made = saved_template(slug=f"t-{number}", name=f"Template {number}")
        made.allowed_regions.set(regions[:3])

    assert len(developer.get(LIST).context["page"]) == 19
    assert queries_for(developer, LIST) == before


def test_the_detail_shows_the_monthly_estimate_at_each_size_in_the_chosen_region(developer: Client) -> None:
    eu_west_1 = Region.objects.get(provider="aws", code="eu-west-1")

    response = developer.get(reverse("environments:template", args=["preview"]), {"region": eu_west_1.pk})

    comparison = response.context["estimate"].comparison
    # Preview: 1 namespace, 1 vCPU and 2 GiB requested; x1, x2, x3 at AWS's demo list prices.
    assert [estimate.total for estimate in comparison.sizes] == [
        Decimal("30.66"),
        Decimal("61.32"),
        Decimal("91.98"),
    ]
    assert "30.66 USD" in response.content.decode()


def test_a_regional_price_changes_the_estimate(developer: Client) -> None:
    sydney = Region.objects.get(provider="aws", code="ap-southeast-2")

    response = developer.get(
        reverse("environments:template", args=["preview"]), {"region": sydney.pk}, headers={"HX-Request": "true"}
    )

    assert response.context["estimate"].comparison.sizes[0].total == Decimal("38.40")  # 30.66 + 7.74
    assert response.content.decode().lstrip().startswith('<div id="estimate"')


def test_a_missing_price_is_shown_as_missing_not_as_zero(developer: Client) -> None:
    PriceItem.objects.filter(provider="azure", kind=ResourceKind.POSTGRESQL, size="medium").delete()
    westeurope = Region.objects.get(provider="azure", code="westeurope")

    response = developer.get(reverse("environments:template", args=["staging"]), {"region": westeurope.pk})

    body = response.content.decode()
    assert response.context["estimate"].comparison is None
    assert "No estimate for West Europe (westeurope): The price table has no price on" in body
    assert "Managed PostgreSQL (medium) on Azure in westeurope" in body


def test_a_region_the_template_does_not_allow_is_not_offered(developer: Client) -> None:
    production = EnvironmentTemplate.objects.get(slug="production")
    production.allowed_zones = ["EU"]
    production.save()

    response = developer.get(reverse("environments:template", args=["production"]))

    offered = {region.code for region in response.context["region_form"].fields["region"].queryset}
    assert offered == {"eu-west-1", "eu-central-1", "westeurope", "northeurope"}


# --- team limits -------------------------------------------------------------------------------


def test_a_manager_sets_a_teams_limits_and_the_change_is_audited(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)
    url = reverse("environments:team_limits_edit", args=["tutor-tools"])

    response = manager.post(url, {"max_environments": "12", "max_monthly_estimate": "9000", "currency": "USD"})

    assert response.status_code == 302
    limits = TeamLimits.objects.get(team__slug="tutor-tools")
    assert (limits.max_environments, limits.max_monthly_estimate) == (12, Decimal(9000))
    event = AuditEvent.objects.get(verb="environments.team_limits_set", object_id=str(limits.pk))
    assert event.before == {
        "max_environments": 8,
        "max_monthly_estimate": "6000.00",
        "currency": "USD",
    }
    assert (event.after or {})["max_monthly_estimate"] == "9000"


def test_a_lead_sees_their_teams_limits_but_cannot_change_them(client_for: ClientFor) -> None:
    lead = client_for(Persona.TEAM_LEAD)

    rows = lead.get(reverse("environments:team_limits")).context["rows"]

    assert [(row.team.slug, row.can_change) for row in rows] == [("student-experience", False)]
    assert lead.get(reverse("environments:team_limits_edit", args=["student-experience"])).status_code == 403
    assert lead.get(reverse("environments:team_limits_edit", args=["tutor-tools"])).status_code == 404


def test_admins_see_every_team_including_one_without_limits(client_for: ClientFor) -> None:
    Team.objects.create(slug="night-shift", name="Night Shift")

    rows = client_for(Persona.PLATFORM_ADMIN).get(reverse("environments:team_limits")).context["rows"]

    by_team = {row.team.slug: row for row in rows}
    assert len(by_team) == 6
    assert by_team["night-shift"].limits is None
    assert by_team["night-shift"].can_change


# --- the price table ------------------------------------------------------------------------------


def test_a_manager_adds_a_price_and_the_estimate_uses_it(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)

    response = manager.post(
        reverse("costs:price_create"),
        {
            "provider": "aws",
            "region_code": "eu-west-1",
            "kind": "cpu",
            "size": "",
            "unit": "vcpu_hour",
            "price": "0.05",
            "currency": "USD",
            "effective_from": "2026-02-01",
            "note": "Dublin surcharge",
        },
    )

    assert response.status_code == 302
    item = PriceItem.objects.get(region_code="eu-west-1", kind="cpu")
    created = AuditEvent.objects.get(verb="costs.price_created", object_id=str(item.pk))
    assert (created.after or {})["price"] == "0.05"
    eu_west_1 = Region.objects.get(provider="aws", code="eu-west-1")
    estimate = manager.get(reverse("environments:template", args=["preview"]), {"region": eu_west_1.pk})
    assert estimate.context["estimate"].comparison.sizes[0].lines[0].unit_price == Decimal("0.05")


def test_a_wrong_unit_is_explained_on_the_price_form(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("costs:price_create"),
        {"provider": "aws", "kind": "cpu", "unit": "gib_month", "price": "0.05", "currency": "USD",
         "effective_from": "2026-02-01"},
    )  # fmt: skip

    assert response.status_code == 200
    assert "CPU is priced per vCPU-hour." in response.content.decode()


def test_a_manager_corrects_and_deletes_a_price_with_before_and_after_in_the_log(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)
    item = PriceItem.objects.get(provider="aws", region_code="", kind="bucket")
    form = manager.get(reverse("costs:price_edit", args=[item.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data["price"] = "0.021"

    assert manager.post(reverse("costs:price_edit", args=[item.pk]), data).status_code == 302
    changed = AuditEvent.objects.get(verb="costs.price_changed", object_id=str(item.pk))
    assert ((changed.before or {})["price"], (changed.after or {})["price"]) == ("0.023000", "0.021")
    assert manager.post(reverse("costs:price_delete", args=[item.pk])).status_code == 302
    assert not PriceItem.objects.filter(pk=item.pk).exists()
    deleted = AuditEvent.objects.get(verb="costs.price_deleted", object_id=str(item.pk))
    assert (deleted.before or {})["price"] == "0.021000"


def test_team_limited_cost_readers_cannot_open_the_price_table(client_for: ClientFor) -> None:
    item = PriceItem.objects.order_by("pk").first()
    assert item is not None
    for who in (Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.AUDITOR):
        client = client_for(who)
        assert client.get(reverse("costs:prices")).status_code == 403, who
        assert client.get(reverse("costs:price_edit", args=[item.pk])).status_code == 404, who
        assert 'href="/costs/prices/"' not in client.get(reverse("costs:overview")).content.decode(), who
    assert 'href="/costs/prices/"' in client_for(Persona.MANAGER).get(reverse("costs:overview")).content.decode()
