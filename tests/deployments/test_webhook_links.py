"""A run's URL from a CI payload becomes a link only when it is an http(s) address: never javascript: or data:."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Team
from deployments.models import PipelineRun, Service, WebhookSource
from tests.costs.budget_helpers import person
from tests.deployments.test_webhooks import (  # the signed posting of each CI system, and its fixtures
    checkout,
    clock,
    enrolment,
    github,
    gitlab,
    payload,
    post_github,
    post_gitlab,
    team,
)

pytestmark = pytest.mark.django_db
__all__ = ["checkout", "clock", "enrolment", "github", "gitlab", "team"]

SCRIPT_URLS = [
    "javascript:alert(document.cookie)",
    " JavaScript:fetch('/api/tokens/')",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/run",
]


def member_of(team: Team) -> Client:
    client = Client()
    client.force_login(person("dev-of-checkout", team=team))
    return client


def service_page(client: Client, service: Service) -> str:
    response = client.get(reverse("deployments:service", args=[service.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_github_run_whose_url_is_script_stores_no_link_and_the_service_page_renders_none(
    github: WebhookSource, checkout: Service, team: Team
) -> None:
    for number, url in enumerate(SCRIPT_URLS, start=1):
        data = payload("github_workflow_run")
        data["workflow_run"].update({"id": number, "html_url": url})
        assert post_github(github, "workflow_run", data).status_code == 200

    runs = PipelineRun.objects.filter(service=checkout)
    assert runs.count() == len(SCRIPT_URLS)
    assert set(runs.values_list("url", flat=True)) == {""}
    html = service_page(member_of(team), checkout)
    assert html.count('data-entry="run"') == len(SCRIPT_URLS)
    for scheme in ("javascript:", "JavaScript:", "data:text", "vbscript:", "evil.example"):
        assert scheme not in html


def test_a_gitlab_pipeline_whose_url_is_data_stores_no_link(gitlab: WebhookSource, enrolment: Service) -> None:
    data = payload("gitlab_pipeline")
    data["object_attributes"]["url"] = "data:text/html,<script>alert(1)</script>"
    data["project"]["web_url"] = "javascript:alert(1)//"

    assert post_gitlab(gitlab, "Pipeline Hook", data).status_code == 200

    assert PipelineRun.objects.get().url == ""


def test_an_https_run_url_is_still_a_link(github: WebhookSource, checkout: Service, team: Team) -> None:
    assert post_github(github, "workflow_run", payload("github_workflow_run")).status_code == 200

    html = service_page(member_of(team), checkout)
    assert 'href="https://github.com/example-org/checkout/actions/runs/9876543210"' in html


def test_a_script_url_stored_before_the_check_is_not_rendered_as_a_link(
    github: WebhookSource, checkout: Service, team: Team
) -> None:
    assert post_github(github, "workflow_run", payload("github_workflow_run")).status_code == 200
    run = PipelineRun.objects.get()
    PipelineRun.objects.filter(pk=run.pk).update(url="javascript:alert(document.cookie)")
    client = member_of(team)

    html = service_page(client, checkout)

    assert "javascript:" not in html
    assert str(run) in html
