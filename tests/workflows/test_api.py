"""Workflow runs by API: a subject's runs and one run with its steps, visible exactly when the subject is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from access.models import Team, User
from environments import services
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster, RegionRequest
from tests.regions.test_region_build import approve, request_region
from workflows.models import Run, RunStatus, Step, StepStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
RUN_FIELDS = {
    "id",
    "kind",
    "direction",
    "status",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "subject_type",
    "subject_id",
    "steps",
}
STEP_FIELDS = {"position", "name", "status", "attempts", "note", "error", "started_at", "finished_at"}


@pytest.fixture
def preview(demo: None, settings: Any, tmp_path: Path, persona: Callable[[Persona], User]) -> Environment:
    """The demo developer's preview environment, with its provisioning run planned (no worker has begun it)."""
    settings.PORTAL_DATA_DIR = tmp_path
    settings.DATA_DIR = tmp_path
    return services.environment_request(
        actor=persona(Persona.DEVELOPER),
        team=Team.objects.get(slug="student-experience"),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        name="runs-api",
        size="S",
        ttl_hours=None,
    )


def provisioning(environment: Environment) -> Run:
    run = services.provisioning_run(environment)
    assert run is not None
    return run


def runs_of(client: Client, subject_type: str, subject_id: int) -> Any:
    return client.get("/api/workflow-runs/", {"subject_type": subject_type, "subject_id": str(subject_id)})


def test_a_developer_follows_their_environments_provisioning_step_by_step(
    preview: Environment, client_for: ClientFor
) -> None:
    run = provisioning(preview)
    first = run.steps.order_by("position").first()
    assert first is not None
    Step.objects.filter(pk=first.pk).update(status=StepStatus.FAILED, attempts=3, error="The cloud said no.")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="Step 1 failed: the cloud said no.")
    developer = client_for(Persona.DEVELOPER)

    listed = runs_of(developer, "environment", preview.pk)
    detail = developer.get(f"/api/workflow-runs/{run.pk}/")

    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [run.pk]
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) == RUN_FIELDS
    assert (body["subject_type"], body["subject_id"], body["status"]) == ("environment", preview.pk, "failed")
    assert body["error"] == "Step 1 failed: the cloud said no."
    steps = body["steps"]
    assert set(steps[0]) == STEP_FIELDS
    assert [step["position"] for step in steps] == sorted(step["position"] for step in steps)
    assert (steps[0]["status"], steps[0]["attempts"], steps[0]["error"]) == ("failed", 3, "The cloud said no.")
    assert len(steps) == run.steps.count()


def test_runs_of_a_subject_one_cannot_see_are_not_found_like_missing_ones(
    preview: Environment, client_for: ClientFor
) -> None:
    run = provisioning(preview)
    auditor = client_for(Persona.AUDITOR)  # holds no view of environments

    listed = runs_of(auditor, "environment", preview.pk)
    everything = auditor.get("/api/workflow-runs/")
    detail = auditor.get(f"/api/workflow-runs/{run.pk}/")
    missing = auditor.get("/api/workflow-runs/999999999/")

    assert listed.status_code == 200
    assert listed.json()["results"] == []
    assert run.pk not in [item["id"] for item in everything.json()["results"]]
    assert detail.status_code == missing.status_code == 404
    assert {**detail.json()["error"], "request_id": ""} == {**missing.json()["error"], "request_id": ""}


def test_the_list_without_a_subject_holds_only_runs_of_visible_subjects_newest_first(
    preview: Environment, client_for: ClientFor
) -> None:
    environment_run = provisioning(preview)
    unrelated = Run.objects.create(kind="costs.import", key="unrelated")  # a run of no subject the API names
    region_request = approve(request_region())
    build = Run.objects.get(
        subject_id=str(region_request.pk), subject_type=ContentType.objects.get_for_model(RegionRequest)
    )

    as_developer = [item["id"] for item in client_for(Persona.DEVELOPER).get("/api/workflow-runs/").json()["results"]]
    as_auditor = [item["id"] for item in client_for(Persona.AUDITOR).get("/api/workflow-runs/").json()["results"]]

    assert as_developer[:2] == [build.pk, environment_run.pk]  # newest first
    assert unrelated.pk not in as_developer
    assert build.pk in as_auditor  # everyone signed in sees region requests
    assert environment_run.pk not in as_auditor


def test_a_region_requests_build_is_found_by_its_subject(preview: Environment, client_for: ClientFor) -> None:
    region_request = approve(request_region())

    answer = runs_of(client_for(Persona.TEAM_LEAD), "region-request", region_request.pk)

    (run,) = answer.json()["results"]
    assert (run["subject_type"], run["subject_id"], run["direction"]) == (
        "region-request",
        region_request.pk,
        "forward",
    )
    assert run["steps"]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        (
            {"subject_type": "cluster"},
            "subject_type",
            "Choose one of: environment, failover, region-request, rollback.",
        ),
        ({"subject_id": "3"}, "subject_type", "Say what the subject is"),
        ({"subject_type": "environment", "subject_id": "x"}, "subject_id", "valid integer"),
        ({"subject_type": "environment", "subject_id": str(2**70)}, "subject_id", "less than or equal"),
    ],
)
def test_a_filter_it_cannot_use_is_refused_in_words(
    demo: None, client_for: ClientFor, query: dict[str, str], field: str, words: str
) -> None:
    answer = client_for(Persona.DEVELOPER).get("/api/workflow-runs/", query)

    assert answer.status_code == 400
    assert words in answer.json()["error"]["fields"][field][0]


@pytest.mark.parametrize("pk", ["nope", str(2**70)])
def test_a_run_id_that_names_nothing_is_a_structured_404(demo: None, client_for: ClientFor, pk: str) -> None:
    answer = client_for(Persona.DEVELOPER).get(f"/api/workflow-runs/{pk}/")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_the_list_costs_the_same_queries_for_one_run_or_many(preview: Environment, client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    provisioning(preview)
    developer.get("/api/workflow-runs/")  # the policy's rules and the content types are cached after a first ask

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert developer.get("/api/workflow-runs/").status_code == 200
        return len(captured.captured_queries)

    one = count()
    subject = ContentType.objects.get_for_model(Environment)
    for number in range(6):
        run = Run.objects.create(
            kind="environments.provision", key=f"more-{number}", subject_type=subject, subject_id=str(preview.pk)
        )
        Step.objects.create(run=run, position=1, name="network", action="network")
    many = count()

    assert len(developer.get("/api/workflow-runs/").json()["results"]) == 7
    assert many == one
