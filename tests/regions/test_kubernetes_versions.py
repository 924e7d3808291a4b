"""A new region's Kubernetes version comes from what the cloud offers there: the newest in standard support by
default, an offered one when named, never one the cloud stopped creating; a cloud that cannot be asked is said."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from portal.demo import Persona
from providers import errors
from providers.cloud import KubernetesVersionInfo
from regions import versions
from regions.models import CloudAccount, RegionRequest
from tests.regions.test_region_build import approve, build, cloud_in, request_region
from tests.regions.test_region_requests import api_data, form_data
from workflows.models import RunStatus, StepStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ONLY_NEWER = [
    KubernetesVersionInfo("1.36", "preview"),
    KubernetesVersionInfo("1.35", "standard", default=True, end_of_standard_support=date(2027, 3, 27)),
    KubernetesVersionInfo("1.33", "extended"),
]


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # a sandbox of this test's own
    return tmp_path


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cloud does not answer: every driver call for the versions fails as a dropped connection does."""

    class Unreachable:
        def kubernetes_versions(self) -> list[KubernetesVersionInfo]:
            raise errors.Unavailable("Could not connect to the endpoint URL.")

    monkeypatch.setattr(versions, "_driver", lambda account, code: Unreachable())


def aws() -> CloudAccount:
    return CloudAccount.objects.get(provider="aws")


def test_a_request_without_a_version_gets_the_newest_in_standard_support(sandbox: Path) -> None:
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)

    request = request_region(kubernetes_version="")

    assert request.kubernetes_version == "1.35"  # not the 1.36 preview, not the extended 1.33


def test_the_form_refuses_a_version_the_cloud_no_longer_creates_and_names_the_offered_ones(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)

    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("regions:request_create"), form_data())

    assert response.status_code == 400
    assert response.context["form"].errors["kubernetes_version"] == [
        "AWS no longer creates (or does not yet create) Kubernetes 1.34 clusters in eu-south-1. "
        "It offers 1.35 (standard support); 1.33 (extended support); 1.36 (preview)."
    ]
    assert "Students in Italy need low latency." in response.content.decode()
    assert not RegionRequest.objects.exists()


def test_a_version_in_extended_support_may_still_be_chosen(sandbox: Path) -> None:
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)

    assert request_region(kubernetes_version="1.33").kubernetes_version == "1.33"


def test_the_api_refuses_a_version_the_cloud_does_not_offer_with_the_field_and_why(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/region-requests/", json.dumps(api_data(kubernetes_version="1.31")), content_type="application/json"
    )

    assert response.status_code == 400
    message = response.json()["error"]["fields"]["kubernetes_version"][0]
    assert message.startswith("AWS no longer creates (or does not yet create) Kubernetes 1.31 clusters in eu-south-1.")
    assert "1.35, 1.34 (standard support)" in message


def test_the_api_lists_the_versions_the_cloud_offers_in_a_region_and_the_default(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)

    response = client_for(Persona.PLATFORM_ADMIN).get(
        "/api/region-requests/kubernetes-versions/", {"account": str(aws().pk), "code": "eu-south-1"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["default"], [item["version"] for item in body["versions"]]) == ("1.35", ["1.36", "1.35", "1.33"])
    assert body["versions"][1] == {
        "version": "1.35",
        "support": "standard",
        "default": True,
        "end_of_standard_support": "2027-03-27",
        "patch_versions": [],
    }


def test_only_who_may_request_a_region_may_ask_the_cloud_for_its_versions(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.DEVELOPER).get(
        "/api/region-requests/kubernetes-versions/", {"account": str(aws().pk), "code": "eu-south-1"}
    )

    assert response.status_code == 403


def test_asking_for_the_versions_of_an_unknown_region_is_a_structured_400(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(
        "/api/region-requests/kubernetes-versions/", {"account": str(aws().pk), "code": "mars-1"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"code": ["The portal knows no AWS region called 'mars-1'."]}


def test_when_the_cloud_cannot_be_asked_the_form_says_so_instead_of_guessing_a_version(
    sandbox: Path, unreachable: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("regions:request_create"), form_data(kubernetes_version="")
    )

    assert response.status_code == 400
    assert response.context["form"].errors["kubernetes_version"] == [
        "The portal could not ask AWS which Kubernetes versions it offers in eu-south-1: "
        "Could not connect to the endpoint URL. Try again in a few minutes."
    ]
    assert not RegionRequest.objects.exists()


def test_when_the_cloud_cannot_be_asked_the_api_answers_503(
    sandbox: Path, unreachable: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(
        "/api/region-requests/kubernetes-versions/", {"account": str(aws().pk), "code": "eu-south-1"}
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "cloud_unavailable"


def test_the_clouds_answer_is_kept_for_an_hour_per_account_and_region(sandbox: Path) -> None:
    first = versions.offered_versions(aws(), "eu-south-1")
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)

    assert versions.offered_versions(aws(), "eu-south-1") == first
    assert [info.version for info in versions.offered_versions(aws(), "eu-west-3")] == ["1.35", "1.34", "1.33", "1.32"]
    assert versions.offered_versions(aws(), "eu-south-1", fresh=True) == ONLY_NEWER


def test_the_cluster_step_refuses_a_version_the_cloud_stopped_offering_after_approval(sandbox: Path) -> None:
    request = approve(request_region(kubernetes_version="1.34"))
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)
    cache.clear()  # the hour the answer is kept has passed

    run = build(request)

    assert run.status == RunStatus.FAILED
    failed = run.steps.get(status=StepStatus.FAILED)
    assert failed.action == "cluster"
    assert "no longer creates (or does not yet create) Kubernetes 1.34 clusters in eu-south-1" in failed.error
    assert "Roll the build back and request the region again" in failed.error
    assert not cloud_in("eu-south-1").records("clusters")


def test_the_form_offers_the_versions_of_the_chosen_account_and_region_newest_in_standard_support_first(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    cloud_in("eu-south-1").offer_kubernetes_versions(ONLY_NEWER)

    response = client_for(Persona.PLATFORM_ADMIN).get(
        reverse("regions:request_kubernetes_versions"), {"account": str(aws().pk), "code": "eu-south-1"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert '<option value="" selected>Newest in standard support (1.35)</option>' in page
    assert '<option value="1.33">1.33 (extended support)</option>' in page
    assert '<option value="1.36">1.36 (preview)</option>' in page
    assert "1.34" not in page


def test_the_forms_version_choice_says_when_the_cloud_cannot_be_asked(
    sandbox: Path, unreachable: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(
        reverse("regions:request_kubernetes_versions"), {"account": str(aws().pk), "code": "eu-south-1"}
    )

    assert "The portal could not ask AWS which Kubernetes versions it offers in eu-south-1" in response.content.decode()
