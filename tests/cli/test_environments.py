"""``portal env``: a CI job's preview environment requested, waited for until ready, listed, shown, extended and
torn down by name against a live portal with a real Celery worker; refusals, repeats and waits that end badly."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from environments.choices import EnvironmentStatus
from environments.models import Environment
from portal.demo import Persona
from tests.cli.conftest import Portal
from tests.fixtures import WorkerFactory

REQUEST = ["--team", "student-experience", "--template", "preview", "--cluster", "eks-eu-west-1"]


def test_a_ci_job_gets_a_preview_environment_ready_extends_it_and_tears_it_down_by_name(
    portal: Portal,
    signed_in: Callable[..., dict[str, str]],
    start_celery_worker: WorkerFactory,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path  # the worker's sandbox cloud is this test's own
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    ci = signed_in(Persona.DEVELOPER)

    # What can be asked for: the templates, their tier and who approves them, in words.
    offered = portal("env", "templates", env=ci)
    assert offered.exit_code == 0, offered.stderr
    assert re.search(r"\bpreview\b.*\bdevelopment\b", offered.stdout), offered.stdout
    assert re.search(r"\bproduction\b.*never expires.*platform admin", offered.stdout), offered.stdout
    assert "platform_admin" not in offered.stdout
    slugs = {template["slug"] for template in portal("env", "templates", "--json", env=ci).json()}
    assert {"preview", "staging", "production"} <= slugs

    requested = portal(
        "env", "request", *REQUEST, "--name", "pr-123", "--wait", "--interval", "0.5", "--timeout", "120", env=ci
    )

    assert requested.exit_code == 0, requested.stderr
    environment = Environment.objects.get(team__slug="student-experience", name="pr-123")
    assert environment.status == EnvironmentStatus.READY
    assert "Requested student-experience/pr-123" in requested.stderr
    assert "pr-123: ready" in requested.stderr  # the progress line's last word
    assert "ready" in requested.stdout

    # The job runs again (a re-run of the pipeline): the live environment of that name is used, not requested anew.
    again = portal("--json", "env", "request", *REQUEST, "--name", "pr-123", "--if-missing", "--wait", env=ci)
    assert again.exit_code == 0, again.stderr
    assert again.json()["id"] == environment.pk
    assert Environment.objects.filter(name="pr-123").count() == 1

    table = portal("env", "list", env=ci)
    assert table.exit_code == 0
    assert re.search(rf"\b{environment.pk}\s+student-experience/pr-123\s+preview\s+ready\s", table.stdout), table.stdout
    listed = portal("env", "list", "--json", "--status", "ready", env=ci)
    assert [(item["id"], item["status"]) for item in listed.json()] == [(environment.pk, "ready")]
    shown = portal("env", "show", "student-experience/pr-123", "--json", env=ci)
    assert shown.json()["id"] == environment.pk
    shown_by_id = portal("env", "show", str(environment.pk), env=ci)
    assert "student-experience/pr-123" in shown_by_id.stdout
    assert "eu-west-1" in shown_by_id.stdout

    before = environment.expires_at
    assert before is not None
    extended = portal("env", "extend", "student-experience/pr-123", "--hours", "48", "--json", env=ci)
    assert extended.exit_code == 0, extended.stderr
    environment.refresh_from_db()
    assert environment.expires_at is not None
    assert environment.expires_at > before
    assert extended.json()["expires_at"] is not None

    torn = portal(
        "env", "teardown", "student-experience/pr-123", "--wait", "--interval", "0.5", "--timeout", "120", env=ci
    )

    assert torn.exit_code == 0, torn.stderr
    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.TORN_DOWN
    assert "pr-123: torn down" in torn.stderr
    # On the merge's pipeline run again: nothing is left to tear down, and that is no failure.
    gone = portal("env", "teardown", "student-experience/pr-123", "--missing-ok", env=ci)
    assert gone.exit_code == 0, gone.stderr
    assert "nothing to tear down" in gone.stdout


def test_a_request_the_policy_refuses_exits_1_with_the_reasons_in_words(
    portal: Portal, signed_in: Callable[..., dict[str, str]]
) -> None:
    ci = signed_in(Persona.DEVELOPER)

    refused = portal(
        "env", "request", "--team", "student-experience", "--template", "preview", "--cluster", "eks-us-east-1",
        "--name", "pr-7", env=ci,
    )  # fmt: skip

    assert refused.exit_code == 1
    assert "The team's data must stay in the EU zone" in refused.stderr
    assert "non_field_errors" not in refused.stderr
    assert "request id" in refused.stderr
    assert not Environment.objects.filter(name="pr-7").exists()
    as_json = portal(
        "--json", "env", "request", "--team", "student-experience", "--template", "preview",
        "--cluster", "eks-us-east-1", "--name", "pr-7", env=ci,
    )  # fmt: skip
    assert as_json.exit_code == 1
    assert as_json.json()["error"]["code"] == "invalid"
    checked = portal("env", "request", *REQUEST[:4], "--cluster", "eks-us-east-1", "--name", "pr-7", "--check", env=ci)
    assert checked.exit_code == 1
    assert "refused" in checked.stdout


def test_a_name_already_taken_is_refused_on_the_name_option(
    portal: Portal, signed_in: Callable[..., dict[str, str]], requested: Callable[..., Environment]
) -> None:
    requested("pr-9")

    taken = portal("env", "request", *REQUEST, "--name", "pr-9", env=signed_in(Persona.DEVELOPER))

    assert taken.exit_code == 1
    assert "--name: Student Experience already has an environment named pr-9" in taken.stderr


def test_requesting_again_with_the_same_idempotency_key_creates_nothing_new(
    portal: Portal, signed_in: Callable[..., dict[str, str]]
) -> None:
    ci = signed_in(Persona.DEVELOPER)
    args = ["--json", "env", "request", *REQUEST, "--name", "pr-5", "--idempotency-key", "pipeline-8812"]

    first = portal(*args, env=ci)
    second = portal(*args, env=ci)

    assert (first.exit_code, second.exit_code) == (0, 0), first.stderr + second.stderr
    assert first.json()["id"] == second.json()["id"]
    assert Environment.objects.filter(name="pr-5").count() == 1
    said = portal(*args[1:], env=ci)
    assert "Already requested with this key: student-experience/pr-5" in said.stderr


def test_an_environment_nobody_may_see_is_exit_4_and_a_wait_that_cannot_end_ready_is_exit_5(
    portal: Portal, signed_in: Callable[..., dict[str, str]], requested: Callable[..., Environment]
) -> None:
    ci = signed_in(Persona.DEVELOPER)
    missing = portal("env", "show", "student-experience/nothing-here", env=ci)
    assert missing.exit_code == 4
    assert "No environment named nothing-here in the team student-experience" in missing.stderr
    other_team = portal("env", "show", "admin-apps/anything", env=ci)
    assert other_team.exit_code == 4

    waiting = requested("pr-11", template="staging")  # held for the team lead's approval
    assert waiting.status == EnvironmentStatus.PENDING_APPROVAL
    timed_out = portal("env", "wait", "student-experience/pr-11", "--timeout", "1", "--interval", "0.5", env=ci)
    assert timed_out.exit_code == 6
    assert "still waiting for approval" in timed_out.stderr

    assert portal("env", "cancel", str(waiting.pk), env=ci).exit_code == 0
    ended = portal("env", "wait", str(waiting.pk), env=ci)
    assert ended.exit_code == 5
    assert "ended cancelled, not ready" in ended.stderr
