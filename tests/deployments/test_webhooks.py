"""CI/CD webhooks, posted as GitHub, GitLab and Azure DevOps post them: raw bodies, their headers, their secrets.

The payloads under ``payloads/`` are real-shaped (trimmed) deliveries of each
provider. The clock stands just after they were sent, so none is stale.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings
from time_machine import TimeMachineFixture

from access.models import Team, Tier
from deployments.choices import CiProvider, DeploymentSource, DeploymentStatus, RunStatus, SmokeTest
from deployments.dora import dora
from deployments.hooks.payloads import basic_authorization, github_signature
from deployments.models import Deployment, PipelineRun, Service, WebhookDelivery, WebhookSource
from deployments.selectors import service_timeline, version_matrix
from deployments.services import Target, record_deployment
from environments.choices import EnvironmentStatus
from environments.models import Environment
from tests.environments.factories import saved_template
from tests.factories import ClusterFactory, TeamFactory, make_service, make_user, make_workload

pytestmark = pytest.mark.django_db

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "tests-only-webhook-secret"
NOW = datetime(2024, 7, 17, 10, 15, tzinfo=UTC)
GITHUB_SHA = "4f1c2a7e9b3d5f60718293a4b5c6d7e8f9012345"


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return loaded


def raw(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture(autouse=True)
def clock(time_machine: TimeMachineFixture) -> None:
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def team() -> Team:
    team: Team = TeamFactory.create(slug="checkout-team")
    return team


@pytest.fixture
def checkout(team: Team) -> Service:
    # Spelt differently from GitHub's https URL on purpose: ssh, capitals, ".git".
    return make_service(slug="checkout", team=team, repository_url="ssh://git@github.com/Example-Org/checkout.git")


def live_environment(team: Team, name: str, tier: str = Tier.PRODUCTION) -> Environment:
    return Environment.objects.create(
        team=team,
        name=name,
        template=saved_template(slug=f"template-{name}-{team.slug}", name=f"Template {name} {team.slug}"),
        tier=tier,
        cluster=ClusterFactory.create(),
        requested_by=make_user(),
        status=EnvironmentStatus.READY,
        monthly_estimate="10.00",
        currency="USD",
    )


@pytest.fixture
def production(team: Team) -> Environment:
    return live_environment(team, "production")


def make_source(provider: str, team: Team, name: str, service: Service | None = None) -> WebhookSource:
    return WebhookSource.objects.create(name=name, provider=provider, team=team, service=service, secret=SECRET)


@pytest.fixture
def github(team: Team, checkout: Service) -> WebhookSource:
    return make_source(CiProvider.GITHUB, team, "checkout-github")


# --- posting as each CI system does -----------------------------------------------------------------


def post_github(
    source: WebhookSource,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    body: bytes | None = None,
    delivery: str | None = None,
    secret: str = SECRET,
) -> Any:
    content = body if body is not None else raw(data or {})
    return Client().post(
        f"/hooks/{source.name}/",
        data=content,
        content_type="application/json",
        headers={
            "User-Agent": "GitHub-Hookshot/9a1b2c3",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "489621533",
            "X-Hub-Signature-256": github_signature(secret, content),
        },
    )


def post_gitlab(
    source: WebhookSource,
    event: str,
    data: dict[str, Any],
    *,
    delivery: str | None = None,
    token: str = SECRET,
    with_uuid: bool = True,
    idempotency_key: str = "",
) -> Any:
    headers = {
        "User-Agent": "GitLab/17.2.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Instance": "https://gitlab.example.com",
    }
    if token:
        headers["X-Gitlab-Token"] = token
    if with_uuid:
        headers["X-Gitlab-Event-UUID"] = delivery or str(uuid.uuid4())
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return Client().post(f"/hooks/{source.name}/", data=raw(data), content_type="application/json", headers=headers)


def post_azure(source: WebhookSource, data: dict[str, Any], *, password: str = SECRET) -> Any:
    headers = {"Authorization": basic_authorization("portal", password)} if password else {}
    return Client().post(
        f"/hooks/{source.name}/", data=raw(data), content_type="application/json; charset=utf-8", headers=headers
    )


def job(name: str, conclusion: str = "success", *, job_id: int) -> dict[str, Any]:
    data = payload("github_workflow_job")
    data["workflow_job"].update({"id": job_id, "name": name, "conclusion": conclusion})
    return data


def nothing_stored() -> bool:
    return not (PipelineRun.objects.exists() or Deployment.objects.exists() or WebhookDelivery.objects.exists())


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


# --- GitHub Actions ---------------------------------------------------------------------------------


def test_a_signed_workflow_run_is_the_run_of_the_service_whose_repository_it_names(
    github: WebhookSource, checkout: Service
) -> None:
    response = post_github(github, "workflow_run", payload("github_workflow_run"))

    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    run = PipelineRun.objects.get()
    assert (run.external_id, run.provider, run.name) == ("9876543210-1", CiProvider.GITHUB, "CI/CD")
    assert run.service == checkout
    assert run.team == checkout.team
    assert run.status == RunStatus.SUCCEEDED
    assert (run.commit_sha, run.branch, run.triggered_by) == (GITHUB_SHA, "main", "dana")
    assert run.commit_at == datetime(2024, 7, 17, 9, 57, 40, tzinfo=UTC)
    assert run.started_at == datetime(2024, 7, 17, 9, 58, 2, tzinfo=UTC)
    assert run.finished_at == datetime(2024, 7, 17, 10, 9, 41, tzinfo=UTC)
    assert run.url == "https://github.com/example-org/checkout/actions/runs/9876543210"
    github.refresh_from_db()
    assert github.last_delivery_at == NOW


def test_jobs_are_the_runs_stages_in_order_each_of_the_kind_its_name_says(github: WebhookSource) -> None:
    for number, name in enumerate(["build", "trivy-scan", "deploy-production", "smoke-test", "notify"]):
        assert post_github(github, "workflow_job", job(name, job_id=100 + number)).status_code == 200

    stages = PipelineRun.objects.get().stages
    assert [(stage["name"], stage["kind"]) for stage in stages] == [
        ("build", "build"),
        ("trivy-scan", "security"),
        ("deploy-production", "deploy"),
        ("smoke-test", "post_deploy"),
        ("notify", "other"),
    ]
    assert stages[0]["status"] == RunStatus.SUCCEEDED
    assert stages[0]["started_at"] == "2024-07-17T09:58:10+00:00"


def test_a_later_report_of_a_job_updates_its_stage_in_place(github: WebhookSource) -> None:
    started = job("build", job_id=1)
    started["workflow_job"].update({"status": "in_progress", "conclusion": None, "completed_at": None})
    post_github(github, "workflow_job", started)
    post_github(github, "workflow_job", job("test", job_id=2))
    post_github(github, "workflow_job", job("build", "failure", job_id=1))

    stages = PipelineRun.objects.get().stages
    assert [(stage["name"], stage["status"]) for stage in stages] == [("build", "failed"), ("test", "succeeded")]


def test_a_finished_run_does_not_go_back_to_running_when_a_late_report_arrives(github: WebhookSource) -> None:
    post_github(github, "workflow_run", payload("github_workflow_run"))
    late = payload("github_workflow_run")
    late["workflow_run"].update({"status": "in_progress", "conclusion": None})

    post_github(github, "workflow_run", late)

    assert PipelineRun.objects.get().status == RunStatus.SUCCEEDED


def test_a_deployment_status_records_one_deployment_of_the_run_in_its_environment(
    github: WebhookSource, checkout: Service, production: Environment
) -> None:
    post_github(github, "workflow_run", payload("github_workflow_run"))

    response = post_github(github, "deployment_status", payload("github_deployment_status"))

    assert response.status_code == 200
    deployment = Deployment.objects.get()
    run = PipelineRun.objects.get()
    assert (deployment.service, deployment.environment, deployment.pipeline_run) == (checkout, production, run)
    assert (deployment.version, deployment.source, deployment.status) == (
        "1.4.0",
        DeploymentSource.PIPELINE,
        DeploymentStatus.SUCCEEDED,
    )
    assert deployment.commit_sha == GITHUB_SHA
    assert deployment.commit_at == datetime(2024, 7, 17, 9, 57, 40, tzinfo=UTC)  # lead time starts at the commit
    assert deployment.triggered_by == "dana"  # who ran the pipeline, not the bot that reported it
    assert (deployment.team, deployment.tier) == (checkout.team, Tier.PRODUCTION)
    assert deployment.started_at == datetime(2024, 7, 17, 10, 4, 55, tzinfo=UTC)
    assert deployment.finished_at == datetime(2024, 7, 17, 10, 6, 30, tzinfo=UTC)
    assert run.image_tag == "1.4.0"
    assert run.security == {"critical": 0, "high": 1, "medium": 4, "low": 9}
    assert (run.environment, run.tier) == (production, Tier.PRODUCTION)


def test_the_pipelines_deployment_and_the_cluster_syncs_report_of_it_are_one_deployment(
    github: WebhookSource, checkout: Service, production: Environment
) -> None:
    post_github(github, "workflow_run", payload("github_workflow_run"))
    post_github(github, "deployment_status", payload("github_deployment_status"))
    workload = make_workload(name="checkout", service=checkout, team=checkout.team, cluster=production.cluster)

    record_deployment(
        Target(service=checkout, environment=production, cluster=production.cluster, workload=workload),
        version="1.4.0",
        source=DeploymentSource.CLUSTER,
        started_at=NOW,
        status=DeploymentStatus.SUCCEEDED,
        images=["registry.example.com/checkout:1.4.0"],
        revision=12,
    )

    deployment = Deployment.objects.get()
    assert deployment.source == DeploymentSource.PIPELINE
    assert (deployment.workload, deployment.revision) == (workload, 12)
    assert deployment.pipeline_run == PipelineRun.objects.get()


def test_a_failed_smoke_test_after_the_deploy_marks_the_deployment(
    github: WebhookSource, production: Environment
) -> None:
    post_github(github, "workflow_run", payload("github_workflow_run"))
    post_github(github, "deployment_status", payload("github_deployment_status"))
    assert Deployment.objects.get().smoke_test == SmokeTest.NOT_RUN

    post_github(github, "workflow_job", job("smoke-test", "failure", job_id=7))

    assert Deployment.objects.get().smoke_test == SmokeTest.FAILED


def test_a_deployment_to_an_environment_the_team_does_not_have_is_recorded_without_one(
    github: WebhookSource, checkout: Service
) -> None:
    post_github(github, "deployment_status", payload("github_deployment_status"))

    deployment = Deployment.objects.get()
    assert deployment.environment is None
    assert deployment.service == checkout


def test_a_bad_signature_is_refused_and_nothing_is_stored(github: WebhookSource) -> None:
    response = post_github(github, "workflow_run", payload("github_workflow_run"), secret="not-the-secret")

    assert response.status_code == 401
    assert error_code(response) == "signature_invalid"
    assert response.json()["request_id"]
    assert nothing_stored()


def test_a_body_changed_after_signing_is_refused(github: WebhookSource) -> None:
    signed = raw(payload("github_workflow_run"))
    response = Client().post(
        f"/hooks/{github.name}/",
        data=signed.replace(b'"success"', b'"failure"'),
        content_type="application/json",
        headers={
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(SECRET, signed),
        },
    )

    assert response.status_code == 401
    assert nothing_stored()


def test_a_replayed_delivery_is_answered_as_a_duplicate_and_changes_nothing(github: WebhookSource) -> None:
    delivery = str(uuid.uuid4())
    post_github(github, "workflow_run", payload("github_workflow_run"), delivery=delivery)
    replay = payload("github_workflow_run")
    replay["workflow_run"]["conclusion"] = "failure"  # a replay that would change the run, were it applied

    response = post_github(github, "workflow_run", replay, delivery=delivery)

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert PipelineRun.objects.get().status == RunStatus.SUCCEEDED
    assert WebhookDelivery.objects.count() == 1


def test_a_replayed_deployment_status_records_no_second_deployment(
    github: WebhookSource, production: Environment
) -> None:
    delivery = str(uuid.uuid4())
    post_github(github, "deployment_status", payload("github_deployment_status"), delivery=delivery)
    later = payload("github_deployment_status")
    later["deployment"]["payload"]["image_tag"] = "9.9.9"

    post_github(github, "deployment_status", later, delivery=delivery)

    assert list(Deployment.objects.values_list("version", flat=True)) == ["1.4.0"]


def test_a_body_that_is_not_json_is_refused_and_nothing_is_stored(github: WebhookSource) -> None:
    response = post_github(github, "workflow_run", body=b'{"workflow_run": {"id": 1,')

    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert nothing_stored()


def test_a_payload_without_a_field_its_event_needs_is_refused_and_nothing_is_stored(github: WebhookSource) -> None:
    data = payload("github_workflow_run")
    del data["workflow_run"]["head_sha"]

    response = post_github(github, "workflow_run", data)

    assert response.status_code == 400
    assert "head_sha" in response.json()["error"]["message"]
    assert nothing_stored()


def test_a_delivery_without_its_id_is_refused(github: WebhookSource) -> None:
    content = raw(payload("github_workflow_run"))
    response = Client().post(
        f"/hooks/{github.name}/",
        data=content,
        content_type="application/json",
        headers={"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": github_signature(SECRET, content)},
    )

    assert response.status_code == 400
    assert nothing_stored()


def test_a_delivery_naming_no_event_is_refused(github: WebhookSource) -> None:
    response = post_github(github, "", payload("github_workflow_run"))

    assert response.status_code == 400
    assert nothing_stored()


@pytest.mark.parametrize("event", ["ping", "push"])
def test_an_event_the_portal_does_not_use_is_ignored_and_stored_nowhere(github: WebhookSource, event: str) -> None:
    response = post_github(github, event, payload("github_ping"))

    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "event": event}
    assert nothing_stored()


@override_settings(WEBHOOK_MAX_BODY_BYTES=4096)
def test_an_oversized_body_is_refused_before_it_is_read_and_nothing_is_stored(github: WebhookSource) -> None:
    data = payload("github_workflow_run")
    data["padding"] = "x" * 4096

    response = post_github(github, "workflow_run", data)

    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert nothing_stored()


def test_an_unknown_source_is_not_found(github: WebhookSource) -> None:
    github.name = "no-such-source"

    response = post_github(github, "workflow_run", payload("github_workflow_run"))

    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_an_inactive_source_is_not_found_and_nothing_is_stored(github: WebhookSource) -> None:
    WebhookSource.objects.filter(pk=github.pk).update(active=False)

    response = post_github(github, "workflow_run", payload("github_workflow_run"))

    assert response.status_code == 404
    assert nothing_stored()


def test_the_endpoint_takes_posts_only(github: WebhookSource) -> None:
    assert Client().get(f"/hooks/{github.name}/").status_code == 405


def test_an_event_older_than_the_tolerance_is_refused_as_stale(
    github: WebhookSource, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(NOW + timedelta(hours=25), tick=False)

    response = post_github(github, "workflow_run", payload("github_workflow_run"))

    assert response.status_code == 400
    assert error_code(response) == "stale"
    assert nothing_stored()


def test_events_of_a_repository_outside_the_catalogue_go_to_the_sources_default_service(team: Team) -> None:
    default = make_service(slug="fallback", team=team, repository_url="https://github.com/example-org/other")
    source = make_source(CiProvider.GITHUB, team, "fallback-github", service=default)

    post_github(source, "workflow_run", payload("github_workflow_run"))

    assert PipelineRun.objects.get().service == default


# --- GitLab CI --------------------------------------------------------------------------------------


@pytest.fixture
def enrolment(team: Team) -> Service:
    return make_service(slug="enrolment", team=team, repository_url="https://gitlab.example.com/student/enrolment.git")


@pytest.fixture
def gitlab(team: Team, enrolment: Service) -> WebhookSource:
    return make_source(CiProvider.GITLAB, team, "enrolment-gitlab")


def test_a_gitlab_pipeline_is_a_run_with_its_jobs_in_pipeline_order(gitlab: WebhookSource, enrolment: Service) -> None:
    response = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"))

    assert response.status_code == 200
    run = PipelineRun.objects.get()
    assert run.service == enrolment
    assert (run.external_id, run.status, run.branch, run.triggered_by) == ("31", RunStatus.FAILED, "main", "sam")
    assert [(stage["name"], stage["kind"], stage["status"]) for stage in run.stages] == [
        ("image", "build", "succeeded"),
        ("unit-tests", "build", "succeeded"),
        ("trivy", "security", "succeeded"),
        ("deploy-production", "deploy", "succeeded"),
        ("smoke-test", "post_deploy", "failed"),
    ]
    assert run.commit_at == datetime(2024, 7, 17, 9, 57, 40, tzinfo=UTC)
    assert run.started_at == datetime(2024, 7, 17, 9, 58, 2, tzinfo=UTC)
    assert run.image_tag == "2.3.1"
    assert run.security == {"high": 2}
    assert run.url == "https://gitlab.example.com/student/enrolment/-/pipelines/31"


def test_a_gitlab_deployment_is_recorded_with_the_runs_image_tag_and_failed_smoke_test(
    gitlab: WebhookSource, enrolment: Service, team: Team
) -> None:
    production = live_environment(team, "production")
    post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"))

    response = post_gitlab(gitlab, "Deployment Hook", payload("gitlab_deployment"))

    assert response.status_code == 200
    deployment = Deployment.objects.get()
    assert (deployment.service, deployment.environment) == (enrolment, production)
    assert deployment.version == "2.3.1"
    assert deployment.commit_sha == "bcbb5ec396a2c0f828686f14fac9b80b780504f2"
    assert deployment.pipeline_run == PipelineRun.objects.get()
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert deployment.started_at == datetime(2024, 7, 17, 10, 8, 30, tzinfo=UTC)
    # The pipeline had already reported its smoke test failing: the deployment counts as a failed change.
    assert deployment.smoke_test == SmokeTest.FAILED


def test_a_wrong_gitlab_token_is_refused_and_nothing_is_stored(gitlab: WebhookSource) -> None:
    wrong = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"), token="not-the-token")
    missing = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"), token="")

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert nothing_stored()


def test_a_replayed_gitlab_delivery_is_a_duplicate(gitlab: WebhookSource) -> None:
    delivery = str(uuid.uuid4())
    post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"), delivery=delivery)
    replay = payload("gitlab_pipeline")
    replay["object_attributes"]["status"] = "success"

    response = post_gitlab(gitlab, "Pipeline Hook", replay, delivery=delivery)

    assert response.json() == {"status": "duplicate"}
    assert PipelineRun.objects.get().status == RunStatus.FAILED


def test_a_gitlab_retry_is_known_by_its_idempotency_key(gitlab: WebhookSource) -> None:
    key = str(uuid.uuid4())
    first = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"), idempotency_key=key)
    retry = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"), idempotency_key=key)

    assert (first.json(), retry.json()) == ({"status": "accepted"}, {"status": "duplicate"})


def test_a_gitlab_delivery_without_its_event_uuid_is_refused(gitlab: WebhookSource) -> None:
    response = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_pipeline"), with_uuid=False)

    assert response.status_code == 400
    assert nothing_stored()


def test_a_gitlab_hook_whose_body_is_not_its_event_is_refused(gitlab: WebhookSource) -> None:
    response = post_gitlab(gitlab, "Pipeline Hook", payload("gitlab_deployment"))

    assert response.status_code == 400
    assert nothing_stored()


def test_a_gitlab_push_is_ignored(gitlab: WebhookSource) -> None:
    response = post_gitlab(gitlab, "Push Hook", {"object_kind": "push", "ref": "refs/heads/main"})

    assert response.status_code == 202
    assert nothing_stored()


# --- Azure DevOps -----------------------------------------------------------------------------------


@pytest.fixture
def classroom(team: Team) -> Service:
    return make_service(
        slug="classroom-api", team=team, repository_url="https://dev.azure.com/example-org/tutor/_git/classroom-api"
    )


@pytest.fixture
def azure(team: Team, classroom: Service) -> WebhookSource:
    return make_source(CiProvider.AZURE_DEVOPS, team, "classroom-azure")


def test_an_azure_deploy_stage_records_a_deployment_to_the_environment_its_name_gives(
    azure: WebhookSource, classroom: Service, team: Team
) -> None:
    production = live_environment(team, "production")

    response = post_azure(azure, payload("azure_stage_state_changed"))

    assert response.status_code == 200
    run = PipelineRun.objects.get()
    assert (run.external_id, run.name, run.service, run.status) == ("118", "classroom-api", classroom, "running")
    assert [(stage["name"], stage["kind"], stage["status"]) for stage in run.stages] == [
        ("deploy_production", "deploy", "succeeded")
    ]
    assert run.commit_at == datetime(2024, 7, 17, 9, 50, 11, tzinfo=UTC)
    deployment = Deployment.objects.get()
    assert (deployment.service, deployment.environment, deployment.pipeline_run) == (classroom, production, run)
    assert deployment.version == "0d4c9b1"  # no image tag in Azure DevOps events: the short commit
    assert deployment.status == DeploymentStatus.SUCCEEDED


def test_the_azure_run_event_finishes_the_run_its_stages_began(azure: WebhookSource, classroom: Service) -> None:
    post_azure(azure, payload("azure_stage_state_changed"))

    response = post_azure(azure, payload("azure_run_state_changed"))

    assert response.status_code == 200
    run = PipelineRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED
    assert run.finished_at == datetime(2024, 7, 17, 10, 12, 40, 765432, tzinfo=UTC)
    assert run.service == classroom  # kept from the stage event; the run event names no repository
    assert len(run.stages) == 1


def test_a_wrong_or_missing_azure_password_is_refused_and_nothing_is_stored(azure: WebhookSource) -> None:
    wrong = post_azure(azure, payload("azure_run_state_changed"), password="not-the-secret")
    missing = post_azure(azure, payload("azure_run_state_changed"), password="")

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert nothing_stored()


def test_a_replayed_azure_notification_is_a_duplicate(azure: WebhookSource) -> None:
    post_azure(azure, payload("azure_stage_state_changed"))

    response = post_azure(azure, payload("azure_stage_state_changed"))

    assert response.json() == {"status": "duplicate"}
    assert Deployment.objects.count() == 1


def test_an_azure_notification_without_its_run_is_refused(azure: WebhookSource) -> None:
    data = payload("azure_run_state_changed")
    del data["resource"]["run"]

    response = post_azure(azure, data)

    assert response.status_code == 400
    assert nothing_stored()


def test_an_azure_event_the_portal_does_not_use_is_ignored(azure: WebhookSource) -> None:
    data = payload("azure_run_state_changed")
    data["eventType"] = "git.push"

    response = post_azure(azure, data)

    assert response.status_code == 202
    assert nothing_stored()


def test_a_source_authenticates_only_its_own_providers_way(azure: WebhookSource) -> None:
    """A GitHub-style signature with the right secret does not open an Azure DevOps source."""
    response = post_github(azure, "workflow_run", payload("github_workflow_run"))

    assert response.status_code == 401
    assert nothing_stored()


# --- what a source may write to ---------------------------------------------------------------------


@pytest.fixture
def other_team() -> Team:
    """A team whose developer holds the secret of their own team's source, and nothing of ``team``'s."""
    other: Team = TeamFactory.create(slug="growth-team")
    return other


def failed_production_deployment() -> dict[str, Any]:
    data = payload("github_deployment_status")
    data["deployment_status"]["state"] = "failure"
    return data


def figures_of(team: Team, service: Service) -> tuple[Any, ...]:
    """What the team's pages count: its deployments, the service's timeline and matrix row, its DORA figures."""
    reader = make_user(is_superuser=True)
    _, timeline = service_timeline(user=reader, service=service)
    row = version_matrix(user=reader, service_ids=[service.pk]).rows[0]
    return (
        list(Deployment.objects.filter(team=team).values_list("pk", "status", "version")),
        [(entry.kind, entry.deployment or entry.run) for entry in timeline],
        {key: (cell.versions, cell.health) for key, cell in row.cells.items()},
        dora(
            Deployment.objects.filter(team=team),
            start=NOW.date() - timedelta(days=30),
            end=NOW.date() + timedelta(days=1),
        ),
    )


def test_a_delivery_naming_another_teams_repository_is_kept_unmatched_and_touches_nothing_of_that_team(
    team: Team, checkout: Service, production: Environment, other_team: Team
) -> None:
    record_deployment(
        Target(service=checkout, environment=production),
        version="1.3.9",
        source=DeploymentSource.PIPELINE,
        started_at=NOW - timedelta(days=2),
        status=DeploymentStatus.SUCCEEDED,
        finished_at=NOW - timedelta(days=2) + timedelta(minutes=5),
        commit_at=NOW - timedelta(days=2, hours=1),
    )
    own_default = make_service(
        slug="growth-web", team=other_team, repository_url="https://github.com/example-org/growth"
    )
    intruder = make_source(CiProvider.GITHUB, other_team, "growth-github", service=own_default)
    before = figures_of(team, checkout)

    run_answer = post_github(intruder, "workflow_run", payload("github_workflow_run"))
    deploy_answer = post_github(intruder, "deployment_status", failed_production_deployment())

    assert (run_answer.status_code, deploy_answer.status_code) == (200, 200)
    run = PipelineRun.objects.get(source=intruder)
    assert run.service is None, "the run is kept unmatched, neither the named service's nor the source's default's"
    assert (run.team, run.environment, run.tier) == (other_team, None, "")
    assert not Deployment.objects.filter(pipeline_run=run).exists()
    assert not PipelineRun.objects.filter(service=checkout).exists()
    assert list(Deployment.objects.filter(service=checkout).values_list("version", flat=True)) == ["1.3.9"]
    assert figures_of(team, checkout) == before


@pytest.mark.parametrize("provider", [CiProvider.GITLAB, CiProvider.AZURE_DEVOPS])
def test_no_provider_lets_a_source_write_into_another_teams_service(
    provider: str, team: Team, enrolment: Service, classroom: Service, other_team: Team
) -> None:
    live_environment(team, "production")
    intruder = make_source(provider, other_team, "growth-ci")

    if provider == CiProvider.GITLAB:
        post_gitlab(intruder, "Pipeline Hook", payload("gitlab_pipeline"))
        post_gitlab(intruder, "Deployment Hook", payload("gitlab_deployment"))
    else:
        post_azure(intruder, payload("azure_stage_state_changed"))

    run = PipelineRun.objects.get(source=intruder)
    assert (run.service, run.team) == (None, other_team)
    assert not Deployment.objects.exists()


def test_the_list_an_admin_sets_lets_a_source_write_to_exactly_the_services_it_names(
    team: Team, checkout: Service, production: Environment, other_team: Team
) -> None:
    own = make_service(slug="growth-web", team=other_team, repository_url="https://github.com/example-org/growth")
    third = make_service(
        slug="billing", team=TeamFactory.create(), repository_url="https://github.com/example-org/billing"
    )
    shared = make_source(CiProvider.GITHUB, other_team, "shared-github")
    shared.services.set([checkout])

    def deliver(repository: str, run_id: int) -> Any:
        data = payload("github_workflow_run")
        data["workflow_run"]["id"] = run_id
        data["repository"]["html_url"] = f"https://github.com/example-org/{repository}"
        return post_github(shared, "workflow_run", data)

    deliver("growth", 2)
    deliver("billing", 3)
    deliver("checkout", 9876543210)  # the run the deployment status names
    post_github(shared, "deployment_status", payload("github_deployment_status"))

    runs = dict(PipelineRun.objects.filter(source=shared).values_list("external_id", "service"))
    assert runs == {"9876543210-1": checkout.pk, "2-1": None, "3-1": None}, "only what the list names is written"
    deployment = Deployment.objects.get()
    assert (deployment.service, deployment.environment, deployment.team) == (checkout, production, team)
    assert not Deployment.objects.filter(service__in=[own, third]).exists()


def test_a_source_whose_default_service_left_its_list_no_longer_writes_to_it(team: Team, checkout: Service) -> None:
    outside = make_service(slug="fallback", team=team, repository_url="https://github.com/example-org/other")
    source = make_source(CiProvider.GITHUB, team, "fallback-github", service=outside)
    source.services.set([checkout])
    data = payload("github_workflow_run")
    data["repository"]["html_url"] = "https://github.com/example-org/not-in-the-catalogue"

    post_github(source, "workflow_run", data)

    assert PipelineRun.objects.get().service is None
