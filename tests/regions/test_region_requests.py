"""Asking for a region (form and API), its plan before apply, and who may approve it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse

from access.models import Role
from approvals import services as approvals
from approvals.models import ApprovalRequest, ApprovalStatus
from costs.models import PriceItem
from portal.demo import Persona
from regions import catalogue, pricing, services
from regions.choices import RegionRequestStatus, ResourceKind
from regions.models import CloudAccount, Region, RegionRequest
from regions.plan import SPEC_NAMESPACES, network_cidr, region_plan
from tests.factories import GrantFactory, make_user
from tests.helpers import queries_for
from tests.regions.test_region_build import admin, request_region, second_admin
from workflows.models import Run

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

BUILD_ORDER = [
    "network",
    "key",
    "dr_key",
    "role",
    "role",
    "role",
    "cluster",
    "node_pool",
    "node_pool",
    "node_pool",
    "database",
    "dr_network",
    "database_replica",
    "cache",
    "bucket_replica",
    "bucket",
    "inventory",
    *["namespace"] * len(SPEC_NAMESPACES),
]


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": "aws",
        "code": "eu-south-1",
        "residency_zone": "EU",
        "purpose": "non_production",
        "dr_partner_code": "eu-west-3",
        "account": str(CloudAccount.objects.get(provider="aws").pk),
        "kubernetes_version": "1.34",
        "general_nodes": "2",
        "high_cpu_nodes": "1",
        "high_cpu_spot": "on",
        "gpu_nodes": "1",
        "database": "on",
        "database_size": "medium",
        "database_replica": "on",
        "backup_retention_days": "14",
        "cache": "on",
        "cache_size": "small",
        "bucket": "on",
        "bucket_expected_gib": "100",
        "cold_storage_after_days": "90",
        "encryption_key": "on",
        "justification": "Students in Italy need low latency.",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def api_data(**changes: Any) -> dict[str, Any]:
    data = form_data(**changes)
    booleans = ("high_cpu_spot", "gpu_spot", "database", "database_replica", "cache", "bucket", "encryption_key")
    return {**data, **{name: data.get(name) == "on" for name in booleans}}


# --- the form --------------------------------------------------------------------------------------------------


def test_a_platform_admin_requests_a_region_in_the_browser_and_lands_on_its_plan(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("regions:request_create"), form_data())

    request = RegionRequest.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("regions:request", kwargs={"pk": request.pk})
    assert request.status == RegionRequestStatus.PENDING_APPROVAL
    assert request.requested_by == admin()


def test_the_form_refuses_a_zone_the_region_does_not_lie_in_and_keeps_the_input(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("regions:request_create"), form_data(residency_zone="US", dr_partner_code="", database_replica=None)
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["residency_zone"] == ["eu-south-1 lies in the European Union (EU) zone, not US."]
    assert "Students in Italy need low latency." in response.content.decode()
    assert not RegionRequest.objects.exists()


@pytest.mark.parametrize(
    ("code", "where"),
    [("eu-west-2", "Europe (London)"), ("eu-central-2", "Europe (Zurich)")],
)
def test_london_and_zurich_are_not_eu_regions_so_no_eu_data_may_be_built_there(
    code: str, where: str, demo: None
) -> None:
    request = RegionRequest(
        provider="aws",
        code=code,
        residency_zone="EU",
        account=CloudAccount.objects.get(provider="aws"),
        dr_partner_code="eu-west-3",
    )
    partner = RegionRequest(
        provider="aws",
        code="eu-west-3",
        residency_zone="EU",
        account=CloudAccount.objects.get(provider="aws"),
        dr_partner_code=code,
    )
    refusal = (
        f"{code} ({where}) is outside the European Union and every other residency zone the portal has, "
        "so no zone's data may live there."
    )

    with pytest.raises(ValidationError) as raised:
        request.clean()
    assert raised.value.message_dict["code"] == [refusal]
    with pytest.raises(ValidationError) as raised:
        partner.clean()
    assert raised.value.message_dict["dr_partner_code"] == [refusal]


def test_the_form_refuses_a_dr_partner_outside_the_zone(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("regions:request_create"), form_data(dr_partner_code="us-east-2")
    )

    assert response.status_code == 400
    (message,) = response.context["form"].errors["dr_partner_code"]
    assert message.startswith("us-east-2 lies in the United States (US) zone, not EU")
    assert 'data-error-for="dr_partner_code"' in response.content.decode()


def test_the_form_refuses_a_region_of_the_other_provider(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("regions:request_create"), form_data(code="westeurope", dr_partner_code="northeurope")
    )

    assert response.status_code == 400
    assert response.context["form"].errors["code"] == ["The portal knows no AWS region called 'westeurope'."]


def test_a_region_already_in_the_inventory_is_refused(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("regions:request_create"), form_data(code="eu-west-1", dr_partner_code="eu-central-1")
    )

    assert response.status_code == 400
    assert response.context["form"].errors["code"] == ["eu-west-1 is already in the inventory (active)."]


@pytest.mark.parametrize("who", [Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.MANAGER, Persona.AUDITOR])
def test_only_platform_admins_may_request_a_region(
    who: Persona, client_for: Callable[[Persona | None], Client]
) -> None:
    client = client_for(who)

    assert client.get(reverse("regions:request_create")).status_code == 403
    assert client.post("/api/region-requests/", api_data()).status_code == 403
    assert not RegionRequest.objects.exists()


# --- the API ---------------------------------------------------------------------------------------------------


def test_the_api_refuses_a_residency_violation_with_the_field_and_why(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/region-requests/",
        json.dumps(api_data(code="us-east-2", dr_partner_code="", database_replica=None)),
        content_type="application/json",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {"residency_zone": ["us-east-2 lies in the United States (US) zone, not EU."]}


def test_the_api_refuses_a_dr_partner_in_another_zone(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/region-requests/",
        json.dumps(api_data(dr_partner_code="ap-southeast-2")),
        content_type="application/json",
    )

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["dr_partner_code"]
    assert "ap-southeast-2 lies in the Australia (AU) zone, not EU" in message


def test_the_api_gives_back_the_first_request_for_a_repeated_idempotency_key(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    body = json.dumps(api_data())

    first = client.post("/api/region-requests/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/region-requests/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["status"] == "pending_approval"
    assert RegionRequest.objects.count() == 1
    assert ApprovalRequest.objects.filter(purpose=services.BUILD).count() == 1


def test_a_second_request_for_a_region_under_way_is_refused(client_for: Callable[[Persona | None], Client]) -> None:
    request_region()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/region-requests/", json.dumps(api_data()), content_type="application/json"
    )

    assert response.status_code == 400
    refusal = "eu-south-1 already has a request under way; follow that one."
    assert response.json()["error"]["fields"] == {"code": [refusal]}


def test_a_malformed_api_request_is_a_structured_400_never_a_500(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/region-requests/",
        json.dumps({**api_data(), "general_nodes": "many", "account": 999999, "provider": "gcp"}),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"general_nodes", "account", "provider"}


# --- the plan --------------------------------------------------------------------------------------------------


def test_the_plan_lists_every_resource_in_build_order_with_deterministic_names(demo: None) -> None:
    request = request_region()

    plan = region_plan(request)
    again = region_plan(RegionRequest.objects.get(pk=request.pk))

    assert [item.kind for item in plan.resources] == BUILD_ORDER
    assert plan.resources == again.resources
    names = {item.kind: item.name for item in plan.resources}
    assert (names["network"], names["cluster"], names["database"]) == (
        "portal-eu-south-1-network",
        "eks-eu-south-1",
        "portal-eu-south-1-db",
    )
    replica = next(item for item in plan.resources if item.kind == "database_replica")
    assert replica.region == "eu-west-3"
    database = next(item for item in plan.resources if item.kind == "database")
    assert database.settings["backup_retention_days"] == 14
    assert database.settings["point_in_time_recovery"] is True
    bucket = next(item for item in plan.resources if item.kind == "bucket")
    assert bucket.settings["replication_target_bucket"] == f"{bucket.name}-dr"
    assert bucket.settings["cold_storage_after_days"] == 90
    # The identities the services run as are built first, named for this installation and region.
    roles = {item.settings["purpose"]: item for item in plan.resources if item.kind == "role"}
    assert roles["kubernetes_control_plane"].name == "portal-tests-eu-south-1-eks-cluster"
    assert bucket.settings["replication_role"] == roles["bucket_replication"].name
    assert roles["bucket_replication"].settings["target_bucket"] == f"{bucket.name}-dr"
    dr_key = next(item for item in plan.resources if item.kind == "dr_key")
    assert (dr_key.name, dr_key.region) == ("portal-eu-south-1-key", "eu-west-3")
    # The replica goes in a network of its own in the partner: private subnets only, an address range of its own.
    dr_network = next(item for item in plan.resources if item.kind == "dr_network")
    assert (dr_network.name, dr_network.region) == ("portal-eu-south-1-dr-network", "eu-west-3")
    assert replica.settings["network"] == dr_network.name
    assert (dr_network.settings["public_subnets"], dr_network.settings["nat_gateway"]) == ([], False)
    assert len(dr_network.settings["private_subnets"]) == 2
    own_ranges = {network_cidr("eu-south-1"), network_cidr("eu-west-3")}
    assert dr_network.settings["cidr"] not in own_ranges
    assert all(
        subnet.startswith(dr_network.settings["cidr"].rsplit(".", 2)[0])
        for subnet in dr_network.settings["private_subnets"]
    )


def test_the_plan_prices_each_resource_from_the_price_table_and_says_what_it_cannot_price(demo: None) -> None:
    plan = region_plan(request_region())

    costs = {(item.kind, item.name): item.monthly_cost for item in plan.resources}
    # Demo prices (costs.demo): PostgreSQL medium 0.178/h, NAT 0.045/h, m7i.xlarge = 4 vCPU x 0.0336 + 16 GiB x 0.0042.
    assert costs[("database", "portal-eu-south-1-db")] == Decimal("129.94")
    # A NAT gateway in each of the two zones: 2 x 730 h x 0.045.
    assert costs[("network", "portal-eu-south-1-network")] == Decimal("65.70")
    # Two general nodes: 2 x 730 h x (4 x 0.0336 + 16 x 0.0042) = 294.336.
    assert costs[("node_pool", "general")] == Decimal("294.34")
    assert costs[("cluster", "eks-eu-south-1")] is None
    assert costs[("key", "portal-eu-south-1-key")] is None
    assert plan.unpriced == ("the encryption key", "the encryption key in eu-west-3", "the Amazon EKS control plane")
    assert plan.monthly_total == sum(cost for cost in costs.values() if cost is not None)
    assert plan.currency == "USD"


def test_a_price_missing_for_the_region_leaves_that_resource_unpriced_and_names_the_price(demo: None) -> None:
    PriceItem.objects.filter(provider="aws", kind=ResourceKind.POSTGRESQL).delete()

    plan = region_plan(request_region())

    database = next(item for item in plan.resources if item.kind == "database")
    assert database.monthly_cost is None
    assert "no price" in database.cost_note
    assert "Managed PostgreSQL (medium) on AWS in eu-south-1" in database.cost_note
    network = next(item for item in plan.resources if item.kind == "network")
    assert network.monthly_cost == Decimal("65.70")
    assert plan.monthly_total == sum(item.monthly_cost for item in plan.resources if item.monthly_cost is not None)


def test_without_a_price_table_nothing_is_priced_as_zero(demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "_pricer", None)

    plan = region_plan(request_region())

    charged = [item for item in plan.resources if item.kind in ("network", "node_pool", "database", "cache")]
    assert charged
    assert all(item.monthly_cost is None for item in charged)
    assert all(item.cost_note == "No price table is installed." for item in charged)


def test_the_request_page_shows_the_plan_with_its_total_and_the_json_export_matches(
    client_for: Callable[[Persona | None], Client],
) -> None:
    request = request_region()
    client = client_for(Persona.DEVELOPER)  # everyone who reads the inventory may review a plan

    page = client.get(reverse("regions:request", kwargs={"pk": request.pk}))
    exported = client.get(reverse("regions:request_plan", kwargs={"pk": request.pk}))

    assert page.status_code == 200
    plan = region_plan(request)
    html = page.content.decode()
    assert f"{plan.monthly_total} USD" in html
    assert all(item.name in html for item in plan.resources)
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"] == 'attachment; filename="region-plan-aws-eu-south-1.json"'
    body = exported.json()
    assert [item["kind"] for item in body["resources"]] == BUILD_ORDER
    assert body["monthly_total"] == str(plan.monthly_total)
    api = client.get(f"/api/region-requests/{request.pk}/plan/").json()
    assert api["resources"] == body["resources"]


# --- approval --------------------------------------------------------------------------------------------------


def approval_of(request: RegionRequest) -> ApprovalRequest:
    return ApprovalRequest.objects.get(subject_id=str(request.pk), purpose=services.BUILD)


def test_a_production_region_needs_two_different_platform_admins(demo: None) -> None:
    third = second_admin()
    requester = admin()
    first_approver = make_user(username="admin-three")
    GrantFactory(role=Role.objects.get(slug="platform_admin"), user=first_approver)
    request = request_region(requester, purpose="production")
    approval = approval_of(request)
    assert approval.required_approvals == 2

    approvals.decide(approval.pk, approver=first_approver, approve=True)

    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.PENDING_APPROVAL
    assert not Run.objects.exists(), "one approval builds nothing"
    with pytest.raises(ValidationError, match="You have already decided this request"):
        approvals.decide(approval.pk, approver=first_approver, approve=True)
    assert not Run.objects.exists()

    approvals.decide(approval.pk, approver=third, approve=True)

    assert approval_of(request).status == ApprovalStatus.APPROVED
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.BUILDING
    assert services.build_run(request) is not None


def test_the_requester_never_approves_their_own_region(demo: None) -> None:
    request = request_region(admin(), purpose="production")

    with pytest.raises(ValidationError, match=r"You asked for this; someone else must decide it\."):
        approvals.decide(approval_of(request).pk, approver=admin(), approve=True)

    assert approval_of(request).decisions.count() == 0
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.PENDING_APPROVAL


def test_a_non_production_region_is_built_after_one_approval_by_another_admin(demo: None) -> None:
    request = request_region(admin())
    assert approval_of(request).required_approvals == 1

    approvals.decide(approval_of(request).pk, approver=second_admin(), approve=True)

    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.BUILDING


@pytest.mark.parametrize("who", [Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.MANAGER, Persona.AUDITOR])
def test_who_holds_no_inventory_approval_cannot_approve_a_region(
    who: Persona, persona: Callable[[Persona], Any]
) -> None:
    request = request_region()

    with pytest.raises((PermissionDenied, Http404)):
        approvals.decide(approval_of(request).pk, approver=persona(who), approve=True)

    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.PENDING_APPROVAL


def test_a_rejected_region_is_never_built(demo: None) -> None:
    request = request_region()

    approvals.decide(approval_of(request).pk, approver=second_admin(), approve=False, reason="Not this quarter.")

    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.REJECTED
    assert not Run.objects.exists()


def test_a_request_waiting_for_approval_can_be_cancelled_and_its_approval_is_withdrawn(demo: None) -> None:
    request = request_region()

    services.region_request_cancel(actor=admin(), request_id=request.pk)

    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.CANCELLED
    assert approval_of(request).status == ApprovalStatus.WITHDRAWN
    request_region()  # the region may be asked for again


def test_the_request_list_costs_the_same_queries_for_one_request_or_many(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    alone: dict[str, Any] = {"dr_partner_code": "", "database_replica": False}
    request_region(**alone)
    page_for_one = queries_for(client, reverse("regions:requests"))
    api_for_one = queries_for(client, "/api/region-requests/")
    for code in ("eu-west-3", "eu-north-1"):
        request_region(code=code, **alone)

    assert queries_for(client, reverse("regions:requests")) == page_for_one
    assert queries_for(client, "/api/region-requests/") == api_for_one


# --- a form that opens valid, with its plan before it is sent ---------------------------------------------------------


def test_the_form_opens_with_a_free_region_its_zone_and_a_partner_and_can_be_sent_as_it_opens(
    client_for: Callable[[Persona | None], Client],
) -> None:
    admin_client = client_for(Persona.PLATFORM_ADMIN)
    opening = admin_client.get(reverse("regions:request_create"))
    form = opening.context["form"]
    assert 'data-section="plan"' in opening.content.decode(), "the page opens with the plan of what it holds"
    opened = {name: form[name].value() for name in form.fields}

    account = CloudAccount.objects.get(pk=opened["account"])
    assert opened["provider"] == account.provider
    assert not Region.objects.filter(provider=account.provider, code=opened["code"]).exists()
    assert opened["residency_zone"] == catalogue.residency_zone_of(account.provider, opened["code"])
    assert catalogue.residency_zone_of(account.provider, opened["dr_partner_code"]) == opened["residency_zone"]
    # The regions offered are the chosen provider's only.
    assert [group for group, _ in form.fields["code"].choices] == [account.get_provider_display()]

    sent = {name: value for name, value in opened.items() if value is not None and value is not False}
    response = admin_client.post(
        reverse("regions:request_create"), {**sent, "justification": "As it opened.", "idempotency_key": "as-opened"}
    )
    assert response.status_code == 302, response.context["form"].errors


def test_the_plan_and_its_estimate_show_before_the_request_is_sent_in_words(
    client_for: Callable[[Persona | None], Client],
) -> None:
    # Before the justification is written: the plan does not depend on it.
    page = (
        client_for(Persona.PLATFORM_ADMIN)
        .post(reverse("regions:request_preview"), form_data(justification=""))
        .content.decode()
    )

    assert 'data-section="plan"' in page
    assert "Workload class: High-CPU" in page
    assert "Estimated monthly total" in page
    assert "Quota: requests.cpu 16, requests.memory 32Gi" in page
    assert "Point-in-time recovery: yes" in page
    assert not [literal for literal in ("{'", "True", "False", "None") if literal in page]
    settings = re.findall(r'<span class="d-block">([^<]*)</span>', page)
    assert settings
    assert not [setting for setting in settings if re.search(r"\b[a-z]+_[a-z]+\b", setting)]
    assert not RegionRequest.objects.exists()


def test_the_plan_waits_for_a_request_that_cannot_be_sent_and_says_why(
    client_for: Callable[[Persona | None], Client],
) -> None:
    page = (
        client_for(Persona.PLATFORM_ADMIN)
        .post(reverse("regions:request_preview"), form_data(dr_partner_code="us-east-2"))
        .content.decode()
    )

    assert "data-plan-waiting" in page
    assert "DR partner region: us-east-2 lies in the United States (US) zone" in page


def test_choosing_another_provider_brings_its_account_and_a_free_region_of_its_own(
    client_for: Callable[[Persona | None], Client],
) -> None:
    page = (
        client_for(Persona.PLATFORM_ADMIN)
        .post(
            reverse("regions:request_preview"),
            {**form_data(provider="azure"), "shown_provider": "aws", "shown_account": "", "shown_code": "eu-south-1"},
        )
        .content.decode()
    )

    azure = CloudAccount.objects.filter(provider="azure").order_by("name").first()
    assert azure is not None
    assert f'<option value="{azure.pk}" selected>' in page
    assert 'id="field-code" hx-swap-oob="innerHTML"' in page
    assert 'value="eu-south-1"' not in page  # no AWS region is offered for Azure
    assert 'data-section="plan"' in page  # and the plan is made for what the form now holds


def test_a_justification_past_2000_characters_is_refused_in_words(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("regions:request_create"), form_data(justification="x" * 2001)
    )

    assert response.status_code == 400
    assert "at most 2000 characters" in response.context["form"].errors["justification"][0]
    assert not RegionRequest.objects.exists()
